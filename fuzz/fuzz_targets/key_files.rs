//! Key material from files and servers: a `--pkix-private-key` file, an attestor's PEM and a
//! PGP armored key. Never a panic, whatever the bytes.
#![no_main]

use binauthz_attest::algorithm::{same_public_key, SigningAlgorithm};
use binauthz_attest::openpgp::PgpKey;
use binauthz_attest::signer::pkix::PkixSigner;
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    // The signer reads a file: give it these bytes as one (tmpfs-backed temp dir).
    let mut file = tempfile();
    file.0.write_all(data).unwrap();
    for algorithm in std::iter::once(None).chain(SigningAlgorithm::all().take(3).map(Some)) {
        let _ = PkixSigner::load(&file.1, algorithm);
    }
    let text = String::from_utf8_lossy(data);
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (a, b) = text.split_at(cut);
    let _ = same_public_key(a, b);
    for algorithm in SigningAlgorithm::all() {
        let _ = algorithm.verifies(&text, b"payload", data);
    }
    let _ = PgpKey::parse(&text).map(|k| k.verified_content(data));
});

/// A scratch file, removed when dropped.
struct Scratch(std::fs::File, std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.1);
    }
}

fn tempfile() -> Scratch {
    let path = std::env::temp_dir().join(format!("binauthz-fuzz-key-{}", std::process::id()));
    Scratch(std::fs::File::create(&path).unwrap(), path)
}
