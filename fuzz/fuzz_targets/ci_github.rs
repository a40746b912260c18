//! GitHub Actions writers: whatever the values (the occurrence name comes from a server, the
//! image from the user), `$GITHUB_OUTPUT` read as the runner reads it holds exactly our outputs
//! with exactly those values, and the log gets no workflow command but ours.
#![no_main]

mod common;

use binauthz_attest::ci;
use binauthz_attest::error::Error;
use binauthz_attest::report::Output;
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;

/// `$GITHUB_OUTPUT` as actions/runner's FileCommandManager reads it: lines split at `\n`;
/// `name=value`, or `name<<DELIMITER` then lines up to one equal to DELIMITER, joined by `\n`.
fn parse_github_output(text: &str) -> Vec<(String, String)> {
    let mut outputs = Vec::new();
    let mut lines = text.split('\n');
    // A trailing newline leaves one empty piece; the runner's reader yields no line for it.
    let mut pending: Vec<&str> = Vec::new();
    while let Some(line) = lines.next() {
        pending.push(line);
        let (eq, heredoc) = (line.find('='), line.find("<<"));
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                outputs.push((line[..e].to_string(), line[e + 1..].to_string()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                let mut closed = false;
                for l in lines.by_ref() {
                    if l == delimiter {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                assert!(closed, "heredoc {name} never closed: {text:?}");
                outputs.push((name.to_string(), value.join("\n")));
            }
            _ => assert!(
                line.is_empty(),
                "a line the runner rejects: {line:?} in {text:?}"
            ),
        }
    }
    outputs
}

fuzz_target!(|data: &[u8]| {
    let Some([digest, image_ref, attestation, message]) = common::fields::<4>(data) else {
        return;
    };
    let dir = common::scratch("github");
    let output = dir.join("output");
    let env = common::env_of(vec![
        ("GITHUB_ACTIONS", "true".into()),
        ("GITHUB_OUTPUT", output.display().to_string()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary").display().to_string(),
        ),
    ]);
    let github = ci::detect(&[OsString::from("--ci"), OsString::from("github")], &env);

    let outcomes = [common::outcome(&digest, &image_ref, &attestation, &message)];
    let mut log = Vec::new();
    github
        .finish(&env, &Output::Signed(outcomes.to_vec()), &mut log)
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log), "::endgroup::\n");
    let written = std::fs::read_to_string(&output).unwrap();
    let outputs = parse_github_output(&written);
    let json = serde_json::to_string(&outcomes).unwrap();
    let expected = [
        ("digest", digest.as_str()),
        ("image-ref", &image_ref),
        ("attestation", &attestation),
        ("created", "true"),
        ("cosign-signature", ""),
        ("json", &json),
    ];
    assert_eq!(outputs.len(), expected.len(), "{written:?}");
    for ((name, value), (want_name, want)) in outputs.iter().zip(expected) {
        assert_eq!(
            (name.as_str(), value.as_str()),
            (want_name, want),
            "{written:?}"
        );
    }

    // Named outputs (`setup`) with a value from the fuzzer.
    std::fs::remove_file(&output).unwrap();
    let mut log = Vec::new();
    github
        .finish(
            &env,
            &Output::Named(vec![("attestor".into(), message.clone())]),
            &mut log,
        )
        .unwrap();
    let written = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        parse_github_output(&written),
        [("attestor".to_string(), message.clone())],
        "{written:?}"
    );

    // An error's annotation: one workflow command line, ours.
    let mut log = Vec::new();
    github
        .fail(&Error::Usage(message.clone()), &mut log)
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log:?}");
    assert_eq!(lines[0], "::endgroup::");
    assert!(
        lines[1].starts_with("::error title=binauthz-attest (exit 2)::"),
        "{log:?}"
    );
});
