//! Reads with a ceiling. Nothing that comes from outside (a file a flag names, stdin, an HTTP
//! answer) is read whole on trust: each read stops one byte past its limit and fails, naming
//! the limit, so a huge or endless input costs at most that much memory. The limits are sized
//! for what each input really holds, with room to spare.

use std::io::{self, Read};
use std::path::Path;

/// A key file (PEM, armored PGP, cosign's encrypted key): real ones are a few KiB.
pub const KEY_FILE: u64 = 64 << 10;
/// A small configuration file: a policy, an attestor, a token, registry credentials.
pub const CONFIG_FILE: u64 = 4 << 20;
/// Kubernetes or Cloud Run manifests (`policy check --manifest`, `pin`), a list of images: a
/// cluster's `kubectl get pods -A -o yaml` is a few MiB for thousands of pods.
pub const MANIFESTS: u64 = 64 << 20;
/// A registry manifest or index: go-containerregistry's cap (crane's `maxManifestBytes`).
pub const REGISTRY_MANIFEST: u64 = 100 << 20;
/// A Google API answer (JSON; a page of a list is well under a MiB).
pub const API_ANSWER: u64 = 32 << 20;

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the {} limit", size(limit)),
    )
}

/// `limit` in the unit a person reads it in.
pub fn size(limit: u64) -> String {
    match limit {
        l if l >= 1 << 20 && l % (1 << 20) == 0 => format!("{} MiB", l >> 20),
        l if l >= 1 << 10 && l % (1 << 10) == 0 => format!("{} KiB", l >> 10),
        l => format!("{l} bytes"),
    }
}

/// At most `limit` bytes from `reader`; more is an error, never a silent truncation.
pub fn read_all(reader: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes)?;
    within(bytes, limit)
}

/// What a read of at most `limit + 1` bytes got, refused when it is over `limit`.
fn within(bytes: Vec<u8>, limit: u64) -> io::Result<Vec<u8>> {
    match bytes.len() as u64 > limit {
        true => Err(too_large(limit)),
        false => Ok(bytes),
    }
}

/// The file at `path`, at most `limit` bytes.
pub fn read(path: impl AsRef<Path>, limit: u64) -> io::Result<Vec<u8>> {
    read_all(std::fs::File::open(path)?, limit)
}

/// The file at `path` as UTF-8 text, at most `limit` bytes.
pub fn read_to_string(path: impl AsRef<Path>, limit: u64) -> io::Result<String> {
    utf8(read(path, limit)?)
}

/// The file at `path`, at most `limit` bytes, read without blocking the runtime (a FIFO or a
/// device reports no size up front, so the cap is on what is read, never on metadata).
pub async fn read_async(path: impl AsRef<Path>, limit: u64) -> io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).await?;
    within(bytes, limit)
}

/// Standard input as UTF-8 text, at most `limit` bytes.
pub fn stdin_to_string(limit: u64) -> io::Result<String> {
    utf8(read_all(io::stdin().lock(), limit)?)
}

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// An HTTP answer's body, at most `limit` bytes: a declared length over the limit fails before
/// any byte is read; a body that runs past it fails at the chunk that does.
pub async fn body(mut response: reqwest::Response, limit: u64) -> io::Result<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(io::Error::other)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_at_the_limit_passes_and_one_byte_more_fails_naming_the_limit() {
        assert_eq!(read_all(&[7u8; 1024][..], 1024).unwrap().len(), 1024);
        let e = read_all(&[7u8; 1025][..], 1024).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "larger than the 1 KiB limit");
    }

    #[test]
    fn an_endless_reader_costs_the_limit_and_no_more() {
        let e = read_all(io::repeat(b'x'), 4096).unwrap_err();
        assert!(e.to_string().contains("4 KiB"), "{e}");
    }

    #[tokio::test]
    async fn an_async_read_of_a_device_without_a_size_stops_at_the_limit() {
        // /dev/zero reports length 0 and never ends: only a cap on what is read stops it.
        let e = read_async("/dev/zero", 4096).await.unwrap_err();
        assert_eq!(e.to_string(), "larger than the 4 KiB limit");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [1u8; 4096]).unwrap();
        assert_eq!(read_async(&path, 4096).await.unwrap().len(), 4096);
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(size(REGISTRY_MANIFEST), "100 MiB");
        assert_eq!(size(KEY_FILE), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[test]
    fn a_file_that_is_not_text_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_to_string(&path, 10).unwrap_err().to_string(),
            "not UTF-8 text"
        );
    }
}
