//! One review's answer: which containers to judge (`workload.rs`), the evidence their rules
//! need (digests and verdicts, each distinct one asked once, all within the review's budget),
//! then `policy::decide` for each container, the one decision `policy check` makes too, and
//! the response: refused with the container, image, digest, rule and fix; dry-run violations as
//! warnings and an audit annotation; breakglass admitted and annotated.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;

use super::config::Config;
use super::review::{Request, Response};
use super::workload::{self, container_text, Scope};
use crate::error::{Error, Result};
use crate::manifest::{Site, GKE_BREAKGLASS};
use crate::policy::{self, Applies, Decision, Evaluation, EvaluationMode, Platform, Target};
use crate::reference::{Digest, ImageRef};
use crate::report::{Judge, Verdict};

/// Where the evidence comes from: live (`evidence.rs`) or, in unit tests, fixed.
pub trait Evidence: Sync {
    /// The digest the registry serves for `image`.
    fn resolve(&self, image: &ImageRef) -> impl Future<Output = Result<Digest>> + Send;
    /// Whether `attestor` (`projects/P/attestors/A`) vouches for `pinned` (an image with its
    /// digest). `Err` when the evidence could not be read.
    fn verdict(
        &self,
        config: &Config,
        pinned: &ImageRef,
        attestor: &str,
    ) -> impl Future<Output = Result<Verdict>> + Send;
}

/// One container's decision, as logged.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    /// `app`, `init:setup`, `ephemeral:debug`.
    pub container: String,
    /// The image as the object names it.
    pub image: String,
    /// `REPO@DIGEST` checked, when the rule needed the digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<String>,
    /// The decision.
    pub decision: Decision,
    /// The rule or pattern that decided.
    pub decided_by: String,
    /// Why.
    pub reason: String,
    /// True when the evidence could not be read (registry or Google failing, or too slow).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unavailable: bool,
    /// The metrics label.
    #[serde(skip)]
    pub label: &'static str,
    /// What fixes it, for a refusal.
    #[serde(skip)]
    pub fix: String,
}

/// A review's answer and what the log and metrics record of it.
#[derive(Debug, Clone)]
pub struct Judged {
    /// What the API server gets.
    pub response: Response,
    /// `allowed`, `denied`, `dry-run`, `breakglass`, `passed` or `unavailable`.
    pub result: &'static str,
    /// Why, as a metrics label.
    pub reason: &'static str,
    /// Each container judged.
    pub containers: Vec<Judgement>,
}

/// The audit annotation keys (the API server prefixes them with the webhook's name).
pub const ANNOTATION_BREAKGLASS: &str = "breakglass";
/// Dry-run violations, each in full.
pub const ANNOTATION_DRY_RUN: &str = "dry-run-violations";
/// Every image whose digest was checked: `container=REPO@DIGEST`.
pub const ANNOTATION_CHECKED: &str = "checked-digests";

/// A container on its way to a decision.
struct Item {
    site: Site,
    image: std::result::Result<ImageRef, String>,
    target: Target,
    /// The rule that applies (its name and mode), or None when a pattern exempts the image.
    rule: Option<(String, EvaluationMode, policy::EnforcementMode)>,
    /// The attestors it needs, when REQUIRE_ATTESTATION applies.
    attestors: Vec<String>,
}

