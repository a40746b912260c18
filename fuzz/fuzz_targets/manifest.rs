//! Manifests (`policy check --manifest`, `pin`): any text is a manifest or a named error, never a
//! panic; every image site is a span of the text that holds the image as written, and pinning
//! with nothing resolved gives back a manifest with the same images.
#![no_main]

use binauthz_attest::commands::pin::rewrite;
use binauthz_attest::manifest;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = manifest::parse("fuzz.yaml", text) else {
        return;
    };
    for site in &parsed.sites {
        let written = text.get(site.start..site.end).unwrap_or_else(|| {
            panic!(
                "site {}..{} is not a span of the text",
                site.start, site.end
            )
        });
        assert!(
            written.contains(site.image.as_str()),
            "{written:?} does not hold {:?}",
            site.image
        );
    }
    if let Ok(pinned) = rewrite(text, &parsed, &HashMap::new()) {
        let again = manifest::parse("fuzz.yaml", &pinned).expect("a pinned manifest parses");
        assert_eq!(again.sites.len(), parsed.sites.len());
    }
});
