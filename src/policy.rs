//! A Binary Authorization policy, read from what `gcloud container binauthz policy export`
//! writes (YAML or JSON), and the admission decision it gives an image on a platform. Pure: it
//! knows no network. The attestation check itself is the verify judgement's (`attest::verify`), whose
//! verdicts [`decide`] takes for REQUIRE_ATTESTATION rules.
//!
//! The order of evaluation, as Google documents it
//! (<https://cloud.google.com/binary-authorization/docs/key-concepts>, "Policies" and "Exempt
//! images"; <https://cloud.google.com/binary-authorization/docs/policy-yaml-reference>):
//! 1. Google-maintained system images, when `globalPolicyEvaluationMode` is `ENABLE`, on GKE only
//!    (the system policy exempts GKE's own system images; policy-yaml-reference,
//!    globalPolicyEvaluationMode);
//! 2. `admissionWhitelistPatterns` (exempt images, on every platform);
//! 3. the one rule that applies: on GKE the specific rule whose key matches the deploy target
//!    (cluster `LOCATION.NAME`, namespace, `NAMESPACE:SA`, Istio identity), else
//!    `defaultAdmissionRule`; on Cloud Run, which has no cluster, namespace or Kubernetes
//!    service account to key a specific rule by, always `defaultAdmissionRule`
//!    (<https://cloud.google.com/binary-authorization/docs/run/overview>,
//!    <https://cloud.google.com/binary-authorization/docs/run/configure-policy-cloud-run>).
//!
//! Which specific rule wins when several kinds match: Google's console lets a policy hold one
//! kind of specific rule (the "Specific rule type" choice), so on a policy written there no two
//! kinds compete. A policy written by hand can hold several; then the most specific identity
//! wins: Istio identity, then service account, then namespace, then cluster (a workload's own
//! identity is narrower than the namespace it runs in, which is narrower than the cluster), and
//! the policy gets a warning that this precedence is ours, not documented by Google.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::reference::ImageRef;
use crate::report::Verdict;

/// The SDK's `GetPolicy` answer read into the model (`TryFrom<sdk::Policy>`).
mod sdk;

/// The system-image patterns, with their source and date (see the file's header).
pub const SYSTEM_IMAGES: &str = include_str!("policy/system_images.txt");

/// A policy as exported (`gcloud container binauthz policy export`), camelCase fields.
/// Unknown fields are refused: a typo would otherwise silently leave a rule out.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// `projects/P/policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The server's etag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// When it was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// `ENABLE` exempts Google-maintained system images on GKE; `DISABLE` does not. Unset
    /// behaves as `ENABLE`, the default policy-yaml-reference gives for
    /// globalPolicyEvaluationMode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_policy_evaluation_mode: Option<GlobalMode>,
    /// Exempt images.
    #[serde(default)]
    pub admission_whitelist_patterns: Vec<AllowlistPattern>,
    /// The rule for what no specific rule covers. Required by the API.
    pub default_admission_rule: Option<Rule>,
    /// GKE: `LOCATION.NAME` -> rule.
    #[serde(default)]
    pub cluster_admission_rules: BTreeMap<String, Rule>,
    /// GKE: namespace -> rule.
    #[serde(default)]
    pub kubernetes_namespace_admission_rules: BTreeMap<String, Rule>,
    /// GKE: `NAMESPACE:SERVICE_ACCOUNT` -> rule.
    #[serde(default)]
    pub kubernetes_service_account_admission_rules: BTreeMap<String, Rule>,
    /// GKE with Anthos Service Mesh: `spiffe://TRUST_DOMAIN/ns/NS/sa/SA` -> rule.
    #[serde(default)]
    pub istio_service_identity_admission_rules: BTreeMap<String, Rule>,
}

/// `globalPolicyEvaluationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GlobalMode {
    /// Unset in the API's own words; behaves as ENABLE.
    GlobalPolicyEvaluationModeUnspecified,
    /// System images are exempt (GKE).
    Enable,
    /// They are not.
    Disable,
}

/// One `admissionWhitelistPatterns` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowlistPattern {
    /// `registry/path/to/image`, optionally ending in `*` or `**`.
    pub name_pattern: String,
}

/// An admission rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// What the rule does with an image.
    pub evaluation_mode: EvaluationMode,
    /// What happens to an image the rule rejects.
    pub enforcement_mode: EnforcementMode,
    /// For REQUIRE_ATTESTATION: `projects/P/attestors/A`, every one required.
    #[serde(default)]
    pub require_attestations_by: Vec<String>,
}

