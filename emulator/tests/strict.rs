//! The emulator refuses what Google refuses: one table per API, each row a rule with the
//! request Google refuses, what it answers, and the accepted neighbour that differs only in
//! what the rule is about. The timing knobs (key generation delay, occurrence list lag, token
//! lifetime) are tested after the tables.

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{b64, Emulator, TOKEN};
use serde_json::{json, Value};
use sha2::Digest;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RING: &str = "projects/demo/locations/global/keyRings/ring";
const SA: &str = "signer@demo.iam.gserviceaccount.com";
const PROVIDER: &str = "projects/123/locations/global/workloadIdentityPools/ci/providers/gh";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const PGP_KEY: &str = include_str!("vectors/pgp-ed25519.asc");
/// What `gpg --fingerprint` prints for `PGP_KEY` (see vectors/README.md).
const PGP_FINGERPRINT: &str = "230499772AFF8C916FE7573A3F4F0616042C09C3";

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
}

struct Req {
    method: &'static str,
    path: String,
    body: Body,
    token: Option<String>,
}

fn req(method: &'static str, path: impl Into<String>, body: Value) -> Req {
    Req {
        method,
        path: path.into(),
        body: if body.is_null() {
            Body::None
        } else {
            Body::Json(body)
        },
        token: Some(TOKEN.into()),
    }
}

