//! Eventual consistency: Container Analysis lists a new occurrence only some time after its
//! create. With the emulator's list lag on, a create whose answer was lost (the server stored
//! it, the client never heard) must still end in exactly one attestation, whatever the lag:
//! `sign` looks for the lost one for a bounded window before filing again, and when the lost
//! one surfaces after it filed again, it deletes its own second one (never another party's).

use crate::common::Format;
use crate::sign::{google, occurrences, push, sign_ok};
use serde_json::json;
use std::time::Duration;

/// One lost create at `lag_ms` of list lag: one attestation in the end, the one reported;
/// `deletes` of our own second one on the way.
fn one_attestation_after_a_lost_create(lag_ms: u64, repo: &str, deletes: u64) {
    let emu = google(&format!("settings:\n  occurrenceListLagMs: {lag_ms}\n"));
    let image = push(repo, Format::Oci);
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "grafeas.occurrences.create", "dropAfter": true, "times": 1})),
    );
    let outcome = sign_ok(&emu, &image, "ec", &[]);
    // Let every occurrence the run filed become listable before counting.
    std::thread::sleep(Duration::from_millis(lag_ms + 300));
    let filed = occurrences(&emu, "demo");
    assert_eq!(
        filed.len(),
        1,
        "lag {lag_ms} ms: not exactly one attestation: {filed:#?}"
    );
    assert_eq!(
        outcome["attestation"], filed[0]["name"],
        "lag {lag_ms} ms: the outcome names an attestation that is not the one kept"
    );
    let counters = emu.ok("GET", "emulator/counters", None)["routes"].clone();
    let deleted = counters["grafeas.occurrences.delete"]["calls"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(deleted, deletes, "lag {lag_ms} ms: {counters}");
    // A rerun finds it and files nothing.
    let again = sign_ok(&emu, &image, "ec", &[]);
    assert_eq!(again["status"], "existing", "lag {lag_ms} ms: {again}");
    assert_eq!(occurrences(&emu, "demo").len(), 1);
}

#[test]
fn no_lag() {
    one_attestation_after_a_lost_create(0, "consistency/lag0", 0);
}

/// Surfaces during the first look: found, never filed again.
#[test]
fn lag_of_one_second() {
    one_attestation_after_a_lost_create(1_000, "consistency/lag1000", 0);
}

#[test]
fn lag_of_three_seconds() {
    one_attestation_after_a_lost_create(3_000, "consistency/lag3000", 0);
}

/// Longer than the first look: filed again, then the lost one surfaces and the second one,
/// ours, is deleted.
#[test]
fn lag_longer_than_the_look_before_filing_again() {
    one_attestation_after_a_lost_create(7_000, "consistency/lag7000", 1);
}
