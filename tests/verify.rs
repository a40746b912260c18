//! `verify` against attestations written by gcloud (plain and DSSE-encoded), by gcloud from an
//! openssl signature, and by our `sign`; each kind of rejection with its reason; several
//! attestors; and a batch that asks each service once per distinct reference or digest.

use crate::common::emulator::{b64, Emulator};
use crate::sign::attest;
use serde_json::{json, Value};
use std::process::Command;

const RING: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys";

fn version(key: &str) -> String {
    format!("{RING}/{key}/cryptoKeyVersions/1")
}

/// Attestor a1 (note n1) trusts key `ec`; attestor a2 (note n2) trusts `rsa` and `old`.
/// `images` are extra seed entries for the emulator's registry.
fn google(images: &str) -> Emulator {
    Emulator::start(&format!(
        "keys:\n  - name: {RING}/ec\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {RING}/rsa\n    algorithm: RSA_SIGN_PSS_2048_SHA256\n  - name: {RING}/old\n    algorithm: EC_SIGN_P256_SHA256\n\
         notes:\n  - name: projects/demo/notes/n1\n  - name: projects/demo/notes/n2\n\
         attestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{}]\n  - name: projects/demo/attestors/a2\n    note: projects/demo/notes/n2\n    keyVersions: [{}, {}]\n\
         images:\n{images}",
        version("ec"),
        version("rsa"),
        version("old"),
    ))
}

fn seeded(repos: &[&str]) -> String {
    repos
        .iter()
        .map(|r| format!("  - repository: demo/apps/{r}\n    tag: v1\n"))
        .collect()
}

/// `verify` with the emulator's registry; returns (exit code, verdicts, stderr).
fn verify(emu: &Emulator, images: &[String], attestors: &[&str]) -> (i32, Vec<Value>, String) {
    let flags = emu.registry_flags();
    let mut args: Vec<&str> = vec!["verify", "--attestor-project=demo", "--output=json"];
    args.extend(flags.iter().map(String::as_str));
    let attestor_flags: Vec<String> = attestors
        .iter()
        .map(|a| format!("--attestor={a}"))
        .collect();
    args.extend(attestor_flags.iter().map(String::as_str));
    args.extend(images.iter().map(String::as_str));
    let (code, stdout, stderr) = attest(emu, &args);
    let verdicts: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (code, verdicts.as_array().unwrap().clone(), stderr)
}

fn image(emu: &Emulator, repo: &str) -> (String, String) {
    let tag = format!("{}/demo/apps/{repo}:v1", emu.host());
    let digest = emu.registry_digest(&format!("demo/apps/{repo}"), "v1");
    let pinned = format!("{}/demo/apps/{repo}@{digest}", emu.host());
    (tag, pinned)
}

fn payload(emu: &Emulator, image_ref: &str) -> String {
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "create-signature-payload",
        &format!("--artifact-url={image_ref}"),
    ])
}

/// A KMS signature over `message` by `key` (SHA-256 keys), straight from the emulator.
fn kms_sign(emu: &Emulator, key: &str, message: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(message).to_vec();
    let signed = emu.ok(
        "POST",
        &format!("v1/{}:asymmetricSign", version(key)),
        Some(&json!({"digest": {"sha256": b64(&hash)}})),
    );
    signed["signature"].as_str().unwrap().to_string()
}

/// Files an attestation occurrence under `note` as anyone could, through the REST API.
fn file(emu: &Emulator, note: &str, resource: &str, payload: &[u8], key_id: &str, signature: &str) {
    emu.ok(
        "POST",
        "v1/projects/demo/occurrences",
        Some(&json!({
            "noteName": format!("projects/demo/notes/{note}"), "resourceUri": resource,
            "attestation": {"serializedPayload": b64(payload),
                            "signatures": [{"publicKeyId": key_id, "signature": signature}]},
        })),
    );
}

fn kms_id(emu: &Emulator, key: &str) -> String {
    format!("//{}/v1/{}", emu.host(), version(key))
}

