//! What the webhook enforces: the policy (a file as `gcloud container binauthz policy export`
//! writes it, or the project's, read from Binary Authorization) and the attestors given by file,
//! checked whole at load. Reloaded when a file changes (its modification time, polled) or, for a
//! project's policy, every [`PROJECT_POLL`]; a reload that fails keeps the last good config and
//! says why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::attestors::{self, Trusted};
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::policy::{EvaluationMode, Policy};

/// How often files are looked at for a change.
pub const FILE_POLL: Duration = Duration::from_secs(2);
/// How often a project's policy is read again.
pub const PROJECT_POLL: Duration = Duration::from_secs(60);
/// The largest policy or attestor file read (a policy of thousands of rules is far smaller).
const FILE_MAX: u64 = 4 << 20;

/// The enforced configuration, replaced whole on reload.
#[derive(Debug)]
pub struct Config {
    /// The policy.
    pub policy: Policy,
    /// Where it came from, for the log.
    pub policy_source: String,
    /// Attestors given by file, by full name.
    pub attestors: HashMap<String, Arc<Trusted>>,
    /// `LOCATION.NAME`, for clusterAdmissionRules.
    pub cluster: Option<String>,
    /// Warnings on the policy (patterns too broad, several kinds of specific rule).
    pub warnings: Vec<String>,
}

/// Where the configuration is read from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `--policy`.
    pub policy_file: Option<PathBuf>,
    /// `--project`.
    pub project: Option<String>,
    /// `--attestor-file`, each.
    pub attestor_files: Vec<PathBuf>,
    /// `--cluster`.
    pub cluster: Option<String>,
}

/// A file's text, bounded, without blocking the runtime.
async fn read(what: &str, path: &PathBuf) -> Result<String> {
    let name = path.display();
    let bytes = crate::bounded::read_async(path, FILE_MAX)
        .await
        .map_err(|e| Error::Usage(format!("cannot read {what} {name} ({e})")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Usage(format!("cannot read {what} {name} (not UTF-8 text)")))
}

impl Sources {
    /// Reads and checks everything; `binauthz` reads a project's policy and tells whether
    /// attestors not given by file can be read from Google.
    pub async fn load(&self, binauthz: Option<&Binauthz>) -> Result<Config> {
        let (policy, policy_source) =
            match (&self.policy_file, &self.project, binauthz) {
                (Some(path), _, _) => {
                    let name = path.display().to_string();
                    let text = read("--policy", path).await?;
                    (Policy::parse(&name, &text)?, name)
                }
                (None, Some(project), Some(binauthz)) => (
                    Policy::try_from(binauthz.policy(project).await?)?,
                    format!("projects/{project}/policy"),
                ),
                _ => return Err(Error::Usage(
                    "no policy: pass --policy FILE or --project PROJECT (with Google credentials)"
                        .into(),
                )),
            };
        let mut attestors: HashMap<String, Arc<Trusted>> = HashMap::new();
        for path in &self.attestor_files {
            let name = path.display().to_string();
            let text = read("--attestor-file", path).await?;
            let trusted = attestors::parse(&name, &text)?;
            let key = trusted.name.to_string();
            if let Some(before) = attestors.get(&key) {
                return Err(Error::Usage(format!(
                    "attestor {key} is defined twice, by {} and by --attestor-file {name}: keep one \
                     file per attestor (list every key in it)",
                    before.source
                )));
            }
            attestors.insert(key, Arc::new(trusted));
        }
        // Every attestor a rule requires must be readable now, not at the first deploy.
        for (rule, attestor) in required(&policy) {
            if !attestors.contains_key(&attestor) && binauthz.is_none() {
                return Err(Error::Usage(format!(
                    "{policy_source}: {rule} requires attestor {attestor}, which no \
                     --attestor-file defines, and the webhook has no Google credentials to read \
                     it: add --attestor-file with the output of `gcloud container binauthz \
                     attestors describe {attestor} --format=json`"
                )));
            }
        }
        Ok(Config {
            warnings: policy.warnings(),
            policy,
            policy_source,
            attestors,
            cluster: self.cluster.clone(),
        })
    }

    /// The files' modification times: a change in any means a reload.
    pub async fn stamps(&self) -> Vec<Option<SystemTime>> {
        let mut out = Vec::new();
        for path in self.policy_file.iter().chain(&self.attestor_files) {
            out.push(
                tokio::fs::metadata(path)
                    .await
                    .and_then(|m| m.modified())
                    .ok(),
            );
        }
        out
    }
}

/// `(rule, attestor)` for every attestor a REQUIRE_ATTESTATION rule of `policy` names.
fn required(policy: &Policy) -> Vec<(String, String)> {
    let mut rules: Vec<(String, &crate::policy::Rule)> = Vec::new();
    if let Some(r) = &policy.default_admission_rule {
        rules.push(("defaultAdmissionRule".into(), r));
    }
    for (kind, map) in [
        ("clusterAdmissionRules", &policy.cluster_admission_rules),
        (
            "kubernetesNamespaceAdmissionRules",
            &policy.kubernetes_namespace_admission_rules,
        ),
        (
            "kubernetesServiceAccountAdmissionRules",
            &policy.kubernetes_service_account_admission_rules,
        ),
        (
            "istioServiceIdentityAdmissionRules",
            &policy.istio_service_identity_admission_rules,
        ),
    ] {
        rules.extend(map.iter().map(|(k, r)| (format!("{kind}[{k}]"), r)));
    }
    rules
        .into_iter()
        .filter(|(_, r)| r.evaluation_mode == EvaluationMode::RequireAttestation)
        .flat_map(|(name, r)| {
            r.require_attestations_by
                .iter()
                .map(move |a| (name.clone(), a.clone()))
        })
        .collect()
}
