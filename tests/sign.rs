//! `sign` end to end: the emulator plays Google, Debian's docker-registry holds images pushed by
//! skopeo, and gcloud, openssl and Binary Authorization's own check judge what we wrote.

use crate::common::emulator::{self, openssl_verifies, unb64, Emulator, TOKEN};
use crate::common::{attest_command, registry, Format, Layout};
use serde_json::{json, Value};

const RING: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys";

pub(crate) fn version(key: &str) -> String {
    format!("{RING}/{key}/cryptoKeyVersions/1")
}

/// An emulator with a note, an attestor trusting key `ec`, a key `untrusted`, a symmetric key,
/// and whatever `extra` seeds.
pub(crate) fn google(extra: &str) -> Emulator {
    Emulator::start(&format!(
        "keys:\n  - name: {RING}/ec\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {RING}/untrusted\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {RING}/sym\nnotes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{}]\n{extra}",
        version("ec"),
    ))
}

/// Pushes a fresh image (unique content) and returns `HOST/repo:tag`.
pub(crate) fn push(repo: &str, format: Format) -> String {
    let reg = registry();
    let layout = match format {
        Format::MultiArch => Layout::multi_arch(repo),
        _ => Layout::image(repo),
    };
    reg.push(layout.path(), &format!("{repo}:v1"), format);
    format!("{}/{repo}:v1", reg.host)
}

/// Runs binauthz-attest with the emulator as Google and the test token.
pub(crate) fn attest(emu: &Emulator, args: &[&str]) -> (i32, String, String) {
    attest_env(emu, args, &[("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)])
}

fn attest_env(emu: &Emulator, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = attest_command(emu, &home);
    cmd.args(["--insecure-registry", &registry().host])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn sign_ok(emu: &Emulator, image: &str, key: &str, extra: &[&str]) -> Value {
    let v = version(key);
    let mut args = vec![
        "sign",
        image,
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v,
    ];
    args.extend(extra);
    let (code, stdout, stderr) = attest(emu, &args);
    assert_eq!(code, 0, "sign failed: {stderr}");
    assert!(
        !stderr.contains(TOKEN) && !stdout.contains(TOKEN),
        "the token leaked"
    );
    let outcomes: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(outcomes.as_array().map(Vec::len), Some(1), "{outcomes}");
    outcomes[0].clone()
}

pub(crate) fn occurrences(emu: &Emulator, project: &str) -> Vec<Value> {
    let listed = emu.ok(
        "GET",
        &format!("v1/projects/{project}/occurrences?pageSize=1000"),
        None,
    );
    listed["occurrences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn registry_digest(image: &str) -> String {
    let (repo, tag) = image.split_once('/').unwrap().1.rsplit_once(':').unwrap();
    registry()
        .head_manifest(repo, tag)
        .1
        .expect("Docker-Content-Digest")
}

#[test]
fn sign_by_tag_files_an_attestation_that_gcloud_openssl_and_binauthz_accept() {
    let emu = google("");
    let image = push("sign/oci", Format::Oci);
    let outcome = sign_ok(&emu, &image, "ec", &[]);
    let digest = registry_digest(&image);
    let image_ref = format!("{}/sign/oci@{digest}", registry().host);
    assert_eq!(outcome["digest"], digest.as_str());
    assert_eq!(outcome["image_ref"], image_ref.as_str());
    assert_eq!(outcome["status"], "created");
    assert_eq!(outcome["created"], true);
    assert_eq!(outcome["note"], "projects/demo/notes/n1");
    assert_eq!(
        outcome["public_key_id"],
        format!("//{}/v1/{}", emu.host(), version("ec"))
    );

    // gcloud finds it by the digest, as users look for it.
    let listed = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestations",
        "list",
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--artifact-url={image_ref}"),
        "--format=json",
    ]);
    let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], outcome["attestation"]);
    let attestation = &listed[0]["attestation"];

    // The payload is gcloud's, byte for byte.
    let payload = unb64(attestation["serializedPayload"].as_str().unwrap());
    let gcloud_payload = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "create-signature-payload",
        &format!("--artifact-url={image_ref}"),
    ]);
    assert_eq!(String::from_utf8(payload.clone()).unwrap(), gcloud_payload);

    // openssl verifies the signature with the KMS public key.
    let pem = emu.ok("GET", &format!("v1/{}/publicKey", version("ec")), None)["pem"]
        .as_str()
        .unwrap()
        .to_string();
    let signature = unb64(attestation["signatures"][0]["signature"].as_str().unwrap());
    assert!(openssl_verifies(
        emu.dir.path(),
        "sha256",
        &pem,
        &payload,
        &signature,
        false
    ));

    // Binary Authorization's own check accepts it.
    let verdict = emu.ok("POST", "v1/projects/demo/attestors/a1:validateAttestationOccurrence", Some(&json!({
        "attestation": attestation, "occurrenceNote": "projects/demo/notes/n1", "occurrenceResourceUri": image_ref,
    })));
    assert_eq!(verdict["result"], "VERIFIED", "{verdict}");
}

