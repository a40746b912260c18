//! The one retry and timeout policy, seen from outside: a `Retry-After` is honoured (the gap is
//! read from the emulator's request log), one over the cap is refused instead of slept through,
//! and `--timeout` stops a hung call with exit code 6, naming it.

use crate::common::Format;
use crate::sign::{attest, google, occurrences, push, version};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Arrival times (ms) of the calls to `route`, from the emulator's request log.
fn arrivals(emu: &crate::common::emulator::Emulator, route: &str) -> Vec<u64> {
    let log = emu.ok("GET", "emulator/requests", None);
    let entries = log
        .as_array()
        .or_else(|| log["requests"].as_array())
        .cloned()
        .unwrap_or_default();
    entries
        .iter()
        .filter(|e| e["route"] == route)
        .map(|e| e["receivedMs"].as_u64().expect("receivedMs in the log"))
        .collect()
}

fn sign_args(image: &str) -> Vec<String> {
    vec![
        "sign".into(),
        image.into(),
        "--attestor=projects/demo/attestors/a1".into(),
        "--kms-key-version".into(),
        version("ec"),
    ]
}

fn fault(emu: &crate::common::emulator::Emulator, rule: Value) {
    emu.ok("POST", "emulator/faults", Some(&rule));
}

#[test]
fn a_429_with_retry_after_is_waited_out_then_the_call_succeeds() {
    let emu = google("");
    let image = push("retry/after", Format::Oci);
    let route = "binauthz.attestors.get";
    fault(
        &emu,
        json!({"route": route, "status": 429, "times": 1, "retryAfter": 1}),
    );
    let args = sign_args(&image);
    let (code, stdout, stderr) = attest(&emu, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"created\""), "{stdout}");
    let times = arrivals(&emu, route);
    assert_eq!(times.len(), 2, "one refused call, one retry: {times:?}");
    assert!(
        times[1] - times[0] >= 1000,
        "the retry came {} ms after the 429 that asked for 1 s",
        times[1] - times[0]
    );
}

#[test]
fn a_retry_after_over_the_cap_is_refused_not_slept_through() {
    let emu = google("");
    let image = push("retry/too-long", Format::Oci);
    let route = "kms.cryptoKeyVersions.getPublicKey";
    fault(
        &emu,
        json!({"route": route, "status": 429, "times": 1, "retryAfter": 3600}),
    );
    let started = Instant::now();
    let args = sign_args(&image);
    let (code, _, stderr) = attest(&emu, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("asked to retry after 3600 s") && stderr.contains("KMS getPublicKey"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(600), "it slept");
    assert_eq!(arrivals(&emu, route).len(), 1);
    assert!(occurrences(&emu, "demo").is_empty());
}

#[test]
fn the_timeout_stops_a_hung_call_with_exit_6_naming_it() {
    let emu = google("");
    let image = push("retry/timeout", Format::Oci);
    fault(
        &emu,
        json!({"route": "kms.cryptoKeyVersions.asymmetricSign", "latencyMs": 30000}),
    );
    let mut args = sign_args(&image);
    args.extend(["--timeout".into(), "2s".into()]);
    let started = Instant::now();
    let (code, _, stderr) = attest(&emu, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let took = started.elapsed();
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("--timeout 2s") && stderr.contains("KMS asymmetricSign"),
        "the error names the limit and the call: {stderr}"
    );
    assert!(took < Duration::from_secs(12), "it took {took:?}");
    assert!(occurrences(&emu, "demo").is_empty());
}

#[test]
fn a_bad_timeout_or_concurrency_is_a_usage_error() {
    let emu = google("");
    for (flag, value) in [("--timeout", "soon"), ("--concurrency", "0")] {
        let (code, _, stderr) = attest(&emu, &["digest", flag, value, "gcr.io/p/i:1"]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
}
