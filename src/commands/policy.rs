//! `policy check`: what Binary Authorization would decide for each image (or each container of
//! each manifest) at deploy, from a policy file or the project's policy. The decision is
//! `policy.rs`'s; the attestation check for REQUIRE_ATTESTATION rules is `verify`'s, run once
//! per set of attestors over the images that need it.

use std::collections::HashMap;

use serde::Serialize;

use super::verify::{self, Clients};
use super::{print, Context, Report};
use crate::cli::PolicyCheckArgs;
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
struct Item {
    image: ImageRef,
    platform: Platform,
    target: Target,
    site: Option<manifest::Site>,
    manifest: Option<String>,
}

/// The top-level entry point for `policy check`.
pub async fn check(ctx: &Context, args: &PolicyCheckArgs) -> Report {
    let mut warnings = Vec::new();
    let checked = ctx
        .within_deadline(check_all(ctx, args, &mut warnings))
        .await;
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => return Report::plain(Err(e)),
    };
    for c in checked
        .iter()
        .filter(|c| c.decision == Decision::WouldBeDenied)
    {
        warnings.push(format!(
            "{} would be denied (dry run) by {}: {}; the deploy goes ahead and the violation is \
             only logged",
            c.image, c.decided_by, c.reason
        ));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let printed = print(args.output, &checked, Checked::text);
    let denied: Vec<String> = checked
        .iter()
        .filter(|c| c.decision == Decision::Denied)
        .map(|c| match (&c.container, &c.workload) {
            (Some(container), Some(workload)) => format!(
                "{} ({container} in {workload}, by {})",
                c.image, c.decided_by
            ),
            _ => format!("{} (by {})", c.image, c.decided_by),
        })
        .collect();
    let overall = [
        Decision::Denied,
        Decision::WouldBeDenied,
        Decision::Breakglass,
    ]
    .into_iter()
    .find(|d| checked.iter().any(|c| c.decision == *d))
    .unwrap_or(Decision::Allowed);
    let overall = serde_json::to_value(overall)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let json = serde_json::to_string(&checked).unwrap_or_default();
    Report {
        outcomes: Vec::new(),
        verdicts: Vec::new(),
        outputs: vec![("decision".into(), overall), ("json".into(), json)],
        result: printed.and(match denied.is_empty() {
            true => Ok(()),
            false => Err(Error::PolicyDenied {
                denied: denied.join(", "),
            }),
        }),
        summary: Some(summary(&checked)),
        warnings,
    }
}

/// The step-summary table.
fn summary(checked: &[Checked]) -> String {
    let mut out = String::from(
        "### Binary Authorization policy check\n\n| Image | Where | Decision | Decided by | Reason |\n|---|---|---|---|---|\n",
    );
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    for c in checked {
        let place = match (&c.manifest, &c.workload, &c.container) {
            (Some(m), Some(w), Some(ct)) => format!("{m} {w} {ct}"),
            _ => format!("{:?}", c.platform).to_lowercase(),
        };
        out += &format!(
            "| `{}` | {} | {} | `{}` | {} |\n",
            c.image,
            cell(&place),
            c.decision_text,
            cell(&c.decided_by),
            cell(&c.reason)
        );
    }
    out
}

async fn check_all(
    ctx: &Context,
    args: &PolicyCheckArgs,
    warnings: &mut Vec<String>,
) -> Result<Vec<Checked>> {
    let items = items(args, warnings)?;
    if items.is_empty() {
        return Err(Error::Usage(
            "nothing to check: pass IMAGE arguments or --manifest FILE (with at least one container)"
                .into(),
        ));
    }
    let endpoints = Endpoints::from_env();
    let mut binauthz: Option<Binauthz> = None;
    let policy = match (&args.policy, &args.project) {
        (Some(path), _) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Usage(format!("cannot read --policy {name} ({e})")))?;
            Policy::parse(&name, &text)?
        }
        (None, Some(project)) => {
            let client = Binauthz::new(&ctx.auth()?, &endpoints).await?;
            let policy = client.policy(project).await?;
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
            let found = verify::verify(clients, &images, &names, None, ctx.concurrency).await?;
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
                workload: site.map(|s| s.workload.clone()),
                container: site.map(|s| s.container.clone()),
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

/// The images to decide: the arguments, then each manifest's containers.
fn items(args: &PolicyCheckArgs, warnings: &mut Vec<String>) -> Result<Vec<Item>> {
    let gke_flags =
        args.cluster.is_some() || args.namespace.is_some() || args.service_account.is_some();
    let platform = args.platform.unwrap_or(match gke_flags {
        true => Platform::Gke,
        false => Platform::Cloudrun,
    });
    if let Some(sa) = &args.service_account {
        if sa
            .split_once(':')
            .is_none_or(|(ns, n)| ns.is_empty() || n.is_empty())
        {
            return Err(Error::Usage(format!(
                "--service-account `{sa}`: expected NAMESPACE:NAME, as kubernetesServiceAccountAdmissionRules keys it"
            )));
        }
    }
    let target = Target {
        cluster: args.cluster.clone(),
        namespace: args.namespace.clone(),
        service_account: args.service_account.clone(),
    };
    let mut items: Vec<Item> = args
        .images
        .iter()
        .map(|image| Item {
            image: image.clone(),
            platform,
            target: target.clone(),
            site: None,
            manifest: None,
        })
        .collect();
    for path in &args.manifests {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read manifest {name} ({e})")))?;
        let m = manifest::parse(&name, &text)?;
        warnings.extend(m.warnings.iter().cloned());
        for site in m.sites {
            let image = ImageRef::parse(&site.image).map_err(|e| Error::ManifestFile {
                file: name.clone(),
                position: format!("line {}", site.line),
                reason: format!("{} container {}: {e}", site.workload, site.container),
            })?;
            // The object's namespace, else --namespace, else Kubernetes' `default`; its pod's
            // service account, else the namespace's `default` one.
            let namespace = site
                .namespace
                .clone()
                .or_else(|| args.namespace.clone())
                .unwrap_or_else(|| "default".into());
            let service_account = match &site.service_account {
                Some(sa) => format!("{namespace}:{sa}"),
                None => args
                    .service_account
                    .clone()
                    .unwrap_or_else(|| format!("{namespace}:default")),
            };
            let target = match site.platform {
                Platform::Gke => Target {
                    cluster: args.cluster.clone(),
                    namespace: Some(namespace),
                    service_account: Some(service_account),
                },
                Platform::Cloudrun => Target::default(),
            };
            items.push(Item {
                image,
                platform: site.platform,
                target,
                manifest: Some(name.clone()),
                site: Some(site),
            });
        }
    }
    Ok(items)
}