#[test]
fn the_critical_path_is_one_call_per_api_and_reruns_create_nothing() {
    let emu = google("");
    let image = push("sign/rerun", Format::Oci);
    emu.ok("POST", "emulator/reset", None);
    let first = sign_ok(&emu, &image, "ec", &[]);
    let counters = emu.ok("GET", "emulator/counters", None)["routes"].clone();
    let calls = |route: &str| counters[route]["calls"].as_u64().unwrap_or(0);
    for route in [
        "binauthz.attestors.get",
        "kms.cryptoKeyVersions.getPublicKey",
        "kms.cryptoKeyVersions.asymmetricSign",
        "grafeas.notes.occurrences.list",
        "grafeas.occurrences.create",
    ] {
        assert_eq!(calls(route), 1, "{route}: {counters}");
    }
    assert_eq!(
        counters.as_object().unwrap().len(),
        5,
        "unexpected calls: {counters}"
    );

    let second = sign_ok(&emu, &image, "ec", &[]);
    assert_eq!(second["status"], "existing");
    assert_eq!(second["created"], false);
    assert_eq!(second["attestation"], first["attestation"]);
    assert_eq!(occurrences(&emu, "demo").len(), 1);
}

#[test]
fn an_attestation_made_by_gcloud_counts_as_existing() {
    let emu = google("");
    let image = push("sign/by-gcloud", Format::DockerV2s2);
    let image_ref = format!(
        "{}/sign/by-gcloud@{}",
        registry().host,
        registry_digest(&image)
    );
    emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={image_ref}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--keyversion={}", version("ec")),
    ]);
    let outcome = sign_ok(&emu, &image, "ec", &[]);
    assert_eq!(outcome["status"], "existing", "{outcome}");
    assert_eq!(occurrences(&emu, "demo").len(), 1);
}

#[test]
fn docker_schema2_and_multi_arch_indexes_sign_the_registry_digest() {
    let emu = google("");
    for (repo, format) in [
        ("sign/docker", Format::DockerV2s2),
        ("sign/index", Format::MultiArch),
    ] {
        let image = push(repo, format);
        let outcome = sign_ok(&emu, &image, "ec", &[]);
        assert_eq!(
            outcome["digest"],
            registry_digest(&image).as_str(),
            "{repo}"
        );
    }
    assert_eq!(occurrences(&emu, "demo").len(), 2);
}

