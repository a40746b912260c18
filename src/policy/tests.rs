//! The decision table: each expected decision is read from Google's documentation, cited per
//! group of cases. The attestation check is `verify`'s; here its verdicts are given.

use super::*;
use crate::report::Judge;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const A1: &str = "projects/p/attestors/a1";
const A2: &str = "projects/p/attestors/a2";

/// Enforced attestation default, allowlist patterns, cluster rules.
const ENFORCED: &str = r#"
globalPolicyEvaluationMode: ENABLE
admissionWhitelistPatterns:
- namePattern: gcr.io/trusted/*
- namePattern: gcr.io/p/app**
- namePattern: us-docker.pkg.dev/p/r/exact
- namePattern: gcr.io/pin/img:1.0
defaultAdmissionRule:
  evaluationMode: REQUIRE_ATTESTATION
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  requireAttestationsBy:
  - projects/p/attestors/a1
  - projects/p/attestors/a2
clusterAdmissionRules:
  us-east1-b.prod:
    evaluationMode: ALWAYS_DENY
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  europe-west1.dev:
    evaluationMode: ALWAYS_ALLOW
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
  us-central1.stage:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
    requireAttestationsBy: [projects/p/attestors/a1]
name: projects/p/policy
etag: '"abc"'
updateTime: '2026-12-01T00:00:00Z'
"#;

/// System images not exempt; everything refused, in dry run. JSON, as `--format json` writes.
const DRYRUN: &str = r#"{
  "globalPolicyEvaluationMode": "DISABLE",
  "defaultAdmissionRule": {
    "evaluationMode": "ALWAYS_DENY",
    "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"
  }
}"#;

const NAMESPACES: &str = r#"
defaultAdmissionRule:
  evaluationMode: ALWAYS_DENY
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
kubernetesNamespaceAdmissionRules:
  prod:
    evaluationMode: REQUIRE_ATTESTATION
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
    requireAttestationsBy: [projects/p/attestors/a1]
  tools:
    evaluationMode: ALWAYS_ALLOW
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
"#;

const SERVICE_ACCOUNTS: &str = r#"
defaultAdmissionRule:
  evaluationMode: ALWAYS_ALLOW
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
kubernetesServiceAccountAdmissionRules:
  prod:deployer:
    evaluationMode: ALWAYS_DENY
    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
"#;

const ISTIO: &str = r#"
defaultAdmissionRule:
  evaluationMode: ALWAYS_ALLOW
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
istioServiceIdentityAdmissionRules:
  spiffe://p.svc.id.goog/ns/prod/sa/api:
    evaluationMode: ALWAYS_DENY
    enforcementMode: DRYRUN_AUDIT_LOG_ONLY
"#;

/// globalPolicyEvaluationMode unset: behaves as ENABLE.
const ALLOW_ALL: &str = r#"
defaultAdmissionRule:
  evaluationMode: ALWAYS_ALLOW
  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG
"#;

const YAML_REF: &str = "https://cloud.google.com/binary-authorization/docs/policy-yaml-reference";
const PATTERN_REF: &str = "https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects/getPolicy#admissionwhitelistpattern";
const CONCEPTS: &str = "https://cloud.google.com/binary-authorization/docs/key-concepts";
const RUN_REF: &str = "https://cloud.google.com/binary-authorization/docs/run/overview";

use Decision::{Allowed, Denied, WouldBeDenied};
use Platform::{Cloudrun, Gke};

struct Case {
    policy: &'static str,
    image: String,
    platform: Platform,
    cluster: Option<&'static str>,
    namespace: Option<&'static str>,
    service_account: Option<&'static str>,
    attested: &'static [&'static str],
    decision: Decision,
    decided_by: &'static str,
    cite: &'static str,
}

fn case(
    policy: &'static str,
    image: &str,
    platform: Platform,
    attested: &'static [&'static str],
    decision: Decision,
    decided_by: &'static str,
    cite: &'static str,
) -> Case {
    Case {
        policy,
        image: image.replace("@D", &format!("@{DIGEST}")),
        platform,
        cluster: None,
        namespace: None,
        service_account: None,
        attested,
        decision,
        decided_by,
        cite,
    }
}

impl Case {
    fn cluster(mut self, c: &'static str) -> Case {
        self.cluster = Some(c);
        self
    }
    fn namespace(mut self, n: &'static str) -> Case {
        self.namespace = Some(n);
        self
    }
    fn sa(mut self, s: &'static str) -> Case {
        self.service_account = Some(s);
        self
    }
}

/// `verify`'s verdicts for an image: the `attested` attestors verified, the others not.
fn verdicts(image: &str, attested: &[&str]) -> Vec<Verdict> {
    [A1, A2]
        .iter()
        .map(|a| Verdict {
            image: ImageRef::parse(image).unwrap(),
            image_ref: ImageRef::parse(image).ok(),
            judge: Judge::Attestor(a.to_string()),
            verified: attested.contains(a),
            attestation: None,
            public_key_id: None,
            reason: if attested.contains(a) {
                String::new()
            } else {
                format!("no attestation by {a}")
            },
            attestations: Vec::new(),
        })
        .collect()
}

fn table() -> Vec<Case> {
    vec![
        // Allowlist patterns: trailing `*` does not cross `/`, `**` does, prefix matching,
        // exact names at any tag or digest, exact tags.
        case(
            ENFORCED,
            "gcr.io/trusted/img:1",
            Cloudrun,
            &[],
            Allowed,
            "allowlist pattern gcr.io/trusted/*",
            PATTERN_REF,
        ),
        case(
            ENFORCED,
            "gcr.io/trusted/sub/img:1",
            Cloudrun,
            &[],
            Denied,
            "defaultAdmissionRule",
            PATTERN_REF,
        ),
        case(
            ENFORCED,
            "gcr.io/p/app/x:1",
            Gke,
            &[],
            Allowed,
            "allowlist pattern gcr.io/p/app**",
            PATTERN_REF,
        ),
        case(
            ENFORCED,
            "gcr.io/p/app-other/x:1",
            Gke,
            &[],
            Allowed,
            "allowlist pattern gcr.io/p/app**",
            PATTERN_REF,
        ),
        case(
            ENFORCED,
            "us-docker.pkg.dev/p/r/exact:any",
            Cloudrun,
            &[],
            Allowed,
            "allowlist pattern us-docker.pkg.dev/p/r/exact",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "us-docker.pkg.dev/p/r/exact@D",
            Gke,
            &[],
            Allowed,
            "allowlist pattern us-docker.pkg.dev/p/r/exact",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "us-docker.pkg.dev/p/r/exact-not:1",
            Cloudrun,
            &[],
            Denied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        // An exact tag pattern, on GKE where the pod spec's own reference is evaluated.
        case(
            ENFORCED,
            "gcr.io/pin/img:1.0",
            Gke,
            &[],
            Allowed,
            "allowlist pattern gcr.io/pin/img:1.0",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "gcr.io/pin/img:2.0",
            Gke,
            &[],
            Denied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        // System images: exempt with globalPolicyEvaluationMode ENABLE, on GKE only.
        case(
            ENFORCED,
            "gke.gcr.io/kube-proxy:v1",
            Gke,
            &[],
            Allowed,
            "system image pattern gke.gcr.io/**",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "gke.gcr.io/kube-proxy:v1",
            Cloudrun,
            &[],
            Denied,
            "defaultAdmissionRule",
            RUN_REF,
        ),
        case(
            ENFORCED,
            "gcr.io/gke-release/pause:3.9",
            Gke,
            &[],
            Allowed,
            "system image pattern gcr.io/gke-release/**",
            YAML_REF,
        ),
        // REQUIRE_ATTESTATION: every attestor must be satisfied.
        case(
            ENFORCED,
            "r.io/p/app@D",
            Cloudrun,
            &[A1, A2],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Cloudrun,
            &[A1],
            Denied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Cloudrun,
            &[],
            Denied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        // Cloud Run resolves a tag to its digest and checks that.
        case(
            ENFORCED,
            "r.io/p/app:1",
            Cloudrun,
            &[A1, A2],
            Allowed,
            "defaultAdmissionRule",
            RUN_REF,
        ),
        // GKE checks attestations only for digests: a tag is refused.
        case(
            ENFORCED,
            "r.io/p/app:1",
            Gke,
            &[A1, A2],
            Denied,
            "defaultAdmissionRule",
            CONCEPTS,
        ),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Gke,
            &[A1, A2],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        // Cluster-specific rules override the default on GKE; Cloud Run has the default only.
        case(
            ENFORCED,
            "r.io/p/app@D",
            Gke,
            &[A1, A2],
            Denied,
            "clusterAdmissionRules[us-east1-b.prod]",
            YAML_REF,
        )
        .cluster("us-east1-b.prod"),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Cloudrun,
            &[A1, A2],
            Allowed,
            "defaultAdmissionRule",
            RUN_REF,
        )
        .cluster("us-east1-b.prod"),
        case(
            ENFORCED,
            "r.io/p/app:1",
            Gke,
            &[],
            Allowed,
            "clusterAdmissionRules[europe-west1.dev]",
            YAML_REF,
        )
        .cluster("europe-west1.dev"),
        // DRYRUN_AUDIT_LOG_ONLY: admitted, the violation logged.
        case(
            ENFORCED,
            "r.io/p/app@D",
            Gke,
            &[],
            WouldBeDenied,
            "clusterAdmissionRules[us-central1.stage]",
            YAML_REF,
        )
        .cluster("us-central1.stage"),
        case(
            ENFORCED,
            "r.io/p/app:1",
            Gke,
            &[A1],
            WouldBeDenied,
            "clusterAdmissionRules[us-central1.stage]",
            CONCEPTS,
        )
        .cluster("us-central1.stage"),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Gke,
            &[A1],
            Allowed,
            "clusterAdmissionRules[us-central1.stage]",
            YAML_REF,
        )
        .cluster("us-central1.stage"),
        case(
            ENFORCED,
            "r.io/p/app@D",
            Gke,
            &[A1, A2],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        )
        .cluster("asia-east1.other"),
        // Exemptions come before any rule, the cluster's too.
        case(
            ENFORCED,
            "gke.gcr.io/x:1",
            Gke,
            &[],
            Allowed,
            "system image pattern gke.gcr.io/**",
            CONCEPTS,
        )
        .cluster("us-east1-b.prod"),
        case(
            ENFORCED,
            "gcr.io/trusted/img:1",
            Gke,
            &[],
            Allowed,
            "allowlist pattern gcr.io/trusted/*",
            CONCEPTS,
        )
        .cluster("us-east1-b.prod"),
        // globalPolicyEvaluationMode DISABLE: system images get the rules like any other.
        case(
            DRYRUN,
            "gke.gcr.io/kube-proxy:v1",
            Gke,
            &[],
            WouldBeDenied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        case(
            DRYRUN,
            "r.io/p/app@D",
            Cloudrun,
            &[A1, A2],
            WouldBeDenied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        case(
            DRYRUN,
            "r.io/p/app:1",
            Gke,
            &[],
            WouldBeDenied,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        // Namespace rules.
        case(
            NAMESPACES,
            "r.io/p/app@D",
            Gke,
            &[A1],
            Allowed,
            "kubernetesNamespaceAdmissionRules[prod]",
            YAML_REF,
        )
        .namespace("prod"),
        case(
            NAMESPACES,
            "r.io/p/app@D",
            Gke,
            &[],
            Denied,
            "kubernetesNamespaceAdmissionRules[prod]",
            YAML_REF,
        )
        .namespace("prod"),
        case(
            NAMESPACES,
            "r.io/p/app:1",
            Gke,
            &[A1],
            Denied,
            "kubernetesNamespaceAdmissionRules[prod]",
            CONCEPTS,
        )
        .namespace("prod"),
        case(
            NAMESPACES,
            "r.io/p/app:1",
            Gke,
            &[],
            Allowed,
            "kubernetesNamespaceAdmissionRules[tools]",
            YAML_REF,
        )
        .namespace("tools"),
        case(
            NAMESPACES,
            "r.io/p/app:1",
            Gke,
            &[],
            Denied,
            "defaultAdmissionRule",
            YAML_REF,
        )
        .namespace("other"),
        case(
            NAMESPACES,
            "r.io/p/app:1",
            Cloudrun,
            &[],
            Denied,
            "defaultAdmissionRule",
            RUN_REF,
        )
        .namespace("tools"),
        // Service-account rules, keyed NAMESPACE:NAME.
        case(
            SERVICE_ACCOUNTS,
            "r.io/p/app@D",
            Gke,
            &[],
            Denied,
            "kubernetesServiceAccountAdmissionRules[prod:deployer]",
            YAML_REF,
        )
        .namespace("prod")
        .sa("prod:deployer"),
        case(
            SERVICE_ACCOUNTS,
            "r.io/p/app@D",
            Gke,
            &[],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        )
        .sa("prod:other"),
        case(
            SERVICE_ACCOUNTS,
            "r.io/p/app@D",
            Cloudrun,
            &[],
            Allowed,
            "defaultAdmissionRule",
            RUN_REF,
        )
        .sa("prod:deployer"),
        // Istio service identities.
        case(
            ISTIO,
            "r.io/p/app@D",
            Gke,
            &[],
            WouldBeDenied,
            "istioServiceIdentityAdmissionRules[spiffe://p.svc.id.goog/ns/prod/sa/api]",
            YAML_REF,
        )
        .sa("prod:api"),
        case(
            ISTIO,
            "r.io/p/app@D",
            Gke,
            &[],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        )
        .sa("dev:api"),
        // globalPolicyEvaluationMode unset behaves as ENABLE.
        case(
            ALLOW_ALL,
            "gke.gcr.io/x:1",
            Gke,
            &[],
            Allowed,
            "system image pattern gke.gcr.io/**",
            YAML_REF,
        ),
        case(
            ALLOW_ALL,
            "r.io/p/app:1",
            Cloudrun,
            &[],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        ),
        case(
            ALLOW_ALL,
            "r.io/p/app:1",
            Gke,
            &[],
            Allowed,
            "defaultAdmissionRule",
            YAML_REF,
        ),
    ]
}

#[test]
fn the_decision_table_follows_googles_documentation() {
    let cases = table();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (i, c) in cases.iter().enumerate() {
        let policy = Policy::parse("table", c.policy).unwrap();
        let image = ImageRef::parse(&c.image).unwrap();
        let target = Target {
            cluster: c.cluster.map(String::from),
            namespace: c.namespace.map(String::from),
            service_account: c.service_account.map(String::from),
        };
        let needed = policy.attestors_needed(&image, c.platform, &target);
        let given: Vec<Verdict> = verdicts(&c.image, c.attested)
            .into_iter()
            .filter(|v| needed.iter().any(|n| v.judge.is_attestor(n)))
            .collect();
        let got = decide(&policy, &image, c.platform, &target, &given);
        assert_eq!(
            (got.decision, got.decided_by.as_str()),
            (c.decision, c.decided_by),
            "case {i}: {} on {:?} {:?} ({}): {}",
            c.image,
            c.platform,
            target,
            c.cite,
            got.reason
        );
    }
}

#[test]
fn a_tag_on_gke_under_attestation_is_told_to_pin() {
    let policy = Policy::parse("p", ENFORCED).unwrap();
    let image = ImageRef::parse("r.io/p/app:1").unwrap();
    let got = decide(&policy, &image, Gke, &Target::default(), &[]);
    assert!(got.reason.contains("binauthz-attest pin"), "{}", got.reason);
    assert!(policy
        .attestors_needed(&image, Gke, &Target::default())
        .is_empty());
    assert_eq!(
        policy.attestors_needed(&image, Cloudrun, &Target::default()),
        [A1, A2]
    );
}

#[test]
fn prefix_patterns_are_warned_about() {
    let policy = Policy::parse("p", ENFORCED).unwrap();
    let warnings = policy.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("gcr.io/p/app**"), "{}", warnings[0]);
}

#[test]
fn patterns_the_api_refuses_are_named_errors() {
    for (pattern, why) in [
        ("gcr.io/*/app", "only end"),
        ("gcr.i*", "after the registry/"),
        ("gcr.io/p/***", "at most"),
        ("", "empty"),
    ] {
        let text = format!("admissionWhitelistPatterns:\n- namePattern: '{pattern}'\n{ALLOW_ALL}");
        let e = Policy::parse("bad.yaml", &text).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(
            msg.contains("bad.yaml")
                && msg.contains("admissionWhitelistPatterns[0]")
                && msg.contains(why),
            "{msg}"
        );
    }
}

