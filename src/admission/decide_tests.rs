//! The decision from literal AdmissionReviews, written from the Kubernetes reference's
//! examples (extensible-admission-controllers, "Request"), with evidence fixed here: which
//! digest a tag names and which (digest, attestor) pairs are attested. The live evidence is
//! exercised by the integration tests (`tests/admission.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::admission::review;
use crate::policy::Policy;

const A: &str = "projects/p/attestors/a";
const TEAM: &str = "projects/t/attestors/team";
const SIGNED: &str =
    "registry.example/app/signed@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const UNSIGNED: &str =
    "registry.example/app/unsigned@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TENANT: &str =
    "registry.example/team/app@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const TAG: &str = "registry.example/app/signed:v1";

const POLICY: &str = r#"
globalPolicyEvaluationMode: DISABLE
admissionWhitelistPatterns:
  - namePattern: registry.example/allowed/**
defaultAdmissionRule:
  evaluationMode: REQUIRE_ATTESTATION
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  requireAttestationsBy: [projects/p/attestors/a]
kubernetesNamespaceAdmissionRules:
  dry:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
    requireAttestationsBy: [projects/p/attestors/a]
  closed:
    evaluationMode: ALWAYS_DENY
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  tenant:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
    requireAttestationsBy: [projects/t/attestors/team]
kubernetesServiceAccountAdmissionRules:
  default:builder:
    evaluationMode: ALWAYS_ALLOW
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
"#;

/// Evidence fixed by the test, counting what it is asked.
#[derive(Default)]
struct Fixed {
    resolves: AtomicUsize,
    verdicts: AtomicUsize,
    asked: Mutex<Vec<String>>,
    /// Every call fails as a registry outage would.
    down: bool,
}

impl Fixed {
    fn calls(&self) -> usize {
        self.resolves.load(Ordering::SeqCst) + self.verdicts.load(Ordering::SeqCst)
    }
}

fn outage() -> Error {
    Error::Registry {
        registry: "registry.example".into(),
        image: "registry.example/app".into(),
        reason: "503 Service Unavailable after 4 attempts".into(),
    }
}

impl Evidence for Fixed {
    async fn resolve(&self, image: &ImageRef) -> Result<Digest> {
        self.resolves.fetch_add(1, Ordering::SeqCst);
        if self.down {
            return Err(outage());
        }
        match image.to_string().as_str() {
            TAG => Digest::parse(SIGNED.split('@').nth(1).unwrap_or_default()),
            other => Err(Error::ImageNotFound {
                image: other.into(),
            }),
        }
    }

    async fn verdict(&self, _: &Config, pinned: &ImageRef, attestor: &str) -> Result<Verdict> {
        self.verdicts.fetch_add(1, Ordering::SeqCst);
        self.asked
            .lock()
            .unwrap()
            .push(format!("{pinned} {attestor}"));
        if self.down {
            return Err(outage());
        }
        let image = pinned.to_string();
        let verified = (image.ends_with(SIGNED.split('@').nth(1).unwrap()) && attestor == A)
            || (image == TENANT && attestor == TEAM);
        Ok(Verdict {
            image: pinned.clone(),
            image_ref: Some(pinned.clone()),
            judge: Judge::Attestor(attestor.into()),
            verified,
            attestation: verified.then(|| "cosign signature x".into()),
            public_key_id: None,
            reason: match verified {
                true => String::new(),
                false => format!("no cosign signature for {image}"),
            },
            attestations: Vec::new(),
        })
    }
}

fn config() -> Config {
    let policy = Policy::parse("policy.yaml", POLICY).unwrap();
    Config {
        warnings: policy.warnings(),
        policy,
        policy_source: "policy.yaml".into(),
        attestors: HashMap::new(),
        cluster: None,
    }
}

fn pod(name: &str, namespace: &str, containers: Value, extra_spec: Value) -> Value {
    let mut spec = json!({ "containers": containers });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// An AdmissionReview as the reference shows it (every field the API server sends).
fn review_of(
    kind: (&str, &str, &str),
    resource: &str,
    operation: &str,
    namespace: &str,
    object: Value,
    old: Value,
) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": kind.0, "version": kind.1, "kind": kind.2},
            "resource": {"group": kind.0, "version": kind.1, "resource": resource},
            "requestKind": {"group": kind.0, "version": kind.1, "kind": kind.2},
            "requestResource": {"group": kind.0, "version": kind.1, "resource": resource},
            "name": if object.is_null() { &old["metadata"]["name"] } else { &object["metadata"]["name"] },
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "admin", "uid": "014fbff9a07c", "groups": ["system:authenticated", "my-admin-group"]},
            "object": object,
            "oldObject": old,
            "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }
    })
}

fn pod_review(namespace: &str, containers: Value) -> Value {
    review_of(
        ("", "v1", "Pod"),
        "pods",
        "CREATE",
        namespace,
        pod("web", namespace, containers, json!({})),
        Value::Null,
    )
}

async fn answer(review: &Value, evidence: &Fixed) -> (Judged, Value) {
    let request = review::parse(review.to_string().as_bytes()).unwrap();
    let judged = super::review(&config(), evidence, &request, Duration::from_secs(5)).await;
    let out: Value = serde_json::from_slice(&judged.response.into_review()).unwrap();
    (judged, out)
}

fn message(out: &Value) -> String {
    out["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_signed_pod_is_admitted_and_the_response_is_the_requests() {
    let evidence = Fixed::default();
    let review = pod_review("default", json!([{"name": "app", "image": SIGNED}]));
    let (judged, out) = answer(&review, &evidence).await;
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(out["kind"], "AdmissionReview");
    assert_eq!(
        out["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(out["response"]["allowed"], true, "{out}");
    assert!(out["response"]["status"].is_null());
    assert_eq!((judged.result, judged.reason), ("allowed", "attested"));
    assert_eq!(evidence.calls(), 1, "one verdict, no resolve for a digest");
}

#[tokio::test]
async fn an_unsigned_pod_is_denied_403_naming_container_image_rule_and_fix() {
    let evidence = Fixed::default();
    let review = pod_review("default", json!([{"name": "app", "image": UNSIGNED}]));
    let (judged, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(out["response"]["status"]["code"], 403);
    assert_eq!(out["response"]["status"]["reason"], "Forbidden");
    let m = message(&out);
    for needle in [
        "Pod default/web",
        "container \"app\"",
        UNSIGNED,
        "defaultAdmissionRule",
        A,
        "Fix: sign",
        "break-glass",
    ] {
        assert!(m.contains(needle), "{needle} missing from: {m}");
    }
    assert_eq!((judged.result, judged.reason), ("denied", "not-attested"));
}

#[tokio::test]
async fn a_tag_is_resolved_and_the_digest_checked_is_reported() {
    let evidence = Fixed::default();
    let review = pod_review("default", json!([{"name": "app", "image": TAG}]));
    let (_, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    let checked = out["response"]["auditAnnotations"][ANNOTATION_CHECKED]
        .as_str()
        .unwrap();
    assert!(
        checked.contains("app=registry.example/app/signed@sha256:aaaa"),
        "{checked}"
    );
    assert_eq!(evidence.resolves.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unsigned_init_container_denies_the_pod() {
    let evidence = Fixed::default();
    let review = review_of(
        ("", "v1", "Pod"),
        "pods",
        "CREATE",
        "default",
        pod(
            "web",
            "default",
            json!([{"name": "app", "image": SIGNED}]),
            json!({"initContainers": [{"name": "setup", "image": UNSIGNED}]}),
        ),
        Value::Null,
    );
    let (_, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], false);
    let m = message(&out);
    assert!(
        m.contains("init container \"setup\"") && m.contains(UNSIGNED),
        "{m}"
    );
    assert!(
        !m.contains("container \"app\""),
        "the signed container is not blamed: {m}"
    );
}

#[tokio::test]
async fn a_deployment_and_a_cronjob_are_judged_by_their_pod_templates() {
    let template = json!({
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": UNSIGNED}]}
    });
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
    });
    let cronjob = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": template}}},
    });
    for (kind, resource, object) in [
        (("apps", "v1", "Deployment"), "deployments", deployment),
        (("batch", "v1", "CronJob"), "cronjobs", cronjob),
    ] {
        let evidence = Fixed::default();
        let review = review_of(kind, resource, "CREATE", "default", object, Value::Null);
        let (_, out) = answer(&review, &evidence).await;
        assert_eq!(out["response"]["allowed"], false, "{kind:?}: {out}");
        assert!(
            message(&out).contains(&format!("{} default/", kind.2)),
            "{out}"
        );
    }
}

#[tokio::test]
async fn an_ephemeral_container_update_judges_the_new_container_alone() {
    let old = pod(
        "web",
        "default",
        json!([{"name": "app", "image": UNSIGNED}]),
        json!({}),
    );
    let new = pod(
        "web",
        "default",
        json!([{"name": "app", "image": UNSIGNED}]),
        json!({"ephemeralContainers": [{"name": "debugger", "image": SIGNED, "targetContainerName": "app"}]}),
    );
    let mut review = review_of(("", "v1", "Pod"), "pods", "UPDATE", "default", new, old);
    review["request"]["subResource"] = "ephemeralcontainers".into();
    review["request"]["requestSubResource"] = "ephemeralcontainers".into();
    let evidence = Fixed::default();
    let (_, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    assert_eq!(
        *evidence.asked.lock().unwrap(),
        vec![format!("{SIGNED} {A}")]
    );

    // An unsigned debugger is refused, named as an ephemeral container.
    let mut unsigned = review.clone();
    unsigned["request"]["object"]["spec"]["ephemeralContainers"][0]["image"] = UNSIGNED.into();
    let (_, out) = answer(&unsigned, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], false);
    assert!(
        message(&out).contains("ephemeral container \"debugger\""),
        "{out}"
    );
}

#[tokio::test]
async fn a_dry_run_request_gets_the_same_answer() {
    let mut review = pod_review("default", json!([{"name": "app", "image": UNSIGNED}]));
    review["request"]["dryRun"] = true.into();
    let (judged, out) = answer(&review, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(judged.result, "denied");
}

#[tokio::test]
async fn an_update_that_changes_no_image_is_admitted_without_a_call() {
    let old = pod(
        "web",
        "default",
        json!([{"name": "app", "image": UNSIGNED}]),
        json!({}),
    );
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"tier": "frontend"});
    let review = review_of(("", "v1", "Pod"), "pods", "UPDATE", "default", new, old);
    let evidence = Fixed::default();
    let (judged, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(
        (judged.result, judged.reason),
        ("passed", "no new or changed image")
    );
    assert_eq!(evidence.calls(), 0);
}

#[tokio::test]
async fn a_delete_passes_without_a_call() {
    let old = pod(
        "web",
        "default",
        json!([{"name": "app", "image": UNSIGNED}]),
        json!({}),
    );
    let mut review = review_of(
        ("", "v1", "Pod"),
        "pods",
        "DELETE",
        "default",
        Value::Null,
        old,
    );
    review["request"]["options"] = json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions"});
    let evidence = Fixed::default();
    let (judged, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(judged.result, "passed");
    assert_eq!(evidence.calls(), 0);
}

#[tokio::test]
async fn a_dry_run_rule_admits_with_a_short_warning_and_an_audit_annotation() {
    let review = pod_review("dry", json!([{"name": "app", "image": UNSIGNED}]));
    let (judged, out) = answer(&review, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    let warnings = out["response"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    let w = warnings[0].as_str().unwrap();
    assert!(w.chars().count() < 120, "{w}");
    assert!(
        w.contains("dry run") && w.contains("kubernetesNamespaceAdmissionRules[dry]"),
        "{w}"
    );
    let annotation = out["response"]["auditAnnotations"][ANNOTATION_DRY_RUN]
        .as_str()
        .unwrap();
    assert!(
        annotation.contains(UNSIGNED) && annotation.contains(A),
        "{annotation}"
    );
    assert_eq!(judged.result, "dry-run");
}

#[tokio::test]
async fn breakglass_admits_and_annotates_without_a_call() {
    let mut object = pod(
        "web",
        "default",
        json!([{"name": "app", "image": UNSIGNED}]),
        json!({}),
    );
    object["metadata"]["annotations"] = json!({"alpha.image-policy.k8s.io/break-glass": "true"});
    let review = review_of(
        ("", "v1", "Pod"),
        "pods",
        "CREATE",
        "default",
        object,
        Value::Null,
    );
    let evidence = Fixed::default();
    let (judged, out) = answer(&review, &evidence).await;
    assert_eq!(out["response"]["allowed"], true);
    let annotation = out["response"]["auditAnnotations"][ANNOTATION_BREAKGLASS]
        .as_str()
        .unwrap();
    assert!(
        annotation.contains("break-glass: true") && annotation.contains(UNSIGNED),
        "{annotation}"
    );
    assert_eq!(judged.result, "breakglass");
    assert_eq!(evidence.calls(), 0);
}

#[tokio::test]
async fn namespace_and_service_account_rules_apply_and_allowlists_exempt() {
    let closed = pod_review("closed", json!([{"name": "app", "image": SIGNED}]));
    let (judged, out) = answer(&closed, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], false);
    assert!(message(&out).contains("ALWAYS_DENY"), "{out}");
    assert_eq!(judged.reason, "always-deny");

    let tenant_ok = pod_review("tenant", json!([{"name": "app", "image": TENANT}]));
    assert_eq!(
        answer(&tenant_ok, &Fixed::default()).await.1["response"]["allowed"],
        true
    );
    // The tenant's namespace trusts its own attestor only: an image signed for `a` is refused.
    let tenant_other = pod_review("tenant", json!([{"name": "app", "image": SIGNED}]));
    let (_, out) = answer(&tenant_other, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], false);
    assert!(message(&out).contains(TEAM), "{out}");

    let builder = review_of(
        ("", "v1", "Pod"),
        "pods",
        "CREATE",
        "default",
        pod(
            "web",
            "default",
            json!([{"name": "app", "image": UNSIGNED}]),
            json!({"serviceAccountName": "builder"}),
        ),
        Value::Null,
    );
    let (judged, out) = answer(&builder, &Fixed::default()).await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(judged.reason, "always-allow");

    let evidence = Fixed::default();
    let allowed = pod_review(
        "default",
        json!([{"name": "app", "image": "registry.example/allowed/x:1"}]),
    );
    assert_eq!(
        answer(&allowed, &evidence).await.1["response"]["allowed"],
        true
    );
    assert_eq!(evidence.calls(), 0);
}

#[tokio::test]
async fn eight_containers_of_one_image_cost_one_verification() {
    let containers: Vec<Value> = (0..8)
        .map(|i| json!({"name": format!("c{i}"), "image": TAG}))
        .collect();
    let evidence = Fixed::default();
    let (_, out) = answer(&pod_review("default", Value::Array(containers)), &evidence).await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(evidence.resolves.load(Ordering::SeqCst), 1);
    assert_eq!(evidence.verdicts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unreadable_evidence_fails_closed_with_503_and_dry_run_still_admits() {
    let evidence = Fixed {
        down: true,
        ..Fixed::default()
    };
    let (judged, out) = answer(
        &pod_review("default", json!([{"name": "app", "image": TAG}])),
        &evidence,
    )
    .await;
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(out["response"]["status"]["code"], 503);
    assert_eq!(out["response"]["status"]["reason"], "ServiceUnavailable");
    assert!(
        message(&out).contains("could not be read") && message(&out).contains("retry"),
        "{out}"
    );
    assert_eq!(judged.result, "unavailable");
    let (_, out) = answer(
        &pod_review("dry", json!([{"name": "app", "image": SIGNED}])),
        &evidence,
    )
    .await;
    assert_eq!(out["response"]["allowed"], true);
    assert_eq!(
        out["response"]["warnings"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn only_v1_reviews_are_read() {
    let mut review = pod_review("default", json!([{"name": "app", "image": SIGNED}]));
    review["apiVersion"] = "admission.k8s.io/v1beta1".into();
    let e = review::parse(review.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("admissionReviewVersions"), "{e}");
    assert!(review::parse(b"{")
        .unwrap_err()
        .contains("not an AdmissionReview"));
}

#[test]
fn a_namespace_given_two_rules_is_refused_with_its_line() {
    let text = POLICY.replace(
        "  tenant:\n",
        "  dry:\n    evaluationMode: ALWAYS_ALLOW\n    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  tenant:\n",
    );
    let e = Policy::parse("policy.yaml", &text).unwrap_err().to_string();
    assert!(e.contains("policy.yaml") && e.contains("line"), "{e}");
    assert!(e.contains("dry"), "{e}");
}
