//! Image references and digests: never a panic; a parsed reference prints as text that parses
//! back to the same parts (references travel as text between commands, CIs and the registry).
#![no_main]

use binauthz_attest::reference::{Digest, ImageRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(digest) = Digest::parse(text) {
        assert_eq!(digest.hex().len(), digest.algorithm().hex_len(), "{text:?}");
        let again = Digest::parse(&digest.to_string()).expect("a digest prints as one");
        assert_eq!(again, digest, "{text:?}");
    }
    if let Ok(image) = ImageRef::parse(text) {
        let printed = image.to_string();
        let again = ImageRef::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(
            (
                again.registry(),
                again.repository(),
                again.tag(),
                again.digest()
            ),
            (
                image.registry(),
                image.repository(),
                image.tag(),
                image.digest()
            ),
            "{text:?} printed as {printed:?}"
        );
        let _ = image.repository_url();
    }
});
