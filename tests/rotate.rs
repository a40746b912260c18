//! `rotate` from KMS key version 1 to version 2 (created by rotate) over 25 images attested by
//! version 1: `--retire-old` alone refuses and names the images; `--plan` writes nothing; a run
//! interrupted mid-way (the emulator loses create answers, then the process is killed) resumes
//! to the same end state with exactly one version-2 attestation per image, every image verifies
//! by version 2 alone, and the attestor holds only version 2.

use crate::common::attest_command;
use crate::common::emulator::{Emulator, TOKEN};
use crate::sign::attest;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/attestor-key";
const IMAGES: usize = 25;

fn seed() -> String {
    let images: String = (0..IMAGES)
        .map(|n| {
            format!("  - repository: demo/apps/rot-{n}\n    tag: v1\n    content: image {n}\n")
        })
        .collect();
    format!(
        "keys:\n  - name: {KEY}\n    algorithm: EC_SIGN_P256_SHA256\n    versions: 1\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions:\n      - {KEY}/cryptoKeyVersions/1\nimages:\n{images}"
    )
}

fn version(n: u32) -> String {
    format!("{KEY}/cryptoKeyVersions/{n}")
}

/// `rotate` with the emulator as Google and registry.
fn rotate_command(emu: &Emulator, extra: &[&str]) -> std::process::Command {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = attest_command(emu, &home);
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .args(emu.registry_flags())
        .args(["rotate", "--attestor=projects/demo/attestors/a1", "--from"])
        .arg(version(1))
        .arg("--to")
        .arg(version(2))
        .args(["--output", "json"])
        .args(extra);
    cmd
}

