//! The policy as the Binary Authorization SDK answers `GetPolicy`, read into the model: the
//! SDK's enums by their API names (the names a policy file writes), so a project's policy and
//! an exported file are one model and checked alike.

use std::collections::{BTreeMap, HashMap};

use google_cloud_binaryauthorization_v1::model as sdk;

use super::{AllowlistPattern, EnforcementMode, EvaluationMode, GlobalMode, Policy, Rule};
use crate::error::{Error, Result};

/// The SDK's policy in the model; an enum value the model does not know is refused, naming
/// the field, as a policy file holding it would be.
impl TryFrom<sdk::Policy> for Policy {
    type Error = Error;

    fn try_from(answer: sdk::Policy) -> Result<Policy> {
        let name = answer.name.clone();
        let bad = |position: String, value: &str| Error::PolicyFile {
            file: name.clone(),
            position,
            reason: format!("`{value}` is not a value this tool knows"),
        };
        let rule = |at: String, r: &sdk::AdmissionRule| -> Result<Rule> {
            let evaluation = r.evaluation_mode.name().unwrap_or_default();
            let enforcement = r.enforcement_mode.name().unwrap_or_default();
            Ok(Rule {
                evaluation_mode: match evaluation {
                    "ALWAYS_ALLOW" => EvaluationMode::AlwaysAllow,
                    "ALWAYS_DENY" => EvaluationMode::AlwaysDeny,
                    "REQUIRE_ATTESTATION" => EvaluationMode::RequireAttestation,
                    other => return Err(bad(format!("{at}.evaluationMode"), other)),
                },
                enforcement_mode: match enforcement {
                    "ENFORCED_BLOCK_AND_AUDIT_LOG" => EnforcementMode::EnforcedBlockAndAuditLog,
                    "DRYRUN_AUDIT_LOG_ONLY" => EnforcementMode::DryrunAuditLogOnly,
                    other => return Err(bad(format!("{at}.enforcementMode"), other)),
                },
                require_attestations_by: r.require_attestations_by.clone(),
            })
        };
        let rules = |kind: &str, m: &HashMap<String, sdk::AdmissionRule>| {
            m.iter()
                .map(|(k, r)| Ok((k.clone(), rule(format!("{kind}.{k}"), r)?)))
                .collect::<Result<BTreeMap<_, _>>>()
        };
        let global = match answer.global_policy_evaluation_mode.name() {
            None => None,
            Some("GLOBAL_POLICY_EVALUATION_MODE_UNSPECIFIED") => {
                Some(GlobalMode::GlobalPolicyEvaluationModeUnspecified)
            }
            Some("ENABLE") => Some(GlobalMode::Enable),
            Some("DISABLE") => Some(GlobalMode::Disable),
            Some(other) => return Err(bad("globalPolicyEvaluationMode".into(), other)),
        };
        let policy = Policy {
            name: Some(name.clone()),
            global_policy_evaluation_mode: global,
            admission_whitelist_patterns: answer
                .admission_whitelist_patterns
                .iter()
                .map(|p| AllowlistPattern {
                    name_pattern: p.name_pattern.clone(),
                })
                .collect(),
            default_admission_rule: answer
                .default_admission_rule
                .as_ref()
                .map(|r| rule("defaultAdmissionRule".into(), r))
                .transpose()?,
            cluster_admission_rules: rules(
                "clusterAdmissionRules",
                &answer.cluster_admission_rules,
            )?,
            kubernetes_namespace_admission_rules: rules(
                "kubernetesNamespaceAdmissionRules",
                &answer.kubernetes_namespace_admission_rules,
            )?,
            kubernetes_service_account_admission_rules: rules(
                "kubernetesServiceAccountAdmissionRules",
                &answer.kubernetes_service_account_admission_rules,
            )?,
            istio_service_identity_admission_rules: rules(
                "istioServiceIdentityAdmissionRules",
                &answer.istio_service_identity_admission_rules,
            )?,
            ..Policy::default()
        };
        policy.validate(&name)?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdks_policy_reads_as_its_export_would() {
        let answer = sdk::Policy::new()
            .set_name("projects/p/policy")
            .set_global_policy_evaluation_mode(sdk::policy::GlobalPolicyEvaluationMode::Enable)
            .set_default_admission_rule(
                sdk::AdmissionRule::new()
                    .set_evaluation_mode(sdk::admission_rule::EvaluationMode::RequireAttestation)
                    .set_enforcement_mode(
                        sdk::admission_rule::EnforcementMode::EnforcedBlockAndAuditLog,
                    )
                    .set_require_attestations_by(["projects/p/attestors/a"]),
            );
        let policy = Policy::try_from(answer).unwrap();
        let exported = Policy::parse(
            "f",
            "name: projects/p/policy\nglobalPolicyEvaluationMode: ENABLE\ndefaultAdmissionRule:\n  evaluationMode: REQUIRE_ATTESTATION\n  enforcementMode: ENFORCED_BLOCK_AND_AUDIT_LOG\n  requireAttestationsBy: [projects/p/attestors/a]\n",
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&policy).unwrap(),
            serde_json::to_value(&exported).unwrap()
        );
    }

    #[test]
    fn a_rule_the_model_does_not_know_is_refused_by_field() {
        let answer = sdk::Policy::new()
            .set_name("projects/p/policy")
            .set_default_admission_rule(sdk::AdmissionRule::new().set_enforcement_mode(
                sdk::admission_rule::EnforcementMode::EnforcedBlockAndAuditLog,
            ));
        let error = Policy::try_from(answer).unwrap_err().to_string();
        assert!(
            error.contains("defaultAdmissionRule.evaluationMode"),
            "{error}"
        );
    }
}
