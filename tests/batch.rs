//! Batches: every input gets its outcome, in order, however many fail; each repository@digest
//! is attested once, duplicates point at it; multi-arch children on request; digest drift
//! between a source and its copy is refused before anything is signed.

use crate::common::{registry, Format, Layout};
use crate::sign::{attest, google, occurrences, push, version};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

fn sign_batch(
    emu: &crate::common::emulator::Emulator,
    images: &[String],
    extra: &[&str],
) -> (i32, Vec<Value>, String) {
    let key = version("ec");
    let mut args = vec![
        "sign",
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &key,
    ];
    args.extend(extra);
    args.extend(images.iter().map(String::as_str));
    let (code, stdout, stderr) = attest(emu, &args);
    let outcomes: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, outcomes.as_array().unwrap().clone(), stderr)
}

/// `HOST/repo@sha256:...` of a pushed `HOST/repo:tag`.
fn by_digest(image: &str) -> String {
    let (repo, tag) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    let digest = registry()
        .head_manifest(repo, tag)
        .1
        .expect("Docker-Content-Digest");
    format!("{}/{repo}@{digest}", registry().host)
}

#[test]
fn a_batch_reports_every_image_attests_each_digest_once_and_exits_with_the_worst_code() {
    let emu = google("");
    let reg = registry();
    let mut images: Vec<String> = (0..20)
        .map(|n| push(&format!("batch/by-tag-{n}"), Format::Oci))
        .collect();
    images.extend((0..4).map(|n| by_digest(&push(&format!("batch/by-digest-{n}"), Format::Oci))));
    // A second tag of the first image's manifest, and the second image listed twice.
    let layout = Layout::image("batch/by-tag-0");
    reg.push(layout.path(), "batch/by-tag-0:v1", Format::Oci);
    reg.push(layout.path(), "batch/by-tag-0:also", Format::Oci);
    images[0] = format!("{}/batch/by-tag-0:v1", reg.host);
    images.push(format!("{}/batch/by-tag-0:also", reg.host));
    images.push(images[1].clone());
    let index = push("batch/multi", Format::MultiArch);
    images.push(index.clone());
    let missing = format!("{}/batch/missing:v1", reg.host);
    images.push(missing.clone());
    // One signature refused for good (400 is never retried): whichever image asks first.
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "kms.cryptoKeyVersions.asymmetricSign", "status": 400, "times": 1})),
    );

    let (code, outcomes, stderr) = sign_batch(&emu, &images, &["--all-platforms"]);
    assert_eq!(
        outcomes.len(),
        30,
        "28 inputs, the index's 2 children: {outcomes:#?}"
    );
    assert_eq!(code, 4, "the worst: the missing image. {stderr}");
    assert!(
        stderr.contains("2 of 30 images failed") || stderr.contains("3 of 30 images failed"),
        "{stderr}"
    );

    // Input order, children right after their index.
    let given: Vec<&str> = outcomes
        .iter()
        .map(|o| o["image"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = images.iter().map(String::as_str).collect();
    let at = expected.iter().position(|i| *i == index).unwrap();
    expected.splice(at + 1..at + 1, [index.as_str(), index.as_str()]);
    assert_eq!(given, expected);
    let platforms: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| o["platform"].as_str())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);

    let missing_outcome = outcomes
        .iter()
        .find(|o| o["image"] == missing.as_str())
        .unwrap();
    assert_eq!(missing_outcome["status"], "failed");
    assert_eq!(missing_outcome["error"]["exit_code"], 4);
    let refused: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["status"] == "failed" && o["image"] != missing.as_str())
        .collect();
    let refused_refs: HashSet<&str> = refused
        .iter()
        .map(|o| o["image_ref"].as_str().unwrap())
        .collect();
    assert_eq!(
        refused_refs.len(),
        1,
        "one manifest's signing was refused: {refused:#?}"
    );
    assert!(refused[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("sign with KMS key version"));

    // Duplicates share the one attestation of the first input naming the manifest.
    let tag_0 = &outcomes[0];
    let also = outcomes
        .iter()
        .find(|o| o["image"].as_str().unwrap().ends_with(":also"))
        .unwrap();
    assert_eq!(also["image_ref"], tag_0["image_ref"]);
    assert_eq!(also["attestation"], tag_0["attestation"]);
    assert_eq!(also["duplicate_of"], tag_0["image"]);
    let twice: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["image"] == images[1].as_str())
        .collect();
    assert_eq!(twice.len(), 2);
    assert!(twice[0].get("duplicate_of").is_none());
    assert_eq!(twice[1]["duplicate_of"], images[1].as_str());
    assert_eq!(twice[0]["attestation"], twice[1]["attestation"]);

    // One occurrence per distinct manifest that was signed: 24 images + index + 2 children,
    // less the refused one.
    let filed = occurrences(&emu, "demo");
    let per_resource: HashMap<&str, usize> = filed.iter().fold(HashMap::new(), |mut m, o| {
        *m.entry(o["resourceUri"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert_eq!(filed.len(), 26, "{per_resource:#?}");
    assert!(per_resource.values().all(|n| *n == 1), "{per_resource:#?}");

    // Rerun: only the manifest that was refused is created now; the rest exist.
    let (code, again, _) = sign_batch(&emu, &images, &["--all-platforms"]);
    assert_eq!(code, 4);
    let created: Vec<&str> = again
        .iter()
        .filter(|o| o["status"] == "created")
        .map(|o| o["image_ref"].as_str().unwrap())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(created, refused_refs.into_iter().collect::<Vec<_>>());
    assert_eq!(occurrences(&emu, "demo").len(), 27);
}

#[test]
fn fail_fast_stops_at_the_first_failure() {
    let emu = google("");
    let images = [
        format!("{}/batch/ff-missing:v1", registry().host),
        push("batch/ff-ok", Format::Oci),
    ];
    let key = version("ec");
    let mut args = vec![
        "sign",
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &key,
        "--fail-fast",
    ];
    args.extend(images.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("batch/ff-missing:v1 was not found"),
        "{stderr}"
    );
    assert!(occurrences(&emu, "demo").is_empty());
}

#[test]
fn one_platform_of_an_index_is_signed_on_request_and_an_absent_one_is_named() {
    let emu = google("");
    let index = push("batch/one-platform", Format::MultiArch);
    let (code, outcomes, stderr) = sign_batch(
        &emu,
        std::slice::from_ref(&index),
        &["--platform", "linux/arm64"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes[0].get("platform").is_none());
    assert_eq!(outcomes[1]["platform"], "linux/arm64");
    assert_ne!(outcomes[0]["digest"], outcomes[1]["digest"]);

    let (code, outcomes, _) = sign_batch(&emu, &[index], &["--platform", "linux/s390x"]);
    assert_eq!(code, 4);
    let message = outcomes[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no linux/s390x manifest (its platforms: linux/amd64, linux/arm64)"),
        "{message}"
    );
}

#[test]
fn a_copy_that_changed_the_manifest_is_refused_with_both_digests() {
    let emu = google("");
    let reg = registry();
    let layout = Layout::image("drift");
    reg.push(layout.path(), "drift/source:v1", Format::Oci);
    reg.push(layout.path(), "drift/converted:v1", Format::DockerV2s2);
    reg.push(layout.path(), "drift/same:v1", Format::Oci);
    let source = format!("{}/drift/source:v1", reg.host);
    let converted = format!("{}/drift/converted:v1", reg.host);
    let same = format!("{}/drift/same:v1", reg.host);
    let source_digest = reg.head_manifest("drift/source", "v1").1.unwrap();
    let converted_digest = reg.head_manifest("drift/converted", "v1").1.unwrap();
    assert_ne!(
        source_digest, converted_digest,
        "skopeo's v2s2 conversion changes the digest"
    );

    for extra in [
        vec!["--source", source.as_str()],
        vec!["--expect-digest", source_digest.as_str()],
    ] {
        let (code, outcomes, _) = sign_batch(&emu, std::slice::from_ref(&converted), &extra);
        assert_eq!(code, 5, "{extra:?}");
        let message = outcomes[0]["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&converted_digest)
                && message.contains(&source_digest)
                && message.contains("changed the manifest"),
            "{message}"
        );
    }
    assert!(occurrences(&emu, "demo").is_empty(), "nothing signed");

    let (code, outcomes, stderr) =
        sign_batch(&emu, std::slice::from_ref(&same), &["--source", &source]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(outcomes[0]["digest"], source_digest.as_str());

    let (code, stdout, stderr) = attest(&emu, &["digest", "--compare", &source, &converted]);
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "both digests printed: {stdout}");
    let (code, _, stderr) = attest(&emu, &["digest", "--compare", &source, &same]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn progress_is_a_bar_on_a_terminal_and_plain_lines_in_a_log() {
    let emu = google("");
    let images = [
        push("batch/progress-a", Format::Oci),
        push("batch/progress-b", Format::Oci),
    ];
    let key = version("ec");
    let args = [
        "--insecure-registry",
        &registry().host,
        "sign",
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &key,
        &images[0],
        &images[1],
    ];

    // In a log (stderr a pipe): one line per image, no control characters.
    let (code, _, stderr) = attest(&emu, &args[2..]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("binauthz-attest: ["))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("binauthz-attest: [2/2] ")),
        "{stderr}"
    );
    assert!(
        !stderr.chars().any(|c| c.is_control() && c != '\n'),
        "{stderr:?}"
    );

    // On a terminal (util-linux `script` gives the process a pty): the bar, no log lines.
    let home = emu.dir.path().join("home");
    let base = crate::common::attest_command(&emu, &home);
    let quoted: Vec<String> = std::iter::once(base.get_program().to_string_lossy().into_owned())
        .chain(args.iter().map(|a| a.to_string()))
        .chain(["--output".into(), "json".into()])
        .map(|a| format!("'{a}'"))
        .collect();
    let mut cmd = std::process::Command::new("script");
    // The pty `script` opens has no size when the tests have no terminal: give it one.
    let line = format!("stty cols 120 rows 40; {}", quoted.join(" "));
    cmd.args(["-qec", &line, "/dev/null"]).env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    // A terminal names its kind; with TERM unset or `dumb`, plain lines are written instead.
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", crate::common::emulator::TOKEN)
        .env("TERM", "xterm");
    let out = cmd
        .output()
        .expect("`script` (util-linux) runs the binary on a pty");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("2/2") && text.contains("existing 2"),
        "the bar: {text:?}"
    );
    assert!(
        !text.contains("binauthz-attest: ["),
        "no log lines on a terminal: {text:?}"
    );
}
