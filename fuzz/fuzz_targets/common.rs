//! Shared by the CI writer targets: an outcome from fuzzed text, a scratch directory, and an
//! environment pointing the CI's files into it.

use binauthz_attest::report::{Outcome, Status};
use std::path::PathBuf;

/// One image's outcome whose server-given and user-given fields are `fields`.
pub fn outcome(digest: &str, image_ref: &str, attestation: &str, image: &str) -> Outcome {
    Outcome {
        image: image.to_string(),
        digest: digest.to_string(),
        image_ref: image_ref.to_string(),
        attestor: "projects/p/attestors/a".into(),
        note: "projects/p/notes/n".into(),
        key_version: "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1".into(),
        public_key_id: "//cloudkms.googleapis.com/v1/projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1".into(),
        attestation: attestation.to_string(),
        status: Status::Created,
        created: true,
        platform: None,
        duplicate_of: None,
        error: None,
        cosign_signature: None,
    }
}

/// An empty scratch directory for this process (emptied on each call).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("binauthz-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An environment of these variables only.
pub fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
}

/// Splits fuzz input into `N` strings at NUL bytes (missing ones are empty).
pub fn fields<const N: usize>(data: &[u8]) -> Option<[String; N]> {
    let text = std::str::from_utf8(data).ok()?;
    let mut parts = text.splitn(N, '\0');
    Some(std::array::from_fn(|_| {
        parts.next().unwrap_or_default().to_string()
    }))
}
