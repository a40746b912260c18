//! `setup` against the emulator with IAM enforced (`emulator/seeds/iam.yaml`): the owner sets
//! up, the CI identity signs with exactly what setup granted, gcloud reads back the result, and
//! each binding is shown necessary by removing it.

use crate::common::attest_command;
use crate::common::emulator::Emulator;
use serde_json::{json, Value};

const KEY: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys/key";
const ATTESTOR: &str = "projects/demo/attestors/builds";
const CI: &str = "serviceAccount:ci@demo.iam.gserviceaccount.com";

fn iam_seed() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/emulator/seeds/iam.yaml"
    ))
    .expect("emulator/seeds/iam.yaml")
}

fn start(extra: &str) -> Emulator {
    Emulator::start_raw(&format!("{}{extra}", iam_seed()), &[])
}

/// binauthz-attest with `token`, the emulator as Google and as the image's registry.
fn attest_as(emu: &Emulator, token: &str, args: &[&str]) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let host = emu.host();
    let out = attest_command(emu, &home)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", token)
        .args(["--insecure-registry", &host, "--google-registry", &host])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn setup(emu: &Emulator, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec![
        "setup",
        "--attestor",
        ATTESTOR,
        "--kms-key",
        KEY,
        "--signer",
        CI,
        "--output",
        "json",
    ];
    args.extend(extra);
    let (code, out, err) = attest_as(emu, "admin-token", &args);
    let summary = serde_json::from_str::<Value>(&out)
        .map(|v| v[0].clone())
        .unwrap_or(Value::Null);
    (code, summary, err)
}

fn sign(emu: &Emulator) -> (i32, String, String) {
    let image = format!("{}/demo/apps/hello:v1", emu.host());
    attest_as(
        emu,
        "ci-token",
        &[
            "sign",
            &image,
            "--attestor",
            ATTESTOR,
            "--kms-key-version",
            &format!("{KEY}/cryptoKeyVersions/1"),
            "--output",
            "json",
        ],
    )
}

/// The request log since the last reset: (all calls, calls that write).
fn calls(emu: &Emulator) -> (usize, Vec<String>) {
    let log = emu.ok("GET", "emulator/requests", None);
    let log = log["requests"].as_array().cloned().unwrap_or_default();
    let writes = log
        .iter()
        .filter(|r| r["method"] != "GET" && !r["path"].as_str().unwrap().ends_with(":getIamPolicy"))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect();
    (log.len(), writes)
}

fn reset(emu: &Emulator) {
    emu.ok("POST", "emulator/reset", None);
}

