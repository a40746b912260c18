//! `admission` over real HTTPS (curl, HTTP/1.1 and HTTP/2, checking the certificate
//! `admission certs` made), with images in Debian's docker-registry and the emulator's registry,
//! signed by `sign --cosign --pkix-private-key`; `deploy/admission` built by `kubectl
//! kustomize` and checked against Kubernetes' JSON schemas (kubernetes-validate).

use crate::common::emulator::{Emulator, TOKEN};
use crate::common::{attest_command, registry, Format};
use crate::sign::{attest, push};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ORG: &str = "projects/demo/attestors/org";
const TENANT: &str = "projects/demo/attestors/tenant";

/// A P-256 key pair made by openssl: (private key file, public key PEM).
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let private = dir.join(format!("{name}.pem"));
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&private)
        .output()
        .expect("openssl");
    assert!(out.status.success());
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .output()
        .unwrap();
    assert!(out.status.success());
    (private, String::from_utf8(out.stdout).unwrap())
}

fn indent(pem: &str) -> String {
    pem.lines().map(|l| format!("          {l}\n")).collect()
}

/// The emulator with the org's and the tenant's attestors, each trusting its PKIX key.
fn google(dir: &Path) -> (Emulator, PathBuf, String, PathBuf, String) {
    let (org_key, org_pub) = keypair(dir, "org");
    let (tenant_key, tenant_pub) = keypair(dir, "tenant");
    let emu = Emulator::start(&format!(
        "notes:\n  - name: projects/demo/notes/org\n  - name: projects/demo/notes/tenant\nattestors:\n  - name: {ORG}\n    note: projects/demo/notes/org\n    pkixKeys:\n      - algorithm: ECDSA_P256_SHA256\n        pem: |\n{}  - name: {TENANT}\n    note: projects/demo/notes/tenant\n    pkixKeys:\n      - algorithm: ECDSA_P256_SHA256\n        pem: |\n{}images:\n  - repository: demo/apps/cached\n    tag: v1\n  - repository: demo/apps/slow\n    tag: v1\n",
        indent(&org_pub),
        indent(&tenant_pub)
    ));
    (emu, org_key, org_pub, tenant_key, tenant_pub)
}

/// `sign IMAGE --cosign` with a local key for `attestor`.
fn sign(emu: &Emulator, image: &str, attestor: &str, key: &Path, extra: &[&str]) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["sign", image, "--attestor", attestor, "--pkix-private-key"]);
    let key = key.to_str().unwrap();
    args.extend([key, "--cosign", "--output=json"]);
    let (code, stdout, stderr) = attest(emu, &args);
    assert_eq!(code, 0, "sign failed: {stdout}{stderr}");
}

const POLICY: &str = "globalPolicyEvaluationMode: DISABLE
defaultAdmissionRule:
  evaluationMode: REQUIRE_ATTESTATION
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  requireAttestationsBy: [projects/demo/attestors/org]
kubernetesNamespaceAdmissionRules:
  dry:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
    requireAttestationsBy: [projects/demo/attestors/org]
  tenant:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
    requireAttestationsBy: [projects/demo/attestors/tenant]
";

