//! The `payload` command against bytes produced by real gcloud (`tests/vectors/`), and against
//! gcloud itself, run again now for each vector.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// `(file, artifact-url)` pairs from `payloads.tsv`.
fn vectors() -> Vec<(String, String)> {
    let list = std::fs::read_to_string(vectors_dir().join("payloads.tsv")).unwrap();
    let pairs: Vec<_> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (file, url) = l.split_once('\t').unwrap();
            (file.to_string(), url.to_string())
        })
        .collect();
    assert!(pairs.len() >= 5, "payloads.tsv lost its vectors");
    pairs
}

fn ours(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .args(["payload", url])
        .output()
        .unwrap()
}

#[test]
fn payload_matches_gcloud_vectors_byte_for_byte() {
    for (file, url) in vectors() {
        let expected = std::fs::read(vectors_dir().join(&file)).unwrap();
        let out = ours(&url);
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&expected),
            "{url} vs {file}"
        );
        assert_eq!(out.stdout, expected, "{url} vs {file}");
    }
}

#[test]
fn payload_of_a_tag_without_digest_is_refused_with_exit_2() {
    let out = ours("gcr.io/p/img:v1");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: gcr.io/p/img:v1 has no digest"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// Runs gcloud offline: throwaway config, a dummy token, and no metadata server probe.
fn gcloud_payload(url: &str, config: &Path) -> Output {
    Command::new("gcloud")
        .args([
            "container",
            "binauthz",
            "create-signature-payload",
            &format!("--artifact-url={url}"),
        ])
        .env("CLOUDSDK_CONFIG", config)
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", config.join("token"))
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("GCE_METADATA_ROOT", "127.0.0.1:9")
        .output()
        .unwrap()
}

/// gcloud is a required peer everywhere (README: nothing is skipped): without it the test
/// fails, naming the package that brings it.
fn require_gcloud() {
    let found = Command::new("gcloud").arg("--version").output().is_ok();
    assert!(
        found,
        "gcloud is required to check payload bytes against it: install the google-cloud-cli package"
    );
}

#[test]
fn payload_matches_gcloud_run_now() {
    require_gcloud();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path();
    std::fs::write(config.join("token"), "dummy-token\n").unwrap();
    std::fs::write(config.join("gce"), "False").unwrap();
    // gcloud starts slowly (Python); run the vectors side by side.
    let vectors = vectors();
    std::thread::scope(|s| {
        let handles: Vec<_> = vectors
            .iter()
            .map(|(_, url)| s.spawn(move || (url, gcloud_payload(url, config))))
            .collect();
        for h in handles {
            let (url, theirs) = h.join().unwrap();
            assert!(
                theirs.status.success(),
                "gcloud failed for {url}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            assert_eq!(ours(url).stdout, theirs.stdout, "{url}");
        }
    });
}
