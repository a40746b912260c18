//! The real gcloud (Cloud SDK), pointed at the emulator, runs the whole Binary Authorization
//! setup and attestation flow unchanged; what it writes verifies with openssl.

mod common;

use common::{openssl_verifies, unb64, Emulator};
use serde_json::{json, Value};

const KEY_VERSION: &str =
    "projects/demo/locations/global/keyRings/ring/cryptoKeys/key/cryptoKeyVersions/1";
const DIGEST: &str = "sha256:784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490";

#[test]
fn gcloud_sets_up_signs_lists_and_manages_policy_against_the_emulator() {
    let emu = Emulator::start("projects: [demo]\n");
    emu.gcloud_ok(&["kms", "keyrings", "create", "ring", "--location=global"]);
    emu.gcloud_ok(&[
        "kms",
        "keys",
        "create",
        "key",
        "--location=global",
        "--keyring=ring",
        "--purpose=asymmetric-signing",
        "--default-algorithm=ec-sign-p256-sha256",
    ]);
    // Notes have no gcloud command: created through the REST API as Google documents it.
    emu.ok(
        "POST",
        "v1/projects/demo/notes?noteId=n1",
        Some(&json!({"attestation": {"hint": {"humanReadableName": "n1"}}})),
    );
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "create",
        "a1",
        "--attestation-authority-note=n1",
        "--attestation-authority-note-project=demo",
    ]);
    let added = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "add",
        "--attestor=a1",
        &format!("--keyversion={KEY_VERSION}"),
    ]);
    let key_id = format!("//{}/v1/{KEY_VERSION}", emu.host());
    assert!(added.contains(&format!("id: {key_id}")), "{added}");

    let artifact = format!("us-docker.pkg.dev/demo/r/img@{DIGEST}");
    let out = emu.gcloud(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={artifact}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--keyversion={KEY_VERSION}"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sign-and-create: {stderr}");
    assert!(
        !stderr.contains("No public key with ID"),
        "gcloud did not find the key on the attestor: {stderr}"
    );

    let listed = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestations",
        "list",
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--artifact-url={artifact}"),
        "--format=json",
    ]);
    let listed: Vec<Value> = serde_json::from_str(&listed).expect("list is JSON");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let occurrence = &listed[0];
    assert_eq!(occurrence["resourceUri"], artifact);
    assert_eq!(occurrence["noteName"], "projects/demo/notes/n1");
    let signature = &occurrence["attestation"]["signatures"][0];
    assert_eq!(signature["publicKeyId"], key_id);

    // The signature verifies with openssl against the PEM gcloud exports for the key version.
    let pem_path = emu.dir.path().join("exported.pem");
    emu.gcloud_ok(&[
        "kms",
        "keys",
        "versions",
        "get-public-key",
        "1",
        "--key=key",
        "--keyring=ring",
        "--location=global",
        &format!("--output-file={}", pem_path.display()),
    ]);
    let pem = std::fs::read_to_string(&pem_path).expect("exported PEM");
    let payload = unb64(
        occurrence["attestation"]["serializedPayload"]
            .as_str()
            .unwrap(),
    );
    let sig = unb64(signature["signature"].as_str().unwrap());
    assert!(
        openssl_verifies(emu.dir.path(), "sha256", &pem, &payload, &sig, false),
        "openssl rejects the attestation"
    );

    // Binary Authorization's own check accepts it.
    let verdict = emu.ok("POST", "v1/projects/demo/attestors/a1:validateAttestationOccurrence", Some(&json!({
        "attestation": occurrence["attestation"], "occurrenceNote": "projects/demo/notes/n1", "occurrenceResourceUri": artifact,
    })));
    assert_eq!(verdict["result"], "VERIFIED", "{verdict}");

    // Policy import then export round-trips.
    let policy_file = emu.dir.path().join("policy.yaml");
    std::fs::write(&policy_file, "defaultAdmissionRule:\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  evaluationMode: REQUIRE_ATTESTATION\n  requireAttestationsBy:\n  - projects/demo/attestors/a1\nglobalPolicyEvaluationMode: ENABLE\nname: projects/demo/policy\n").unwrap();
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "policy",
        "import",
        policy_file.to_str().unwrap(),
    ]);
    let exported = emu.gcloud_ok(&["container", "binauthz", "policy", "export"]);
    assert!(
        exported.contains("evaluationMode: REQUIRE_ATTESTATION"),
        "{exported}"
    );
    assert!(
        exported.contains("- projects/demo/attestors/a1"),
        "{exported}"
    );
    assert!(exported.contains("updateTime:"), "{exported}");
}

