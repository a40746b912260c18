//! After the deploy: gcloud itself deploys to the emulated Cloud Run (`gcloud run deploy
//! --binary-authorization=default [--breakglass=...]`), whose Binary Authorization admits,
//! refuses, lets through in dry run or by breakglass and writes the audit log; then `audit`
//! reads that log back through the Logging API, and `policy check --running` judges what runs
//! after the attestor's key is rotated away.
//!
//! gcloud reaches Cloud Run's v1 API at `REGION-HOST` (it prefixes the region to the
//! endpoint's host): each gcloud run here gets a private mount namespace (`unshare -m`) in
//! which a copy of /etc/hosts, bind-mounted over the real one, resolves that name to 127.0.0.1.

use crate::common::attest_command;
use crate::common::emulator::{gcloud_path, which, Emulator, TOKEN};
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};

const RING: &str = "projects/demo/locations/global/keyRings/ring/cryptoKeys";
/// The host name gcloud is given for Cloud Run; `us-central1-` of it is what it calls.
const RUN_HOST: &str = "run.emulator.test";

fn version(key: &str) -> String {
    format!("{RING}/{key}/cryptoKeyVersions/1")
}

/// Attestor a1 trusts keys k1 and k2; the policy requires a1 (enforced) and exempts
/// HOST/demo/trusted/*; the registry holds demo/apps/{signed,unsigned,other} and
/// demo/trusted/tool; log pages hold at most `page_cap` entries.
fn google(page_cap: usize, extra: &str) -> Emulator {
    let images: String = ["apps/signed", "apps/unsigned", "apps/other", "trusted/tool"]
        .iter()
        .map(|r| format!("  - repository: demo/{r}\n    tag: v1\n    content: {r}\n"))
        .collect();
    let emu = Emulator::start(&format!(
        "settings:\n  logPageCap: {page_cap}\n\
         keys:\n  - name: {RING}/k1\n    algorithm: EC_SIGN_P256_SHA256\n  - name: {RING}/k2\n    algorithm: EC_SIGN_P256_SHA256\n\
         notes:\n  - name: projects/demo/notes/n1\n\
         attestors:\n  - name: projects/demo/attestors/a1\n    note: projects/demo/notes/n1\n    keyVersions: [{}, {}]\n\
         images:\n{images}{extra}",
        version("k1"),
        version("k2"),
    ));
    set_policy(&emu, "ENFORCED_BLOCK_AND_AUDIT_LOG");
    emu
}

/// The project's policy: a1 required in `mode`, HOST/demo/trusted/* exempt.
fn set_policy(emu: &Emulator, mode: &str) {
    let current = emu.ok("GET", "v1/projects/demo/policy", None);
    emu.ok(
        "PUT",
        "v1/projects/demo/policy",
        Some(&json!({
            "etag": current["etag"],
            "globalPolicyEvaluationMode": "ENABLE",
            "admissionWhitelistPatterns": [{"namePattern": format!("{}/demo/trusted/*", emu.host())}],
            "defaultAdmissionRule": {
                "evaluationMode": "REQUIRE_ATTESTATION",
                "enforcementMode": mode,
                "requireAttestationsBy": ["projects/demo/attestors/a1"],
            },
        })),
    );
}

/// `HOST/demo/REPO@DIGEST`.
fn pinned(emu: &Emulator, repo: &str) -> String {
    let digest = emu.registry_digest(&format!("demo/{repo}"), "v1");
    format!("{}/demo/{repo}@{digest}", emu.host())
}

/// gcloud signs `image` with `key` for a1 and files the attestation.
fn gcloud_attests(emu: &Emulator, image: &str, key: &str) {
    emu.gcloud_ok(&[
        "beta",
        "container",
        "binauthz",
        "attestations",
        "sign-and-create",
        &format!("--artifact-url={image}"),
        "--attestor=a1",
        "--attestor-project=demo",
        &format!("--keyversion={}", version(key)),
    ]);
}