fn sign_and_create(emu: &Emulator, image_ref: &str, extra: &[&str]) {
    let artifact = format!("--artifact-url={image_ref}");
    let key = format!("--keyversion={}", version("ec"));
    let mut args = vec![
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &artifact,
        "--attestor=a1",
        "--attestor-project=demo",
        &key,
    ];
    args.extend(extra);
    emu.gcloud_ok(&args);
}

#[test]
fn attestations_by_gcloud_by_openssl_and_by_us_are_verified() {
    let emu = google(&seeded(&["ours", "gcloud", "dsse", "openssl"]));
    let (ours, _) = image(&emu, "ours");
    let flags = emu.registry_flags();
    let mut args = vec!["sign", &ours, "--attestor=projects/demo/attestors/a1"];
    let key = version("ec");
    args.extend(["--kms-key-version", &key]);
    args.extend(flags.iter().map(String::as_str));
    let (code, _, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");

    let (by_gcloud, pinned) = image(&emu, "gcloud");
    sign_and_create(&emu, &pinned, &[]);
    let (dsse, pinned) = image(&emu, "dsse");
    sign_and_create(&emu, &pinned, &["--pae-encode-payload"]);

    // A PKIX key the team holds, added from its PEM (the server assigns a ni:/// id), and a
    // signature made by openssl, filed by gcloud `attestations create`.
    let dir = emu.dir.path();
    let private = dir.join("team.pem");
    let public = dir.join("team.pub");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "ec",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let added = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "add",
        "--attestor=projects/demo/attestors/a1",
        &format!("--pkix-public-key-file={}", public.display()),
        "--pkix-public-key-algorithm=ecdsa-p256-sha256",
    ]);
    let ni_id = added
        .lines()
        .find_map(|l| l.trim().strip_prefix("id: "))
        .filter(|id| id.starts_with("ni:///sha-256;"))
        .unwrap_or_else(|| panic!("no ni:/// id in {added}"))
        .to_string();
    let (by_openssl, pinned) = image(&emu, "openssl");
    let payload_file = dir.join("payload.json");
    std::fs::write(&payload_file, payload(&emu, &pinned)).unwrap();
    let signature = dir.join("payload.sig");
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        private.to_str().unwrap(),
        "-out",
        signature.to_str().unwrap(),
        payload_file.to_str().unwrap(),
    ]);
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestations",
        "create",
        &format!("--artifact-url={pinned}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--signature-file={}", signature.display()),
        &format!("--public-key-id={ni_id}"),
    ]);

    let images = [ours, by_gcloud, dsse, by_openssl];
    let (code, verdicts, stderr) = verify(&emu, &images, &["a1"]);
    assert_eq!(code, 0, "{stderr}\n{verdicts:#?}");
    let keys: Vec<&str> = verdicts
        .iter()
        .map(|v| v["public_key_id"].as_str().unwrap())
        .collect();
    let ec = kms_id(&emu, "ec");
    assert_eq!(keys, [ec.as_str(), &ec, &ec, &ni_id]);
}

