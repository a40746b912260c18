//! The emulator's REST surface as Google's clients see it: real signatures for every KMS
//! algorithm, KMS's argument checks, auth answers, both JSON dialects, faults and counters.

mod common;

use common::{b64, openssl_verifies, unb64, Emulator, KMS_ALGORITHMS as ALGORITHMS, TOKEN};
use serde_json::{json, Value};
use sha2::Digest;
use std::time::{Duration, Instant};

fn key_seed(names_and_algorithms: &[(&str, &str)]) -> String {
    let mut seed = String::from("keys:\n");
    for (name, alg) in names_and_algorithms {
        seed += &format!("  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/{name}\n    algorithm: {alg}\n");
    }
    seed
}

fn version(key: &str) -> String {
    format!("projects/demo/locations/global/keyRings/ring/cryptoKeys/{key}/cryptoKeyVersions/1")
}

fn hash_of(alg: &str) -> &'static str {
    if alg.ends_with("SHA512") {
        "sha512"
    } else if alg.ends_with("SHA384") {
        "sha384"
    } else {
        "sha256"
    }
}

fn digest(hash: &str, data: &[u8]) -> Vec<u8> {
    match hash {
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        _ => sha2::Sha256::digest(data).to_vec(),
    }
}

#[test]
fn every_algorithm_signs_with_crc32c_and_openssl_verifies_against_get_public_key() {
    let keys: Vec<(String, &str)> = ALGORITHMS
        .iter()
        .map(|a| (a.to_lowercase().replace('_', "-"), *a))
        .collect();
    let refs: Vec<(&str, &str)> = keys.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let emu = Emulator::start(&key_seed(&refs));
    let payload = b"{\"critical\": {}}\n";
    for (name, alg) in &refs {
        let v = version(name);
        let public = emu.ok("GET", &format!("v1/{v}/publicKey"), None);
        assert_eq!(public["algorithm"], *alg);
        assert_eq!(public["name"], v);
        let pem = public["pem"].as_str().unwrap();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\n")
                && pem.ends_with("-----END PUBLIC KEY-----\n")
        );
        assert_eq!(
            public["pemCrc32c"],
            crc32c::crc32c(pem.as_bytes()).to_string()
        );

        let hash = hash_of(alg);
        let d = digest(hash, payload);
        let crc = crc32c::crc32c(&d);
        let signed = emu.ok(
            "POST",
            &format!("v1/{v}:asymmetricSign"),
            Some(&json!({"digest": {hash: b64(&d)}, "digestCrc32c": crc.to_string()})),
        );
        assert_eq!(signed["verifiedDigestCrc32c"], true, "{alg}");
        let sig = unb64(signed["signature"].as_str().unwrap());
        assert_eq!(
            signed["signatureCrc32c"],
            crc32c::crc32c(&sig).to_string(),
            "{alg}"
        );
        let pss = alg.contains("PSS");
        assert!(
            openssl_verifies(emu.dir.path(), hash, pem, payload, &sig, pss),
            "openssl rejects {alg}"
        );
        assert!(
            !openssl_verifies(emu.dir.path(), hash, pem, b"tampered", &sig, pss),
            "{alg} verifies anything"
        );
    }
}

#[test]
fn asymmetric_sign_rejects_what_kms_rejects_and_takes_url_safe_base64() {
    let emu = Emulator::start(&key_seed(&[("ec", "EC_SIGN_P256_SHA256")]));
    let path = format!("v1/{}:asymmetricSign", version("ec"));
    let d = sha2::Sha256::digest(b"payload").to_vec();
    let cases = [
        ("short digest", json!({"digest": {"sha256": b64(&d[..31])}})),
        (
            "wrong hash",
            json!({"digest": {"sha384": b64(&digest("sha384", b"payload"))}}),
        ),
        (
            "wrong crc",
            json!({"digest": {"sha256": b64(&d)}, "digestCrc32c": (crc32c::crc32c(&d) ^ 1).to_string()}),
        ),
        ("no digest", json!({})),
    ];
    for (what, body) in cases {
        let (status, answer) = emu.call("POST", &path, Some(&body));
        assert_eq!(
            (status, answer["error"]["status"].as_str()),
            (400, Some("INVALID_ARGUMENT")),
            "{what}: {answer}"
        );
    }
    // gcloud's form: URL-safe alphabet with padding, no CRC; a number is as good as a string for int64.
    let url_safe = b64(&d).replace('+', "-").replace('/', "_");
    let signed = emu.ok(
        "POST",
        &path,
        Some(&json!({"digest": {"sha256": url_safe}})),
    );
    assert_eq!(signed["verifiedDigestCrc32c"], false);
    let signed = emu.ok(
        "POST",
        &path,
        Some(&json!({"digest": {"sha256": b64(&d)}, "digestCrc32c": crc32c::crc32c(&d)})),
    );
    assert_eq!(signed["verifiedDigestCrc32c"], true);
}