#[test]
fn gcloud_reads_v1beta1_attestors_and_validates_with_the_emulator() {
    let seed = format!(
        "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/key\n    algorithm: RSA_SIGN_PSS_2048_SHA256\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{KEY_VERSION}]\n"
    );
    let emu = Emulator::start(&seed);
    let described = emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestors",
        "describe",
        "a1",
        "--format=json",
    ]);
    let described: Value = serde_json::from_str(&described).unwrap();
    assert_eq!(
        described["userOwnedDrydockNote"]["noteReference"],
        "projects/demo/notes/n1"
    );
    assert_eq!(
        described["userOwnedDrydockNote"]["publicKeys"][0]["pkixPublicKey"]["signatureAlgorithm"],
        "RSA_PSS_2048_SHA256"
    );
    let artifact = format!("127.0.0.1:5000/demo/app@{DIGEST}");
    let out = emu.gcloud(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={artifact}"),
        "--attestor=projects/demo/attestors/a1",
        &format!("--keyversion={KEY_VERSION}"),
        "--validate",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // gcloud only warns when validation fails; the emulator must have said VERIFIED.
    assert!(!stderr.contains("could not be validated"), "{stderr}");
    let listed = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestations",
        "list",
        "--attestor=a1",
        "--format=json",
    ]);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["resourceUri"], artifact);
}

#[test]
fn gcloud_error_texts_come_from_googles_error_shape() {
    let emu = Emulator::start("projects: [demo]\n");
    emu.gcloud_ok(&["kms", "keyrings", "create", "ring", "--location=global"]);
    let again = emu.gcloud(&["kms", "keyrings", "create", "ring", "--location=global"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains(
            "ALREADY_EXISTS: KeyRing projects/demo/locations/global/keyRings/ring already exists."
        ),
        "{stderr}"
    );
    let missing = emu.gcloud(&["container", "binauthz", "attestors", "describe", "missing"]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("Attestor projects/demo/attestors/missing not found"),
        "{stderr}"
    );
}

#[test]
fn gcloud_activates_a_service_account_key_against_the_emulator_token_endpoint() {
    let emu = Emulator::start(
        "projects: [demo]\nserviceAccounts:\n  - email: signer@demo.iam.gserviceaccount.com\n",
    );
    let key = emu.ok(
        "GET",
        "emulator/service-accounts/signer@demo.iam.gserviceaccount.com/key",
        None,
    );
    let key_file = emu.dir.path().join("sa.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    let config = emu.dir.path().join("sa-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("gce"), "False").unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::gcloud_path())
            .args(args)
            .env("CLOUDSDK_CONFIG", &config)
            .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", &emu.url)
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .env("CLOUDSDK_CORE_PROJECT", "demo")
            .env("GCE_METADATA_ROOT", emu.host())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[
        "auth",
        "activate-service-account",
        &format!("--key-file={}", key_file.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["kms", "keyrings", "create", "ring", "--location=global"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = emu.ok("GET", "emulator/requests", None);
    let routes: Vec<&str> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert!(routes.contains(&"oauth2.token"), "{routes:?}");
    let created = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "kms.keyRings.create")
        .unwrap();
    assert_eq!(created["status"], 200);
}

#[test]
fn gcloud_disables_enables_destroys_and_restores_a_key_version() {
    let emu = Emulator::start(
        "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/key\n    algorithm: EC_SIGN_P256_SHA256\n",
    );
    let version = |verb: &str| {
        emu.gcloud_ok(&[
            "kms",
            "keys",
            "versions",
            verb,
            "1",
            "--key=key",
            "--keyring=ring",
            "--location=global",
            "--format=value(state)",
        ])
    };
    assert_eq!(version("disable").trim(), "DISABLED");
    let (status, body) = emu.call(
        "POST",
        &format!("v1/{KEY_VERSION}:asymmetricSign"),
        Some(&json!({"digest": {"sha256": common::b64(&[0; 32])}})),
    );
    assert_eq!(status, 400, "a disabled version signed: {body}");
    assert_eq!(version("enable").trim(), "ENABLED");
    assert_eq!(version("destroy").trim(), "DESTROY_SCHEDULED");
    assert_eq!(version("restore").trim(), "DISABLED");
    let routes: Vec<String> = emu.ok("GET", "emulator/requests", None)["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["route"].as_str().unwrap(), r["status"]))
        .collect();
    for route in [
        "kms.cryptoKeyVersions.patch 200",
        "kms.cryptoKeyVersions.destroy 200",
        "kms.cryptoKeyVersions.restore 200",
    ] {
        assert!(
            routes.iter().any(|r| r == route),
            "{route} not in {routes:?}"
        );
    }
}