#[test]
fn every_kms_algorithm_signs_attestations_binauthz_verifies() {
    use emulator::KMS_ALGORITHMS as ALGORITHMS;
    let keys: String = ALGORITHMS
        .iter()
        .map(|a| {
            format!(
                "  - name: {RING}/{}\n    algorithm: {a}\n",
                a.to_lowercase()
            )
        })
        .collect();
    let trusted: Vec<String> = ALGORITHMS
        .iter()
        .map(|a| version(&a.to_lowercase()))
        .collect();
    let emu = Emulator::start(&format!(
        "keys:\n{keys}notes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{}]\n",
        trusted.join(", ")
    ));
    let image = push("sign/algorithms", Format::Oci);
    for alg in ALGORITHMS {
        // One attestation per key: each run looks for an attestation by this attestor, so use
        // a fresh digest per algorithm.
        let image = if *alg == ALGORITHMS[0] {
            image.clone()
        } else {
            push(
                &format!("sign/alg-{}", alg.to_lowercase().replace('_', "-")),
                Format::Oci,
            )
        };
        let outcome = sign_ok(&emu, &image, &alg.to_lowercase(), &[]);
        assert_eq!(outcome["status"], "created", "{alg}");
        let occurrence = emu.ok(
            "GET",
            &format!("v1/{}", outcome["attestation"].as_str().unwrap()),
            None,
        );
        let verdict = emu.ok("POST", "v1/projects/demo/attestors/a1:validateAttestationOccurrence", Some(&json!({
            "attestation": occurrence["attestation"], "occurrenceNote": "projects/demo/notes/n1",
            "occurrenceResourceUri": outcome["image_ref"],
        })));
        assert_eq!(verdict["result"], "VERIFIED", "{alg}: {verdict}");
        // And our own judgement agrees, for every algorithm.
        let (code, stdout, stderr) = attest(
            &emu,
            &[
                "verify",
                &image,
                "--attestor=projects/demo/attestors/a1",
                "--output=json",
            ],
        );
        assert_eq!(code, 0, "{alg}: {stderr}");
        let verdicts: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(verdicts[0]["verified"], true, "{alg}: {verdicts}");
    }
}

#[test]
fn attestor_key_and_occurrences_may_live_in_three_projects() {
    let key = "projects/keys/locations/global/keyRings/ring/cryptoKeys/ec/cryptoKeyVersions/1";
    let emu = Emulator::start(&format!(
        "projects: [builds]\nkeys:\n  - name: projects/keys/locations/global/keyRings/ring/cryptoKeys/ec\n    algorithm: EC_SIGN_P256_SHA256\nnotes:\n  - name: projects/policy/notes/n1\nattestors:\n  - name: projects/policy/attestors/a1\n    note: projects/policy/notes/n1\n    keyVersions: [{key}]\n"
    ));
    let image = push("sign/cross", Format::Oci);
    let args = [
        "sign",
        &image,
        "--attestor=a1",
        "--attestor-project=policy",
        "--kms-key-version",
        key,
        "--project=builds",
    ];
    let (code, stdout, stderr) = attest(&emu, &args);
    assert_eq!(code, 0, "{stderr}");
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        outcome[0]["attestation"]
            .as_str()
            .unwrap()
            .starts_with("projects/builds/occurrences/"),
        "{outcome}"
    );
    assert_eq!(occurrences(&emu, "builds").len(), 1);
    assert!(
        attest(&emu, &args).1.contains("\"existing\""),
        "rerun across projects is idempotent"
    );
}

#[test]
fn dry_run_resolves_and_checks_but_signs_and_writes_nothing() {
    let emu = google("");
    let image = push("sign/dry", Format::Oci);
    emu.ok("POST", "emulator/reset", None);
    let outcome = sign_ok(&emu, &image, "ec", &["--dry-run"]);
    assert_eq!(outcome["status"], "would-create");
    let counters = emu.ok("GET", "emulator/counters", None)["routes"].clone();
    assert!(
        counters
            .get("kms.cryptoKeyVersions.asymmetricSign")
            .is_none(),
        "{counters}"
    );
    assert!(
        counters.get("grafeas.occurrences.create").is_none(),
        "{counters}"
    );
}

#[test]
fn a_lost_create_answer_is_looked_up_before_retrying() {
    let emu = google("");
    let image = push("sign/lost", Format::Oci);
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "grafeas.occurrences.create", "drop": true, "times": 1})),
    );
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "kms.cryptoKeyVersions.asymmetricSign", "status": 503, "times": 1})),
    );
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "binauthz.attestors.get", "status": 429, "times": 1})),
    );
    let outcome = sign_ok(&emu, &image, "ec", &[]);
    assert_eq!(outcome["status"], "created");
    assert_eq!(occurrences(&emu, "demo").len(), 1);
}

