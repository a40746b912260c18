//! Which requests the webhook judges, and which containers of them: the kinds `policy check
//! --manifest` reads (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob), read by
//! the same reader (`manifest.rs`: the object is JSON, and JSON is YAML), so the cluster and CI
//! find the same containers, the same service account and the same breakglass annotation.
//!
//! An UPDATE is judged on what it adds: a container whose (name, image) the stored object
//! already runs needs no new check, so an UPDATE that changes no image (a scale, a label) is
//! admitted without a registry call, and an ephemeral container added through
//! `pods/ephemeralcontainers` is judged alone.

use serde_json::Value;

use super::review::{Operation, Request};
use crate::manifest::{self, Site};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Not ours to judge: the reason, for the log.
    Pass(&'static str),
    /// These containers (new or changed images) decide.
    Judge(Vec<Site>),
}

/// The kinds judged, as `request.kind` names them after `matchPolicy: Equivalent` conversion.
fn judged_kind(group: &str, version: &str, kind: &str) -> bool {
    matches!(
        (group, version, kind),
        ("", "v1", "Pod")
            | (
                "apps",
                "v1",
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
            )
            | ("batch", "v1", "Job" | "CronJob")
    )
}

/// What `request` asks the webhook to judge. `Err` when the object cannot be read (the API
/// server validated it, so this is a request we do not understand: refused, fail closed).
pub fn scope(request: &Request) -> Result<Scope, String> {
    let kind = &request.kind;
    if !judged_kind(&kind.group, &kind.version, &kind.kind) {
        return Ok(Scope::Pass("kind not judged"));
    }
    match request.operation {
        Operation::Create | Operation::Update => {}
        Operation::Delete | Operation::Connect => return Ok(Scope::Pass("operation not judged")),
    }
    match (request.sub_resource.as_str(), kind.kind.as_str()) {
        ("", _) => {}
        // `kubectl debug` adds ephemeral containers through this subresource, an UPDATE.
        ("ephemeralcontainers", "Pod") if request.operation == Operation::Update => {}
        _ => return Ok(Scope::Pass("subresource not judged")),
    }
    let Some(object) = &request.object else {
        return Err(format!(
            "the {} request for {} has no object",
            serde_json::to_string(&request.operation).unwrap_or_default(),
            kind.kind
        ));
    };
    let new = sites(request, object)?;
    let old = match (&request.old_object, request.operation) {
        (Some(old), Operation::Update) => sites(request, old)?,
        _ => Vec::new(),
    };
    let added: Vec<Site> = new
        .into_iter()
        .filter(|s| {
            !old.iter()
                .any(|o| o.container == s.container && o.image == s.image)
        })
        .collect();
    Ok(match added.is_empty() {
        true => Scope::Pass("no new or changed image"),
        false => Scope::Judge(added),
    })
}

/// The containers of `object`, read by `manifest.rs`; the request's kind fills in an object
/// written without `apiVersion` or `kind`.
fn sites(request: &Request, object: &Value) -> Result<Vec<Site>, String> {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(request.api_version()));
        map.entry("kind")
            .or_insert_with(|| Value::String(request.kind.kind.clone()));
    }
    let name = format!("the {} in the AdmissionReview", request.kind.kind);
    let text = object.to_string();
    manifest::parse(&name, &text)
        .map(|m| m.sites)
        .map_err(|e| e.to_string())
}

/// The container as people name it: `container "app"`, `init container "setup"`,
/// `ephemeral container "debug"` (from the reader's `init:` and `ephemeral:` prefixes).
pub fn container_text(container: &str) -> String {
    if let Some(name) = container.strip_prefix("init:") {
        return format!("init container \"{name}\"");
    }
    if let Some(name) = container.strip_prefix("ephemeral:") {
        return format!("ephemeral container \"{name}\"");
    }
    format!("container \"{container}\"")
}