#[test]
fn each_rejection_says_why() {
    let emu = google(&seeded(&[
        "tampered",
        "stranger",
        "other-digest",
        "other-repo",
        "none",
    ]));
    let ec = kms_id(&emu, "ec");

    // Tampered: the payload changed after it was signed (same meaning, other bytes).
    let (tampered, pinned) = image(&emu, "tampered");
    let original = payload(&emu, &pinned);
    let signature = kms_sign(&emu, "ec", original.as_bytes());
    file(
        &emu,
        "n1",
        &pinned,
        format!("{original} ").as_bytes(),
        &ec,
        &signature,
    );

    // Signed by a key a1 does not hold (a2's), filed under that key's id.
    let (stranger, pinned) = image(&emu, "stranger");
    let bytes = payload(&emu, &pinned);
    let signature = kms_sign(&emu, "old", bytes.as_bytes());
    file(
        &emu,
        "n1",
        &pinned,
        bytes.as_bytes(),
        &kms_id(&emu, "old"),
        &signature,
    );

    // A payload for another digest of the same repository, filed for this one.
    let (other_digest, pinned) = image(&emu, "other-digest");
    let elsewhere = format!(
        "{}@sha256:{}",
        pinned.split('@').next().unwrap(),
        "b".repeat(64)
    );
    let bytes = payload(&emu, &elsewhere);
    file(
        &emu,
        "n1",
        &pinned,
        bytes.as_bytes(),
        &ec,
        &kms_sign(&emu, "ec", bytes.as_bytes()),
    );

    // A payload for another repository with the same digest.
    let (other_repo, pinned) = image(&emu, "other-repo");
    let moved = pinned.replace("/other-repo@", "/somewhere-else@");
    let bytes = payload(&emu, &moved);
    file(
        &emu,
        "n1",
        &pinned,
        bytes.as_bytes(),
        &ec,
        &kms_sign(&emu, "ec", bytes.as_bytes()),
    );

    let (none, _) = image(&emu, "none");
    let images = [tampered, stranger, other_digest, other_repo, none];
    let (code, verdicts, stderr) = verify(&emu, &images, &["a1"]);
    assert_eq!(code, 5, "{stderr}");
    let reasons: Vec<&str> = verdicts
        .iter()
        .map(|v| v["reason"].as_str().unwrap())
        .collect();
    let expect = [
        format!("the signature by {ec} does not verify"),
        "is not one of projects/demo/attestors/a1's key ids".to_string(),
        format!("its payload signs {elsewhere}"),
        format!("its payload signs {moved}"),
        "no attestation by projects/demo/attestors/a1 for".to_string(),
    ];
    for (reason, expected) in reasons.iter().zip(&expect) {
        assert!(
            reason.contains(expected.as_str()),
            "{reason:?} lacks {expected:?}"
        );
    }
    assert!(verdicts.iter().all(|v| v["verified"] == false));
}

#[test]
fn every_attestor_must_be_satisfied_and_a_removed_key_no_longer_counts() {
    let emu = google(&seeded(&["two"]));
    let (two, _) = image(&emu, "two");
    let flags = emu.registry_flags();
    let sign = |attestor: &str, key: &str| {
        let version = version(key);
        let mut args = vec!["sign", &two, attestor, "--kms-key-version", &version];
        args.extend(flags.iter().map(String::as_str));
        let (code, _, stderr) = attest(&emu, &args);
        assert_eq!(code, 0, "{stderr}");
    };
    sign("--attestor=projects/demo/attestors/a1", "ec");

    let (code, verdicts, stderr) = verify(&emu, std::slice::from_ref(&two), &["a1", "a2"]);
    assert_eq!(code, 5);
    assert_eq!(verdicts.len(), 2);
    assert_eq!(
        (
            verdicts[0]["verified"].clone(),
            verdicts[1]["verified"].clone()
        ),
        (json!(true), json!(false))
    );
    assert!(
        stderr.contains("by projects/demo/attestors/a2")
            && !stderr.contains("by projects/demo/attestors/a1"),
        "{stderr}"
    );

    // a2 holds two keys; only `old` signs. Verified, until `old` leaves the attestor.
    sign("--attestor=projects/demo/attestors/a2", "old");
    let (code, _, stderr) = verify(&emu, std::slice::from_ref(&two), &["a1", "a2"]);
    assert_eq!(code, 0, "{stderr}");
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "remove",
        &kms_id(&emu, "old"),
        "--attestor=projects/demo/attestors/a2",
    ]);
    let (code, verdicts, _) = verify(&emu, std::slice::from_ref(&two), &["a2"]);
    assert_eq!(code, 5);
    assert!(
        verdicts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("is not one of projects/demo/attestors/a2's key ids"),
        "{verdicts:#?}"
    );
}

