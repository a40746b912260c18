//! `policy check`: the flags and manifests read into the items to decide, the core's policy
//! judgement run within the deadline, the decisions printed, a summary table and the warnings
//! for the CI, and exit 5 when an image would be denied.

use super::{print, Context, Report};
use crate::attest::policy_check::{check_all, Checked, Item, PolicySource};
use crate::cli::PolicyCheckArgs;
use crate::error::{Error, Result};
use crate::manifest;
use crate::policy::{Decision, Platform, Target};
use crate::reference::ImageRef;
use crate::report::Output;

/// The top-level entry point for `policy check`.
pub async fn check(ctx: &Context, args: &PolicyCheckArgs) -> Report {
    let mut warnings = Vec::new();
    let work = async {
        let mut items = items(args, &mut warnings)?;
        if args.running {
            items.extend(running(ctx, args).await?);
        }
        let source = PolicySource {
            file: args.policy.as_deref(),
            project: args.project.as_deref(),
        };
        check_all(ctx, source, items, &mut warnings).await
    };
    let checked = ctx.within_deadline(work).await;
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
    // Breakglass is for emergencies: say so every time it admits something, and what it
    // leaves behind (using-breakglass: the deploy is written to Cloud Audit Logs).
    for c in checked
        .iter()
        .filter(|c| c.decision == Decision::Breakglass)
    {
        let place = match (&c.manifest, &c.workload, &c.container) {
            (Some(m), Some(w), Some(ct)) => {
                format!(" ({ct} in {w}, {m}:{})", c.line.unwrap_or_default())
            }
            _ => String::new(),
        };
        warnings.push(format!(
            "{}{place} is admitted by breakglass ({}): Binary Authorization skips the policy for \
             it and writes the deploy to Cloud Audit Logs for review; remove the annotation when \
             the emergency is over",
            c.image, c.decided_by
        ));
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
        output: Output::Named(vec![("decision".into(), overall), ("json".into(), json)]),
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
            (None, Some(w), Some(ct)) => format!("{w} {ct}"),
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

/// `--running`: each image of each serving Cloud Run revision of the region, by its digest.
async fn running(ctx: &Context, args: &PolicyCheckArgs) -> Result<Vec<Item>> {
    let (Some(project), Some(region)) = (&args.project, &args.region) else {
        return Err(Error::Usage(
            "--running needs --project and --region".into(),
        ));
    };
    let run = crate::attest::after_deploy::run(ctx).await?;
    let images = crate::running::images(&run, project, region).await?;
    Ok(images
        .into_iter()
        .map(|r| Item {
            image: r.image,
            platform: Platform::Cloudrun,
            target: Target::default(),
            site: None,
            manifest: None,
            running: Some((
                format!("service/{}", r.service),
                format!("revision {}", r.revision),
            )),
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
            running: None,
        })
        .collect();
    for path in &args.manifests {
        let name = path.display().to_string();
        let text = match path.as_os_str() == "-" {
            // `kubectl get pods -A -o yaml | binauthz-attest policy check --manifest -`.
            true => crate::bounded::stdin_to_string(crate::bounded::MANIFESTS),
            false => crate::bounded::read_to_string(path, crate::bounded::MANIFESTS),
        }
        .map_err(|e| Error::Usage(format!("cannot read manifest {name} ({e})")))?;
        let name = match name.as_str() {
            "-" => "stdin".to_string(),
            _ => name,
        };
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
                running: None,
            });
        }
    }
    Ok(items)
}