fn form(path: &str, fields: &[(&'static str, &str)]) -> Req {
    Req {
        method: "POST",
        path: path.into(),
        body: Body::Form(fields.iter().map(|(k, v)| (*k, v.to_string())).collect()),
        token: None,
    }
}

impl Req {
    fn bearer(mut self, token: &str) -> Req {
        self.token = Some(token.into());
        self
    }
}

fn send(emu: &Emulator, r: &Req) -> (u16, Value) {
    let mut call = ureq::request(r.method, &format!("{}{}", emu.url, r.path));
    if let Some(t) = &r.token {
        call = call.set("Authorization", &format!("Bearer {t}"));
    }
    let result = match &r.body {
        Body::None => call.call(),
        Body::Json(v) => call.send_json(v.clone()),
        Body::Form(f) => {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call.send_form(&pairs)
        }
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{} {}: {e}", r.method, r.path),
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A rule: the refused request, its status and a fragment of Google's answer, and the
/// accepted neighbour (2xx).
struct Rule {
    rule: &'static str,
    refused: Req,
    status: u16,
    says: &'static str,
    accepted: Req,
}

/// Runs every rule in order (accepted neighbours may create what later rules use) and fails
/// once, listing every rule that did not hold.
fn check(emu: &Emulator, rules: Vec<Rule>) {
    let mut failures = Vec::new();
    for r in &rules {
        let (status, body) = send(emu, &r.refused);
        let text = body.to_string();
        if status != r.status || !text.contains(r.says) {
            failures.push(format!(
                "{}: refused request answered {status} {text}, expected {} with {:?}",
                r.rule, r.status, r.says
            ));
        }
        let (status, body) = send(emu, &r.accepted);
        if !(200..300).contains(&status) {
            failures.push(format!(
                "{}: accepted neighbour answered {status} {body}",
                r.rule
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rules failed:\n{}",
        failures.len(),
        rules.len(),
        failures.join("\n")
    );
}

fn rule(rule: &'static str, refused: Req, status: u16, says: &'static str, accepted: Req) -> Rule {
    Rule {
        rule,
        refused,
        status,
        says,
        accepted,
    }
}

fn sha256(data: &[u8]) -> String {
    b64(&sha2::Sha256::digest(data))
}

fn ec_pem(emu: &Emulator, key: &str) -> String {
    emu.ok(
        "GET",
        &format!("v1/{RING}/cryptoKeys/{key}/cryptoKeyVersions/1/publicKey"),
        None,
    )["pem"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A public key made by openssl (`genpkey` args), as PEM.
fn openssl_public_pem(emu: &Emulator, name: &str, args: &[&str]) -> String {
    let dir = emu.dir.path();
    let key = dir.join(format!("{name}.key"));
    let out = std::process::Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&key)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kms_refuses_what_google_refuses() {
    let emu = Emulator::start(&format!(
        "projects: [demo]\nkeys:\n  - name: {RING}/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\n"
    ));
    let rings = "v1/projects/demo/locations/global/keyRings";
    let keys = format!("v1/{RING}/cryptoKeys");
    let v1 = format!("v1/{RING}/cryptoKeys/ec/cryptoKeyVersions/1");
    let sign = format!("{v1}:asymmetricSign");
    let digest = sha256(b"payload");
    let crc = crc32c::crc32c(&sha2::Sha256::digest(b"payload"));
    let long = "a".repeat(64);
    check(
        &emu,
        vec![
            rule(
                "unknown JSON field",
                req("POST", format!("{rings}?keyRingId=r1"), json!({"bogus": 1})),
                400,
                "Invalid JSON payload received. Unknown name \\\"bogus\\\" at 'key_ring': Cannot find field.",
                req("POST", format!("{rings}?keyRingId=r1"), json!({})),
            ),
            rule(
                "unknown query parameter",
                req("POST", format!("{rings}?keyRingId=r0&keyringId=r0"), json!({})),
                400,
                "Unknown name \\\"keyringId\\\": Cannot bind query parameter. Field 'keyringId' could not be found in request message.",
                req("POST", format!("{rings}?alt=json&keyRingId=r0"), json!({})),
            ),
            rule(
                "key ring id pattern [a-zA-Z0-9_-]{1,63}",
                req("POST", format!("{rings}?keyRingId=bad.id!"), json!({})),
                400,
                "must match [a-zA-Z0-9_-]{1,63}",
                req("POST", format!("{rings}?keyRingId=good_id-2"), json!({})),
            ),
            rule(
                "key ring id at most 63 characters",
                req("POST", format!("{rings}?keyRingId={long}"), json!({})),
                400,
                "must match",
                req("POST", format!("{rings}?keyRingId={}", &long[..63]), json!({})),
            ),
            rule(
                "unknown project",
                req("POST", "v1/projects/nope/locations/global/keyRings?keyRingId=r", json!({})),
                403,
                "Permission denied on resource project nope.",
                req("POST", format!("{rings}?keyRingId=r3"), json!({})),
            ),
            rule(
                "location",
                req("POST", "v1/projects/demo/locations/Mars!/keyRings?keyRingId=r", json!({})),
                400,
                "is not a location",
                req("POST", "v1/projects/demo/locations/us-central1/keyRings?keyRingId=r", json!({})),
            ),
            rule(
                "crypto key id pattern",
                req("POST", format!("{keys}?cryptoKeyId=k%20k"), json!({"purpose": "ASYMMETRIC_SIGN", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}})),
                400,
                "must match [a-zA-Z0-9_-]{1,63}",
                req("POST", format!("{keys}?cryptoKeyId=k1"), json!({"purpose": "ASYMMETRIC_SIGN", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}})),
            ),
            rule(
                "enum names",
                req("POST", format!("{keys}?cryptoKeyId=k2"), json!({"purpose": "ASYMMETRIC_SIGN", "versionTemplate": {"algorithm": "EC_SIGN_P999_SHA256"}})),
                400,
                "Invalid value at 'crypto_key.version_template.algorithm' (type.googleapis.com/google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm), \\\"EC_SIGN_P999_SHA256\\\"",
                req("POST", format!("{keys}?cryptoKeyId=k2"), json!({"purpose": "ASYMMETRIC_SIGN", "version_template": {"algorithm": "EC_SIGN_P256_SHA256"}})),
            ),
            rule(
                "integer enums from the KMS protos (ASYMMETRIC_SIGN = 5, EC_SIGN_P256_SHA256 = 12)",
                req("POST", format!("{keys}?cryptoKeyId=k3"), json!({"purpose": 5, "versionTemplate": {"algorithm": 14}})),
                400,
                "CryptoKeyVersionAlgorithm), 14",
                req("POST", format!("{keys}?cryptoKeyId=k3"), json!({"purpose": 5, "versionTemplate": {"algorithm": 12}})),
            ),
            rule(
                "trusted wrapping only for HSM_SINGLE_TENANT keys; the Rust SDK sends false",
                req("POST", format!("{keys}?cryptoKeyId=tw&trustedWrappingEnabled=true"), json!({"purpose": 5, "versionTemplate": {"algorithm": 12, "protectionLevel": 1}})),
                400,
                "trusted_wrapping_enabled is only supported for keys with protection level HSM_SINGLE_TENANT.",
                req("POST", format!("{keys}?cryptoKeyId=tw&skipInitialVersionCreation=false&trustedWrappingEnabled=false&%24alt=json%3Benum-encoding%3Dint"), json!({"purpose": 5, "versionTemplate": {"algorithm": 12, "protectionLevel": 1}})),
            ),
            rule(
                "rotation period only for symmetric keys",
                req("POST", format!("{keys}?cryptoKeyId=k4"), json!({"purpose": "ASYMMETRIC_SIGN", "rotationPeriod": "86400s", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}})),
                400,
                "rotation period",
                req("POST", format!("{keys}?cryptoKeyId=k4"), json!({"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "86400s", "nextRotationTime": "2030-01-01T00:00:00Z"})),
            ),
            rule(
                "destroy_scheduled_duration is 24 hours to 120 days",
                req("POST", format!("{keys}?cryptoKeyId=k5"), json!({"purpose": "ASYMMETRIC_SIGN", "destroyScheduledDuration": "3600s", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}})),
                400,
                "between 24 hours and 120 days",
                req("POST", format!("{keys}?cryptoKeyId=k5"), json!({"purpose": "ASYMMETRIC_SIGN", "destroyScheduledDuration": "86400s", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}})),
            ),
            rule(
                "int64 CRC32C",
                req("POST", &sign, json!({"digest": {"sha256": digest}, "digestCrc32c": "12x"})),
                400,
                "Invalid value at 'digest_crc32c' (TYPE_INT64), \\\"12x\\\"",
                req("POST", &sign, json!({"digest": {"sha256": digest}, "digest_crc32c": crc.to_string()})),
            ),
            rule(
                "bytes are base64",
                req("POST", &sign, json!({"digest": {"sha256": "not base64!"}})),
                400,
                "Base64 decoding failed",
                req("POST", &sign, json!({"digest": {"sha256": digest.replace('+', "-").replace('/', "_")}})),
            ),
            rule(
                "one digest of the oneof",
                req("POST", &sign, json!({"digest": {"sha256": digest, "sha512": b64(&[0; 64])}})),
                400,
                "Oneof field 'digest' is already set",
                req("POST", &sign, json!({"digest": {"sha256": digest}})),
            ),
            rule(
                "updateMask is required",
                req("PATCH", &v1, json!({"state": "DISABLED"})),
                400,
                "updateMask",
                req("PATCH", format!("{v1}?updateMask=state"), json!({"state": 2})),
            ),
            rule(
                "a DISABLED version cannot sign",
                req("POST", &sign, json!({"digest": {"sha256": digest}})),
                400,
                "is not enabled, current state is: DISABLED",
                req("PATCH", format!("{v1}?updateMask=state"), json!({"state": "ENABLED"})),
            ),
            rule(
                "state enum",
                req("PATCH", format!("{v1}?updateMask=state"), json!({"state": "PAUSED"})),
                400,
                "CryptoKeyVersionState), \\\"PAUSED\\\"",
                req("POST", format!("{v1}:destroy"), json!({})),
            ),
            rule(
                "DESTROY_SCHEDULED cannot be enabled, only restored",
                req("PATCH", format!("{v1}?updateMask=state"), json!({"state": "ENABLED"})),
                400,
                "has value DESTROY_SCHEDULED",
                req("POST", format!("{v1}:restore"), json!({})),
            ),
            rule(
                "only DESTROY_SCHEDULED can be restored",
                req("POST", format!("{v1}:restore"), json!({})),
                400,
                "has value DISABLED",
                req("PATCH", format!("{v1}?updateMask=state"), json!({"state": "ENABLED"})),
            ),
        ],
    );
    // OUTPUT_ONLY fields sent by a client are ignored, never stored.
    let ring = emu.ok(
        "POST",
        &format!("{rings}?keyRingId=r9"),
        Some(&json!({"name": "projects/evil/locations/global/keyRings/x", "createTime": "2001-01-01T00:00:00Z"})),
    );
    assert_eq!(ring["name"], format!("{RING}9").replace("ring9", "r9"));
    assert_ne!(ring["createTime"], "2001-01-01T00:00:00Z");
    // The integer-enum key created above is an EC P-256 key, and its state table is right.
    let k3 = emu.ok("GET", &format!("{keys}/k3"), None);
    assert_eq!(k3["versionTemplate"]["algorithm"], "EC_SIGN_P256_SHA256");
    let version = emu.ok("GET", &v1, None);
    assert_eq!(version["state"], "ENABLED", "{version}");
}

#[test]
fn kms_key_versions_are_generated_then_destroyed_on_schedule() {
    let emu = Emulator::start(&format!(
        "projects: [demo]\nsettings:\n  keyGenerationDelayMs: 1500\n  keyDestroyDelayMs: 1500\nkeys:\n  - name: {RING}/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\n"
    ));
    // Seeded versions exist already generated.
    let v1 = emu.ok(
        "GET",
        &format!("v1/{RING}/cryptoKeys/ec/cryptoKeyVersions/1"),
        None,
    );
    assert_eq!(v1["state"], "ENABLED");
    let created = emu.ok(
        "POST",
        &format!("v1/{RING}/cryptoKeys/ec/cryptoKeyVersions"),
        Some(&json!({})),
    );
    assert_eq!(created["state"], "PENDING_GENERATION", "{created}");
    let v2 = created["name"].as_str().unwrap().to_string();
    let (status, body) = emu.call("GET", &format!("v1/{v2}/publicKey"), None);
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION")),
        "{body}"
    );
    let (status, _) = emu.call(
        "PATCH",
        &format!("v1/{v2}?updateMask=state"),
        Some(&json!({"state": "DISABLED"})),
    );
    assert_eq!(
        status, 400,
        "a PENDING_GENERATION version cannot be disabled"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = emu.ok("GET", &format!("v1/{v2}"), None)["state"].clone();
        if state == "ENABLED" {
            break;
        }
        assert!(Instant::now() < deadline, "still {state} after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    emu.ok("GET", &format!("v1/{v2}/publicKey"), None);
    let scheduled = emu.ok("POST", &format!("v1/{v2}:destroy"), Some(&json!({})));
    assert_eq!(scheduled["state"], "DESTROY_SCHEDULED");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = emu.ok("GET", &format!("v1/{v2}"), None)["state"].clone();
        if state == "DESTROYED" {
            break;
        }
        assert!(Instant::now() < deadline, "still {state} after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = emu.call("POST", &format!("v1/{v2}:restore"), Some(&json!({})));
    assert_eq!(status, 400, "a DESTROYED version cannot be restored");
    let (status, _) = emu.call("GET", &format!("v1/{v2}/publicKey"), None);
    assert_eq!(status, 400, "a DESTROYED version has no public key");
}

#[test]
fn binary_authorization_refuses_what_google_refuses() {
    let emu = Emulator::start(&format!(
        "projects: [demo]\nkeys:\n  - name: {RING}/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {RING}/cryptoKeys/rsa\n    algorithm: RSA_SIGN_PSS_2048_SHA256\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n"
    ));
    emu.ok(
        "POST",
        "v1/projects/demo/notes?noteId=build-note",
        Some(&json!({"build": {"builderVersion": "1"}})),
    );
    let ec = ec_pem(&emu, "ec");
    let rsa = ec_pem(&emu, "rsa");
    let p521 = openssl_public_pem(
        &emu,
        "p521",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    );
    let attestors = "v1/projects/demo/attestors";
    let note = |n: &str| json!({"noteReference": format!("projects/demo/notes/{n}")});
    let with_key = |key: Value| json!({"userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/n1", "publicKeys": [key]}});
    let a1 = emu.ok("GET", "v1/projects/demo/attestors/a1", None);
    let etag = a1["etag"]
        .as_str()
        .expect("attestors carry an etag")
        .to_string();
    let policy = |rule: Value| json!({"defaultAdmissionRule": rule});
    let require = json!({"evaluationMode": "REQUIRE_ATTESTATION", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG", "requireAttestationsBy": ["projects/demo/attestors/a1"]});
    let allow = json!({"evaluationMode": "ALWAYS_ALLOW", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"});
    check(
        &emu,
        vec![
            rule(
                "unknown JSON field, nested",
                req("POST", format!("{attestors}?attestorId=a2"), json!({"userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/n1", "bogus": 1}})),
                400,
                "Unknown name \\\"bogus\\\" at 'attestor.user_owned_grafeas_note': Cannot find field.",
                req("POST", format!("{attestors}?attestorId=a2"), json!({"user_owned_grafeas_note": note("n1")})),
            ),
            rule(
                "v1beta1 names the note userOwnedDrydockNote",
                req("POST", "v1beta1/projects/demo/attestors?attestorId=b1", json!({"userOwnedGrafeasNote": note("n1")})),
                400,
                "Unknown name \\\"userOwnedGrafeasNote\\\" at 'attestor'",
                req("POST", "v1beta1/projects/demo/attestors?attestorId=b1", json!({"userOwnedDrydockNote": note("n1")})),
            ),
            rule(
                "attestor id",
                req("POST", format!("{attestors}?attestorId=bad%20id"), json!({"userOwnedGrafeasNote": note("n1")})),
                400,
                "attestors id \\\"bad id\\\"",
                req("POST", format!("{attestors}?attestorId=a3"), json!({"userOwnedGrafeasNote": note("n1")})),
            ),
            rule(
                "the note must exist",
                req("POST", format!("{attestors}?attestorId=a4"), json!({"userOwnedGrafeasNote": note("missing")})),
                400,
                "does not exist",
                req("POST", format!("{attestors}?attestorId=a4"), json!({"userOwnedGrafeasNote": note("n1")})),
            ),
            rule(
                "the note must be an ATTESTATION note",
                req("POST", format!("{attestors}?attestorId=a5"), json!({"userOwnedGrafeasNote": note("build-note")})),
                400,
                "is of kind BUILD, not ATTESTATION",
                req("POST", format!("{attestors}?attestorId=a5"), json!({"userOwnedGrafeasNote": note("n1")})),
            ),
            rule(
                "the note reference cannot change on update",
                req("PUT", format!("{attestors}/a5"), json!({"userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/other"}})),
                400,
                "noteReference may not be updated",
                req("PUT", format!("{attestors}/a5"), json!({"description": "updated", "userOwnedGrafeasNote": note("n1")})),
            ),
            rule(
                "PKIX key ids must be URIs",
                req("POST", format!("{attestors}?attestorId=a6"), with_key(json!({"id": "my key", "pkixPublicKey": {"publicKeyPem": ec, "signatureAlgorithm": "ECDSA_P256_SHA256"}}))),
                400,
                "is not a valid RFC3986 URI",
                req("POST", format!("{attestors}?attestorId=a6"), with_key(json!({"id": "https://keys.example.com/ec", "pkixPublicKey": {"publicKeyPem": ec, "signatureAlgorithm": "ECDSA_P256_SHA256"}}))),
            ),
            rule(
                "the algorithm must match the key",
                req("POST", format!("{attestors}?attestorId=a7"), with_key(json!({"pkixPublicKey": {"publicKeyPem": ec, "signatureAlgorithm": "RSA_PSS_2048_SHA256"}}))),
                400,
                "does not match the public key",
                req("POST", format!("{attestors}?attestorId=a7"), with_key(json!({"pkixPublicKey": {"publicKeyPem": rsa, "signatureAlgorithm": "RSA_SIGN_PSS_2048_SHA256"}}))),
            ),
            rule(
                "ECDSA P-521 keys are accepted, with their own algorithm",
                req("POST", format!("{attestors}?attestorId=a8"), with_key(json!({"pkixPublicKey": {"publicKeyPem": p521, "signatureAlgorithm": "ECDSA_P384_SHA384"}}))),
                400,
                "not a P-384 EC key",
                req("POST", format!("{attestors}?attestorId=a8"), with_key(json!({"pkixPublicKey": {"publicKeyPem": p521, "signatureAlgorithm": "ECDSA_P521_SHA512"}}))),
            ),
            rule(
                "PGP keys must be OpenPGP public keys",
                req("POST", format!("{attestors}?attestorId=a9"), with_key(json!({"asciiArmoredPgpPublicKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"}))),
                400,
                "not an ASCII-armored OpenPGP",
                req("POST", format!("{attestors}?attestorId=a9"), with_key(json!({"id": "set-by-the-client", "asciiArmoredPgpPublicKey": PGP_KEY}))),
            ),
            rule(
                "one key type of the oneof",
                req("POST", format!("{attestors}?attestorId=a10"), with_key(json!({"asciiArmoredPgpPublicKey": PGP_KEY, "pkixPublicKey": {"publicKeyPem": ec, "signatureAlgorithm": "ECDSA_P256_SHA256"}}))),
                400,
                "Oneof field 'public_key' is already set",
                req("POST", format!("{attestors}?attestorId=a10"), with_key(json!({"pkixPublicKey": {"publicKeyPem": ec, "signatureAlgorithm": 9}}))),
            ),
            rule(
                "etags are checked (AIP-154)",
                req("PUT", format!("{attestors}/a1"), json!({"etag": "\"stale\"", "userOwnedGrafeasNote": note("n1")})),
                409,
                "ABORTED",
                req("PUT", format!("{attestors}/a1"), json!({"etag": etag, "updateTime": "2001-01-01T00:00:00Z", "userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/n1", "delegationServiceAccountEmail": "x@y"}})),
            ),
            rule(
                "unknown policy field",
                req("PUT", "v1/projects/demo/policy", json!({"bogusField": 1, "defaultAdmissionRule": allow})),
                400,
                "Unknown name \\\"bogusField\\\" at 'policy': Cannot find field.",
                req("PUT", "v1/projects/demo/policy", json!({"name": "projects/other/policy", "default_admission_rule": allow})),
            ),
            rule(
                "evaluation mode enum",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "MAYBE", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"}))),
                400,
                "Invalid value at 'policy.default_admission_rule.evaluation_mode' (type.googleapis.com/google.cloud.binaryauthorization.v1.AdmissionRule.EvaluationMode), \\\"MAYBE\\\"",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": 1, "enforcementMode": 1}))),
            ),
            rule(
                "the default rule is required",
                req("PUT", "v1/projects/demo/policy", json!({"globalPolicyEvaluationMode": "ENABLE"})),
                400,
                "defaultAdmissionRule is required",
                req("PUT", "v1/projects/demo/policy", json!({"globalPolicyEvaluationMode": "ENABLE", "defaultAdmissionRule": allow})),
            ),
            rule(
                "enforcement mode is required",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "ALWAYS_DENY"}))),
                400,
                "enforcement_mode is required",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "ALWAYS_DENY", "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"}))),
            ),
            rule(
                "REQUIRE_ATTESTATION needs attestors",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "REQUIRE_ATTESTATION", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"}))),
                400,
                "must be non-empty when evaluation_mode is REQUIRE_ATTESTATION",
                req("PUT", "v1/projects/demo/policy", policy(require.clone())),
            ),
            rule(
                "other modes take no attestors",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "ALWAYS_ALLOW", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG", "requireAttestationsBy": ["projects/demo/attestors/a1"]}))),
                400,
                "must be empty when evaluation_mode is ALWAYS_ALLOW",
                req("PUT", "v1/projects/demo/policy", policy(allow.clone())),
            ),
            rule(
                "required attestors must exist",
                req("PUT", "v1/projects/demo/policy", policy(json!({"evaluationMode": "REQUIRE_ATTESTATION", "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG", "requireAttestationsBy": ["projects/demo/attestors/ghost"]}))),
                400,
                "projects/demo/attestors/ghost named in policy.default_admission_rule.require_attestations_by does not exist",
                req("PUT", "v1/projects/demo/policy", policy(require.clone())),
            ),
            rule(
                "one kind of per-scope rules",
                req("PUT", "v1/projects/demo/policy", json!({"defaultAdmissionRule": allow, "clusterAdmissionRules": {"us-central1.prod": require}, "kubernetesNamespaceAdmissionRules": {"prod": require}})),
                400,
                "only one kind of per-scope admission rules",
                req("PUT", "v1/projects/demo/policy", json!({"defaultAdmissionRule": allow, "clusterAdmissionRules": {"us-central1.prod": require}})),
            ),
            rule(
                "cluster rule keys are location.clusterId",
                req("PUT", "v1/projects/demo/policy", json!({"defaultAdmissionRule": allow, "clusterAdmissionRules": {"prod": require}})),
                400,
                "Invalid key \\\"prod\\\" in clusterAdmissionRules",
                req("PUT", "v1/projects/demo/policy", json!({"defaultAdmissionRule": allow, "clusterAdmissionRules": {"us-central1-a.prod": require}})),
            ),
            rule(
                "the policy etag is checked (AIP-154)",
                req("PUT", "v1/projects/demo/policy", json!({"etag": "\"stale\"", "defaultAdmissionRule": allow})),
                409,
                "ABORTED",
                req("PUT", "v1/projects/demo/policy", json!({"defaultAdmissionRule": allow})),
            ),
            rule(
                "validateAttestationOccurrence needs the occurrence's note",
                req("POST", format!("{attestors}/a1:validateAttestationOccurrence"), json!({"attestation": {"serializedPayload": b64(b"{}")}, "occurrenceResourceUri": "r@sha256:00"})),
                400,
                "occurrence_note is required",
                req("POST", format!("{attestors}/a1:validateAttestationOccurrence"), json!({"attestation": {"serializedPayload": b64(b"{}")}, "occurrenceNote": "projects/demo/notes/n1", "occurrenceResourceUri": "r@sha256:00"})),
            ),
            rule(
                "unknown project",
                req("GET", "v1/projects/ghost/attestors", Value::Null),
                403,
                "Permission denied on resource project ghost.",
                req("GET", "v1/projects/demo/attestors", Value::Null),
            ),
        ],
    );
    // What the server sets: PGP ids (the V4 fingerprint, whatever the client sent), PKIX ids
    // when absent, the etag on every write; OUTPUT_ONLY fields from the client are ignored.
    let a9 = emu.ok("GET", "v1/projects/demo/attestors/a9", None);
    assert_eq!(
        a9["userOwnedGrafeasNote"]["publicKeys"][0]["id"],
        PGP_FINGERPRINT
    );
    let a7 = emu.ok("GET", "v1/projects/demo/attestors/a7", None);
    assert!(a7["userOwnedGrafeasNote"]["publicKeys"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("ni:///sha-256;"));
    let a1 = emu.ok("GET", "v1/projects/demo/attestors/a1", None);
    assert_ne!(a1["etag"], etag.as_str(), "an update changes the etag");
    assert_ne!(a1["updateTime"], "2001-01-01T00:00:00Z");
    assert_ne!(
        a1["userOwnedGrafeasNote"]["delegationServiceAccountEmail"],
        "x@y"
    );
    let stored = emu.ok("GET", "v1/projects/demo/policy", None);
    assert_eq!(stored["name"], "projects/demo/policy");
}

#[test]
fn container_analysis_refuses_what_google_refuses() {
    let emu =
        Emulator::start("projects: [demo, builds]\nnotes:\n  - name: projects/demo/notes/n1\n");
    let digest = "sha256:784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490";
    let uri = format!("r.example/app@{digest}");
    let attestation = json!({"serializedPayload": b64(b"payload"), "signatures": [{"publicKeyId": "//kms/k", "signature": b64(b"sig")}]});
    let occurrence = |extra: Value| {
        let mut o = json!({"noteName": "projects/demo/notes/n1", "resourceUri": uri, "attestation": attestation});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let create = "v1/projects/builds/occurrences";
    let list = |filter: &str| {
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        format!("v1/projects/demo/notes/n1/occurrences?filter={q}")
    };
    check(
        &emu,
        vec![
            rule(
                "a note needs details to have a kind",
                req("POST", "v1/projects/demo/notes?noteId=n2", json!({"shortDescription": "no kind"})),
                400,
                "must set one of its details",
                req("POST", "v1/projects/demo/notes?noteId=n2", json!({"shortDescription": "attestor note", "attestation": {"hint": {"human_readable_name": "n2"}}})),
            ),
            rule(
                "note id",
                req("POST", "v1/projects/demo/notes?noteId=bad%21", json!({"attestation": {}})),
                400,
                "notes id \\\"bad!\\\"",
                req("POST", "v1/projects/demo/notes?noteId=n3", json!({"attestation": {}})),
            ),
            rule(
                "unknown occurrence field",
                req("POST", create, occurrence(json!({"resourceUrl": uri}))),
                400,
                "Unknown name \\\"resourceUrl\\\" at 'occurrence': Cannot find field.",
                req("POST", create, occurrence(json!({}))),
            ),
            rule(
                "unknown attestation field",
                req("POST", create, occurrence(json!({"attestation": {"serializedPayload": b64(b"p"), "signatures": [{"publicKeyId": "k", "sig": b64(b"s")}]}}))),
                400,
                "at 'occurrence.attestation.signatures[0]'",
                req("POST", create, occurrence(json!({"attestation": {"serialized_payload": b64(b"p"), "signatures": [{"public_key_id": "k", "signature": b64(b"s")}]}}))),
            ),
            rule(
                "the details' kind must be the note's",
                req("POST", create, json!({"noteName": "projects/demo/notes/n1", "resourceUri": uri, "build": {"provenance": {}}})),
                400,
                "details are of kind BUILD, but note projects/demo/notes/n1 is of kind ATTESTATION",
                req("POST", create, occurrence(json!({"kind": "BUILD"}))),
            ),
            rule(
                "one details field of the oneof",
                req("POST", create, occurrence(json!({"build": {}}))),
                400,
                "Oneof field 'details' is already set",
                req("POST", create, occurrence(json!({"kind": 7}))),
            ),
            rule(
                "details are required",
                req("POST", create, json!({"noteName": "projects/demo/notes/n1", "resourceUri": uri})),
                400,
                "must set the details",
                req("POST", create, occurrence(json!({}))),
            ),
            rule(
                "bytes are base64",
                req("POST", create, occurrence(json!({"attestation": {"serializedPayload": "%%%", "signatures": []}}))),
                400,
                "Base64 decoding failed",
                req("POST", create, occurrence(json!({}))),
            ),
            rule(
                "filters name fields Container Analysis supports",
                req("GET", list(&format!("resourceUri = \"{uri}\"")), Value::Null),
                400,
                "unsupported field \\\"resourceUri\\\"",
                req("GET", list(&format!("resourceUrl = \"{uri}\"")), Value::Null),
            ),
            rule(
                "filters use AIP-160 operators the API supports",
                req("GET", list("kind > \"A\""), Value::Null),
                400,
                "Invalid filter",
                req("GET", list("kind = \"ATTESTATION\" OR kind = \"BUILD\""), Value::Null),
            ),
            rule(
                "filters must be complete",
                req("GET", list(&format!("has_suffix(resourceUrl, \"{digest}\") AND")), Value::Null),
                400,
                "Invalid filter",
                req("GET", list(&format!("has_suffix(resourceUrl, \"{digest}\") AND noteProjectId = \"demo\" AND noteId = \"n1\"")), Value::Null),
            ),
            rule(
                "only the method's query parameters",
                req("GET", "v1/projects/builds/occurrences?orderBy=createTime", Value::Null),
                400,
                "Cannot bind query parameter. Field 'orderBy'",
                req("GET", "v1/projects/builds/occurrences?returnPartialSuccess=true&%24alt=json%3Benum-encoding%3Dint", Value::Null),
            ),
            rule(
                "page sizes are positive",
                req("GET", "v1/projects/builds/occurrences?pageSize=-1", Value::Null),
                400,
                "page_size must not be negative",
                req("GET", "v1/projects/builds/occurrences?pageSize=0&pageToken=", Value::Null),
            ),
            rule(
                "unknown project",
                req("POST", "v1/projects/elsewhere/occurrences", occurrence(json!({}))),
                403,
                "Permission denied on resource project elsewhere.",
                req("POST", create, occurrence(json!({}))),
            ),
        ],
    );
    let listed = emu.ok(
        "GET",
        &list("kind = \"ATTESTATION\" OR kind = \"BUILD\""),
        None,
    );
    let occurrences = listed["occurrences"].as_array().unwrap();
    assert!(
        occurrences.iter().all(|o| o["kind"] == "ATTESTATION"),
        "kind is derived, never taken from the client: {listed}"
    );
    let none = emu.ok("GET", &list("NOT kind = \"ATTESTATION\""), None);
    assert_eq!(none["occurrences"], json!([]), "{none}");
    // Seven accepted neighbours created occurrences; Grafeas' default page size is 20.
    assert_eq!(occurrences.len(), 7, "{listed}");
    for _ in 0..14 {
        emu.ok("POST", create, Some(&occurrence(json!({}))));
    }
    let first = emu.ok("GET", "v1/projects/builds/occurrences", None);
    assert_eq!(first["occurrences"].as_array().unwrap().len(), 20);
    assert_eq!(first["nextPageToken"], "20");
}

#[test]
fn occurrence_lists_lag_and_page_short_when_the_seed_says_so() {
    let emu = Emulator::start(
        "projects: [demo]\nsettings:\n  occurrenceListLagMs: 1500\n  occurrencePageCap: 2\nnotes:\n  - name: projects/demo/notes/n1\n",
    );
    let occurrence = json!({"noteName": "projects/demo/notes/n1", "resourceUri": "r/app@sha256:00",
        "attestation": {"serializedPayload": b64(b"p"), "signatures": [{"publicKeyId": "k", "signature": b64(b"s")}]}});
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(
            emu.ok("POST", "v1/projects/demo/occurrences", Some(&occurrence))["name"].clone(),
        );
    }
    // A get sees the new occurrence at once; list calls do not, yet.
    emu.ok("GET", &format!("v1/{}", names[0].as_str().unwrap()), None);
    let listed = emu.ok(
        "GET",
        "v1/projects/demo/notes/n1/occurrences?pageSize=100",
        None,
    );
    assert_eq!(listed["occurrences"], json!([]), "{listed}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = emu.ok("GET", "v1/projects/demo/occurrences?pageSize=100", None);
        if !page["occurrences"].as_array().unwrap().is_empty() {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "occurrences never became visible"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Short pages: 2 of the 3 asked-for 100, and a token for the rest.
    assert_eq!(page["occurrences"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["nextPageToken"], "2");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RS256 JWT over `claims`, signed by the service account's key from the emulator.
fn sa_jwt(emu: &Emulator, claims: Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    let key = emu.ok("GET", &format!("emulator/service-accounts/{SA}/key"), None);
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(key["private_key"].as_str().unwrap()).unwrap();
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key
        .sign(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(signed.as_bytes()),
        )
        .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn oidc(emu: &Emulator, overrides: Value) -> String {
    let mut body = json!({"provider": PROVIDER, "sub": "repo:o/r:ref:refs/heads/main"});
    for (k, v) in overrides.as_object().unwrap() {
        body[k] = v.clone();
    }
    emu.ok("POST", "emulator/oidc-token", Some(&body))["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn auth_refuses_what_google_refuses() {
    let emu = Emulator::start(&format!(
        "projects: [demo]\nserviceAccounts:\n  - email: {SA}\n    tokenCreators: ['principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/*', 'user:admin@example.com']\n  - email: other@demo.iam.gserviceaccount.com\nworkloadIdentityProviders:\n  - name: {PROVIDER}\n    issuer: {ISSUER}\n"
    ));
    emu.ok(
        "POST",
        "emulator/tokens",
        Some(&json!({"token": "admin-token", "principal": "user:admin@example.com"})),
    );
    let now = unix_now();
    let aud = "https://oauth2.googleapis.com/token";
    let scope = "https://www.googleapis.com/auth/cloud-platform";
    let grant = |claims: Value| {
        form(
            "token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &sa_jwt(&emu, claims)),
            ],
        )
    };
    let good = json!({"iss": SA, "aud": aud, "scope": scope, "iat": now, "exp": now + 3600});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let mut forged = sa_jwt(&emu, good.clone());
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let sts = |subject: &str, audience: &str, scope: &str, requested: &str| {
        form(
            "v1/token",
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("requested_token_type", requested),
                ("audience", audience),
                ("subject_token", subject),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("scope", scope),
            ],
        )
    };
    let provider_aud = format!("//iam.googleapis.com/{PROVIDER}");
    let access = "urn:ietf:params:oauth:token-type:access_token";
    let valid = oidc(&emu, json!({}));
    let kms_list = "v1/projects/demo/locations/global/keyRings";
    let self_signed =
        |claims: Value| req("GET", kms_list, Value::Null).bearer(&sa_jwt(&emu, claims));
    let impersonate = format!("v1/projects/-/serviceAccounts/{SA}:generateAccessToken");
    check(
        &emu,
        vec![
            rule(
                "JWT grant: aud is the token endpoint",
                grant(with("aud", json!("https://example.com/token"))),
                400,
                "Failed audience check",
                grant(good.clone()),
            ),
            rule(
                "JWT grant: aud is required",
                grant(with("aud", Value::Null)),
                400,
                "invalid_grant",
                grant(with("aud", json!("https://www.googleapis.com/oauth2/v4/token"))),
            ),
            rule(
                "JWT grant: a scope is required for an access token",
                grant(with("scope", Value::Null)),
                400,
                "Empty or missing scope not allowed.",
                grant(with("scope", Value::Null).as_object().cloned().map(|mut c| {
                    c.insert("target_audience".into(), json!("https://example.com"));
                    Value::Object(c)
                }).unwrap()),
            ),
            rule(
                "JWT grant: at most an hour between iat and exp",
                grant(with("exp", json!(now + 7200))),
                400,
                "Token must be a short-lived token (60 minutes)",
                grant(with("exp", json!(now + 3610))),
            ),
            rule(
                "JWT grant: not expired",
                grant(with("iat", json!(now - 4000)).as_object().cloned().map(|mut c| {
                    c.insert("exp".into(), json!(now - 400));
                    Value::Object(c)
                }).unwrap()),
                400,
                "Token must be a short-lived token",
                grant(good.clone()),
            ),
            rule(
                "JWT grant: the signature verifies",
                form("token", &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &forged)]),
                400,
                "Invalid JWT Signature.",
                grant(good.clone()),
            ),
            rule(
                "self-signed JWT bearer: needs the API's audience or a scope",
                self_signed(json!({"iss": SA, "sub": SA, "iat": now, "exp": now + 3600})),
                401,
                "UNAUTHENTICATED",
                self_signed(json!({"iss": SA, "sub": SA, "aud": "https://cloudkms.googleapis.com/", "iat": now, "exp": now + 3600})),
            ),
            rule(
                "self-signed JWT bearer: another API's audience is refused",
                self_signed(json!({"iss": SA, "sub": SA, "aud": "https://binaryauthorization.googleapis.com/", "iat": now, "exp": now + 3600})),
                401,
                "invalid authentication credentials",
                self_signed(json!({"iss": SA, "sub": SA, "scope": scope, "iat": now, "exp": now + 3600})),
            ),
            rule(
                "STS: the subject token is a JWT signed by the provider's issuer",
                sts("header.eyJzdWIiOiJyZXBvOm8vciJ9.c2ln", &provider_aud, scope, access),
                400,
                "invalid_grant",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "STS: the issuer is the provider's",
                sts(&oidc(&emu, json!({"iss": "https://gitlab.example.com"})), &provider_aud, scope, access),
                400,
                "The issuer in ID Token https://gitlab.example.com does not match",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "STS: the token's audience is one the provider allows",
                sts(&oidc(&emu, json!({"aud": "sts.amazonaws.com"})), &provider_aud, scope, access),
                400,
                "does not match the expected audience",
                sts(&oidc(&emu, json!({"aud": provider_aud})), &provider_aud, scope, access),
            ),
            rule(
                "STS: the token has not expired",
                sts(&oidc(&emu, json!({"lifetimeSecs": 0})), &provider_aud, scope, access),
                400,
                "The ID Token has expired.",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "STS: the audience names a provider",
                sts(&valid, "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/nope", scope, access),
                400,
                "invalid_target",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "STS: an access token is requested",
                sts(&valid, &provider_aud, scope, ""),
                400,
                "requested_token_type",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "STS: a scope is required",
                sts(&valid, &provider_aud, "", access),
                400,
                "invalid_scope",
                sts(&valid, &provider_aud, scope, access),
            ),
            rule(
                "generateAccessToken: the caller needs the token-creator right",
                req("POST", "v1/projects/-/serviceAccounts/other@demo.iam.gserviceaccount.com:generateAccessToken", json!({"scope": [scope]})).bearer("admin-token"),
                403,
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
                req("POST", &impersonate, json!({"scope": [scope]})).bearer("admin-token"),
            ),
            rule(
                "generateAccessToken: the test token's user is no token creator",
                req("POST", &impersonate, json!({"scope": [scope]})),
                403,
                "iam.serviceAccounts.getAccessToken",
                req("POST", &impersonate, json!({"scope": [scope], "lifetime": "600s"})).bearer("admin-token"),
            ),
            rule(
                "generateAccessToken: the project is the wildcard '-'",
                req("POST", format!("v1/projects/demo/serviceAccounts/{SA}:generateAccessToken"), json!({"scope": [scope]})).bearer("admin-token"),
                400,
                "the project must be the wildcard '-'",
                req("POST", &impersonate, json!({"scope": [scope]})).bearer("admin-token"),
            ),
            rule(
                "generateAccessToken: scope is required",
                req("POST", &impersonate, json!({})).bearer("admin-token"),
                400,
                "Scope required.",
                req("POST", &impersonate, json!({"scope": [scope]})).bearer("admin-token"),
            ),
            rule(
                "generateAccessToken: lifetime at most an hour",
                req("POST", &impersonate, json!({"scope": [scope], "lifetime": "7200s"})).bearer("admin-token"),
                400,
                "must be between 1s and 3600s",
                req("POST", &impersonate, json!({"scope": [scope], "lifetime": "3600s"})).bearer("admin-token"),
            ),
        ],
    );
}

#[test]
fn minted_tokens_expire_after_the_seeded_lifetime() {
    let emu = Emulator::start(
        "projects: [demo]\nsettings:\n  tokenLifetimeSecs: 1\nauthorizedUsers:\n  - clientId: c\n    clientSecret: s\n    refreshToken: r\n    principal: user:dev@example.com\n",
    );
    let minted: Value = ureq::post(&format!("{}token", emu.url))
        .send_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "c"),
            ("client_secret", "s"),
            ("refresh_token", "r"),
        ])
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(minted["expires_in"], 1);
    let token = minted["access_token"].as_str().unwrap();
    let (status, _) = emu.call_as(Some(token), "GET", "v1/projects/demo/attestors", None);
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = emu.call_as(Some(token), "GET", "v1/projects/demo/attestors", None);
        if status == 401 {
            assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
            break;
        }
        assert!(Instant::now() < deadline, "the token never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Seeded tokens do not expire.
    assert_eq!(emu.call("GET", "v1/projects/demo/attestors", None).0, 200);
}