/// `evaluationMode` (policy-yaml-reference, ADMISSION_RULE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvaluationMode {
    /// Every image is admitted.
    AlwaysAllow,
    /// Every image is refused.
    AlwaysDeny,
    /// An image is admitted when every attestor in `requireAttestationsBy` has attested it.
    RequireAttestation,
}

/// `enforcementMode` (policy-yaml-reference, ADMISSION_RULE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnforcementMode {
    /// The deploy is blocked and logged.
    EnforcedBlockAndAuditLog,
    /// Dry run: the deploy goes ahead and the violation is only logged.
    DryrunAuditLogOnly,
}

impl EnforcementMode {
    /// What a refusal under this mode decides: DRYRUN_AUDIT_LOG_ONLY admits the deploy and
    /// logs the violation, ENFORCED_BLOCK_AND_AUDIT_LOG blocks it (policy-yaml-reference,
    /// enforcementMode).
    pub fn refusal(self) -> Decision {
        match self {
            EnforcementMode::EnforcedBlockAndAuditLog => Decision::Denied,
            EnforcementMode::DryrunAuditLogOnly => Decision::WouldBeDenied,
        }
    }
}

/// Where the image is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// Cloud Run (services and jobs).
    Cloudrun,
    /// Google Kubernetes Engine.
    Gke,
}

/// What a GKE deploy targets; the specific rules are keyed by these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `LOCATION.NAME`.
    pub cluster: Option<String>,
    /// The pod's namespace.
    pub namespace: Option<String>,
    /// `NAMESPACE:NAME` of the pod's service account.
    pub service_account: Option<String>,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Admitted.
    Allowed,
    /// Refused (enforced rule).
    Denied,
    /// Refused by a dry-run rule: admitted, and the violation logged.
    WouldBeDenied,
    /// Admitted by breakglass: logged for audit.
    Breakglass,
}

impl Decision {
    /// As the report and the CI output write it.
    pub fn text(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::WouldBeDenied => "would be denied (dry run)",
            Decision::Breakglass => "admitted by breakglass: logged for audit",
        }
    }
}

/// What decided, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// The rule or pattern that decided: `system image pattern P`, `allowlist pattern P`,
    /// `defaultAdmissionRule`, `clusterAdmissionRules[KEY]`, ...
    pub decided_by: String,
    /// Why, in a sentence.
    pub reason: String,
    /// For REQUIRE_ATTESTATION: the attestors the rule requires.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attestors: Vec<String>,
}

/// The rule that applies to an image, or the pattern that exempts it.
#[derive(Debug, Clone, PartialEq)]
pub enum Applies<'p> {
    /// A system-image or allowlist pattern: admitted, no rule evaluated.
    Exempt {
        /// `system image pattern P` or `allowlist pattern P`.
        by: String,
    },
    /// This rule decides.
    Rule {
        /// `defaultAdmissionRule` or `KIND[KEY]`.
        name: String,
        /// The rule.
        rule: &'p Rule,
    },
}

impl Policy {
    /// Parses `text` (YAML; JSON is YAML too) from `file`, and checks what the API would refuse.
    pub fn parse(file: &str, text: &str) -> Result<Policy> {
        // Refused before serde reads it: serde keeps the last of two equal keys silently.
        if let Some(d) = duplicates::first(text) {
            let what = match d.parent.as_str() {
                "kubernetesNamespaceAdmissionRules" => {
                    format!("namespace `{}` is given two rules", d.key)
                }
                "kubernetesServiceAccountAdmissionRules" => {
                    format!("service account `{}` is given two rules", d.key)
                }
                "clusterAdmissionRules" => format!("cluster `{}` is given two rules", d.key),
                "istioServiceIdentityAdmissionRules" => {
                    format!("identity `{}` is given two rules", d.key)
                }
                "" => format!("`{}` is written twice", d.key),
                parent => format!("`{}` is written twice in {parent}", d.key),
            };
            return Err(Error::PolicyFile {
                file: file.to_string(),
                position: format!("line {}, column {}", d.line, d.column),
                reason: format!(
                    "{what} (the first at line {}): keep one, since only one can apply",
                    d.first_line
                ),
            });
        }
        let policy: Policy = serde_norway::from_str(text).map_err(|e| Error::PolicyFile {
            file: file.to_string(),
            position: e
                .location()
                .map(|l| format!("line {}, column {}", l.line(), l.column()))
                .unwrap_or_else(|| "the document".into()),
            reason: e.to_string(),
        })?;
        policy.validate(file)?;
        Ok(policy)
    }

