//! GitLab's dotenv report: whatever the values, the file holds exactly our variables, one
//! `KEY=VALUE` line each (GitLab's dotenv report takes one variable per line:
//! https://docs.gitlab.com/ci/yaml/artifacts_reports/#artifactsreportsdotenv).
#![no_main]

mod common;

use binauthz_attest::ci;
use binauthz_attest::report::Output;
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;

/// The variable names of a dotenv file, one per non-empty line.
fn names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once('=').map_or(l, |(k, _)| k).to_string())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some([digest, image_ref, attestation, value]) = common::fields::<4>(data) else {
        return;
    };
    let dir = common::scratch("gitlab");
    let file = dir.join("binauthz-attest.env");
    let env = common::env_of(vec![
        ("GITLAB_CI", "true".into()),
        ("BINAUTHZ_OUTPUTS_FILE", file.display().to_string()),
    ]);
    let gitlab = ci::detect(&[OsString::from("--ci"), OsString::from("gitlab")], &env);
    // A value GitLab's parser cannot carry on one line is refused, and the file left unwritten.
    let one_line = |v: &str| !v.chars().any(char::is_control);
    let outcomes = [common::outcome(&digest, &image_ref, &attestation, "i")];
    match gitlab.finish(&env, &Output::Signed(outcomes.to_vec()), &mut Vec::new()) {
        Ok(()) => {
            let written = std::fs::read_to_string(&file).unwrap();
            assert_eq!(
                names(&written),
                [
                    "BINAUTHZ_DIGEST",
                    "BINAUTHZ_IMAGE_REF",
                    "BINAUTHZ_ATTESTATION",
                    "BINAUTHZ_CREATED",
                    "BINAUTHZ_COSIGN_SIGNATURE"
                ],
                "{written:?}"
            );
        }
        Err(_) => {
            assert!(![&digest, &image_ref, &attestation]
                .iter()
                .all(|v| one_line(v)));
            assert!(!file.exists(), "a refused report was written");
        }
    }

    let _ = std::fs::remove_file(&file);
    match gitlab.finish(
        &env,
        &Output::Named(vec![("attestor".into(), value.clone())]),
        &mut Vec::new(),
    ) {
        Ok(()) => {
            let written = std::fs::read_to_string(&file).unwrap();
            assert_eq!(names(&written), ["BINAUTHZ_ATTESTOR"], "{written:?}");
        }
        Err(_) => {
            assert!(!one_line(&value));
            assert!(!file.exists(), "a refused report was written");
        }
    }
});