#[test]
fn symmetric_keys_cannot_sign_or_publish_a_public_key() {
    let emu = Emulator::start(
        "keys:\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/sym\n",
    );
    let (status, answer) = emu.call("GET", &format!("v1/{}/publicKey", version("sym")), None);
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (400, Some("FAILED_PRECONDITION")),
        "{answer}"
    );
    let d = sha2::Sha256::digest(b"x");
    let (status, _) = emu.call(
        "POST",
        &format!("v1/{}:asymmetricSign", version("sym")),
        Some(&json!({"digest": {"sha256": b64(&d)}})),
    );
    assert_eq!(status, 400);
}

#[test]
fn auth_answers_401_403_404_and_409_in_googles_error_shape() {
    let emu = Emulator::start(
        "notes:\n  - name: projects/demo/notes/n1\nattestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\ndeny:\n  - principal: user:intruder@example.com\n    resource: projects/demo\n",
    );
    emu.ok(
        "POST",
        "emulator/tokens",
        Some(&json!({"token": "locked-out", "principal": "user:intruder@example.com"})),
    );
    let attestor = "v1/projects/demo/attestors/a1";
    let (status, body) = emu.call_as(None, "GET", attestor, None);
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{body}"
    );
    let (status, _) = emu.call_as(Some("not-a-token"), "GET", attestor, None);
    assert_eq!(status, 401);
    let (status, body) = emu.call_as(Some("locked-out"), "GET", attestor, None);
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED")),
        "{body}"
    );
    let (status, body) = emu.call("GET", "v1/projects/demo/attestors/missing", None);
    assert_eq!(
        (status, body["error"]["code"].as_u64()),
        (404, Some(404)),
        "{body}"
    );
    assert_eq!(
        body["error"]["message"],
        "Attestor projects/demo/attestors/missing not found."
    );
    let (status, body) = emu.call(
        "POST",
        "v1/projects/demo/notes?noteId=n1",
        Some(&json!({"attestation": {}})),
    );
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (409, Some("ALREADY_EXISTS")),
        "{body}"
    );
    let (status, _) = emu.call(
        "POST",
        "v1/projects/demo/attestors?attestorId=a1",
        Some(&json!({"userOwnedGrafeasNote": {"noteReference": "projects/demo/notes/n1"}})),
    );
    assert_eq!(status, 409);
    let (status, _) = emu.call("GET", &format!("v1/{}", version("missing")), None);
    assert_eq!(status, 404);
}