fn rotate(emu: &Emulator, extra: &[&str]) -> (i32, String, String) {
    let out = rotate_command(emu, extra).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn writes(emu: &Emulator) -> Vec<String> {
    let log = emu.ok("GET", "emulator/requests", None);
    log["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["method"] != "GET" && r["method"] != "HEAD")
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect()
}

/// Per image (REPO@DIGEST), the key ids of its attestations' signatures.
fn attestations_by_image(emu: &Emulator) -> std::collections::BTreeMap<String, Vec<String>> {
    let listed = emu.ok("GET", "v1/projects/demo/occurrences?pageSize=1000", None);
    let mut by_image: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for o in listed["occurrences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let image = o["resourceUri"]
            .as_str()
            .unwrap()
            .trim_start_matches("https://")
            .to_string();
        for s in o["attestation"]["signatures"].as_array().unwrap() {
            by_image
                .entry(image.clone())
                .or_default()
                .push(s["publicKeyId"].as_str().unwrap().to_string());
        }
    }
    by_image
}

fn attestor_key_ids(emu: &Emulator) -> Vec<String> {
    let a = emu.ok("GET", "v1/projects/demo/attestors/a1", None);
    a["userOwnedGrafeasNote"]["publicKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rotate_reattests_every_image_resumes_after_an_interruption_and_retires_the_old_key() {
    let emu = Emulator::start(&seed());
    let images: Vec<String> = (0..IMAGES)
        .map(|n| format!("{}/demo/apps/rot-{n}:v1", emu.host()))
        .collect();
    let flags = emu.registry_flags();
    let v1 = version(1);
    let mut args = vec![
        "sign",
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v1,
        "--output=json",
    ];
    args.extend(flags.iter().map(String::as_str));
    args.extend(images.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");
    let before = attestations_by_image(&emu);
    assert_eq!(before.len(), IMAGES);

    // --plan reads only.
    emu.ok("POST", "emulator/reset", None);
    let (code, out, err) = rotate(&emu, &["--reattest", "--retire-old", "--plan"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(writes(&emu), Vec::<String>::new(), "--plan wrote");
    let plan: Value = serde_json::from_str::<Value>(&out).unwrap()[0].clone();
    assert_eq!(plan["images"], IMAGES, "{plan}");
    assert!(
        plan.to_string().contains("createCryptoKeyVersion"),
        "{plan}"
    );

    // Without --reattest, retiring refuses and names every image; version 2 now exists and is
    // trusted beside version 1.
    let (code, _, err) = rotate(&emu, &["--retire-old"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains(&format!("{IMAGES} image(s)")), "{err}");
    for image in before.keys() {
        assert!(err.contains(image.as_str()), "{image} not named: {err}");
    }
    emu.ok("GET", &format!("v1/{}", version(2)), None);
    assert_eq!(attestor_key_ids(&emu).len(), 2);

    // Interrupted: two create answers are lost (the occurrences were filed), and the process
    // is killed partway through (5 a second: 25 images take 5 seconds).
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "grafeas.occurrences.create", "dropAfter": true, "times": 2})),
    );
    let mut child = rotate_command(&emu, &["--reattest", "--retire-old", "--rate", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the first version-2 attestations are filed (the batches of 5 a second leave
    // the rest undone).
    let v2 = |ids: &Vec<String>| ids.iter().filter(|id| id.ends_with(&version(2))).count();
    let started = std::time::Instant::now();
    while attestations_by_image(&emu).values().all(|ids| v2(ids) == 0) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "rotate filed nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let finished_early = child.try_wait().unwrap();
    assert!(
        finished_early.is_none(),
        "the run ended before it could be interrupted"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let midway = attestations_by_image(&emu);
    let done_midway = midway.values().filter(|ids| v2(ids) > 0).count();
    assert!(
        done_midway > 0 && done_midway < IMAGES,
        "interrupted mid-way: {done_midway} of {IMAGES} re-attested"
    );
    assert_eq!(
        attestor_key_ids(&emu).len(),
        2,
        "the old key stays until the end"
    );

    // Resumed: same end state, no duplicate.
    let (code, out, err) = rotate(&emu, &["--reattest", "--retire-old"]);
    assert_eq!(code, 0, "{out}{err}");
    let after = attestations_by_image(&emu);
    assert_eq!(after.len(), IMAGES);
    for (image, ids) in &after {
        assert_eq!(
            v2(ids),
            1,
            "{image}: exactly one version-2 attestation: {ids:?}"
        );
    }
    let ids = attestor_key_ids(&emu);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].ends_with(&version(2)), "{ids:?}");

    // Every image verifies with only version 2 on the attestor.
    let mut args = vec![
        "verify",
        "--attestor=projects/demo/attestors/a1",
        "--output=json",
    ];
    args.extend(flags.iter().map(String::as_str));
    args.extend(images.iter().map(String::as_str));
    let (code, out, err) = attest(&emu, &args);
    assert_eq!(code, 0, "{out}{err}");
    let verdicts: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdicts.as_array().map(Vec::len), Some(IMAGES));

    // A rerun changes nothing.
    emu.ok("POST", "emulator/reset", None);
    let (code, out, err) = rotate(&emu, &["--reattest", "--retire-old"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(writes(&emu), Vec::<String>::new(), "the rerun wrote");
}

/// `rotate` with explicit keys (not the fixed v1 -> v2 of `rotate_command`).
fn rotate_keys(emu: &Emulator, from: &str, to: &str, extra: &[&str]) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = attest_command(emu, &home)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .args(emu.registry_flags())
        .args([
            "rotate",
            "--attestor=projects/demo/attestors/a1",
            "--from",
            from,
            "--to",
            to,
        ])
        .args(["--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn rotate_moves_from_kms_to_a_pkix_key_file_and_on_to_a_pgp_key() {
    let emu = Emulator::start(&seed());
    let dir = emu.dir.path();
    let images: Vec<String> = (0..3)
        .map(|n| format!("{}/demo/apps/rot-{n}:v1", emu.host()))
        .collect();
    let flags = emu.registry_flags();
    let v1 = version(1);
    let mut args = vec![
        "sign",
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v1,
    ];
    args.extend(flags.iter().map(String::as_str));
    args.extend(images.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");

    // To a PKIX key held as files: re-attesting needs the private half, asked before any write.
    let private = dir.join("new.pem");
    let public = dir.join("new.pub");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            private.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let public = public.to_str().unwrap();
    let (code, _, err) = rotate_keys(&emu, &v1, public, &["--reattest"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--pkix-private-key"), "{err}");
    assert_eq!(attestor_key_ids(&emu).len(), 1, "nothing was written");
    let (code, out, err) = rotate_keys(
        &emu,
        &v1,
        public,
        &[
            "--reattest",
            "--retire-old",
            "--pkix-private-key",
            private.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let ids = attestor_key_ids(&emu);
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert!(ids[0].starts_with("ni:///sha-256;"), "{ids:?}");
    for (image, signers) in attestations_by_image(&emu) {
        assert_eq!(
            signers.iter().filter(|id| **id == ids[0]).count(),
            1,
            "{image}: {signers:?}"
        );
    }

    // On to a gpg key: the old key named by its public key file, the new by its armored key.
    let key = crate::pgp_keys::make_key(dir, "rotate", "ed25519", "");
    let (code, out, err) = rotate_keys(
        &emu,
        public,
        key.public.to_str().unwrap(),
        &[
            "--reattest",
            "--retire-old",
            "--pgp-private-key",
            key.secret.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(attestor_key_ids(&emu), vec![key.fingerprint.clone()]);
    let mut args = vec![
        "verify",
        "--attestor=projects/demo/attestors/a1",
        "--output=json",
    ];
    args.extend(flags.iter().map(String::as_str));
    args.extend(images.iter().map(String::as_str));
    let (code, out, err) = attest(&emu, &args);
    assert_eq!(
        code, 0,
        "every image verifies by the PGP key alone: {out}{err}"
    );
}