#[test]
fn bad_files_name_the_file_and_the_position() {
    let typo =
        "defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n  enforcementMode: ENFORCED\n";
    let msg = Policy::parse("p.yaml", typo).unwrap_err().to_string();
    assert!(msg.contains("p.yaml, line 3"), "{msg}");
    let unknown = "defaultAdmissionRule:\n  evaluationMode: ALWAYS_ALLOW\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\nclusterRules: {}\n";
    let msg = Policy::parse("p.yaml", unknown).unwrap_err().to_string();
    assert!(
        msg.contains("line 4") && msg.contains("clusterRules"),
        "{msg}"
    );
    let missing = "globalPolicyEvaluationMode: ENABLE\n";
    let msg = Policy::parse("p.yaml", missing).unwrap_err().to_string();
    assert!(msg.contains("defaultAdmissionRule is missing"), "{msg}");
    let no_attestors = "defaultAdmissionRule:\n  evaluationMode: REQUIRE_ATTESTATION\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n";
    let msg = Policy::parse("p.yaml", no_attestors)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at least one attestor"), "{msg}");
}

#[test]
fn the_system_image_list_names_its_source_and_date() {
    assert!(SYSTEM_IMAGES.contains("Source:") && SYSTEM_IMAGES.contains("Taken: "));
    for p in system_patterns() {
        pattern_shape(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}

#[test]
fn several_kinds_of_specific_rule_are_warned_about_and_the_most_specific_wins() {
    let mixed = format!(
        "{NAMESPACES}clusterAdmissionRules:\n  us-east1.c:\n    evaluationMode: ALWAYS_ALLOW\n    enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n"
    );
    let policy = Policy::parse("p.yaml", &mixed).unwrap();
    assert!(
        policy.warnings()[0].contains("several kinds"),
        "{:?}",
        policy.warnings()
    );
    let image = ImageRef::parse("r.io/p/app:1").unwrap();
    let target = Target {
        cluster: Some("us-east1.c".into()),
        namespace: Some("tools".into()),
        service_account: None,
    };
    let got = decide(&policy, &image, Gke, &target, &[]);
    assert_eq!(got.decided_by, "kubernetesNamespaceAdmissionRules[tools]");
    let target = Target {
        namespace: Some("other".into()),
        ..target
    };
    let got = decide(&policy, &image, Gke, &target, &[]);
    assert_eq!(got.decided_by, "clusterAdmissionRules[us-east1.c]");
}

#[test]
fn json_policies_read_like_yaml_ones_and_their_errors_have_positions_too() {
    let policy = Policy::parse("p.json", DRYRUN).unwrap();
    assert_eq!(
        policy.global_policy_evaluation_mode,
        Some(GlobalMode::Disable)
    );
    let bad = "{\n  \"defaultAdmissionRule\": {\n    \"evaluationMode\": \"ALWAYS_ALLOW\",\n    \"enforcementMode\": 3\n  }\n}\n";
    let msg = Policy::parse("p.json", bad).unwrap_err().to_string();
    assert!(msg.contains("p.json, line 4"), "{msg}");
}