#[test]
fn the_rust_sdk_dialect_is_understood() {
    let emu = Emulator::start("projects: [other]\nnotes:\n  - name: projects/demo/notes/n1\n");
    let uri = "127.0.0.1:5000/demo/app@sha256:784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490";
    let occurrence = json!({"kind": 7, "noteName": "projects/demo/notes/n1", "resourceUri": uri,
        "attestation": {"serializedPayload": b64(b"payload"), "signatures": [{"publicKeyId": "k", "signature": b64(b"sig")}]}});
    let created = emu.ok(
        "POST",
        "v1/projects/other/occurrences?%24alt=json%3Benum-encoding%3Dint",
        Some(&occurrence),
    );
    assert_eq!(created["kind"], "ATTESTATION");
    assert!(created["name"]
        .as_str()
        .unwrap()
        .starts_with("projects/other/occurrences/"));
    let filter = "has_suffix(resourceUrl, \"sha256:784d46ae41f4718f2ea9714246ec9a1f9216825403103997ba2dd4afc9753490\")";
    let query: String = url_encode(filter);
    let listed = emu.ok("GET", &format!("v1/projects/demo/notes/n1/occurrences?%24alt=json%3Benum-encoding%3Dint&filter={query}&pageSize=0&pageToken="), None);
    assert_eq!(
        listed["occurrences"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let (status, _) = emu.call(
        "POST",
        "v1/projects/demo/occurrences",
        Some(&json!({"kind": 99, "noteName": "projects/demo/notes/n1"})),
    );
    assert_eq!(status, 400);
    // An attestation without a signature (what gcloud sends when KMS answers `{}`) is refused.
    let mut unsigned = occurrence.clone();
    unsigned["attestation"]["signatures"] = json!([{"publicKeyId": "k"}]);
    assert_eq!(
        emu.call("POST", "v1/projects/demo/occurrences", Some(&unsigned))
            .0,
        400
    );
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn occurrence_lists_page_through_everything() {
    let emu = Emulator::start("notes:\n  - name: projects/demo/notes/n1\n");
    for i in 0..5 {
        let occ = json!({"noteName": "projects/demo/notes/n1", "resourceUri": format!("r/img@sha256:{i:064}"),
            "attestation": {"serializedPayload": b64(b"p"), "signatures": [{"publicKeyId": "k", "signature": b64(b"s")}]}});
        emu.ok("POST", "v1/projects/demo/occurrences", Some(&occ));
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = emu.ok(
            "GET",
            &format!("v1/projects/demo/occurrences?pageSize=2&pageToken={token}"),
            None,
        );
        seen.extend(
            page["occurrences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["resourceUri"].clone()),
        );
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
}

#[test]
fn injected_faults_latency_and_counters_do_what_they_say() {
    let emu = Emulator::start_with(
        &key_seed(&[("ec", "EC_SIGN_P256_SHA256")]),
        &["--fault", "kms.cryptoKeyVersions.getPublicKey=503x2"],
    );
    let path = format!("v1/{}/publicKey", version("ec"));
    assert_eq!(emu.call("GET", &path, None).0, 503);
    let (status, body) = emu.call("GET", &path, None);
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (503, Some("UNAVAILABLE"))
    );
    assert_eq!(emu.call("GET", &path, None).0, 200);

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "kms.*", "latencyMs": 300, "times": 1})),
    );
    let started = Instant::now();
    assert_eq!(emu.call("GET", &path, None).0, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "latency not applied"
    );

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "binauthz.attestors.get", "status": 429, "retryAfter": 2})),
    );
    let (status, body) = emu.call("GET", "v1/projects/demo/attestors/a", None);
    assert_eq!(
        (status, body["error"]["status"].as_str()),
        (429, Some("RESOURCE_EXHAUSTED"))
    );

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "grafeas.*", "drop": true, "times": 1})),
    );
    let dropped = ureq::get(&format!("{}v1/projects/demo/occurrences", emu.url))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call();
    assert!(
        matches!(dropped, Err(ureq::Error::Transport(_))),
        "connection was not dropped: {dropped:?}"
    );

    let counters = emu.ok("GET", "emulator/counters", None);
    let get_key = &counters["routes"]["kms.cryptoKeyVersions.getPublicKey"];
    assert_eq!(get_key["calls"], 4);
    assert_eq!(get_key["statuses"], json!({"200": 2, "503": 2}));
    assert_eq!(
        counters["routes"]["grafeas.occurrences.list"]["statuses"],
        json!({"0": 1})
    );
    let log = emu.ok("GET", "emulator/requests", None);
    assert!(
        !log.to_string().contains(TOKEN),
        "the request log leaks a token"
    );
    assert!(log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["auth"] == "bearer"));

    emu.ok("POST", "emulator/reset", None);
    assert_eq!(
        emu.ok("GET", "emulator/counters", None)["routes"],
        json!({})
    );
}

#[test]
fn metadata_sts_and_impersonation_mint_tokens_the_apis_accept() {
    let provider = "projects/123/locations/global/workloadIdentityPools/ci/providers/gh";
    let emu = Emulator::start(&format!(
        "projects: [demo]\nserviceAccounts:\n  - email: signer@demo.iam.gserviceaccount.com\n    tokenCreators: ['principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/ci/*']\nmetadata:\n  serviceAccount: signer@demo.iam.gserviceaccount.com\n  projectId: demo\nworkloadIdentityProviders:\n  - name: {provider}\n    issuer: https://token.actions.githubusercontent.com\n"
    ));
    let url = |p: &str| format!("{}{p}", emu.url);
    let refused = ureq::get(&url("computeMetadata/v1/project/project-id")).call();
    assert!(matches!(refused, Err(ureq::Error::Status(403, _))));
    let project = ureq::get(&url("computeMetadata/v1/project/project-id"))
        .set("Metadata-Flavor", "Google")
        .call()
        .unwrap();
    assert_eq!(project.header("metadata-flavor"), Some("Google"));
    assert_eq!(project.into_string().unwrap(), "demo");
    let token: Value = ureq::get(&url(
        "computeMetadata/v1/instance/service-accounts/default/token",
    ))
    .set("Metadata-Flavor", "Google")
    .call()
    .unwrap()
    .into_json()
    .unwrap();
    let metadata_token = token["access_token"].as_str().unwrap();
    assert_eq!(
        emu.call_as(
            Some(metadata_token),
            "GET",
            "v1/projects/demo/attestors",
            None
        )
        .0,
        200
    );

    // Workload Identity Federation: an OIDC token from the seeded issuer, STS exchange, then
    // impersonation.
    let oidc = emu.ok(
        "POST",
        "emulator/oidc-token",
        Some(&json!({"provider": provider, "sub": "repo:o/r:ref:refs/heads/main"})),
    );
    let sts: Value = ureq::post(&url("v1/token"))
        .send_form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", &format!("//iam.googleapis.com/{provider}")),
            ("subject_token", oidc["token"].as_str().unwrap()),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ])
        .unwrap()
        .into_json()
        .unwrap();
    let federated = sts["access_token"].as_str().unwrap();
    let (status, impersonated) = emu.call_as(
        Some(federated),
        "POST",
        "v1/projects/-/serviceAccounts/signer@demo.iam.gserviceaccount.com:generateAccessToken",
        Some(&json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})),
    );
    assert_eq!(status, 200, "{impersonated}");
    assert_eq!(
        emu.call_as(
            impersonated["accessToken"].as_str(),
            "GET",
            "v1/projects/demo/attestors",
            None
        )
        .0,
        200
    );
    let (status, _) = emu.call_as(
        Some(federated),
        "POST",
        "v1/projects/-/serviceAccounts/nobody@demo.iam.gserviceaccount.com:generateAccessToken",
        Some(&json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})),
    );
    assert_eq!(status, 404);
}

