//! Faults: every route `sign` touches, failing every way a network fails (429 with and without
//! `Retry-After`, 500, 503, a hung call, a dropped connection, a create whose answer is lost after
//! the server stored it), then a rerun without faults; the process killed with SIGKILL at random
//! points of a batch; a soak of 1000 images under random 503s and lost answers. After each: exactly
//! one attestation per digest and note, counted through the emulator's API. `tests/README.md`
//! holds the table of cases and what they showed.
//!
//! Google, Artifact Registry and the OAuth2 token endpoint are all the emulator, so every call is
//! on one request log; credentials are an `authorized_user` ADC file, so the token route is on
//! the path as in CI.

use crate::common::attest_command;
use crate::common::emulator::Emulator;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/ec/cryptoKeyVersions/1";
const NOTE: &str = "projects/demo/notes/n1";

/// The emulator as Google (a note, an attestor trusting `KEY`, a refresh-token user) and as
/// Artifact Registry holding `images` small images `demo/apps/{prefix}{n}:v1`.
pub(crate) struct Google {
    pub(crate) emu: Emulator,
    adc: PathBuf,
    prefix: String,
}

impl Google {
    pub(crate) fn start(prefix: &str, images: usize) -> Google {
        let mut seed = format!(
            "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\nnotes:\n  - name: {NOTE}\nattestors:\n  - name: projects/demo/attestors/a1\n    note: {NOTE}\n    keyVersions: [{KEY}]\nauthorizedUsers:\n  - clientId: faults-client\n    clientSecret: faults-secret\n    refreshToken: faults-refresh\n    principal: user:dev@example.com\nimages:\n"
        );
        for n in 0..images {
            seed.push_str(&format!(
                "  - repository: demo/apps/{prefix}{n}\n    tag: v1\n    content: {prefix}{n}\n"
            ));
        }
        let emu = Emulator::start(&seed);
        let adc = emu.dir.path().join("adc.json");
        let user = json!({"type": "authorized_user", "client_id": "faults-client",
            "client_secret": "faults-secret", "refresh_token": "faults-refresh",
            "token_uri": format!("{}token", emu.url)});
        std::fs::write(&adc, user.to_string()).unwrap();
        std::fs::create_dir_all(emu.dir.path().join("home")).unwrap();
        Google {
            emu,
            adc,
            prefix: prefix.to_string(),
        }
    }

    pub(crate) fn image(&self, n: usize) -> String {
        format!("{}/demo/apps/{}{n}:v1", self.emu.host(), self.prefix)
    }

    /// `sign` of `images` with `extra` flags, as a command ready to spawn (output piped).
    pub(crate) fn sign_command(&self, images: &[String], extra: &[&str]) -> Command {
        let host = self.emu.host();
        let mut cmd = attest_command(&self.emu, &self.emu.dir.path().join("home"));
        cmd.env("GOOGLE_APPLICATION_CREDENTIALS", &self.adc)
            .args(["--insecure-registry", &host, "--google-registry", &host])
            .args(["sign", "--attestor=projects/demo/attestors/a1"])
            .args(["--kms-key-version", KEY])
            .args(extra)
            .args(images)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs `sign`; returns (exit code, stdout, stderr).
    pub(crate) fn sign(&self, images: &[String], extra: &[&str]) -> (i32, String, String) {
        let out = self.sign_command(images, extra).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub(crate) fn fault(&self, rule: &Value) {
        self.emu.ok("POST", "emulator/faults", Some(rule));
    }

    pub(crate) fn clear_faults(&self) {
        self.emu.ok("DELETE", "emulator/faults", None);
    }

    /// Attestations on the note, by resource URI (`HOST/REPO@DIGEST`), read page by page.
    pub(crate) fn attestations(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        let mut token = String::new();
        for _ in 0..100 {
            let page = self.emu.ok(
                "GET",
                &format!("v1/{NOTE}/occurrences?pageSize=1000&pageToken={token}"),
                None,
            );
            for o in page["occurrences"].as_array().into_iter().flatten() {
                assert_eq!(o["kind"], "ATTESTATION", "{o}");
                let uri = o["resourceUri"].as_str().unwrap();
                *counts.entry(uri.to_string()).or_default() += 1;
            }
            match page["nextPageToken"].as_str() {
                Some(next) if !next.is_empty() => token = next.to_string(),
                _ => return counts,
            }
        }
        panic!("more than 100 pages of occurrences");
    }

    /// Attestation counts of images `range` that have any, by image number.
    pub(crate) fn attestations_of_range(
        &self,
        range: std::ops::Range<usize>,
    ) -> std::collections::BTreeMap<usize, usize> {
        let counts = self.attestations();
        let host = self.emu.host();
        let mut found = std::collections::BTreeMap::new();
        for n in range {
            let repo = format!("{host}/demo/apps/{}{n}@", self.prefix);
            let count: usize = counts
                .iter()
                .filter(|(uri, _)| uri.starts_with(&repo))
                .map(|(_, c)| c)
                .sum();
            if count > 0 {
                found.insert(n, count);
            }
        }
        found
    }

    /// Waits until the emulator has finished what it received: its counters stay the same for
    /// 100 ms (bounded by 5 s). A killed client's last create still runs on the server; the next
    /// CI job starts well after that, so the rerun must too (racing it is the eventual
    /// consistency suite's matter, not this one's).
    pub(crate) fn wait_quiet(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.emu.ok("GET", "emulator/counters", None);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = self.emu.ok("GET", "emulator/counters", None);
            if now == last {
                return;
            }
            last = now;
        }
        panic!("the emulator never went quiet: {last}");
    }

    /// Calls of `route` the emulator has finished (answered, dropped or lost).
    /// How many calls of `route` a fault rule acted on so far.
    fn fired(&self, route: &str) -> u64 {
        self.emu.ok("GET", "emulator/counters", None)["routes"][route]["faults"]
            .as_u64()
            .unwrap_or(0)
    }

    fn finished_calls(&self, route: &str) -> u64 {
        self.emu.ok("GET", "emulator/counters", None)["routes"][route]["calls"]
            .as_u64()
            .unwrap_or(0)
    }
}

/// How a fault case failed the first run, and what the rerun must find.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Retried (or looked up) within the run: exit 0, the attestation created.
    Recovers,
    /// The run stops with one of these exit codes; the rerun makes (or finds) the one
    /// attestation.
    Exits(&'static [i32]),
}

/// One fault of the table: its name, the rule (without `route`), extra flags.
struct Fault {
    name: &'static str,
    rule: Value,
    flags: &'static [&'static str],
}