/// `admission certs` for 127.0.0.1 into `dir`; its caBundle.
fn certs(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .args(["admission", "certs", "--host", "127.0.0.1", "--out-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A running `admission` server; killed when dropped.
struct Webhook {
    child: Child,
    addr: String,
    ca: PathBuf,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    /// `cmd` (the binary and its global flags) `admission` with `args`.
    fn start(mut cmd: Command, certs_dir: &Path, args: &[&std::ffi::OsStr]) -> Webhook {
        cmd.args(["admission", "--addr", "127.0.0.1:0", "--tls-cert-file"])
            .arg(certs_dir.join("tls.crt"))
            .arg("--tls-private-key-file")
            .arg(certs_dir.join("tls.key"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start admission");
        let stdout = child.stdout.take().unwrap();
        let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if v["msg"] == "listening" {
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                }
                kept.lock().unwrap().push(v);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the webhook's listening line");
        Webhook {
            child,
            addr,
            ca: certs_dir.join("ca.crt"),
            lines,
        }
    }

    /// curl against the webhook, trusting `ca`; (HTTP status, body).
    fn curl(&self, path: &str, body: Option<&Value>, http2: bool, ca: &Path) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "--cacert",
        ])
        .arg(ca)
        .arg(if http2 { "--http2" } else { "--http1.1" });
        if let Some(body) = body {
            cmd.args([
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
            ])
            .arg(body.to_string());
        }
        let out = cmd
            .arg(format!("https://{}{path}", self.addr))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// POSTs a review as the API server does (`?timeout=10s`); the response.
    fn review(&self, review: &Value, http2: bool) -> Value {
        let (code, body) = self.curl("/validate?timeout=10s", Some(review), http2, &self.ca);
        assert_eq!(code, 200, "{body}");
        let out: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(out["kind"], "AdmissionReview");
        assert_eq!(out["response"]["uid"], review["request"]["uid"]);
        out["response"].clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server with no Google credentials: files and the registry only.
fn offline(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        // Loopback only: should anything ever probe the metadata server, it meets a closed port.
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .args(["--insecure-registry", &registry().host])
        .args(extra);
    cmd
}

/// An AdmissionReview for a Pod CREATE, as the API server sends it.
fn pod_review(uid: &str, namespace: &str, spec: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "web",
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": namespace, "annotations": annotations},
                "spec": spec,
            },
            "oldObject": null,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
}

fn app(image: &str) -> Value {
    json!({"containers": [{"name": "app", "image": image}]})
}

fn message(response: &Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The org's attestor as `gcloud container binauthz attestors describe --format=json` prints
/// it (the emulator answers as Binary Authorization does), and the tenant's as a local
/// cosign.pub attestor: its PEM, no note.
fn attestor_files(emu: &Emulator, dir: &Path, tenant_pub: &str) -> (PathBuf, PathBuf) {
    let org = dir.join("org.json");
    let described = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "describe",
        "org",
        "--project=demo",
        "--format=json",
    ]);
    std::fs::write(&org, described).unwrap();
    let tenant = dir.join("tenant.json");
    let json = json!({
        "name": TENANT,
        "userOwnedGrafeasNote": {"publicKeys": [{"id": "cosign.pub", "pkixPublicKey": {"publicKeyPem": tenant_pub}}]}
    });
    std::fs::write(&tenant, json.to_string()).unwrap();
    (org, tenant)
}

#[test]
fn signatures_decide_reviews_over_https_in_every_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (emu, org_key, _, tenant_key, tenant_pub) = google(dir);
    let signed = push("admission/signed", Format::Oci);
    let unsigned = push("admission/unsigned", Format::Oci);
    let tenants = push("admission/tenant", Format::Oci);
    sign(&emu, &signed, ORG, &org_key, &[]);
    sign(&emu, &tenants, TENANT, &tenant_key, &[]);
    let (org_file, tenant_file) = attestor_files(&emu, dir, &tenant_pub);
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let certs_dir = dir.join("certs");
    let bundle = certs(&certs_dir);
    assert!(
        bundle.starts_with("LS0t"),
        "the caBundle is base64 PEM: {bundle}"
    );
    let args = [
        "--policy".as_ref(),
        policy.as_os_str(),
        "--attestor-file".as_ref(),
        org_file.as_os_str(),
        "--attestor-file".as_ref(),
        tenant_file.as_os_str(),
    ];
    let hook = Webhook::start(offline(dir, &[]), &certs_dir, &args);

    // Signed, given by tag: admitted, the digest checked reported.
    let digest = registry()
        .head_manifest("admission/signed", "v1")
        .1
        .expect("digest");
    for http2 in [false, true] {
        let r = hook.review(
            &pod_review("u-signed", "default", app(&signed), json!({})),
            http2,
        );
        assert_eq!(r["allowed"], true, "{r}");
        let checked = r["auditAnnotations"]["checked-digests"].as_str().unwrap();
        assert!(checked.contains(&digest), "{checked}");
    }
    // Unsigned: denied with the container, image, rule and fix.
    let r = hook.review(
        &pod_review("u-unsigned", "default", app(&unsigned), json!({})),
        true,
    );
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    let m = message(&r);
    for needle in [
        "container \"app\"",
        unsigned.as_str(),
        "defaultAdmissionRule",
        ORG,
        "Fix: sign",
        "sha256:",
    ] {
        assert!(m.contains(needle), "{needle} missing: {m}");
    }
    // Dry run: admitted with a warning under 120 characters and an audit annotation.
    let r = hook.review(
        &pod_review("u-dry", "dry", app(&unsigned), json!({})),
        false,
    );
    assert_eq!(r["allowed"], true, "{r}");
    let w = r["warnings"][0].as_str().unwrap();
    assert!(w.chars().count() < 120 && w.contains("dry run"), "{w}");
    assert!(r["auditAnnotations"]["dry-run-violations"]
        .as_str()
        .unwrap()
        .contains(&unsigned));
    // Breakglass: admitted and annotated.
    let glass = json!({"alpha.image-policy.k8s.io/break-glass": "true"});
    let r = hook.review(
        &pod_review("u-glass", "default", app(&unsigned), glass),
        true,
    );
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r["auditAnnotations"]["breakglass"]
        .as_str()
        .unwrap()
        .contains("break-glass"));
    // An unsigned init container denies the Pod.
    let spec = json!({"initContainers": [{"name": "setup", "image": unsigned}], "containers": [{"name": "app", "image": signed}]});
    let r = hook.review(&pod_review("u-init", "default", spec, json!({})), true);
    assert_eq!(r["allowed"], false);
    assert!(message(&r).contains("init container \"setup\""), "{r}");
    // The tenant's namespace trusts the tenant's cosign.pub only, and only there.
    let r = hook.review(
        &pod_review("u-t1", "tenant", app(&tenants), json!({})),
        true,
    );
    assert_eq!(r["allowed"], true, "{r}");
    let r = hook.review(&pod_review("u-t2", "tenant", app(&signed), json!({})), true);
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains(TENANT), "{r}");
    let r = hook.review(
        &pod_review("u-t3", "default", app(&tenants), json!({})),
        true,
    );
    assert_eq!(r["allowed"], false, "{r}");

    // Probes and metrics.
    assert_eq!(hook.curl("/healthz", None, true, &hook.ca).0, 200);
    assert_eq!(hook.curl("/readyz", None, false, &hook.ca).0, 200);
    let (code, metrics) = hook.curl("/metrics", None, false, &hook.ca);
    assert_eq!(code, 200);
    assert!(
        metrics.contains(
            "binauthz_admission_decisions_total{result=\"denied\",reason=\"not-attested\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("binauthz_admission_review_duration_seconds_bucket"),
        "{metrics}"
    );
    // One JSON log line per decision, no secret in any.
    let lines = hook.lines.lock().unwrap().clone();
    let decisions = lines.iter().filter(|l| l["msg"] == "decision").count();
    assert_eq!(decisions, 9, "{lines:?}");
}

#[test]
fn the_cache_saves_registry_calls_and_a_failing_registry_is_answered_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (emu, org_key, _, _, tenant_pub) = google(dir);
    let host = emu.host();
    let cached = format!("{host}/demo/apps/cached:v1");
    let slow = format!("{host}/demo/apps/slow:v1");
    sign(
        &emu,
        &cached,
        ORG,
        &org_key,
        &["--insecure-registry", &host, "--google-registry", &host],
    );
    let (org_file, tenant_file) = attestor_files(&emu, dir, &tenant_pub);
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let certs_dir = dir.join("certs");
    certs(&certs_dir);
    // With Google credentials (the emulator): attestations are read too.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = attest_command(&emu, &home);
    cmd.env("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN).args([
        "--insecure-registry",
        &host,
        "--google-registry",
        &host,
    ]);
    let args = [
        "--review-timeout".as_ref(),
        "2s".as_ref(),
        "--policy".as_ref(),
        policy.as_os_str(),
        "--attestor-file".as_ref(),
        org_file.as_os_str(),
        "--attestor-file".as_ref(),
        tenant_file.as_os_str(),
    ];
    let hook = Webhook::start(cmd, &certs_dir, &args);
    let registry_calls = || -> u64 {
        let counters = emu.ok("GET", "emulator/counters", None)["routes"].clone();
        counters
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(route, _)| route.starts_with("registry."))
                    .map(|(_, v)| v["calls"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    // Eight containers of one image by digest: one verification; the second review none.
    let digest = emu.registry_digest("demo/apps/cached", "v1");
    let pinned = format!("{host}/demo/apps/cached@{digest}");
    let containers: Vec<Value> = (0..8)
        .map(|i| json!({"name": format!("c{i}"), "image": pinned}))
        .collect();
    let review = pod_review(
        "u-cache",
        "default",
        json!({"containers": containers}),
        json!({}),
    );
    let before = registry_calls();
    assert_eq!(hook.review(&review, true)["allowed"], true);
    let first = registry_calls() - before;
    assert!(first > 0, "the first review reads the registry");
    eprintln!("registry calls of a cold review of 8 containers naming one digest: {first}");
    let before = registry_calls();
    assert_eq!(hook.review(&review, true)["allowed"], true);
    assert_eq!(
        registry_calls() - before,
        0,
        "the second identical review costs no registry call"
    );

    // A registry that hangs: the documented answer (503, retry) within the review's budget.
    let (status, _) = emu.call(
        "POST",
        "emulator/faults",
        Some(&json!({"route": "registry.*", "latencyMs": 8000})),
    );
    assert_eq!(status, 200);
    let started = Instant::now();
    let r = hook.review(
        &pod_review("u-slow", "default", app(&slow), json!({})),
        true,
    );
    let took = started.elapsed();
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 503, "{r}");
    assert!(message(&r).contains("retry"), "{r}");
    assert!(took < Duration::from_secs(4), "answered in {took:?}");
    emu.call("DELETE", "emulator/faults", None);
    let (_, metrics) = hook.curl("/metrics", None, true, &hook.ca);
    assert!(
        metrics.contains("binauthz_admission_cache_lookups_total{result=\"hit\"}"),
        "{metrics}"
    );
}