/// `gcloud run ARGS` against the emulator as Cloud Run, in its own mount namespace where
/// `us-central1-RUN_HOST` (and `RUN_HOST`) resolve to 127.0.0.1.
fn gcloud_run(emu: &Emulator, args: &[&str]) -> Output {
    let unshare = which("unshare").expect("unshare (util-linux) is not installed");
    let dir = emu.dir.path();
    let hosts = dir.join("hosts");
    let mut text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    text += &format!("\n127.0.0.1 {RUN_HOST} us-central1-{RUN_HOST}\n");
    std::fs::write(&hosts, text).unwrap();
    let config = dir.join("gcloud-run-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("gce"), "False").unwrap();
    let token = dir.join("run-token");
    std::fs::write(&token, TOKEN).unwrap();
    let port = emu.host().rsplit(':').next().unwrap().to_string();
    let out = Command::new(unshare)
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
        ])
        .arg(&hosts)
        .arg(gcloud_path())
        .arg("run")
        .args(args)
        .args(["--region=us-central1", "--quiet"])
        .env("CLOUDSDK_CONFIG", &config)
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", &token)
        .env(
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN",
            format!("http://{RUN_HOST}:{port}/"),
        )
        // Without it gcloud asks Service Usage whether run.googleapis.com is enabled.
        .env("CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API", "false")
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_CORE_PROJECT", "demo")
        .env("GCE_METADATA_ROOT", emu.host())
        .env("GCE_METADATA_HOST", emu.host())
        .stdin(Stdio::null())
        .output()
        .expect("run gcloud in a mount namespace");
    out
}

fn deploy(emu: &Emulator, service: &str, image: &str, extra: &[&str]) -> Output {
    let image_flag = format!("--image={image}");
    let mut args = vec![
        "deploy",
        service,
        &image_flag,
        "--binary-authorization=default",
        "--no-allow-unauthenticated",
    ];
    args.extend(extra);
    gcloud_run(emu, &args)
}

fn deploy_ok(emu: &Emulator, service: &str, image: &str, extra: &[&str]) {
    let out = deploy(emu, service, image, extra);
    assert!(
        out.status.success(),
        "gcloud run deploy {service}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The binary with Google, Logging and Cloud Run at the emulator.
fn attest(emu: &Emulator, token: &str, args: &[&str]) -> (i32, String, String) {
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = attest_command(emu, &home)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", &emu.url)
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN", &emu.url)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", token)
        .args(emu.registry_flags())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn audit(emu: &Emulator, args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut all = vec!["audit", "--project=demo", "--output=json"];
    all.extend(args);
    let (code, stdout, stderr) = attest(emu, TOKEN, &all);
    let events = serde_json::from_str(&stdout).unwrap_or_default();
    (code, events, stderr)
}

const NOT_ATTESTED: &str =
    "No attestations found that were valid and signed by a key trusted by the attestor";

#[test]
fn gcloud_deploys_are_judged_logged_and_audited() {
    let emu = google(2, "");
    let signed = pinned(&emu, "apps/signed");
    let unsigned = pinned(&emu, "apps/unsigned");
    gcloud_attests(&emu, &signed, "k1");

    // Signed, and allowlisted by pattern (by tag: Cloud Run resolves it): admitted.
    deploy_ok(&emu, "signed", &signed, &[]);
    deploy_ok(
        &emu,
        "tool",
        &format!("{}/demo/trusted/tool:v1", emu.host()),
        &[],
    );
    // Unsigned under enforcement: gcloud fails with Cloud Run's refusal.
    let refused = deploy(&emu, "unsigned", &unsigned, &[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Container image '{unsigned}' is not authorized by policy."
        )),
        "{stderr}"
    );
    assert!(stderr.contains(NOT_ATTESTED), "{stderr}");
    // The same image under dry run: admitted, and logged.
    set_policy(&emu, "DRYRUN_AUDIT_LOG_ONLY");
    deploy_ok(&emu, "unsigned", &unsigned, &[]);
    // Enforced again; breakglass admits it with its justification.
    set_policy(&emu, "ENFORCED_BLOCK_AND_AUDIT_LOG");
    deploy_ok(
        &emu,
        "glass",
        &unsigned,
        &["--breakglass=incident-42 rollback"],
    );
    let described = gcloud_run(&emu, &["services", "describe", "glass", "--format=json"]);
    assert!(
        described.status.success(),
        "{}",
        String::from_utf8_lossy(&described.stderr)
    );
    let described: Value = serde_json::from_slice(&described.stdout).unwrap();
    assert_eq!(
        described["metadata"]["annotations"]["run.googleapis.com/binary-authorization-breakglass"],
        "incident-42 rollback"
    );

    // audit lists exactly those three events, across log pages of two entries.
    let (code, events, stderr) = audit(&emu, &["--since=1h"]);
    assert_eq!(code, 0, "{stderr}");
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["service"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("unsigned", "denied"),
            ("unsigned", "dry-run"),
            ("glass", "breakglass")
        ],
        "{events:#?}"
    );
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap())
        .collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "an entry repeated across a page boundary: {events:#?}"
    );
    let logged = emu.ok("GET", "emulator/counters", None)["routes"].clone();
    assert!(
        logged["logging.entries.list"]["calls"].as_u64().unwrap() > 2,
        "three entries in pages of two are two calls, plus the GKE query: {logged}"
    );
    for e in &events[..2] {
        assert!(e["reason"].as_str().unwrap().contains(NOT_ATTESTED), "{e}");
        assert_eq!(e["images"][0], unsigned.as_str());
        assert_eq!(e["digests"][0], unsigned.split_once('@').unwrap().1);
        assert_eq!(e["principal"], "dev@example.com");
        assert_eq!(e["platform"], "cloudrun");
    }
    assert!(events[0]["reason"].as_str().unwrap().starts_with(&format!(
        "Container image '{unsigned}' is not authorized by policy."
    )));
    assert_eq!(events[2]["justification"], "incident-42 rollback");
    assert!(
        stderr.contains("denied: 1, dry-run violation: 1, breakglass: 1"),
        "{stderr}"
    );

    // --fail-on makes it a gate.
    let (code, _, stderr) = audit(&emu, &["--since=1h", "--fail-on=breakglass"]);
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("1 breakglass event"), "{stderr}");
    let (code, _, _) = audit(&emu, &["--since=1h", "--fail-on=denied,dryrun"]);
    assert_eq!(code, 5);
    // By service.
    let (code, events, _) = audit(&emu, &["--since=1h", "--service=glass", "--fail-on=denied"]);
    assert_eq!(code, 0, "no denial of glass");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "breakglass");
    // By time: from the dry-run event on, two; after the last, none.
    let dry_time = {
        let (_, all, _) = audit(&emu, &["--since=1h"]);
        all[1]["time"].as_str().unwrap().to_string()
    };
    let (_, events, _) = audit(&emu, &[&format!("--since={dry_time}")]);
    assert_eq!(events.len(), 2, "{events:#?}");
    let (code, events, _) = audit(
        &emu,
        &["--since=2099-01-01T00:00:00Z", "--fail-on=breakglass"],
    );
    assert_eq!((code, events.len()), (0, 0));
    // Text output for people: one row per event.
    let (code, text, _) = attest(
        &emu,
        TOKEN,
        &[
            "audit",
            "--project=demo",
            "--output=text",
            "--platform=cloudrun",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("justification: incident-42 rollback"),
        "{text}"
    );
}

