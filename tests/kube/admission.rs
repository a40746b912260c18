//! `binauthz-attest admission` registered with a real kube-apiserver from `deploy/admission/`,
//! judged through `kubectl`: what reaches the webhook (`namespaceSelector`, subresources), what
//! `kubectl` prints for our denials and warnings, what `failurePolicy: Fail` does when the
//! webhook is down, certificate rotation under an unchanged `caBundle`, and tenants' keys.
//!
//! Each test runs its own webhook server (its own policy, attestor files and certificate), its
//! own emulator for signing, and registers its own copy of the webhook configuration whose
//! `namespaceSelector` additionally requires the test's label, so the shared API server never
//! sends one test's reviews to another's server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{control_plane, free_port, ControlPlane, Pki};
use crate::common::emulator::Emulator;
use crate::common::{registry, Format};
use crate::sign::{google, push, sign_ok};

/// The opt-in label of `deploy/admission/`'s `namespaceSelector`.
const ENFORCE_LABEL: &str = "binauthz-attest/enforce";
/// The label the tests add to their namespaces and selectors, to keep tests apart.
const TEST_LABEL: &str = "binauthz-attest.test/case";
/// GKE's breakglass annotation, which the webhook honours as Google does.
const BREAKGLASS: &str = "alpha.image-policy.k8s.io/break-glass";

/// One `binauthz-attest admission` on a loopback port, killed when dropped.
struct Webhook {
    case: String,
    dir: PathBuf,
    addr: String,
    pki: Pki,
    cert: PathBuf,
    key: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Webhook {
    /// Starts the server for test `case` with `policy` (YAML, `policy export`'s format) and
    /// the attestor files given.
    fn start(case: &str, dir: &Path, policy: &str, attestors: &[PathBuf]) -> Webhook {
        let dir = dir.join(format!("webhook-{case}"));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki::new(&dir, "webhook");
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        pki.issue(&cert, &key);
        let policy_file = dir.join("policy.yaml");
        std::fs::write(&policy_file, policy).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "--insecure-registry".to_string(),
            registry().host.clone(),
            "admission".into(),
            "--addr".into(),
            addr.clone(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-private-key-file".into(),
            key.display().to_string(),
            "--policy".into(),
            policy_file.display().to_string(),
        ];
        for file in attestors {
            args.push("--attestor-file".into());
            args.push(file.display().to_string());
        }
        let mut webhook = Webhook {
            case: case.to_string(),
            dir,
            addr,
            pki,
            cert,
            key,
            args,
            child: None,
        };
        webhook.run();
        webhook
    }

    /// (Re)starts the process and waits for `/readyz`.
    fn run(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("admission.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_binauthz-attest"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            // No Google here: evidence is the registry's cosign signatures, checked offline.
            .env("GCE_METADATA_HOST", "127.0.0.1:9")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("admission exited ({status}): {}", self.log());
            }
            if self.get("/readyz").is_ok_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "admission not ready on {} within 30 s: {}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process (SIGKILL: a webhook that vanished, as a crashed pod does).
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("admission.log")).unwrap_or_default()
    }