/// The answer to `request` under `config`, with evidence from `evidence`, within `budget`.
pub async fn review<E: Evidence>(
    config: &Config,
    evidence: &E,
    request: &Request,
    budget: Duration,
) -> Judged {
    let deadline = tokio::time::Instant::now() + budget;
    let allow = Response::allow(request);
    let sites = match workload::scope(request) {
        Ok(Scope::Pass(why)) => {
            return Judged {
                response: allow,
                result: "passed",
                reason: why,
                containers: Vec::new(),
            }
        }
        Ok(Scope::Judge(sites)) => sites,
        Err(reason) => {
            return Judged {
                response: allow.deny(
                    403,
                    format!("binauthz-attest cannot read this request: {reason}"),
                ),
                result: "denied",
                reason: "unreadable-object",
                containers: Vec::new(),
            }
        }
    };
    let what = object_text(request);

    // Breakglass admits the deploy whatever the policy says, and is logged (using-breakglass).
    if let Some(annotation) = sites.iter().find_map(|s| s.breakglass.clone()) {
        let evaluation = policy::breakglass(annotation.clone());
        let containers: Vec<Judgement> = sites
            .iter()
            .map(|s| Judgement {
                container: s.container.clone(),
                image: s.image.clone(),
                checked: None,
                decision: evaluation.decision,
                decided_by: evaluation.decided_by.clone(),
                reason: evaluation.reason.clone(),
                unavailable: false,
                label: "breakglass",
                fix: String::new(),
            })
            .collect();
        let images: Vec<String> = sites
            .iter()
            .map(|s| format!("{}={}", s.container, s.image))
            .collect();
        let response = allow
            .warn(&format!(
                "binauthz-attest: breakglass ({GKE_BREAKGLASS}) on {what}: policy not enforced, logged for audit"
            ))
            .annotate(
                ANNOTATION_BREAKGLASS,
                format!("{annotation}; images admitted unchecked: {}", images.join(", ")),
            );
        return Judged {
            response,
            result: "breakglass",
            reason: "breakglass",
            containers,
        };
    }

    let items: Vec<Item> = sites
        .into_iter()
        .map(|site| item(config, request, site))
        .collect();

    // Each distinct tag resolved once, each distinct (digest, attestor) asked once.
    let mut tags: Vec<ImageRef> = Vec::new();
    for item in &items {
        if let (Ok(image), false) = (&item.image, item.attestors.is_empty()) {
            if image.digest().is_none() && !tags.contains(image) {
                tags.push(image.clone());
            }
        }
    }
    let resolved: HashMap<ImageRef, std::result::Result<Digest, Failure>> =
        join_all(tags.into_iter().map(|image| async move {
            let digest = within(deadline, budget, evidence.resolve(&image)).await;
            (image, digest)
        }))
        .await
        .into_iter()
        .collect();
    let pinned: Vec<Option<std::result::Result<ImageRef, Failure>>> = items
        .iter()
        .map(|item| match (&item.image, item.attestors.is_empty()) {
            (Ok(image), false) => Some(match image.digest() {
                Some(_) => Ok(image.clone()),
                None => resolved[image]
                    .clone()
                    .map(|digest| image.with_digest(&digest)),
            }),
            _ => None,
        })
        .collect();
    let mut asks: Vec<(ImageRef, String)> = Vec::new();
    for (item, pinned) in items.iter().zip(&pinned) {
        if let Some(Ok(p)) = pinned {
            for a in &item.attestors {
                let ask = (p.clone(), a.clone());
                if !asks.contains(&ask) {
                    asks.push(ask);
                }
            }
        }
    }
    let verdicts: HashMap<(ImageRef, String), std::result::Result<Verdict, Failure>> =
        join_all(asks.into_iter().map(|(p, a)| async move {
            let verdict = within(deadline, budget, evidence.verdict(config, &p, &a)).await;
            ((p, a), verdict)
        }))
        .await
        .into_iter()
        .collect();

    let containers: Vec<Judgement> = items
        .iter()
        .zip(pinned)
        .map(|(item, pinned)| judge(config, item, pinned, &verdicts))
        .collect();
    respond(allow, &what, containers)
}

/// A remote failure, as the review reports it.
#[derive(Debug, Clone)]
struct Failure {
    message: String,
    /// True for a failure to reach the evidence (exit codes 3 and 6, or the budget), false for
    /// an answer that settles it (the image does not exist).
    unavailable: bool,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            unavailable: matches!(e.exit_code(), 3 | 6),
            message: e.to_string(),
        }
    }
}

/// `work`, or a failure naming the budget once `deadline` passes.
async fn within<T>(
    deadline: tokio::time::Instant,
    budget: Duration,
    work: impl Future<Output = Result<T>>,
) -> std::result::Result<T, Failure> {
    match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result.map_err(Failure::from),
        Err(_) => Err(Failure {
            message: format!(
                "no answer within the review's budget of {} ms (waiting for {})",
                budget.as_millis(),
                crate::retry::in_flight().unwrap_or_else(|| "the evidence".into())
            ),
            unavailable: true,
        }),
    }
}