#[test]
fn a_certificate_replaced_on_disk_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let first = dir.join("first");
    let second = dir.join("second");
    certs(&first);
    certs(&second);
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, "defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n").unwrap();
    let serving = dir.join("serving");
    std::fs::create_dir_all(&serving).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::copy(first.join(f), serving.join(f)).unwrap();
    }
    let args = ["--policy".as_ref(), policy.as_os_str()];
    let hook = Webhook::start(offline(dir, &[]), &serving, &args);
    assert_eq!(
        hook.curl("/healthz", None, true, &first.join("ca.crt")).0,
        200
    );
    assert_eq!(
        hook.curl("/healthz", None, true, &second.join("ca.crt")).0,
        0,
        "not trusted yet"
    );
    // As cert-manager's Secret volume does: new files renamed into place.
    for f in ["tls.key", "tls.crt"] {
        std::fs::copy(second.join(f), serving.join(format!(".{f}"))).unwrap();
        std::fs::rename(serving.join(format!(".{f}")), serving.join(f)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.curl("/healthz", None, true, &second.join("ca.crt")).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served within 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        hook.curl("/healthz", None, false, &first.join("ca.crt")).0,
        0
    );
}

#[test]
fn deploy_manifests_build_with_kustomize_and_pass_kubernetes_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(root.join("deploy/admission"))
        .output()
        .expect("kubectl is required (apt-get install kubectl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "kind: ValidatingWebhookConfiguration",
        "failurePolicy: Fail",
        "sideEffects: None",
        "matchPolicy: Equivalent",
        "pods/ephemeralcontainers",
        "binauthz-attest/enforce",
        "kube-system",
        "kind: PodDisruptionBudget",
        "readOnlyRootFilesystem: true",
        "replicas: 3",
    ] {
        assert!(
            rendered.contains(needle),
            "{needle} missing from the rendered manifests"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.31"])
        .arg(&file)
        .output()
        .expect(
            "kubernetes-validate is required: pip install kubernetes-validate==1.31.0 (.ci/run)",
        );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches("passed").count(), 9, "{text}");
}