fn actions(summary: &Value) -> Vec<(String, String)> {
    summary["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("no changes in {summary}"))
        .iter()
        .map(|c| {
            (
                c["what"].as_str().unwrap().to_string(),
                c["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn setup_as_owner_lets_ci_sign_and_a_rerun_reads_only() {
    let emu = start("");
    reset(&emu);
    let (code, plan, err) = setup(&emu, &["--policy", "enforce", "--plan"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(calls(&emu).1, Vec::<String>::new(), "--plan wrote");
    assert!(
        actions(&plan).iter().all(|(_, a)| a.starts_with("would")),
        "{plan}"
    );
    // Before setup, the CI identity can do nothing, and `verify` says which role it lacks.
    assert_eq!(sign(&emu).0, 3);
    let image = format!("{}/demo/apps/hello:v1", emu.host());
    let (code, out, err) = attest_as(
        &emu,
        "ci-token",
        &[
            "verify",
            &image,
            "--attestor",
            "projects/demo/attestors/nothing-yet",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("binaryauthorization.attestors.get")
            && err.contains("grant the caller roles/binaryauthorization.attestorsViewer on projects/demo/attestors/nothing-yet"),
        "{err}"
    );

    let (code, done, err) = setup(&emu, &["--policy", "enforce"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(done["keyVersion"], format!("{KEY}/cryptoKeyVersions/1"));
    assert_eq!(done["note"], "projects/demo/notes/builds");
    assert_eq!(
        done["sign"],
        format!("binauthz-attest sign --attestor {ATTESTOR} --kms-key-version {KEY}/cryptoKeyVersions/1 IMAGE")
    );
    let grants: usize = done["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["what"] == "iam")
        .map(|c| c["detail"].as_str().unwrap().matches(" to ").count())
        .sum();
    assert_eq!(
        grants, 6,
        "5 for the signer, 1 for the service agent: {done}"
    );

    let (code, out, err) = sign(&emu);
    assert_eq!(code, 0, "{out}{err}");

    // gcloud, as the owner, sees the key on the attestor, the grants and the rule.
    let described = emu.gcloud_as(
        "admin-token",
        &[
            "container",
            "binauthz",
            "attestors",
            "describe",
            ATTESTOR,
            "--format=json",
        ],
    );
    let described: Value = serde_json::from_slice(&described.stdout).expect("attestor JSON");
    assert_eq!(
        described["userOwnedGrafeasNote"]["publicKeys"][0]["id"],
        format!("//{}/v1/{KEY}/cryptoKeyVersions/1", emu.host())
    );
    let policy = emu.gcloud_as(
        "admin-token",
        &[
            "kms",
            "keys",
            "get-iam-policy",
            "key",
            "--keyring=ring",
            "--location=global",
            "--format=json",
        ],
    );
    let policy: Value = serde_json::from_slice(&policy.stdout).expect("policy JSON");
    assert_eq!(
        policy["bindings"],
        json!([{"role": "roles/cloudkms.signerVerifier", "members": [CI]}])
    );
    let exported = emu.gcloud_as(
        "admin-token",
        &["container", "binauthz", "policy", "export"],
    );
    let exported = String::from_utf8_lossy(&exported.stdout);
    assert!(exported.contains(&format!("- {ATTESTOR}")), "{exported}");
    assert!(
        exported.contains("enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG"),
        "{exported}"
    );
    assert!(
        exported.contains("evaluationMode: REQUIRE_ATTESTATION"),
        "{exported}"
    );

    reset(&emu);
    let (code, again, err) = setup(&emu, &["--policy", "enforce"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        actions(&again).iter().all(|(_, a)| a == "unchanged"),
        "{again}"
    );
    let (round_trips, writes) = calls(&emu);
    assert_eq!(writes, Vec::<String>::new());
    assert_eq!(
        round_trips, 11,
        "a no-op rerun: 7 reads of the chain, 4 IAM policies (the service agent is the \
         attestor's delegationServiceAccountEmail: no project read)"
    );
}

/// How to take one of setup's bindings away and give it back: through gcloud where gcloud has
/// a command, and through the REST API for notes, which have none.
fn toggle(emu: &Emulator, grantee: &str, role: &str, add: bool) {
    let verb = if add {
        "add-iam-policy-binding"
    } else {
        "remove-iam-policy-binding"
    };
    let args: Vec<&str> = match grantee {
        "key" => vec![
            "kms",
            "keys",
            verb,
            "key",
            "--keyring=ring",
            "--location=global",
        ],
        "attestor" => vec!["container", "binauthz", "attestors", verb, ATTESTOR],
        "project" => vec!["projects", verb, "demo"],
        _ => {
            let note = "v1/projects/demo/notes/builds";
            let (status, mut policy) = emu.call_as(
                Some("admin-token"),
                "POST",
                &format!("{note}:getIamPolicy"),
                Some(&json!({})),
            );
            assert_eq!(status, 200, "{policy}");
            let bindings = policy["bindings"].as_array_mut().unwrap();
            for b in bindings.iter_mut().filter(|b| b["role"] == role) {
                b["members"].as_array_mut().unwrap().retain(|m| m != CI);
            }
            if add {
                bindings.push(json!({"role": role, "members": [CI]}));
            }
            let (status, answer) = emu.call_as(
                Some("admin-token"),
                "POST",
                &format!("{note}:setIamPolicy"),
                Some(&json!({"policy": policy})),
            );
            assert_eq!(status, 200, "{answer}");
            return;
        }
    };
    let mut args = args;
    args.extend(["--member", CI, "--role", role]);
    let out = emu.gcloud_as("admin-token", &args);
    assert!(
        out.status.success(),
        "gcloud {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_binding_setup_makes_is_needed_by_sign() {
    let emu = start("");
    let (code, _, err) = setup(&emu, &[]);
    assert_eq!(code, 0, "{err}");
    // Each of the signer's bindings, and the permissions sign needs it for.
    let bindings: [(&str, &str, &[&str]); 5] = [
        (
            "key",
            "roles/cloudkms.signerVerifier",
            &[
                "cloudkms.cryptoKeyVersions.viewPublicKey",
                "cloudkms.cryptoKeyVersions.useToSign",
            ],
        ),
        (
            "attestor",
            "roles/binaryauthorization.attestorsViewer",
            &["binaryauthorization.attestors.get"],
        ),
        (
            "note",
            "roles/containeranalysis.notes.occurrences.viewer",
            &["containeranalysis.notes.listOccurrences"],
        ),
        (
            "note",
            "roles/containeranalysis.notes.attacher",
            &["containeranalysis.notes.attachOccurrence"],
        ),
        (
            "project",
            "roles/containeranalysis.occurrences.editor",
            &["containeranalysis.occurrences.create"],
        ),
    ];
    for (grantee, role, permissions) in bindings {
        toggle(&emu, grantee, role, false);
        let (code, out, err) = sign(&emu);
        assert_eq!(code, 3, "without {role} on the {grantee}: {out}{err}");
        let said = format!("{out}{err}");
        assert!(
            permissions.iter().any(|p| said.contains(p)),
            "without {role} on the {grantee}, sign does not name {permissions:?}: {said}"
        );
        assert!(said.contains(&format!("grant the caller {role}")), "{said}");
        toggle(&emu, grantee, role, true);
    }
    let (code, out, err) = sign(&emu);
    assert_eq!(code, 0, "with every binding back: {out}{err}");
}

#[test]
fn setup_refuses_a_key_of_another_purpose_and_an_attestor_on_another_note() {
    let emu = start(&format!(
        "keys:\n  - name: {KEY}\n  - name: projects/demo/locations/global/keyRings/ring/cryptoKeys/rsa\n    algorithm: RSA_SIGN_PSS_2048_SHA256\nnotes:\n  - name: projects/demo/notes/elsewhere\n  - name: projects/demo/notes/builds\nattestors:\n  - name: {ATTESTOR}\n    note: projects/demo/notes/elsewhere\n"
    ));
    reset(&emu);
    let (code, _, err) = setup(&emu, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ENCRYPT_DECRYPT") && err.contains("never alters"),
        "{err}"
    );
    assert_eq!(calls(&emu).1, Vec::<String>::new());

    // A signing key of another algorithm than asked is refused too, naming the flag to pass.
    let rsa = "projects/demo/locations/global/keyRings/ring/cryptoKeys/rsa";
    let (code, _, err) = attest_as(
        &emu,
        "admin-token",
        &[
            "setup",
            "--attestor",
            ATTESTOR,
            "--kms-key",
            rsa,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--algorithm rsa-sign-pss-2048-sha256"),
        "{err}"
    );
    assert_eq!(calls(&emu).1, Vec::<String>::new());

    // A --note that is not the attestor's is refused (without --note, the attestor's own
    // note is used: newcomer::setup_on_an_existing_attestor_reads_its_note...).
    let other = "projects/demo/locations/global/keyRings/ring/cryptoKeys/signing";
    let (code, _, err) = attest_as(
        &emu,
        "admin-token",
        &[
            "setup",
            "--attestor",
            ATTESTOR,
            "--note",
            "projects/demo/notes/builds",
            "--kms-key",
            other,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("exists on note projects/demo/notes/elsewhere")
            && err.contains("--note projects/demo/notes/elsewhere"),
        "{err}"
    );
}

#[test]
fn setup_adds_its_attestor_and_keeps_the_policys_other_rules() {
    let policy_seed = "policies:\n  demo:\n    globalPolicyEvaluationMode: ENABLE\n    defaultAdmissionRule:\n      evaluationMode: REQUIRE_ATTESTATION\n      enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n      requireAttestationsBy: [projects/demo/attestors/other]\n    clusterAdmissionRules:\n      us-central1-a.prod:\n        evaluationMode: ALWAYS_DENY\n        enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n    admissionWhitelistPatterns:\n      - namePattern: gcr.io/google_containers/*\nnotes:\n  - name: projects/demo/notes/other\nattestors:\n  - name: projects/demo/attestors/other\n    note: projects/demo/notes/other\n";
    let emu = start(policy_seed);
    let read = || {
        let (status, policy) =
            emu.call_as(Some("admin-token"), "GET", "v1/projects/demo/policy", None);
        assert_eq!(status, 200, "{policy}");
        policy
    };
    let before = read();
    let (code, _, err) = setup(&emu, &["--policy", "dryrun"]);
    assert_eq!(code, 0, "{err}");
    let after = read();
    assert_eq!(
        after["clusterAdmissionRules"],
        before["clusterAdmissionRules"]
    );
    assert_eq!(
        after["admissionWhitelistPatterns"],
        before["admissionWhitelistPatterns"]
    );
    assert_eq!(after["globalPolicyEvaluationMode"], "ENABLE");
    assert_eq!(
        after["defaultAdmissionRule"],
        json!({"evaluationMode": "REQUIRE_ATTESTATION", "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY",
               "requireAttestationsBy": ["projects/demo/attestors/other", ATTESTOR]})
    );
}

/// The names a later step needs come out the CI's way: GitHub outputs, GitLab's dotenv.
#[test]
fn setup_hands_the_attestor_key_version_and_note_to_the_ci() {
    let emu = start("");
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let output = emu.dir.path().join("github-output");
    let host = emu.host();
    let args = [
        "--insecure-registry",
        &host,
        "setup",
        "--attestor",
        ATTESTOR,
        "--kms-key",
        KEY,
        "--plan",
    ];
    let out = attest_command(&emu, &home)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "admin-token")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &output)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&output).unwrap();
    for name in ["attestor<<", "key-version<<", "note<<"] {
        assert!(written.contains(name), "{written}");
    }
    assert!(written.contains(&format!("\n{ATTESTOR}\n")), "{written}");

    let out = attest_command(&emu, &home)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", "admin-token")
        .env("GITLAB_CI", "true")
        .current_dir(&home)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dotenv = std::fs::read_to_string(home.join("binauthz-attest.env")).unwrap();
    assert!(
        dotenv.starts_with(&format!(
            "BINAUTHZ_ATTESTOR={ATTESTOR}\nBINAUTHZ_KEY_VERSION={KEY}/cryptoKeyVersions/"
        )),
        "{dotenv}"
    );
    assert!(dotenv.contains("\nBINAUTHZ_NOTE=projects/"), "{dotenv}");
}