/// `Kind namespace/name` of the request's object.
fn object_text(request: &Request) -> String {
    let name = match request.name.as_str() {
        "" => request
            .object
            .as_ref()
            .and_then(|o| o["metadata"]["generateName"].as_str())
            .map(|g| format!("{g}*"))
            .unwrap_or_else(|| "(unnamed)".into()),
        name => name.to_string(),
    };
    match request.namespace.as_str() {
        "" => format!("{} {name}", request.kind.kind),
        ns => format!("{} {ns}/{name}", request.kind.kind),
    }
}

/// The deploy target and the rule that applies to one container.
fn item(config: &Config, request: &Request, site: Site) -> Item {
    // The request's namespace is where the object is stored; the object's own may be unset.
    let namespace = Some(request.namespace.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| site.namespace.clone())
        .unwrap_or_else(|| "default".into());
    // A pod without serviceAccountName runs as its namespace's `default` account.
    let account = site
        .service_account
        .clone()
        .unwrap_or_else(|| "default".into());
    let target = Target {
        cluster: config.cluster.clone(),
        service_account: Some(format!("{namespace}:{account}")),
        namespace: Some(namespace),
    };
    let image = ImageRef::parse(&site.image).map_err(|e| e.to_string());
    let written = match &image {
        Ok(i) => i.to_string(),
        Err(_) => site.image.clone(),
    };
    let (rule, attestors) = match config.policy.applies(&written, Platform::Gke, &target) {
        Applies::Exempt { .. } => (None, Vec::new()),
        Applies::Rule { name, rule } => {
            let attestors = match rule.evaluation_mode {
                EvaluationMode::RequireAttestation => rule.require_attestations_by.clone(),
                _ => Vec::new(),
            };
            (
                Some((name, rule.evaluation_mode, rule.enforcement_mode)),
                attestors,
            )
        }
    };
    Item {
        site,
        image,
        target,
        rule,
        attestors,
    }
}

/// One container's decision from its evidence.
fn judge(
    config: &Config,
    item: &Item,
    pinned: Option<std::result::Result<ImageRef, Failure>>,
    verdicts: &HashMap<(ImageRef, String), std::result::Result<Verdict, Failure>>,
) -> Judgement {
    let mut unavailable = false;
    let mut checked = None;
    let refusal = |reason: String| match &item.rule {
        Some((name, _, mode)) => Evaluation {
            decision: mode.refusal(),
            decided_by: name.clone(),
            reason,
            attestors: item.attestors.clone(),
        },
        None => Evaluation {
            decision: Decision::Denied,
            decided_by: "image reference".into(),
            reason,
            attestors: Vec::new(),
        },
    };
    let evaluation = match (&item.image, pinned) {
        (Err(e), _) => match &item.rule {
            // An image no pattern exempts and no rule allows must be one we can read.
            Some((_, EvaluationMode::AlwaysAllow, _)) | None => Evaluation {
                decision: Decision::Allowed,
                decided_by: item
                    .rule
                    .as_ref()
                    .map_or("an allowlist pattern".into(), |r| r.0.clone()),
                reason: "the rule allows every image".into(),
                attestors: Vec::new(),
            },
            Some(_) => refusal(format!(
                "`{}` is not an image reference ({e})",
                item.site.image
            )),
        },
        (Ok(image), None) => {
            policy::decide(&config.policy, image, Platform::Gke, &item.target, &[])
        }
        (Ok(image), Some(Err(failure))) => {
            unavailable = failure.unavailable;
            refusal(format!(
                "the digest of {image} could not be read: {}",
                failure.message
            ))
        }
        (Ok(_), Some(Ok(p))) => {
            checked = Some(p.to_string());
            let found: Vec<Verdict> = item
                .attestors
                .iter()
                .map(|a| match &verdicts[&(p.clone(), a.clone())] {
                    Ok(v) => v.clone(),
                    Err(failure) => {
                        unavailable |= failure.unavailable;
                        Verdict {
                            image: p.clone(),
                            image_ref: Some(p.clone()),
                            judge: Judge::Attestor(a.clone()),
                            verified: false,
                            attestation: None,
                            public_key_id: None,
                            reason: format!("could not be checked: {}", failure.message),
                            attestations: Vec::new(),
                        }
                    }
                })
                .collect();
            policy::decide(&config.policy, &p, Platform::Gke, &item.target, &found)
        }
    };
    let refused = matches!(
        evaluation.decision,
        Decision::Denied | Decision::WouldBeDenied
    );
    let unavailable = unavailable && refused;
    let mode = item.rule.as_ref().map(|r| r.1);
    let label = match (evaluation.decision, mode, &item.image) {
        (_, _, Err(_)) if refused => "invalid-image",
        _ if unavailable => "evidence-unavailable",
        (Decision::Allowed, None, _) => "exempt",
        (Decision::Allowed, Some(EvaluationMode::AlwaysAllow), _) => "always-allow",
        (Decision::Allowed, _, _) => "attested",
        (_, Some(EvaluationMode::AlwaysDeny), _) => "always-deny",
        _ => "not-attested",
    };
    let target = checked.as_deref().unwrap_or(&item.site.image);
    let fix = match label {
        "invalid-image" => "write the image as REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]".into(),
        "evidence-unavailable" => "the evidence could not be read in time (registry or Google \
            failing or slow): retry; if it persists, see the webhook's log and /metrics"
            .into(),
        "always-deny" => "the rule admits no image: deploy an image an admissionWhitelistPatterns \
            entry exempts, or change the rule"
            .into(),
        _ => format!(
            "sign {target} for {} (`binauthz-attest sign {target} --attestor ATTESTOR`, with \
             --cosign where the cluster cannot reach Google), or in an emergency set the pod \
             annotation {GKE_BREAKGLASS}: \"true\"",
            evaluation.attestors.join(" and ")
        ),
    };
    Judgement {
        container: item.site.container.clone(),
        image: item.site.image.clone(),
        checked,
        decision: evaluation.decision,
        decided_by: evaluation.decided_by,
        reason: evaluation.reason,
        unavailable,
        label,
        fix,
    }
}