#[test]
fn a_batch_asks_the_registry_once_per_reference_and_container_analysis_once_per_digest() {
    let same: String = (0..10)
        .map(|n| format!("  - repository: demo/apps/same\n    tag: t{n}\n"))
        .collect();
    let others: Vec<String> = (0..30).map(|n| format!("other-{n}")).collect();
    let others_ref: Vec<&str> = others.iter().map(String::as_str).collect();
    let emu = google(&format!("{same}{}", seeded(&others_ref)));
    let host = emu.host();
    let mut images: Vec<String> = (0..10)
        .map(|n| format!("{host}/demo/apps/same:t{n}"))
        .collect();
    images.extend(others.iter().map(|r| format!("{host}/demo/apps/{r}:v1")));
    images.extend(
        others
            .iter()
            .take(10)
            .map(|r| format!("{host}/demo/apps/{r}:v1")),
    );
    assert_eq!(images.len(), 50);

    emu.ok("POST", "emulator/reset", None);
    let (code, verdicts, _) = verify(&emu, &images, &["a1"]);
    assert_eq!(code, 5, "none is attested");
    assert_eq!(verdicts.len(), 50);
    let counters = emu.ok("GET", "emulator/counters", None);
    let calls = |route: &str| counters["routes"][route]["calls"].as_u64().unwrap_or(0);
    assert_eq!(calls("registry.manifests.head"), 40, "{counters}");
    assert_eq!(calls("grafeas.notes.occurrences.list"), 31, "{counters}");
    assert_eq!(calls("binauthz.attestors.get"), 1, "{counters}");
}

/// Runs gpg in its own home (`GNUPGHOME`), which must exist; panics with its stderr on failure.
fn gpg(home: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--yes", "--passphrase", ""])
        .args(args)
        .output()
        .expect("gpg (Debian package gnupg) is required by the PGP tests");
    assert!(
        out.status.success(),
        "gpg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_pgp_attestation_made_with_gpg_and_gcloud_is_verified_and_a_misdirected_one_is_not() {
    let emu = google(&seeded(&["pgp", "pgp-other"]));
    let dir = emu.dir.path();
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(
        &home,
        &[
            "--quick-generate-key",
            "ci <ci@example.com>",
            "ed25519",
            "sign",
            "never",
        ],
    );
    let fingerprint = gpg(&home, &["--list-keys", "--with-colons"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("fpr:")
                .map(|r| r.trim_matches(':').to_string())
        })
        .expect("a fingerprint");
    let public = dir.join("ci.asc");
    gpg(
        &home,
        &[
            "--armor",
            "--output",
            public.to_str().unwrap(),
            "--export",
            &fingerprint,
        ],
    );
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "add",
        "--attestor=projects/demo/attestors/a1",
        &format!("--pgp-public-key-file={}", public.display()),
    ]);

    let file_signed = |repo: &str, signed_for: &str| {
        let (tag, pinned) = image(&emu, repo);
        let (_, other) = image(&emu, signed_for);
        let payload_file = dir.join(format!("{repo}.json"));
        std::fs::write(&payload_file, payload(&emu, &other)).unwrap();
        let signature = dir.join(format!("{repo}.json.asc"));
        gpg(
            &home,
            &[
                "--armor",
                "--sign",
                "-u",
                &fingerprint,
                "--output",
                signature.to_str().unwrap(),
                payload_file.to_str().unwrap(),
            ],
        );
        emu.gcloud_ok(&[
            "container",
            "binauthz",
            "attestations",
            "create",
            &format!("--artifact-url={pinned}"),
            "--attestor=projects/demo/attestors/a1",
            &format!("--signature-file={}", signature.display()),
            &format!("--public-key-id={fingerprint}"),
        ]);
        tag
    };
    let good = file_signed("pgp", "pgp");
    let misdirected = file_signed("pgp-other", "pgp");

    // gpg started an agent for this home: stop it, so no process outlives the test.
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "gpg-agent"])
        .status();

    let (code, verdicts, stderr) = verify(&emu, &[good, misdirected], &["a1"]);
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(verdicts[0]["verified"], true, "{verdicts:#?}");
    assert_eq!(verdicts[0]["public_key_id"], fingerprint.as_str());
    assert_eq!(verdicts[1]["verified"], false);
    let reason = verdicts[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("payload signs") || reason.contains("signed payload names"),
        "{reason}"
    );
}
