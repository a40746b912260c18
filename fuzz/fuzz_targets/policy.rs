//! Policy files (`policy check --policy`): any text is a policy or a named error, never a panic,
//! and a policy that parses can always say its warnings and match its allowlist patterns.
#![no_main]

use binauthz_attest::policy::{pattern_matches, pattern_shape, Policy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = Policy::parse("fuzz.yaml", text) {
        let _ = policy.warnings();
    }
    // The first line as a pattern, the rest as an image.
    let (pattern, image) = text.split_once('\n').unwrap_or((text, "gcr.io/p/app:1"));
    if pattern_shape(pattern).is_ok() {
        let _ = pattern_matches(pattern, image);
    }
});