#[test]
fn audit_refuses_bad_input_with_named_errors() {
    let emu = google(0, "");
    let (code, _, stderr) = audit(&emu, &["--since=yesterday"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--since `yesterday`"), "{stderr}");
    let (code, _, stderr) = attest(&emu, TOKEN, &["audit", "--project=no-such-project"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("project no-such-project does not exist"),
        "{stderr}"
    );
}

#[test]
fn audit_needs_logging_log_entries_list() {
    let emu = Emulator::start_raw(
        "tokens:\n  - token: owner\n    principal: user:admin@example.com\n  - token: ci\n    principal: serviceAccount:ci@demo.iam.gserviceaccount.com\n\
         projects: [demo]\niam:\n  enforce: true\n  policies:\n    projects/demo:\n      - role: roles/owner\n        members: [user:admin@example.com]\n",
        &[],
    );
    let (code, _, stderr) = attest(
        &emu,
        "ci",
        &["audit", "--project=demo", "--platform=cloudrun"],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("logging.logEntries.list"), "{stderr}");
    assert!(stderr.contains("roles/logging.viewer"), "{stderr}");
    let (code, _, stderr) = attest(&emu, "owner", &["audit", "--project=demo", "--output=json"]);
    assert_eq!(code, 0, "{stderr}");
}

/// A service through the Admin API v2, as the SDK or Terraform would create it.
fn v2_service(emu: &Emulator, id: &str, image: &str) {
    let op = emu.ok(
        "POST",
        &format!("v2/projects/demo/locations/us-central1/services?serviceId={id}"),
        Some(&json!({"template": {"containers": [{"image": image}]}, "binaryAuthorization": {"useDefault": true}})),
    );
    assert_eq!(op["done"], true);
    assert_eq!(
        op["response"]["terminalCondition"]["state"], "CONDITION_SUCCEEDED",
        "{id}: {op}"
    );
}

#[test]
fn running_services_are_judged_as_if_deployed_today() {
    let emu = google(0, "");
    let first = pinned(&emu, "apps/signed");
    let second = pinned(&emu, "apps/other");
    gcloud_attests(&emu, &first, "k1");
    gcloud_attests(&emu, &second, "k2");
    v2_service(&emu, "first", &first);
    v2_service(&emu, "second", &second);
    v2_service(
        &emu,
        "tool",
        &format!("{}/demo/trusted/tool:v1", emu.host()),
    );
    let check = |region: &str| {
        let (code, stdout, stderr) = attest(
            &emu,
            TOKEN,
            &[
                "policy",
                "check",
                "--running",
                "--project=demo",
                &format!("--region={region}"),
                "--output=json",
            ],
        );
        (
            code,
            serde_json::from_str::<Vec<Value>>(&stdout).unwrap_or_default(),
            stderr,
        )
    };
    let (code, checked, stderr) = check("us-central1");
    assert_eq!(code, 0, "everything running is admitted today: {stderr}");
    assert_eq!(checked.len(), 3, "{checked:#?}");

    // Rotate k1 away: `first` still runs, but would now be refused.
    emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "public-keys",
        "remove",
        &format!("//{}/v1/{}", emu.host(), version("k1")),
        "--attestor=a1",
    ]);
    let (code, checked, stderr) = check("us-central1");
    assert_eq!(code, 5, "{stderr}");
    let refused: Vec<&Value> = checked
        .iter()
        .filter(|c| c["decision"] == "denied")
        .collect();
    assert_eq!(refused.len(), 1, "{checked:#?}");
    assert_eq!(refused[0]["workload"], "service/first");
    assert_eq!(refused[0]["image"], first.as_str());
    assert!(
        refused[0]["container"]
            .as_str()
            .unwrap()
            .starts_with("revision first-00001-"),
        "{refused:?}"
    );
    let why = refused[0]["verdicts"][0]["reason"].as_str().unwrap();
    assert!(
        why.contains(&version("k1")) || why.contains("k1"),
        "the reason names the key rotated away: {why}"
    );
    assert!(stderr.contains(&first), "{stderr}");
    let tool = checked
        .iter()
        .find(|c| c["workload"] == "service/tool")
        .unwrap();
    assert_eq!(tool["decision"], "allowed", "{tool}");
    assert!(
        tool["decided_by"]
            .as_str()
            .unwrap()
            .contains("/demo/trusted/*"),
        "{tool}"
    );
    let second_row = checked
        .iter()
        .find(|c| c["workload"] == "service/second")
        .unwrap();
    assert_eq!(second_row["decision"], "allowed");

    // A region with no services, an unknown project.
    let (code, _, stderr) = check("europe-west1");
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("no Cloud Run services in project demo, region europe-west1"),
        "{stderr}"
    );
    let (code, _, stderr) = attest(
        &emu,
        TOKEN,
        &[
            "policy",
            "check",
            "--running",
            "--project=nope-project",
            "--region=us-central1",
        ],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("project nope-project does not exist"),
        "{stderr}"
    );
}