    /// What the API refuses on import, with the field at fault.
    fn validate(&self, file: &str) -> Result<()> {
        let bad = |position: String, reason: String| Error::PolicyFile {
            file: file.to_string(),
            position,
            reason,
        };
        if self.default_admission_rule.is_none() {
            // The API marks defaultAdmissionRule Required (Policy, v1 reference).
            return Err(bad(
                "the document".into(),
                "defaultAdmissionRule is missing; every policy needs one".into(),
            ));
        }
        for (i, p) in self.admission_whitelist_patterns.iter().enumerate() {
            pattern_shape(&p.name_pattern).map_err(|reason| {
                bad(
                    format!("admissionWhitelistPatterns[{i}].namePattern"),
                    format!("`{}`: {reason}", p.name_pattern),
                )
            })?;
        }
        for (kind, rule) in self.rules() {
            if rule.evaluation_mode == EvaluationMode::RequireAttestation
                && rule.require_attestations_by.is_empty()
            {
                return Err(bad(
                    format!("{kind}.requireAttestationsBy"),
                    "REQUIRE_ATTESTATION needs at least one attestor".into(),
                ));
            }
            for a in &rule.require_attestations_by {
                crate::names::AttestorName::parse(a, None).map_err(|_| {
                    bad(
                        format!("{kind}.requireAttestationsBy"),
                        format!("`{a}` is not projects/PROJECT/attestors/ATTESTOR"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Every rule with its name, the default first.
    fn rules(&self) -> Vec<(String, &Rule)> {
        let mut all: Vec<(String, &Rule)> = self
            .default_admission_rule
            .iter()
            .map(|r| ("defaultAdmissionRule".to_string(), r))
            .collect();
        for (kind, rules) in self.specific_kinds() {
            all.extend(rules.iter().map(|(k, r)| (format!("{kind}[{k}]"), r)));
        }
        all
    }

    fn specific_kinds(&self) -> [(&'static str, &BTreeMap<String, Rule>); 4] {
        [
            ("clusterAdmissionRules", &self.cluster_admission_rules),
            (
                "kubernetesNamespaceAdmissionRules",
                &self.kubernetes_namespace_admission_rules,
            ),
            (
                "kubernetesServiceAccountAdmissionRules",
                &self.kubernetes_service_account_admission_rules,
            ),
            (
                "istioServiceIdentityAdmissionRules",
                &self.istio_service_identity_admission_rules,
            ),
        ]
    }

    /// Warnings on the policy itself: allowlist patterns whose wildcard follows a partial path
    /// segment, so that by prefix matching they also exempt sibling repositories.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let kinds: Vec<&str> = self
            .specific_kinds()
            .into_iter()
            .filter(|(_, rules)| !rules.is_empty())
            .map(|(kind, _)| kind)
            .collect();
        if kinds.len() > 1 {
            out.push(format!(
                "the policy holds several kinds of specific rule ({}); Google's console offers \
                 one kind per policy and documents no order among them. This check lets the \
                 most specific match win: Istio identity, service account, namespace, cluster",
                kinds.join(", ")
            ));
        }
        for p in &self.admission_whitelist_patterns {
            let pattern = &p.name_pattern;
            let stem = pattern.trim_end_matches('*');
            if stem.len() != pattern.len() && !stem.ends_with('/') {
                let what = if pattern.ends_with("**") {
                    "every repository under"
                } else {
                    "every image in the same directory"
                };
                out.push(format!(
                    "allowlist pattern `{pattern}` matches by prefix: it also exempts {what} a \
                     name that merely starts with `{stem}` (e.g. `{stem}-other/x`); end the stem \
                     with `/` to exempt one directory only"
                ));
            }
        }
        out
    }

    /// Which pattern exempts `image`, or which rule decides it, on `platform` for `target`.
    pub fn applies(&self, image: &str, platform: Platform, target: &Target) -> Applies<'_> {
        // System images: GKE only, and only unless globalPolicyEvaluationMode is DISABLE
        // (policy-yaml-reference, globalPolicyEvaluationMode).
        if platform == Platform::Gke
            && self.global_policy_evaluation_mode != Some(GlobalMode::Disable)
        {
            if let Some(p) = system_patterns().find(|p| pattern_matches(p, image)) {
                return Applies::Exempt {
                    by: format!("system image pattern {p}"),
                };
            }
        }
        // The pattern is matched against the image as the deploy names it (tag or digest). On
        // Cloud Run, which resolves a tag before the check, whether a tag-specific pattern
        // still matches is not documented: such patterns are a best reading there.
        // Exempt images: an image matching an allowlist pattern is exempt from the policy's
        // rules (key-concepts, "Exempt images"); Cloud Run honours them too (run/overview:
        // functions need `REGION-docker.pkg.dev/PROJECT/cloud-run-source-deploy/**` exempted).
        if let Some(p) = self
            .admission_whitelist_patterns
            .iter()
            .find(|p| pattern_matches(&p.name_pattern, image))
        {
            return Applies::Exempt {
                by: format!("allowlist pattern {}", p.name_pattern),
            };
        }
        let default = || Applies::Rule {
            name: "defaultAdmissionRule".into(),
            rule: self
                .default_admission_rule
                .as_ref()
                .expect("validated: the default rule exists"),
        };
        if platform == Platform::Cloudrun {
            return default();
        }
        // GKE: the specific rule keyed by the deploy target overrides the default
        // (policy-yaml-reference, clusterAdmissionRules and the Kubernetes/Istio rules); the
        // most specific kind first (module docs).
        // Istio identities are `spiffe://DOMAIN/ns/NS/sa/SA` or `DOMAIN/ns/NS/sa/SA` (Policy,
        // v1 reference); the domain is the mesh's, so the namespace and account decide here.
        if let Some((ns, sa)) = target
            .service_account
            .as_deref()
            .and_then(|s| s.split_once(':'))
        {
            let tail = format!("/ns/{ns}/sa/{sa}");
            if let Some((k, rule)) = self
                .istio_service_identity_admission_rules
                .iter()
                .find(|(k, _)| k.ends_with(&tail))
            {
                return Applies::Rule {
                    name: format!("istioServiceIdentityAdmissionRules[{k}]"),
                    rule,
                };
            }
        }
        let lookups: [(&str, &BTreeMap<String, Rule>, &Option<String>); 3] = [
            (
                "kubernetesServiceAccountAdmissionRules",
                &self.kubernetes_service_account_admission_rules,
                &target.service_account,
            ),
            (
                "kubernetesNamespaceAdmissionRules",
                &self.kubernetes_namespace_admission_rules,
                &target.namespace,
            ),
            (
                "clusterAdmissionRules",
                &self.cluster_admission_rules,
                &target.cluster,
            ),
        ];
        for (kind, rules, key) in lookups {
            if let Some((k, rule)) = key.as_ref().and_then(|k| rules.get_key_value(k)) {
                return Applies::Rule {
                    name: format!("{kind}[{k}]"),
                    rule,
                };
            }
        }
        default()
    }

    /// The rule's attestors for `image`, when the rule that applies needs them checked (a
    /// REQUIRE_ATTESTATION rule, on an image the platform evaluates by digest).
    pub fn attestors_needed(
        &self,
        image: &ImageRef,
        platform: Platform,
        target: &Target,
    ) -> Vec<String> {
        match self.applies(&image.to_string(), platform, target) {
            Applies::Rule { rule, .. }
                if rule.evaluation_mode == EvaluationMode::RequireAttestation
                    && !(platform == Platform::Gke && image.digest().is_none()) =>
            {
                rule.require_attestations_by.clone()
            }
            _ => Vec::new(),
        }
    }
}

/// The system-image patterns from the data file.
fn system_patterns() -> impl Iterator<Item = &'static str> {
    SYSTEM_IMAGES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Whether `pattern` is one the API accepts: "a trailing * wildcard, but this is allowed only in
/// text after the registry/ part", and a trailing `**` (AdmissionWhitelistPattern.name_pattern,
/// <https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects/getPolicy#admissionwhitelistpattern>).
pub fn pattern_shape(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("it is empty".into());
    }
    let stem = pattern.trim_end_matches('*');
    let stars = pattern.len() - stem.len();
    if stars > 2 {
        return Err("at most `**` may end a pattern".into());
    }
    if stem.contains('*') {
        return Err("a wildcard may only end the pattern".into());
    }
    if stars > 0 && !stem.contains('/') {
        return Err("a wildcard is allowed only after the registry/ part".into());
    }
    Ok(())
}

/// Whether `pattern` matches `image` (as deployed: tag or digest form). Documented semantics
/// (AdmissionWhitelistPattern.name_pattern, v1 and v1beta1 reference): a trailing `*` "does not
/// match /, i.e., gcr.io/nginx* matches gcr.io/nginx@latest, but it does not match
/// gcr.io/nginx/image"; a trailing `**` "matches subdirectories, i.e., gcr.io/nginx** matches
/// gcr.io/nginx/image". Both are prefix matches on the whole reference. A pattern without a
/// wildcard names an image: it matches that repository at any tag or digest, or the exact
/// reference when it carries a tag or digest (policy-yaml-reference, admissionWhitelistPatterns).
pub fn pattern_matches(pattern: &str, image: &str) -> bool {
    if let Some(stem) = pattern.strip_suffix("**") {
        return image.starts_with(stem);
    }
    if let Some(stem) = pattern.strip_suffix('*') {
        return image
            .strip_prefix(stem)
            .is_some_and(|rest| !rest.contains('/'));
    }
    if image == pattern {
        return true;
    }
    // The repository of `image`: up to `@`, then up to a `:` after the last `/`.
    let repo = image.split('@').next().unwrap_or(image);
    let repo = match repo.rfind(':') {
        Some(i) if i > repo.rfind('/').unwrap_or(0) => &repo[..i],
        _ => repo,
    };
    repo == pattern
}

/// The decision under a breakglass annotation (`annotation` as written): admitted whatever the
/// policy says, and logged for audit (using-breakglass, GKE and Cloud Run).
pub fn breakglass(annotation: String) -> Evaluation {
    Evaluation {
        decision: Decision::Breakglass,
        decided_by: annotation,
        reason: "breakglass skips policy enforcement; the deploy is logged for audit".into(),
        attestors: Vec::new(),
    }
}

/// The decision for `image` under `policy`. `verdicts` are `verify`'s for this image and the
/// rule's attestors (empty when none were needed); `image` is as deployed.
pub fn decide(
    policy: &Policy,
    image: &ImageRef,
    platform: Platform,
    target: &Target,
    verdicts: &[Verdict],
) -> Evaluation {
    let (name, rule) = match policy.applies(&image.to_string(), platform, target) {
        Applies::Exempt { by } => {
            return Evaluation {
                decision: Decision::Allowed,
                reason: format!("exempt from the policy's rules by {by}"),
                decided_by: by,
                attestors: Vec::new(),
            }
        }
        Applies::Rule { name, rule } => (name, rule),
    };
    // DRYRUN_AUDIT_LOG_ONLY admits the deploy and writes the violation to the audit log;
    // ENFORCED_BLOCK_AND_AUDIT_LOG blocks it and logs it (policy-yaml-reference,
    // enforcementMode).
    let refused = |reason: String| Evaluation {
        decision: rule.enforcement_mode.refusal(),
        decided_by: name.clone(),
        reason,
        attestors: rule.require_attestations_by.clone(),
    };
    match rule.evaluation_mode {
        EvaluationMode::AlwaysAllow => Evaluation {
            decision: Decision::Allowed,
            decided_by: name.clone(),
            reason: "the rule allows every image (ALWAYS_ALLOW)".into(),
            attestors: Vec::new(),
        },
        EvaluationMode::AlwaysDeny => refused("the rule denies every image (ALWAYS_DENY)".into()),
        // An attestation binds a digest (key-concepts, "Attestations"), and GKE's enforcer checks
        // the image as the pod spec names it: an image given by tag under an attestation rule
        // is refused there, which is why Google's GKE guides deploy `IMAGE@sha256:...`
        // (https://cloud.google.com/binary-authorization/docs/key-concepts). Cloud Run
        // resolves a tag to its digest when it creates the revision and checks that digest
        // (https://cloud.google.com/run/docs/deploying, "images are resolved to a digest").
        EvaluationMode::RequireAttestation
            if platform == Platform::Gke && image.digest().is_none() =>
        {
            refused(format!(
                "{image} is given by tag; GKE checks attestations only for images given by digest \
                 (attestations bind digests): pin it with `binauthz-attest pin FILE`"
            ))
        }
        EvaluationMode::RequireAttestation => {
            // Every attestor must be satisfied (policy-yaml-reference, requireAttestationsBy).
            let missing: Vec<String> = rule
                .require_attestations_by
                .iter()
                .filter(|a| {
                    !verdicts
                        .iter()
                        .any(|v| v.judge.is_attestor(a) && v.verified)
                })
                .map(|a| {
                    let why = verdicts
                        .iter()
                        .find(|v| v.judge.is_attestor(a))
                        .map_or_else(|| "not checked".to_string(), |v| v.reason.clone());
                    format!("{a} ({why})")
                })
                .collect();
            if missing.is_empty() {
                Evaluation {
                    decision: Decision::Allowed,
                    decided_by: name.clone(),
                    reason: "every required attestor has a valid attestation".into(),
                    attestors: rule.require_attestations_by.clone(),
                }
            } else {
                refused(format!("not attested by {}", missing.join("; ")))
            }
        }
    }
}

#[path = "policy/duplicates.rs"]
mod duplicates;

#[cfg(test)]
#[path = "policy/tests.rs"]
mod tests;