#[test]
fn a_create_whose_answer_is_lost_after_it_happened_is_found_not_repeated() {
    let emu = google("");
    let image = push("sign/lost-after", Format::Oci);
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "grafeas.occurrences.create", "dropAfter": true, "times": 1})),
    );
    emu.ok("POST", "emulator/reset", None);
    let outcome = sign_ok(&emu, &image, "ec", &[]);
    assert_eq!(outcome["status"], "created");
    let filed = occurrences(&emu, "demo");
    assert_eq!(
        filed.len(),
        1,
        "the retry duplicated the attestation: {filed:?}"
    );
    assert_eq!(outcome["attestation"], filed[0]["name"]);
    let counters = emu.ok("GET", "emulator/counters", None)["routes"].clone();
    assert_eq!(
        counters["grafeas.occurrences.create"]["statuses"],
        json!({"0": 1}),
        "{counters}"
    );
    assert_eq!(
        counters["grafeas.notes.occurrences.list"]["calls"], 2,
        "looked before retrying: {counters}"
    );
}

/// Runs `sign` expecting failure; checks the exit code, that the message contains `says`, and
/// that nothing was written.
fn refused(emu: &Emulator, args: &[&str], env: &[(&str, &str)], code: i32, says: &str) {
    let (got, stdout, stderr) = attest_env(emu, args, env);
    assert_eq!(got, code, "exit code for {args:?}: {stderr}");
    assert!(
        stderr.contains(says),
        "{args:?}: expected {says:?} in: {stderr}"
    );
    // A run-wide failure prints nothing; an image's own failure is its `failed` outcome.
    if !stdout.is_empty() {
        let outcomes: Value = serde_json::from_str(&stdout).unwrap();
        let all_failed = outcomes.as_array().unwrap().iter().all(|o| {
            o["status"] == "failed" && o["error"]["message"].as_str().unwrap().contains(says)
        });
        assert!(all_failed, "{stdout}");
    }
    assert!(!stderr.contains(TOKEN));
    assert!(
        occurrences(emu, "demo").is_empty(),
        "something was written for {args:?}"
    );
}

#[test]
fn bad_inputs_get_their_named_error_and_exit_code_and_nothing_is_written() {
    let emu =
        google("deny:\n  - principal: user:intruder@example.com\n    resource: projects/demo\n");
    emu.ok(
        "POST",
        "emulator/tokens",
        Some(&json!({"token": "intruder-token", "principal": "user:intruder@example.com"})),
    );
    let image = push("sign/bad", Format::Oci);
    let host = registry().host.clone();
    let ec = version("ec");
    let token = [("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)];
    let sign = |image: &str, attestor: &str, key: &str| -> Vec<String> {
        vec![
            "sign".into(),
            image.into(),
            format!("--attestor={attestor}"),
            format!("--kms-key-version={key}"),
        ]
    };
    let a1 = "projects/demo/attestors/a1";
    type Case<'a> = (Vec<String>, &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: Vec<Case> = vec![
        (sign("Not A Reference", a1, &ec), &token, 2, "invalid image reference `Not A Reference`"),
        (sign(&format!("{host}/sign/bad:missing"), a1, &ec), &token, 4, "was not found"),
        (sign(&format!("{host}/sign/nothing-here:v1"), a1, &ec), &token, 4, "was not found"),
        (sign(&image, "projects/demo/attestors/nobody", &ec), &token, 4, "attestor projects/demo/attestors/nobody was not found"),
        (sign(&image, a1, &version("untrusted")), &token, 5, "gcloud container binauthz attestors public-keys add --attestor=a1 --attestor-project=demo --keyversion="),
        (sign(&image, a1, &version("sym")), &token, 2, "cannot sign attestations"),
        (sign(&image, a1, &version("gone")), &token, 4, "was not found"),
        (sign(&image, "a1", &ec), &token, 2, "invalid attestor `a1`"),
        (sign(&image, a1, "projects/demo/keys/k"), &token, 2, "invalid KMS key version"),
        (sign(&image, a1, &ec), &[("GOOGLE_OAUTH_ACCESS_TOKEN", "intruder-token")], 3, "permission denied"),
        (sign(&image, a1, &ec), &[("GOOGLE_OAUTH_ACCESS_TOKEN", "expired-token")], 3, "rejected the credentials"),
        // No token, no key file, and a metadata server that does not answer.
        (sign(&image, a1, &ec), &[("GCE_METADATA_HOST", "127.0.0.1:9")], 3, "no Google credentials"),
    ];
    for (args, env, code, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&emu, &args, env, code, says);
    }
}