/// The response from the containers' decisions.
fn respond(allow: Response, what: &str, containers: Vec<Judgement>) -> Judged {
    let describe = |j: &Judgement| {
        let site_text = container_text(&j.container);
        let checked = match &j.checked {
            Some(c) if c != &j.image => format!(" (checked {c})"),
            _ => String::new(),
        };
        format!(
            "{site_text} image \"{}\"{checked} {} by {}: {}",
            j.image,
            match j.decision {
                Decision::WouldBeDenied => "would be denied (dry run)",
                _ => "is denied",
            },
            j.decided_by,
            j.reason
        )
    };
    let mut response = allow;
    let checked: Vec<String> = containers
        .iter()
        .filter_map(|j| j.checked.as_ref().map(|c| format!("{}={c}", j.container)))
        .collect();
    if !checked.is_empty() {
        response = response.annotate(ANNOTATION_CHECKED, checked.join(", "));
    }
    let dry: Vec<&Judgement> = containers
        .iter()
        .filter(|j| j.decision == Decision::WouldBeDenied)
        .collect();
    for j in &dry {
        let short = j.checked.as_deref().unwrap_or(&j.image);
        response = response.warn(&format!(
            "binauthz-attest dry run: {} would be denied by {}: {short}",
            j.container, j.decided_by
        ));
    }
    if !dry.is_empty() {
        let all: Vec<String> = dry.iter().map(|j| describe(j)).collect();
        response = response.annotate(ANNOTATION_DRY_RUN, all.join("\n"));
    }
    let denied: Vec<&Judgement> = containers
        .iter()
        .filter(|j| j.decision == Decision::Denied)
        .collect();
    let (result, reason) = if let Some(first) = denied.iter().find(|j| !j.unavailable) {
        ("denied", first.label)
    } else if !denied.is_empty() {
        ("unavailable", "evidence-unavailable")
    } else if let Some(first) = dry.first() {
        ("dry-run", first.label)
    } else {
        let label = containers
            .iter()
            .map(|j| j.label)
            .find(|l| *l == "attested")
            .or_else(|| containers.first().map(|j| j.label))
            .unwrap_or("exempt");
        ("allowed", label)
    };
    if !denied.is_empty() {
        let code = match result {
            "unavailable" => 503,
            _ => 403,
        };
        let lines: Vec<String> = denied
            .iter()
            .map(|j| format!("{}. Fix: {}", describe(j), j.fix))
            .collect();
        response = response.deny(
            code,
            format!("binauthz-attest denied {what}: {}", lines.join("\n")),
        );
    }
    Judged {
        response,
        result,
        reason,
        containers,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
