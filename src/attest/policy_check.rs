//! The policy judgement (`policy check`): what Binary Authorization would decide for each image
//! (or each container of each manifest) at deploy, from a policy file or the project's policy.
//! The decision is `policy.rs`'s; the attestation check for REQUIRE_ATTESTATION rules is the
//! verify judgement's, run once per set of attestors over the images that need it.

use std::collections::HashMap;

use serde::Serialize;

use super::verify::{verify, Clients};
use super::Context;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::Endpoints;
use crate::manifest;
use crate::names::AttestorName;
use crate::policy::{self, Decision, Platform, Policy, Target};
use crate::reference::ImageRef;
use crate::report::Verdict;

/// One image's decision.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The image as it would be deployed.
    pub image: String,
    /// The manifest it is written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Its line there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `Kind/name` of the object deploying it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The container (`init:NAME` for an init container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Where it is deployed.
    pub platform: Platform,
    /// The decision.
    pub decision: Decision,
    /// The decision as a sentence's words.
    pub decision_text: &'static str,
    /// The rule, pattern or annotation that decided.
    pub decided_by: String,
    /// Why.
    pub reason: String,
    /// For REQUIRE_ATTESTATION rules: `verify`'s verdict for each required attestor.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<Verdict>,
}

impl Checked {
    /// What people read.
    pub fn text(&self) -> String {
        let place = match (&self.manifest, &self.workload, &self.container) {
            (Some(m), Some(w), Some(c)) => {
                format!(" ({m}:{} {w} {c})", self.line.unwrap_or_default())
            }
            // `--running`: the service and its revision.
            (None, Some(w), Some(c)) => format!(" ({w} {c})"),
            _ => String::new(),
        };
        let mut out = format!(
            "{}{place}  {}  by {}: {}\n",
            self.image,
            self.decision_text.to_uppercase(),
            self.decided_by,
            self.reason
        );
        for v in &self.verdicts {
            out += &format!("    {}", v.line());
        }
        out
    }
}

/// One image to decide, with where and how it is deployed.
pub struct Item {
    /// The image as it would be deployed.
    pub image: ImageRef,
    /// Where.
    pub platform: Platform,
    /// The cluster, namespace and service account rules are keyed by.
    pub target: Target,
    /// The container in its manifest, when it came from one.
    pub site: Option<manifest::Site>,
    /// The manifest's name.
    pub manifest: Option<String>,
    /// For `policy check --running`: `service/S` and `revision R`.
    pub running: Option<(String, String)>,
}

/// Where the policy comes from: `--policy FILE`, else the project's (`--project`).
pub struct PolicySource<'a> {
    /// `--policy`: a file as `gcloud container binauthz policy export` writes it.
    pub file: Option<&'a std::path::Path>,
    /// `--project`: read the project's policy.
    pub project: Option<&'a str>,
}

/// Each item's decision under the policy `source` names, with `verify`'s verdicts for the
/// attestors REQUIRE_ATTESTATION rules need; the policy's own warnings are added to `warnings`.
pub async fn check_all(
    ctx: &Context,
    source: PolicySource<'_>,
    items: Vec<Item>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Checked>> {
    if items.is_empty() {
        return Err(Error::Usage(
            "nothing to check: pass IMAGE arguments or --manifest FILE (with at least one container)"
                .into(),
        ));
    }
    let endpoints = Endpoints::from_env();
    let mut binauthz: Option<Binauthz> = None;
    let policy = match (source.file, source.project) {
        (Some(path), _) => {
            let name = path.display().to_string();
            let text = crate::bounded::read_to_string(path, crate::bounded::CONFIG_FILE)
                .map_err(|e| Error::Usage(format!("cannot read --policy {name} ({e})")))?;
            Policy::parse(&name, &text)?
        }
        (None, Some(project)) => {
            let client = Binauthz::new(&ctx.auth()?, &endpoints).await?;
            let policy = Policy::try_from(client.policy(project).await?)?;
            binauthz = Some(client);
            policy
        }
        (None, None) => {
            return Err(Error::Usage(
                "no policy: pass --policy FILE or --project PROJECT".into(),
            ))
        }
    };
    warnings.extend(policy.warnings());

    // The attestors each image needs checked (none under breakglass: it skips the policy).
    let needs: Vec<Vec<String>> = items
        .iter()
        .map(
            |i| match i.site.as_ref().and_then(|s| s.breakglass.as_ref()) {
                Some(_) => Vec::new(),
                None => policy.attestors_needed(&i.image, i.platform, &i.target),
            },
        )
        .collect();
    let mut verdicts: Vec<Vec<Verdict>> = vec![Vec::new(); items.len()];
    if needs.iter().any(|n| !n.is_empty()) {
        let auth = ctx.auth()?;
        let token = auth.warm().await?;
        let images: Vec<ImageRef> = items.iter().map(|i| i.image.clone()).collect();
        let registry = ctx.registry_client(Some(token), &images)?;
        let binauthz = match binauthz {
            Some(b) => b,
            None => Binauthz::new(&auth, &endpoints).await?,
        };
        let grafeas = Grafeas::new(&auth, &endpoints).await?;
        let clients = Clients {
            registry: &registry,
            binauthz: &binauthz,
            grafeas: &grafeas,
        };
        // One `verify` per distinct set of attestors, over the images that need it.
        let mut groups: HashMap<&Vec<String>, Vec<usize>> = HashMap::new();
        for (i, n) in needs.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
            groups.entry(n).or_default().push(i);
        }
        for (attestors, members) in groups {
            let names = attestors
                .iter()
                .map(|a| AttestorName::parse(a, None))
                .collect::<Result<Vec<_>>>()?;
            let images: Vec<ImageRef> = members.iter().map(|&i| items[i].image.clone()).collect();
            let found = verify(clients, &images, &names, None, ctx.concurrency).await?;
            // Image-major: image k's verdicts are found[k*n .. (k+1)*n].
            for (k, chunk) in found.chunks(names.len()).enumerate() {
                verdicts[members[k]] = chunk.to_vec();
            }
        }
    }

    Ok(items
        .iter()
        .zip(verdicts)
        .map(|(item, verdicts)| {
            let site = item.site.as_ref();
            let evaluation = match site.and_then(|s| s.breakglass.clone()) {
                Some(annotation) => policy::breakglass(annotation),
                None => {
                    policy::decide(&policy, &item.image, item.platform, &item.target, &verdicts)
                }
            };
            Checked {
                image: item.image.to_string(),
                manifest: item.manifest.clone(),
                line: site.map(|s| s.line),
                workload: site
                    .map(|s| s.workload.clone())
                    .or_else(|| item.running.as_ref().map(|(w, _)| w.clone())),
                container: site
                    .map(|s| s.container.clone())
                    .or_else(|| item.running.as_ref().map(|(_, r)| r.clone())),
                platform: item.platform,
                decision: evaluation.decision,
                decision_text: evaluation.decision.text(),
                decided_by: evaluation.decided_by,
                reason: evaluation.reason,
                verdicts,
            }
        })
        .collect())
}