#[test]
fn sign_against_the_emulated_artifact_registry_sends_the_google_token_in_one_head() {
    let emu = google("images:\n  - repository: demo/apps/hello\n    tag: v1\n  - repository: demo/apps/flaky\n    tag: v1\n");
    let host = emu.host();
    let flags = emu.registry_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let registry_calls = || -> Vec<(String, u64, String)> {
        let log = emu.ok("GET", "emulator/requests", None)["requests"]
            .as_array()
            .unwrap()
            .clone();
        log.iter()
            .filter(|r| r["route"].as_str().unwrap().starts_with("registry."))
            .map(|r| {
                (
                    r["route"].as_str().unwrap().to_string(),
                    r["status"].as_u64().unwrap(),
                    r["credential"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let call = |route: &str, status: u64| (route.to_string(), status, "google-token".to_string());

    emu.ok("POST", "emulator/reset", None);
    let outcome = sign_ok(&emu, &format!("{host}/demo/apps/hello:v1"), "ec", &flags);
    assert_eq!(outcome["status"], "created");
    // The digest costs one HEAD with the Google token: no /v2/ probe, no token exchange.
    assert_eq!(registry_calls(), [call("registry.manifests.head", 200)]);
    assert_eq!(
        outcome["digest"],
        emu.registry_digest("demo/apps/hello", "v1")
    );

    // A failing HEAD (503, after 50 ms) is absorbed: oci-client falls back to a GET of the
    // manifest, whose bytes give the same digest.
    emu.ok("POST", "emulator/faults", Some(&json!({"route": "registry.manifests.head", "status": 503, "times": 1, "latencyMs": 50})));
    emu.ok("POST", "emulator/reset", None);
    let outcome = sign_ok(&emu, &format!("{host}/demo/apps/flaky:v1"), "ec", &flags);
    assert_eq!(outcome["status"], "created");
    assert_eq!(
        registry_calls(),
        [
            call("registry.manifests.head", 503),
            call("registry.manifests.get", 200)
        ]
    );
    let counters = emu.ok("GET", "emulator/counters", None);
    assert_eq!(
        counters["routes"]["registry.manifests.head"]["statuses"],
        json!({"503": 1})
    );
}

#[test]
fn verify_accepts_what_sign_wrote_and_names_why_others_fail() {
    let emu = google("images:\n  - repository: demo/apps/signed\n    tag: v1\n  - repository: demo/apps/unsigned\n    tag: v1\n  - repository: demo/apps/chains\n    tag: v1\n");
    let host = emu.host();
    let flags = emu.registry_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let signed = format!("{host}/demo/apps/signed:v1");
    sign_ok(&emu, &signed, "ec", &flags);
    let verify = |image: &str| {
        let mut args = vec![
            "verify",
            image,
            "--attestor=a1",
            "--attestor-project=demo",
            "--output=json",
        ];
        args.extend(&flags);
        attest(&emu, &args)
    };
    let (code, stdout, stderr) = verify(&signed);
    assert_eq!(code, 0, "{stderr}");
    let verdicts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verdicts[0]["verified"], true);
    assert_eq!(verdicts[0]["attestations"][0]["valid"], true);

    let (code, stdout, stderr) = verify(&format!("{host}/demo/apps/unsigned:v1"));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("by projects/demo/attestors/a1: Binary Authorization would block it"),
        "{stderr}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()[0]["verified"],
        false
    );

    // A valid signature filed under Tekton Chains' key id form, which admission never matches.
    let chains = format!("{host}/demo/apps/chains:v1");
    let digest = emu.registry_digest("demo/apps/chains", "v1");
    let image_ref = format!("{host}/demo/apps/chains@{digest}");
    let payload = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "create-signature-payload",
        &format!("--artifact-url={image_ref}"),
    ]);
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(payload.as_bytes()).to_vec()
    };
    let signed = emu.ok(
        "POST",
        &format!("v1/{}:asymmetricSign", version("ec")),
        Some(&json!({"digest": {"sha256": emulator::b64(&hash)}})),
    );
    emu.ok("POST", "v1/projects/demo/occurrences", Some(&json!({
        "kind": "ATTESTATION", "noteName": "projects/demo/notes/n1", "resourceUri": image_ref,
        "attestation": {"serializedPayload": emulator::b64(payload.as_bytes()),
                        "signatures": [{"publicKeyId": format!("gcpkms://{}", version("ec")), "signature": signed["signature"]}]},
    })));
    let (code, stdout, _) = verify(&chains);
    assert_eq!(code, 5);
    let reason = serde_json::from_str::<Value>(&stdout).unwrap()[0]["attestations"][0]["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("Binary Authorization will reject this: the signature is valid but filed under key id gcpkms://"), "{reason}");
}

/// Every source of Application Default Credentials, each minted by the emulator as Google
/// would: a service-account key (self-signed JWT), gcloud's authorized_user file, a Workload
/// Identity Federation config (STS exchange, then impersonation), and the metadata server.
#[test]
fn application_default_credentials_from_every_source_sign() {
    let emu = google(
        "workloadIdentityProviders:\n  - name: projects/123/locations/global/workloadIdentityPools/ci/providers/github\n    issuer: https://token.actions.githubusercontent.com\nserviceAccounts:\n  - email: signer@demo.iam.gserviceaccount.com\n    tokenCreators: ['principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/*']\nauthorizedUsers:\n  - clientId: cid\n    clientSecret: csecret\n    refreshToken: rtoken\n    principal: user:dev@example.com\nmetadata:\n  serviceAccount: signer@demo.iam.gserviceaccount.com\n  projectId: demo\nimages:\n  - repository: demo/apps/sa-key\n    tag: v1\n  - repository: demo/apps/user\n    tag: v1\n  - repository: demo/apps/wif\n    tag: v1\n  - repository: demo/apps/metadata\n    tag: v1\n",
    );
    let host = emu.host();
    let dir = emu.dir.path();
    let key = emu.ok(
        "GET",
        "emulator/service-accounts/signer@demo.iam.gserviceaccount.com/key",
        None,
    );
    std::fs::write(dir.join("sa.json"), key.to_string()).unwrap();
    let user = json!({"type": "authorized_user", "client_id": "cid", "client_secret": "csecret", "refresh_token": "rtoken",
                      "token_uri": format!("{}token", emu.url)});
    std::fs::write(dir.join("user.json"), user.to_string()).unwrap();
    // The CI's OIDC token, signed by the issuer the seeded provider trusts.
    let oidc = emu.ok(
        "POST",
        "emulator/oidc-token",
        Some(&json!({"provider": "projects/123/locations/global/workloadIdentityPools/ci/providers/github", "sub": "repo:octo/app"})),
    );
    std::fs::write(dir.join("oidc-token"), oidc["token"].as_str().unwrap()).unwrap();
    let wif = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/providers/github",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{}v1/token", emu.url),
        "service_account_impersonation_url": format!("{}v1/projects/-/serviceAccounts/signer@demo.iam.gserviceaccount.com:generateAccessToken", emu.url),
        "credential_source": {"file": dir.join("oidc-token"), "format": {"type": "text"}},
    });
    std::fs::write(dir.join("wif.json"), wif.to_string()).unwrap();

    let cases: [(&str, Vec<(&str, String)>); 4] = [
        (
            "sa-key",
            vec![(
                "GOOGLE_APPLICATION_CREDENTIALS",
                dir.join("sa.json").display().to_string(),
            )],
        ),
        (
            "user",
            vec![(
                "GOOGLE_APPLICATION_CREDENTIALS",
                dir.join("user.json").display().to_string(),
            )],
        ),
        (
            "wif",
            vec![(
                "GOOGLE_APPLICATION_CREDENTIALS",
                dir.join("wif.json").display().to_string(),
            )],
        ),
        // Nothing configured: ADC asks the metadata server, here the emulator's.
        ("metadata", vec![]),
    ];
    let user_env = cases[1].1.clone();
    for (repo, env) in cases {
        emu.ok("POST", "emulator/reset", None);
        let image = format!("{host}/demo/apps/{repo}:v1");
        let v = version("ec");
        let args = [
            "sign",
            &image,
            "--attestor=projects/demo/attestors/a1",
            "--kms-key-version",
            &v,
            "--insecure-registry",
            &host,
            "--google-registry",
            &host,
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stdout, stderr) = attest_env(&emu, &args, &env);
        assert_eq!(code, 0, "{repo}: {stderr}");
        assert!(stdout.contains("\"created\""), "{repo}: {stdout}");
        let routes: Vec<String> = emu.ok("GET", "emulator/requests", None)["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["route"].as_str().unwrap().to_string())
            .collect();
        let minted_by = match repo {
            "sa-key" => None, // a self-signed JWT: no token endpoint at all
            "user" => Some("oauth2.token"),
            "wif" => Some("iamcredentials.generateAccessToken"),
            _ => Some("metadata"),
        };
        if let Some(route) = minted_by {
            assert!(
                routes.iter().any(|r| r == route),
                "{repo}: no {route} call in {routes:?}"
            );
        }
        let token_calls = routes
            .iter()
            .filter(|r| {
                [
                    "oauth2.token",
                    "sts.token",
                    "iamcredentials.generateAccessToken",
                    "metadata",
                ]
                .contains(&r.as_str())
            })
            .count();
        assert!(
            token_calls <= 2,
            "{repo}: one token serves every call, got {token_calls} token calls: {routes:?}"
        );
    }

    // Under GitHub Actions a token minted through ADC is masked before anything could print it.
    let image = format!("{host}/demo/apps/user:v1");
    let v = version("ec");
    let args = [
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v,
        "--insecure-registry",
        &host,
        "--google-registry",
        &host,
    ];
    let mut env: Vec<(&str, &str)> = user_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("GITHUB_ACTIONS", "true"));
    let (code, stdout, stderr) = attest_env(&emu, &args, &env);
    assert_eq!(code, 0, "{stderr}");
    let masked: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("::add-mask::"))
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(masked.len(), 1, "the minted token is masked once: {stderr}");
    let token = masked[0];
    let elsewhere = stderr.lines().filter(|l| !l.starts_with("::add-mask::"));
    assert!(elsewhere.clone().all(|l| !l.contains(token)) && !stdout.contains(token));
}

/// Under GitHub Actions a token read from the file `--access-token-file` names is masked too:
/// the CI layer only knows the file its variable names.
#[test]
fn a_token_from_the_access_token_file_flag_is_masked_on_github() {
    let emu = google("");
    let image = push("sign/token-file", Format::Oci);
    let file = emu.dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let v = version("ec");
    let args = [
        "sign",
        &image,
        "--attestor=projects/demo/attestors/a1",
        "--kms-key-version",
        &v,
        "--access-token-file",
        file.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = attest_env(&emu, &args, &[("GITHUB_ACTIONS", "true")]);
    assert_eq!(code, 0, "{stderr}");
    let first = stderr.lines().position(|l| l.contains(TOKEN));
    assert_eq!(
        first.map(|i| stderr.lines().nth(i).unwrap()),
        Some(format!("::add-mask::{TOKEN}").as_str()),
        "the token's first appearance is its mask: {stderr}"
    );
    let elsewhere = stderr.lines().filter(|l| !l.starts_with("::add-mask::"));
    assert!(elsewhere.clone().all(|l| !l.contains(TOKEN)) && !stdout.contains(TOKEN));
}