/// The faults every route gets; the create also gets answers lost after the server stored it.
fn faults_for(route: &str) -> Vec<Fault> {
    let mut faults = vec![
        Fault {
            name: "429",
            rule: json!({"status": 429, "times": 1}),
            flags: &[],
        },
        Fault {
            name: "429 Retry-After: 1",
            rule: json!({"status": 429, "times": 1, "retryAfter": 1}),
            flags: &[],
        },
        Fault {
            name: "500",
            rule: json!({"status": 500, "times": 1}),
            flags: &[],
        },
        Fault {
            name: "503",
            rule: json!({"status": 503, "times": 1}),
            flags: &[],
        },
        Fault {
            name: "503 on every attempt",
            rule: json!({"status": 503}),
            flags: &[],
        },
        Fault {
            name: "connection dropped",
            rule: json!({"drop": true, "times": 1}),
            flags: &[],
        },
        // The per-attempt limit is 30 s (retry.rs): the cheap bounded hang is `--timeout`.
        Fault {
            name: "hung 2 s, --timeout 1s",
            rule: json!({"latencyMs": 2000, "times": 1}),
            flags: &["--timeout", "1s"],
        },
    ];
    if route == "grafeas.occurrences.create" {
        faults.push(Fault {
            name: "stored, answer lost",
            rule: json!({"dropAfter": true, "times": 1}),
            flags: &[],
        });
        faults.push(Fault {
            name: "stored, answer lost on every attempt",
            rule: json!({"dropAfter": true}),
            flags: &[],
        });
    }
    faults
}

/// What each fault must do on each route. Reads and KMS signing are retried; a create is never
/// repeated blindly but looked up first, so a failed or lost create recovers too; a fault on
/// every attempt exhausts the retries (exit 6); `--timeout` stops the run (exit 6).
fn expect(route: &str, fault: &str) -> Expect {
    match (route, fault) {
        // oci-client answers a manifest HEAD without `Docker-Content-Digest` (any error) with a
        // GET of the same manifest, which then decides.
        ("registry.manifests.head", "503 on every attempt") => Expect::Recovers,
        (_, "503 on every attempt" | "hung 2 s, --timeout 1s") => Expect::Exits(&[6]),
        _ => Expect::Recovers,
    }
}