/// The GKE path the README documents: what `kubectl get pods -A -o yaml` prints, a `kind:
/// List` of Pods with their status (written here as kubectl prints it: no API server runs in
/// these tests), piped to `--manifest -`.
#[test]
fn kubectl_pods_list_on_stdin_is_checked() {
    let emu = google(0, "");
    let signed = pinned(&emu, "apps/signed");
    let unsigned = pinned(&emu, "apps/unsigned");
    gcloud_attests(&emu, &signed, "k1");
    let pod = |name: &str, image: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default", "labels": {"run": name}},
               "spec": {"containers": [{"name": name, "image": image}], "serviceAccountName": "default"},
               "status": {"phase": "Running", "containerStatuses": [{"name": name, "image": image, "imageID": image, "ready": true}]}})
    };
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                      "items": [pod("good", &signed), pod("bad", &unsigned)]});
    let yaml = serde_norway::to_string(&list).unwrap();
    let home = emu.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = attest_command(&emu, &home)
        .env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)
        .args(emu.registry_flags())
        .args([
            "policy",
            "check",
            "--project=demo",
            "--manifest",
            "-",
            "--output=json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let checked: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let decisions: Vec<(&str, &str)> = checked
        .iter()
        .map(|c| {
            (
                c["workload"].as_str().unwrap(),
                c["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [("Pod/good", "allowed"), ("Pod/bad", "denied")],
        "{checked:#?}"
    );
    assert_eq!(checked[0]["platform"], "gke");
    assert_eq!(checked[0]["manifest"], "stdin");
}