    /// GET over HTTPS, trusting only the webhook's CA (curl: a client nobody here wrote).
    fn get(&self, path: &str) -> Result<(u16, String), String> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", "--cacert"])
            .arg(&self.pki.ca_cert)
            .arg(format!("https://{}{path}", self.addr))
            .output()
            .map_err(|e| format!("curl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Ok((code.trim().parse().unwrap_or(0), body.to_string()))
    }

    /// The webhook's count of AdmissionReviews it answered (every series of the counter).
    fn reviews(&self) -> f64 {
        let (_, metrics) = self.get("/metrics").expect("metrics");
        metrics
            .lines()
            .filter(|l| l.starts_with("binauthz_admission_decisions_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The serial of the certificate the server presents now.
    fn served_serial(&self) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"openssl s_client -connect "$1" -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial"#)
            .arg("sh")
            .arg(&self.addr)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The webhook configuration name registered for this test.
    fn configuration(&self) -> String {
        format!("binauthz-attest-{}", self.case)
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `deploy/admission/` rendered by `kubectl kustomize` (kubectl's built-in kustomize), as the
/// JSON list `kubectl create --dry-run=client -o json` makes of it.
fn rendered(plane: &ControlPlane) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/admission");
    let yaml = plane.kubectl_ok(&["kustomize", dir.to_str().unwrap()]);
    let out = plane.kubectl_in(
        &["create", "--dry-run=client", "-o", "json", "-f", "-"],
        &yaml,
    );
    assert!(
        out.status.success(),
        "deploy/admission does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One JSON document per object (a List only when the input was one).
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>() {
        let value = value.unwrap();
        match value["kind"].as_str() {
            Some("List") => objects.extend(value["items"].as_array().cloned().unwrap_or_default()),
            _ => objects.push(value),
        }
    }
    objects
}

/// Registers `deploy/admission/`'s ValidatingWebhookConfiguration for `webhook`: its name and
/// the test's label added, `clientConfig.service` replaced by the server's loopback URL, and
/// the CA that signed its certificate as `caBundle`. Waits until the API server calls it.
fn register(plane: &ControlPlane, webhook: &Webhook, namespace: &str) -> Value {
    let mut config = rendered(plane)
        .into_iter()
        .find(|o| o["kind"] == "ValidatingWebhookConfiguration")
        .expect("deploy/admission has a ValidatingWebhookConfiguration");
    config["metadata"] = json!({"name": webhook.configuration()});
    for hook in config["webhooks"].as_array_mut().unwrap() {
        let path = hook["clientConfig"]["service"]["path"]
            .as_str()
            .unwrap_or("/validate")
            .to_string();
        hook["clientConfig"] = json!({
            "url": format!("https://{}{path}", webhook.addr),
            "caBundle": webhook.pki.ca_bundle(),
        });
        let selector = &mut hook["namespaceSelector"];
        let mut expressions = selector["matchExpressions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        expressions.push(json!({"key": TEST_LABEL, "operator": "In", "values": [webhook.case]}));
        selector["matchExpressions"] = Value::Array(expressions);
    }
    let out = plane.kubectl_in(&["apply", "-f", "-"], &config.to_string());
    assert!(
        out.status.success(),
        "the API server refused the webhook configuration: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The API server picks a new configuration up from its informer: wait until a review of an
    // unsigned Pod (server-side dry run, nothing stored) reaches the webhook.
    let before = webhook.reviews();
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = pod(
        "probe",
        &format!("{}/kube/never-pushed:v1", registry().host),
        &[],
    );
    loop {
        plane.kubectl_in(
            &["create", "--dry-run=server", "-n", namespace, "-f", "-"],
            &probe.to_string(),
        );
        if webhook.reviews() > before {
            return config;
        }
        assert!(
            Instant::now() < deadline,
            "the API server did not call the webhook within 30 s: {}\n{}",
            webhook.log(),
            plane.log("kube-apiserver")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates namespace `name` with the test's label, and the opt-in label when `enforce`.
fn namespace(plane: &ControlPlane, case: &str, name: &str, enforce: bool) {
    let mut labels = json!({TEST_LABEL: case});
    if enforce {
        labels[ENFORCE_LABEL] = json!("enabled");
    }
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}});
    let out = plane.kubectl_in(&["apply", "-f", "-"], &ns.to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Pod with one container `app` running `image`, and `annotations`.
fn pod(name: &str, image: &str, annotations: &[(&str, &str)]) -> Value {
    let annotations: serde_json::Map<String, Value> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": image}]}})
}

/// A Deployment of one replica whose container `app` runs `image`.
fn deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

/// `kubectl ARGS -n NS -f -` of `object`.
fn kubectl_object(plane: &ControlPlane, args: &[&str], ns: &str, object: &Value) -> Output {
    let mut all = args.to_vec();
    all.extend(["-n", ns, "-f", "-"]);
    plane.kubectl_in(&all, &object.to_string())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The attestor `projects/demo/attestors/a1` (trusting the emulator's KMS key `ec`) as
/// `gcloud container binauthz attestors describe --format=json` prints it.
fn attestor_file(emu: &Emulator, name: &str) -> PathBuf {
    let json = emu.gcloud_ok(&[
        "container",
        "binauthz",
        "attestors",
        "describe",
        &format!("projects/demo/attestors/{name}"),
        "--format=json",
    ]);
    let path = emu.dir.path().join(format!("attestor-{name}.json"));
    std::fs::write(&path, json).unwrap();
    path
}

/// A policy requiring attestor `a1` in `enforced` namespaces, `a1` in dry-run in `dry_run`
/// ones, and denying everywhere else (`policy export`'s YAML).
fn policy(enforced: &[&str], dry_run: &[&str]) -> String {
    let mut text = String::from(
        "globalPolicyEvaluationMode: DISABLE\ndefaultAdmissionRule:\n  evaluationMode: ALWAYS_DENY\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\nkubernetesNamespaceAdmissionRules:\n",
    );
    for (namespaces, mode) in [
        (enforced, "ENFORCED_BLOCK_AND_AUDIT_LOG"),
        (dry_run, "DRYRUN_AUDIT_LOG_ONLY"),
    ] {
        for ns in namespaces {
            text.push_str(&format!(
                "  {ns}:\n    evaluationMode: REQUIRE_ATTESTATION\n    enforcementMode: {mode}\n    requireAttestationsBy:\n    - projects/demo/attestors/a1\n"
            ));
        }
    }
    text
}

/// A signed image (attestation and cosign signatures by KMS key `ec`) and an unsigned one.
fn images(emu: &Emulator, case: &str) -> (String, String) {
    let signed = push(&format!("kube/{case}-signed"), Format::Oci);
    sign_ok(emu, &signed, "ec", &["--cosign", "--output=json"]);
    let unsigned = push(&format!("kube/{case}-unsigned"), Format::Oci);
    (signed, unsigned)
}

#[test]
fn signed_pods_are_created_and_unsigned_ones_refused_with_our_message_at_every_entry() {
    let plane = control_plane();
    let case = "enforce";
    let emu = google("");
    let (signed, unsigned) = images(&emu, case);
    let ns = "enforce-app";
    namespace(plane, case, ns, true);
    let webhook = Webhook::start(
        case,
        emu.dir.path(),
        &policy(&[ns], &[]),
        &[attestor_file(&emu, "a1")],
    );
    let config = register(plane, &webhook, ns);
    let hook_name = config["webhooks"][0]["name"].as_str().unwrap().to_string();

    // A signed Pod is created.
    let out = kubectl_object(plane, &["create"], ns, &pod("signed", &signed, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(plane.get_json(ns, "pod/signed").is_some());

    // An unsigned one is refused, and kubectl prints our message: the container, the image,
    // the rule, and how to fix it.
    let out = kubectl_object(plane, &["create"], ns, &pod("unsigned", &unsigned, &[]));
    let said = stderr(&out);
    assert!(!out.status.success(), "an unsigned Pod was created");
    assert!(
        said.contains(&format!(
            "admission webhook \"{hook_name}\" denied the request"
        )),
        "{said}"
    );
    assert!(said.contains("app") && said.contains(&unsigned), "{said}");
    assert!(said.contains("projects/demo/attestors/a1"), "{said}");
    assert!(plane.get_json(ns, "pod/unsigned").is_none());

    // `kubectl apply --dry-run=server` gets the same answer and stores nothing; a Deployment
    // with the unsigned image is refused at `kubectl apply` (not only in ReplicaSet events).
    let out = kubectl_object(
        plane,
        &["apply", "--dry-run=server"],
        ns,
        &pod("dry", &unsigned, &[]),
    );
    assert!(!out.status.success(), "dry run admitted an unsigned Pod");
    assert!(
        stderr(&out).contains("denied the request"),
        "{}",
        stderr(&out)
    );
    assert!(plane.get_json(ns, "pod/dry").is_none());
    let out = kubectl_object(
        plane,
        &["apply", "--dry-run=server"],
        ns,
        &pod("dry-signed", &signed, &[]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        plane.get_json(ns, "pod/dry-signed").is_none(),
        "a dry run stored a Pod"
    );
    let out = kubectl_object(plane, &["apply"], ns, &deployment("web", &unsigned));
    assert!(!out.status.success(), "an unsigned Deployment was created");
    assert!(
        stderr(&out).contains("denied the request"),
        "{}",
        stderr(&out)
    );
    assert!(plane.get_json(ns, "deployment/web").is_none());
    let out = kubectl_object(plane, &["apply"], ns, &deployment("web", &signed));
    assert!(out.status.success(), "{}", stderr(&out));

    // `kubectl debug` adds an ephemeral container through `pods/ephemeralcontainers`: an
    // unsigned image is refused, the Pod unchanged; a signed one is added.
    let out = plane.kubectl(&[
        "debug",
        "-n",
        ns,
        "pod/signed",
        "--image",
        &unsigned,
        "--container",
        "dbg",
    ]);
    assert!(
        !out.status.success(),
        "kubectl debug added an unsigned container"
    );
    assert!(
        stderr(&out).contains("denied the request"),
        "{}",
        stderr(&out)
    );
    let pod_now = plane.get_json(ns, "pod/signed").unwrap();
    assert!(
        pod_now["spec"]["ephemeralContainers"].is_null(),
        "{pod_now}"
    );
    let out = plane.kubectl(&[
        "debug",
        "-n",
        ns,
        "pod/signed",
        "--image",
        &signed,
        "--container",
        "dbg2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pod_now = plane.get_json(ns, "pod/signed").unwrap();
    assert_eq!(pod_now["spec"]["ephemeralContainers"][0]["name"], "dbg2");
}

#[test]
fn dry_run_rules_warn_and_breakglass_admits_and_the_audit_log_records_both() {
    let plane = control_plane();
    let case = "audit";
    let emu = google("");
    let (_, unsigned) = images(&emu, case);
    let (enforced, dry) = ("audit-enforced", "audit-dryrun");
    namespace(plane, case, enforced, true);
    namespace(plane, case, dry, true);
    let webhook = Webhook::start(
        case,
        emu.dir.path(),
        &policy(&[enforced], &[dry]),
        &[attestor_file(&emu, "a1")],
    );
    register(plane, &webhook, enforced);

    // A dry-run rule's violation is created, and kubectl prints the warning.
    let out = kubectl_object(plane, &["create"], dry, &pod("violates", &unsigned, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("Warning: binauthz-attest dry run: app would be denied"),
        "{said}"
    );
    let event = plane.audit_event(|e| {
        e["objectRef"]["namespace"] == dry
            && e["objectRef"]["name"] == "violates"
            && e["verb"] == "create"
    });
    let annotations = event["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        annotations
            .keys()
            .any(|k| k.ends_with("/dry-run-violations")),
        "{event}"
    );

    // The breakglass annotation admits an unsigned Pod where the rule enforces, and the API
    // server's audit log records the webhook's audit annotation.
    let out = kubectl_object(
        plane,
        &["create"],
        enforced,
        &pod("glass", &unsigned, &[(BREAKGLASS, "true")]),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let event = plane.audit_event(|e| {
        e["objectRef"]["namespace"] == enforced
            && e["objectRef"]["name"] == "glass"
            && e["verb"] == "create"
    });
    let annotations = event["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        annotations.keys().any(|k| k.ends_with("/breakglass")),
        "{event}"
    );
}

#[test]
fn a_namespace_without_the_label_never_reaches_the_webhook() {
    let plane = control_plane();
    let case = "optout";
    let emu = google("");
    let (_, unsigned) = images(&emu, case);
    let (on, off) = ("optout-enforced", "optout-free");
    namespace(plane, case, on, true);
    namespace(plane, case, off, false);
    let webhook = Webhook::start(
        case,
        emu.dir.path(),
        &policy(&[on], &[]),
        &[attestor_file(&emu, "a1")],
    );
    register(plane, &webhook, on);
    let before = webhook.reviews();
    let out = kubectl_object(plane, &["create"], off, &pod("free", &unsigned, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl_object(plane, &["apply"], off, &deployment("free", &unsigned));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(webhook.reviews(), before, "a review reached the webhook");
    // The labelled namespace still does.
    let out = kubectl_object(plane, &["create"], on, &pod("held", &unsigned, &[]));
    assert!(!out.status.success());
    assert!(webhook.reviews() > before);
}

#[test]
fn a_stopped_webhook_fails_closed_and_a_restarted_one_admits_again() {
    let plane = control_plane();
    let case = "outage";
    let emu = google("");
    let (signed, _) = images(&emu, case);
    let ns = "outage-app";
    namespace(plane, case, ns, true);
    let mut webhook = Webhook::start(
        case,
        emu.dir.path(),
        &policy(&[ns], &[]),
        &[attestor_file(&emu, "a1")],
    );
    let config = register(plane, &webhook, ns);
    let hook = &config["webhooks"][0];
    assert_eq!(hook["failurePolicy"], "Fail", "{hook}");
    let hook_name = hook["name"].as_str().unwrap();

    webhook.stop();
    // failurePolicy Fail: the API server refuses what it could not have judged, even signed.
    let out = kubectl_object(plane, &["create"], ns, &pod("during", &signed, &[]));
    let said = stderr(&out);
    assert!(!out.status.success(), "created while the webhook was down");
    assert!(
        said.contains(&format!("failed calling webhook \"{hook_name}\"")),
        "{said}"
    );
    assert!(plane.get_json(ns, "pod/during").is_none());

    // Restarted (same address and certificate): admission works, the API server untouched.
    webhook.run();
    let out = kubectl_object(plane, &["create"], ns, &pod("after", &signed, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_certificate_rotated_on_disk_is_served_and_trusted_with_the_same_ca_bundle() {
    let plane = control_plane();
    let case = "rotate";
    let emu = google("");
    let (signed, unsigned) = images(&emu, case);
    let ns = "rotate-app";
    namespace(plane, case, ns, true);
    let webhook = Webhook::start(
        case,
        emu.dir.path(),
        &policy(&[ns], &[]),
        &[attestor_file(&emu, "a1")],
    );
    register(plane, &webhook, ns);
    let first = webhook.served_serial();
    // A new key and certificate from the same CA, as cert-manager renews them.
    webhook.pki.issue(&webhook.cert, &webhook.key);
    let deadline = Instant::now() + Duration::from_secs(30);
    while webhook.served_serial() == first {
        assert!(
            Instant::now() < deadline,
            "the server still presents {first} 30 s after the rotation: {}",
            webhook.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = kubectl_object(plane, &["create"], ns, &pod("after-rotation", &signed, &[]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl_object(plane, &["create"], ns, &pod("refused", &unsigned, &[]));
    assert!(
        stderr(&out).contains("denied the request"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_tenants_own_key_admits_in_its_namespace_and_is_refused_in_another_tenants() {
    let plane = control_plane();
    let case = "tenants";
    let emu = google("");
    let dir = emu.dir.path();
    let mut attestors = Vec::new();
    let mut keys = Vec::new();
    for tenant in ["tenant-a", "tenant-b"] {
        // Each tenant's key pair from cosign v3, its public key in its own attestor.
        let (key, public) = crate::cosign_peers::key_pair("cosign-v3", &dir.join(tenant));
        emu.gcloud_ok(&[
            "container",
            "binauthz",
            "attestors",
            "create",
            tenant,
            "--project=demo",
            "--attestation-authority-note=n1",
            "--attestation-authority-note-project=demo",
        ]);
        emu.gcloud_ok(&[
            "container",
            "binauthz",
            "attestors",
            "public-keys",
            "add",
            &format!("--attestor=projects/demo/attestors/{tenant}"),
            &format!("--pkix-public-key-file={}", public.display()),
            "--pkix-public-key-algorithm=ecdsa-p256-sha256",
        ]);
        attestors.push(attestor_file(&emu, tenant));
        keys.push(key);
        namespace(plane, case, tenant, true);
    }
    let mut policy = String::from(
        "globalPolicyEvaluationMode: DISABLE\ndefaultAdmissionRule:\n  evaluationMode: ALWAYS_DENY\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\nkubernetesNamespaceAdmissionRules:\n",
    );
    for tenant in ["tenant-a", "tenant-b"] {
        policy.push_str(&format!(
            "  {tenant}:\n    evaluationMode: REQUIRE_ATTESTATION\n    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n    requireAttestationsBy:\n    - projects/demo/attestors/{tenant}\n"
        ));
    }
    let webhook = Webhook::start(case, dir, &policy, &attestors);
    register(plane, &webhook, "tenant-a");

    // Tenant A's image, signed by cosign v3 with A's key in its default format (a bundle).
    let image = push("kube/tenant-a-app", Format::Oci);
    let repo = "kube/tenant-a-app";
    let digest = registry().head_manifest(repo, "v1").1.unwrap();
    let pinned = format!("{}/{repo}@{digest}", registry().host);
    crate::cosign_peers::cosign_sign("cosign-v3", dir, &pinned, &keys[0]);

    let out = kubectl_object(plane, &["create"], "tenant-a", &pod("app", &image, &[]));
    assert!(
        out.status.success(),
        "tenant A's own signature: {}",
        stderr(&out)
    );
    let out = kubectl_object(plane, &["create"], "tenant-b", &pod("app", &image, &[]));
    let said = stderr(&out);
    assert!(
        !out.status.success(),
        "tenant A's signature admitted in tenant B"
    );
    assert!(
        said.contains("denied the request") && said.contains("projects/demo/attestors/tenant-b"),
        "{said}"
    );
}