/// The routes of the pipeline with what makes `sign` call them: the manifest GET only happens
/// when `--all-platforms` asks whether the manifest is an index.
const ROUTES: &[(&str, &[&str])] = &[
    ("oauth2.token", &[]),
    ("registry.manifests.head", &[]),
    ("registry.manifests.get", &["--all-platforms"]),
    ("binauthz.attestors.get", &[]),
    ("kms.cryptoKeyVersions.getPublicKey", &[]),
    ("kms.cryptoKeyVersions.asymmetricSign", &[]),
    ("grafeas.notes.occurrences.list", &[]),
    ("grafeas.occurrences.create", &[]),
];

/// Runs every fault of `route` on its own image of one emulator, then one rerun of all those
/// images without faults, then the count per image. Prints one Markdown row per case
/// (`--nocapture` shows them).
fn fault_table(route: &str) {
    let (_, route_flags) = ROUTES.iter().find(|(r, _)| *r == route).unwrap();
    let faults = faults_for(route);
    let google = Google::start("f", faults.len());
    let mut first = Vec::new();
    for (n, fault) in faults.iter().enumerate() {
        let mut rule = fault.rule.clone();
        rule["route"] = json!(route);
        google.fault(&rule);
        let before = google.finished_calls(route);
        let faults_before = google.fired(route);
        let started = Instant::now();
        let mut flags: Vec<&str> = route_flags.to_vec();
        flags.extend(fault.flags);
        let (code, stdout, stderr) = google.sign(&[google.image(n)], &flags);
        let took = started.elapsed();
        google.clear_faults();
        // A hung call is still being served after the client gave up: let it finish (it may
        // store an attestation) before the rerun looks, so the count judges the worst order.
        let deadline = Instant::now() + Duration::from_secs(10);
        while fault.rule.get("latencyMs").is_some()
            && google.finished_calls(route) == before
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = serde_json::from_str::<Value>(&stdout)
            .ok()
            .and_then(|o| o[0]["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| "-".into());
        // The row proves its fault: the emulator acted on the rule at least once.
        let fired = google.fired(route) - faults_before;
        first.push((code, status, stderr, took, fired));
    }
    // The rerun, without faults: one batch of every case's image.
    let images: Vec<String> = (0..faults.len()).map(|n| google.image(n)).collect();
    let (rerun, rerun_out, rerun_err) = google.sign(&images, route_flags);
    let rerun_outcomes: Vec<Value> = serde_json::from_str::<Value>(&rerun_out)
        .ok()
        .and_then(|o| o.as_array().cloned())
        .unwrap_or_default();
    let counts = google.attestations_of_range(0..faults.len());
    let mut failures = Vec::new();
    if rerun != 0 || rerun_outcomes.len() != faults.len() {
        failures.push(format!("{route}: the rerun exited {rerun}: {rerun_err}"));
    }
    for (n, (fault, (code, status, stderr, took, fired))) in faults.iter().zip(first).enumerate() {
        let rerun_status = rerun_outcomes
            .get(n)
            .and_then(|o| o["status"].as_str())
            .unwrap_or("-");
        let count = counts.get(&n).copied().unwrap_or(0);
        println!(
            "| `{route}` | {} | {code} ({status}) | {rerun_status} | {count} | {:.1} s |",
            fault.name,
            took.as_secs_f64()
        );
        let expected = expect(route, fault.name);
        let first_ok = match expected {
            Expect::Recovers => code == 0 && status == "created",
            Expect::Exits(codes) => codes.contains(&code),
        };
        // After a success the rerun finds it; after a failure it creates it, or finds the one
        // a create the server finished after the client gave up (the hung create) stored.
        let rerun_ok = match code {
            0 => rerun_status == "existing",
            _ => rerun_status == "created" || rerun_status == "existing",
        };
        if !(first_ok && rerun_ok && count == 1 && fired > 0) {
            failures.push(format!(
                "{route} / {}: expected {expected:?}; first run {code} {status}, rerun \
                 {rerun_status}, {count} attestation(s), the fault fired {fired} time(s)\n\
                 first stderr: {stderr}",
                fault.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn faults_on_the_token_endpoint() {
    fault_table("oauth2.token");
}

#[test]
fn faults_on_the_manifest_head() {
    fault_table("registry.manifests.head");
}

#[test]
fn faults_on_the_manifest_get() {
    fault_table("registry.manifests.get");
}

#[test]
fn faults_on_attestors_get() {
    fault_table("binauthz.attestors.get");
}

#[test]
fn faults_on_kms_get_public_key() {
    fault_table("kms.cryptoKeyVersions.getPublicKey");
}

#[test]
fn faults_on_kms_asymmetric_sign() {
    fault_table("kms.cryptoKeyVersions.asymmetricSign");
}

#[test]
fn faults_on_occurrences_list() {
    fault_table("grafeas.notes.occurrences.list");
}

#[test]
fn faults_on_occurrences_create() {
    fault_table("grafeas.occurrences.create");
}

/// The seed of a randomised suite: `BINAUTHZ_FAULTS_SEED` replays one, else a fresh one. Printed
/// so a failure can be replayed.
fn seed(suite: &str) -> u64 {
    let seed = std::env::var("BINAUTHZ_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("{suite}: BINAUTHZ_FAULTS_SEED={seed}");
    seed
}

/// Asserts every image `range` of `google` has exactly one attestation; `after` names the step.
fn exactly_one_each(google: &Google, range: std::ops::Range<usize>, after: &str) {
    let counts = google.attestations_of_range(range.clone());
    let wrong: Vec<(usize, usize)> = range
        .map(|n| (n, counts.get(&n).copied().unwrap_or(0)))
        .filter(|(_, c)| *c != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "{after}: images (number, attestations) without exactly one: {wrong:?}"
    );
}

/// A 50-image batch killed with SIGKILL at a random moment, then rerun, 20 times (each round its
/// own 50 images): a kill may land before a create, while it is in flight, or after the server
/// stored it but before the process read the answer; never a duplicate, everything attested once
/// the rerun is done. The kill moment is uniform over the length of an uninterrupted batch
/// (measured first) in half the rounds, over the stretch where creates run in the other half.
#[test]
fn sigkill_at_random_points_of_a_batch_never_duplicates() {
    const BATCH: usize = 50;
    const ROUNDS: usize = 20;
    let mut rng = fastrand::Rng::with_seed(seed("sigkill"));
    let google = Google::start("k", BATCH * (ROUNDS + 1));
    let batch = |round: usize| -> Vec<String> {
        (round * BATCH..(round + 1) * BATCH)
            .map(|n| google.image(n))
            .collect()
    };
    let suite = Instant::now();
    // Round 0, uninterrupted: how long a batch takes here, and when its first create came.
    let epoch_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let (started, started_ms) = (Instant::now(), epoch_ms());
    let (code, _, stderr) = google.sign(&batch(0), &[]);
    let full = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    exactly_one_each(&google, 0..BATCH, "an uninterrupted batch");
    let first_create = google.emu.ok("GET", "emulator/requests", None)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["route"] == "grafeas.occurrences.create")
        .filter_map(|r| r["receivedMs"].as_u64())
        .min()
        .expect("round 0 created");
    let creates_from = Duration::from_millis(first_create.saturating_sub(started_ms));
    let mut killed_with = Vec::new();
    for round in 1..=ROUNDS {
        let images = batch(round);
        // Odd rounds: anywhere in the run; even rounds: while creates are under way.
        let at = if round % 2 == 1 {
            full.mul_f64(rng.f64())
        } else {
            creates_from + (full.saturating_sub(creates_from)).mul_f64(rng.f64())
        };
        let mut child = google.sign_command(&images, &[]).spawn().unwrap();
        std::thread::sleep(at);
        // SIGKILL (Child::kill on Unix): no handler, no flush, the worst a runner does.
        let finished_first = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        child.wait().unwrap();
        google.wait_quiet();
        let before_rerun = google.attestations_of_range(round * BATCH..(round + 1) * BATCH);
        assert!(
            before_rerun.values().all(|c| *c <= 1),
            "round {round}, killed at {at:?}: a duplicate before the rerun: {before_rerun:?}"
        );
        killed_with.push((at.as_millis(), before_rerun.len(), finished_first));
        let (code, _, stderr) = google.sign(&images, &[]);
        assert_eq!(
            code, 0,
            "round {round}, rerun after a kill at {at:?}: {stderr}"
        );
        exactly_one_each(
            &google,
            round * BATCH..(round + 1) * BATCH,
            &format!("round {round}, rerun after a kill at {at:?}"),
        );
    }
    println!(
        "sigkill: batch of {BATCH} in {full:?}, creates from {creates_from:?}; {ROUNDS} rounds (kill ms, attested before the \
         rerun, finished before the kill): {killed_with:?}; suite {:?}",
        suite.elapsed()
    );
    assert!(
        killed_with
            .iter()
            .any(|(_, done, _)| *done > 0 && *done < BATCH),
        "no kill landed mid-batch: {killed_with:?}"
    );
}

/// 1000 images in one run under random faults on every route: 5% of calls answer 503, 1% are
/// served and their answer lost (a create stored but never confirmed). Retries and the look
/// before a second create absorb them; a call unlucky on every attempt fails its image (exit 6),
/// and the rerun (at most 3) finishes. At the end: exactly 1000 attestations, one per image.
#[test]
fn soak_1000_images_under_random_503s_and_lost_answers() {
    const IMAGES: usize = 1000;
    let google = Google::start("s", IMAGES);
    google.fault(&json!({"route": "*", "status": 503, "rate": 0.05}));
    google.fault(&json!({"route": "*", "dropAfter": true, "rate": 0.01}));
    let images: Vec<String> = (0..IMAGES).map(|n| google.image(n)).collect();
    let started = Instant::now();
    let mut runs = Vec::new();
    for _ in 0..4 {
        let run = Instant::now();
        let (code, _, stderr) = google.sign(&images, &[]);
        let failed = stderr
            .lines()
            .find(|l| l.contains("images failed"))
            .unwrap_or_default()
            .to_string();
        runs.push((code, run.elapsed(), failed));
        if code == 0 {
            break;
        }
        assert_eq!(
            code, 6,
            "only exhausted retries may fail a soak run: {stderr}"
        );
    }
    let took = started.elapsed();
    let counters = google.emu.ok("GET", "emulator/counters", None)["routes"].clone();
    let (mut calls, mut injected, mut lost) = (0, 0, 0);
    for (_, c) in counters.as_object().unwrap() {
        calls += c["calls"].as_u64().unwrap_or(0);
        injected += c["statuses"]["503"].as_u64().unwrap_or(0);
        lost += c["statuses"]["0"].as_u64().unwrap_or(0);
    }
    println!(
        "soak: {IMAGES} images, runs (exit, time, failures) {runs:?}, {took:?} in all; {calls} \
         calls, {injected} answered 503, {lost} answers lost; creates {}",
        counters["grafeas.occurrences.create"]
    );
    assert_eq!(
        runs.last().unwrap().0,
        0,
        "still failing after 4 runs: {runs:?}"
    );
    google.clear_faults();
    let counts = google.attestations();
    assert_eq!(
        counts.values().sum::<usize>(),
        IMAGES,
        "attestations in all"
    );
    exactly_one_each(&google, 0..IMAGES, "the soak");
}

/// A 429 storm: per-second quotas of 40 calls on Cloud KMS and on Container Analysis (enforced
/// by the second, as Cloud KMS does; over them, 429 RESOURCE_EXHAUSTED) under a batch of 200
/// images at `--concurrency 64`. The batch slows to the quotas and never fails: exit 0, every
/// image created once, and the emulator answered 429s (the storm fired). A throttled call is
/// sent again within the retry policy's total time, not its attempts, and each 429 of a new
/// generation halves the calls in flight (`pace.rs`).
#[test]
fn a_429_storm_slows_a_batch_of_200_without_failing_it() {
    const IMAGES: usize = 200;
    const PER_SECOND: u64 = 40;
    let google = Google::start("q", IMAGES);
    google.fault(&json!({"route": "kms.*", "perSecond": PER_SECOND}));
    google.fault(&json!({"route": "grafeas.*", "perSecond": PER_SECOND}));
    let images: Vec<String> = (0..IMAGES).map(|n| google.image(n)).collect();
    let started = Instant::now();
    let (code, stdout, stderr) = google.sign(&images, &["--concurrency", "64"]);
    let took = started.elapsed();
    let routes = google.emu.ok("GET", "emulator/counters", None)["routes"].clone();
    let count = |prefix: &str, status: &str| -> u64 {
        routes
            .as_object()
            .unwrap()
            .iter()
            .filter(|(route, _)| route.starts_with(prefix))
            .map(|(_, c)| c["statuses"][status].as_u64().unwrap_or(0))
            .sum()
    };
    let (kms_429, grafeas_429) = (count("kms.", "429"), count("grafeas.", "429"));
    let grafeas_served = count("grafeas.", "200");
    println!(
        "storm: {IMAGES} images in {took:?}; 429s: KMS {kms_429}, Container Analysis \
         {grafeas_429}; Container Analysis calls served {grafeas_served}"
    );
    assert_eq!(code, 0, "{stderr}");
    let outcomes: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcomes.len(), IMAGES);
    assert!(
        outcomes.iter().all(|o| o["status"] == "created"),
        "{stdout}"
    );
    assert!(kms_429 + grafeas_429 > 0, "the storm never fired");
    google.clear_faults();
    exactly_one_each(&google, 0..IMAGES, "a 429 storm");
    // Slowed to the quota: a list and a create per image, at most PER_SECOND a second.
    let floor = Duration::from_secs(grafeas_served / PER_SECOND - 1);
    assert!(
        took >= floor,
        "{took:?}: faster than the quota allows ({floor:?})"
    );
}
