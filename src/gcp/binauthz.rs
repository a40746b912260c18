//! Binary Authorization: the attestor, which names the note attestations hang from and the
//! public keys (with the exact ids) that admission accepts, read into the model's `Attestor`.

use super::auth::Auth;
use super::{call, configure, Endpoints};
use crate::algorithm::SigningAlgorithm;
use crate::error::{Error, Result};
use crate::model::{Attestor, TrustedKey};
use crate::names::{AttestorName, NoteName};
use google_cloud_binaryauthorization_v1::client::BinauthzManagementServiceV1;

/// The Binary Authorization client of a run.
#[derive(Clone)]
pub struct Binauthz {
    client: BinauthzManagementServiceV1,
}

impl Binauthz {
    /// A client for `endpoints.binauthz` (Google's by default) with the run's credentials.
    pub async fn new(auth: &Auth, endpoints: &Endpoints) -> Result<Binauthz> {
        let builder = configure(
            BinauthzManagementServiceV1::builder(),
            endpoints.binauthz.as_ref(),
            auth.credentials(),
        );
        let client = builder.build().await.map_err(|e| {
            Error::Setup(format!(
                "cannot create the Binary Authorization client: {e}"
            ))
        })?;
        Ok(Binauthz { client })
    }

    /// The attestor (`attestors.get`): its note and the keys it trusts.
    pub async fn attestor(&self, name: &AttestorName) -> Result<Attestor> {
        let what = format!("Binary Authorization attestors.get {name}");
        let send = || self.client.get_attestor().set_name(name.to_string()).send();
        let answer = call(
            &what,
            true,
            |e| match e.http_status_code() {
                Some(404) => Error::AttestorNotFound {
                    attestor: name.to_string(),
                },
                _ => super::error(
                    e,
                    format!("read attestor {name}"),
                    "grant the caller roles/binaryauthorization.attestorsViewer on the attestor",
                ),
            },
            send,
        )
        .await?;
        let note = answer
            .user_owned_grafeas_note()
            .ok_or_else(|| Error::Rejected {
                action: format!("read attestor {name}"),
                reason: "the attestor has no user-owned Container Analysis note".into(),
            })?;
        let keys = note
            .public_keys
            .iter()
            .map(|k| {
                let pkix = k.pkix_public_key();
                TrustedKey {
                    id: k.id.clone(),
                    pem: pkix.map(|p| p.public_key_pem.clone()),
                    algorithm: pkix
                        .and_then(|p| p.signature_algorithm.name())
                        .and_then(SigningAlgorithm::from_binauthz),
                    pgp: k.ascii_armored_pgp_public_key().cloned(),
                }
            })
            .collect();
        Ok(Attestor {
            name: name.clone(),
            note: NoteName::parse(&note.note_reference)?,
            keys,
        })
    }
}

impl Binauthz {
    /// The project's policy (`GetPolicy`), in the model `policy check` evaluates; checked as a
    /// policy file would be, `projects/P/policy` naming it in errors.
    pub async fn policy(&self, project: &str) -> Result<crate::policy::Policy> {
        use google_cloud_binaryauthorization_v1::model::AdmissionRule;
        let name = format!("projects/{project}/policy");
        let what = format!("Binary Authorization GetPolicy {name}");
        let send = || self.client.get_policy().set_name(name.clone()).send();
        let answer = call(
            &what,
            true,
            |e| {
                super::error(
                    e,
                    format!("read policy {name}"),
                    "grant the caller roles/binaryauthorization.policyViewer on the project",
                )
            },
            send,
        )
        .await?;
        // The SDK's enums serialize as numbers; the model reads their API names.
        let rule = |r: &AdmissionRule| {
            serde_json::json!({
                "evaluationMode": r.evaluation_mode.name().unwrap_or_default(),
                "enforcementMode": r.enforcement_mode.name().unwrap_or_default(),
                "requireAttestationsBy": r.require_attestations_by,
            })
        };
        let rules = |m: &std::collections::HashMap<String, AdmissionRule>| {
            m.iter()
                .map(|(k, r)| (k.clone(), rule(r)))
                .collect::<serde_json::Map<_, _>>()
        };
        let mut json = serde_json::json!({
            "name": answer.name,
            "admissionWhitelistPatterns": answer.admission_whitelist_patterns.iter()
                .map(|p| serde_json::json!({"namePattern": p.name_pattern}))
                .collect::<Vec<_>>(),
            "clusterAdmissionRules": rules(&answer.cluster_admission_rules),
            "kubernetesNamespaceAdmissionRules": rules(&answer.kubernetes_namespace_admission_rules),
            "kubernetesServiceAccountAdmissionRules":
                rules(&answer.kubernetes_service_account_admission_rules),
            "istioServiceIdentityAdmissionRules": rules(&answer.istio_service_identity_admission_rules),
        });
        if let Some(mode) = answer.global_policy_evaluation_mode.name() {
            json["globalPolicyEvaluationMode"] = mode.into();
        }
        if let Some(r) = &answer.default_admission_rule {
            json["defaultAdmissionRule"] = rule(r);
        }
        crate::policy::Policy::parse(&name, &json.to_string())
    }
}