#[test]
fn the_readme_example_seed_starts_and_holds_what_it_says() {
    let seed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/example-seed.yaml")).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&seed),
        "example-seed.yaml and the README's example differ"
    );
    let emu = Emulator::start_raw(&seed, &[]);
    let attestor = emu
        .call_as(
            Some("demo-token"),
            "GET",
            "v1/projects/demo/attestors/attestor-cloud-run",
            None,
        )
        .1;
    let key = &attestor["userOwnedGrafeasNote"]["publicKeys"][0];
    assert_eq!(key["id"], format!("//{}/v1/projects/demo/locations/global/keyRings/ring/cryptoKeys/attestor-key/cryptoKeyVersions/1", emu.host()));
    assert_eq!(
        key["pkixPublicKey"]["signatureAlgorithm"],
        "ECDSA_P256_SHA256"
    );
    let policy = emu
        .call_as(Some("demo-token"), "GET", "v1/projects/demo/policy", None)
        .1;
    assert_eq!(
        policy["defaultAdmissionRule"]["evaluationMode"],
        "REQUIRE_ATTESTATION"
    );
    let refreshed: Value = ureq::post(&format!("{}token", emu.url))
        .send_json(json!({"grant_type": "refresh_token", "client_id": "demo-client", "client_secret": "demo-secret", "refresh_token": "demo-refresh"}))
        .unwrap()
        .into_json()
        .unwrap();
    let token = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        emu.call_as(
            Some(token),
            "GET",
            "v1/projects/demo/notes/note-cloud-run",
            None
        )
        .0,
        200
    );
    assert_eq!(
        emu.call_as(
            Some(token),
            "GET",
            "v1/projects/demo/notes/note-cloud-run",
            None
        )
        .1["kind"],
        "ATTESTATION"
    );
}

#[test]
fn sigterm_and_sigint_stop_the_emulator_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut emu = Emulator::start("projects: [demo]\n");
        assert_eq!(emu.call("GET", "v1/projects/demo/attestors", None).0, 200);
        assert!(
            emu.stop_with(signal),
            "SIG{signal} did not end the emulator with exit 0"
        );
    }
}

#[test]
fn an_injected_error_can_carry_a_chosen_message_or_body() {
    let emu = Emulator::start(&key_seed(&[("ec", "EC_SIGN_P256_SHA256")]));
    let path = format!("v1/{}/publicKey", version("ec"));
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "kms.*", "status": 401, "times": 1, "message": "bad token echo-me"})),
    );
    let (status, body) = emu.call("GET", &path, None);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "bad token echo-me");
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "kms.*", "status": 502, "times": 1, "body": "<html>proxy echo-me {authorization}</html>"})),
    );
    let (status, body) = emu.call("GET", &path, None);
    assert_eq!(
        (status, body),
        (
            502,
            json!(format!("<html>proxy echo-me Bearer {TOKEN}</html>"))
        )
    );

    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "registry.*", "status": 503, "times": 1, "message": "echo-me"})),
    );
    let (status, body) = emu.call("GET", "v2/demo/apps/x/manifests/v1", None);
    assert_eq!(status, 503);
    assert_eq!(body["errors"][0]["message"], "echo-me");
    assert_eq!(emu.call("GET", &path, None).0, 200, "the rules retired");
}

#[test]
fn a_call_whose_client_hung_up_during_latency_still_runs_to_the_end() {
    let emu = Emulator::start(&key_seed(&[("ec", "EC_SIGN_P256_SHA256")]));
    let route = "kms.cryptoKeyVersions.getPublicKey";
    emu.ok(
        "POST",
        "emulator/faults",
        Some(&json!({"route": route, "latencyMs": 400, "times": 1})),
    );
    let url = format!("{}v1/{}/publicKey", emu.url, version("ec"));
    let gave_up = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(100))
        .build()
        .get(&url)
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .call();
    assert!(gave_up.is_err(), "the client was meant to time out");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let counters = emu.ok("GET", "emulator/counters", None);
        if counters["routes"][route]["statuses"]["200"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "never served: {counters}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
