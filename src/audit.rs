//! After the deploy: what Binary Authorization refused, let through in dry run, or let through
//! by breakglass, read from Cloud Audit Logs with the queries Google documents, one event per
//! entry. Pure: the entries come from `gcp::logging`, the report goes to `commands::audit`.
//!
//! The queries, per platform:
//! - Cloud Run writes Binary Authorization events to the system-event audit log of the
//!   revision (https://cloud.google.com/binary-authorization/docs/run/viewing-audit-logs-cloud-run):
//!   `resource.type="cloud_run_revision"`, `logName:"cloudaudit.googleapis.com%2Fsystem_event"`;
//!   a refused deploy carries `protoPayload.response.status.conditions.reason="ContainerImageUnauthorized"`,
//!   a dry-run violation the words "dry run", and a breakglass deploy the service annotation
//!   `run.googleapis.com/binary-authorization-breakglass` with its justification
//!   (https://cloud.google.com/binary-authorization/docs/run/using-breakglass-cloud-run: "Using
//!   breakglass creates a log entry containing the breakglass justification").
//! - GKE writes them to the Admin Activity log of the cluster
//!   (https://cloud.google.com/binary-authorization/docs/viewing-audit-logs): pod creates and
//!   updates (`protoPayload.methodName="io.k8s.core.v1.pods.create"` or `...update`) whose
//!   `protoPayload.response.reason="VIOLATES_POLICY"` (denied), with the label
//!   `imagepolicywebhook.image-policy.k8s.io/dry-run="true"` (dry run), or with the pod label
//!   `image-policy.k8s.io/break-glass="true"` (https://cloud.google.com/binary-authorization/docs/using-breakglass).

use crate::gcp::logging::Entry;
use crate::policy::Platform;
use serde::Serialize;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// The service annotation a breakglass deploy carries on Cloud Run.
pub const RUN_BREAKGLASS: &str = "run.googleapis.com/binary-authorization-breakglass";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The policy refused the deploy.
    Denied,
    /// A dry-run rule let through what it would refuse under enforcement.
    #[value(name = "dryrun")]
    #[serde(rename = "dry-run")]
    DryRun,
    /// The deploy skipped the policy by breakglass.
    Breakglass,
}

impl Kind {
    /// As a table cell and sentence word.
    pub fn text(self) -> &'static str {
        match self {
            Kind::Denied => "denied",
            Kind::DryRun => "dry-run violation",
            Kind::Breakglass => "breakglass",
        }
    }
}

/// One Binary Authorization event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When (RFC 3339, as the log has it).
    pub time: String,
    /// Cloud Run or GKE.
    pub platform: Platform,
    /// The Cloud Run service, or the GKE workload (`namespace/pod`).
    pub service: String,
    /// The Cloud Run revision (empty on GKE).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// The images as the deploy named them.
    pub images: Vec<String>,
    /// The digest of each image, where the reference has one.
    pub digests: Vec<String>,
    /// Denied, dry-run violation or breakglass.
    pub kind: Kind,
    /// Google's words: the denial or dry-run message; for breakglass, the violation if any.
    pub reason: String,
    /// The breakglass justification.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub justification: String,
    /// Who deployed.
    pub principal: String,
    /// The entry's `insertId`.
    pub insert_id: String,
}

/// The filter for one platform's events since `since` (RFC 3339), of one service if given.
pub fn filter(platform: Platform, since: &str, service: Option<&str>) -> String {
    let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut parts = match platform {
        Platform::Cloudrun => vec![
            r#"resource.type="cloud_run_revision""#.to_string(),
            r#"logName:"cloudaudit.googleapis.com%2Fsystem_event""#.to_string(),
            format!(
                r#"(protoPayload.response.status.conditions.reason="ContainerImageUnauthorized" OR "dry run" OR protoPayload.response.metadata.annotations.{}:*)"#,
                quoted(RUN_BREAKGLASS)
            ),
        ],
        Platform::Gke => vec![
            r#"resource.type="k8s_cluster""#.to_string(),
            r#"logName:"cloudaudit.googleapis.com%2Factivity""#.to_string(),
            r#"(protoPayload.methodName="io.k8s.core.v1.pods.create" OR protoPayload.methodName="io.k8s.core.v1.pods.update")"#.to_string(),
            r#"(protoPayload.response.reason="VIOLATES_POLICY" OR labels."imagepolicywebhook.image-policy.k8s.io/dry-run"="true" OR protoPayload.request.metadata.labels."image-policy.k8s.io/break-glass"="true")"#.to_string(),
        ],
    };
    parts.push(format!("timestamp>={}", quoted(since)));
    if let Some(s) = service {
        parts.push(match platform {
            Platform::Cloudrun => format!("resource.labels.service_name={}", quoted(s)),
            Platform::Gke => format!("protoPayload.resourceName:{}", quoted(s)),
        });
    }
    parts.join(" AND ")
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_default()
}

fn digest_of(image: &str) -> String {
    image
        .split_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default()
}

/// Reads one entry as an event; `None` for an entry the query matched that is none of the
/// three (a query is broader than the classification, never narrower).
pub fn classify(platform: Platform, e: &Entry) -> Option<Event> {
    let p = &e.payload;
    let principal = str_at(p, &["authenticationInfo", "principalEmail"]).to_string();
    match platform {
        Platform::Cloudrun => {
            let response = &p["response"];
            let images: Vec<String> = response["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["image"].as_str().map(String::from))
                .collect();
            let status_message = str_at(p, &["status", "message"]);
            let refused = response["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["reason"] == "ContainerImageUnauthorized")
                .map(|c| c["message"].as_str().unwrap_or_default().to_string());
            let breakglass = response["metadata"]["annotations"][RUN_BREAKGLASS]
                .as_str()
                .map(String::from);
            let (kind, reason, justification) = match (breakglass, refused) {
                (Some(why), _) => (Kind::Breakglass, String::new(), why),
                (None, Some(message)) => (Kind::Denied, message, String::new()),
                (None, None) if status_message.to_lowercase().contains("dry run") => {
                    let reason = status_message
                        .strip_prefix("Dry run: ")
                        .unwrap_or(status_message);
                    (Kind::DryRun, reason.to_string(), String::new())
                }
                (None, None) => return None,
            };
            Some(Event {
                time: e.timestamp.clone(),
                platform,
                service: e
                    .resource_labels
                    .get("service_name")
                    .cloned()
                    .unwrap_or_default(),
                revision: e
                    .resource_labels
                    .get("revision_name")
                    .cloned()
                    .unwrap_or_default(),
                digests: images.iter().map(|i| digest_of(i)).collect(),
                images,
                kind,
                reason,
                justification,
                principal,
                insert_id: e.insert_id.clone(),
            })
        }
        Platform::Gke => {
            let request = &p["request"];
            let images: Vec<String> = request["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["image"].as_str().map(String::from))
                .collect();
            let breakglass =
                request["metadata"]["labels"]["image-policy.k8s.io/break-glass"] == "true";
            let dry_run = e
                .labels
                .get("imagepolicywebhook.image-policy.k8s.io/dry-run")
                .is_some_and(|v| v == "true");
            let denied = str_at(p, &["response", "reason"]) == "VIOLATES_POLICY";
            let kind = match (breakglass, denied, dry_run) {
                (true, _, _) => Kind::Breakglass,
                (false, true, _) => Kind::Denied,
                (false, false, true) => Kind::DryRun,
                _ => return None,
            };
            let reason = match kind {
                Kind::Denied => str_at(p, &["response", "message"]).to_string(),
                _ => e
                    .labels
                    .get("imagepolicywebhook.image-policy.k8s.io/overridden-verification-result")
                    .cloned()
                    .unwrap_or_default(),
            };
            Some(Event {
                time: e.timestamp.clone(),
                platform,
                service: str_at(p, &["resourceName"]).to_string(),
                revision: String::new(),
                digests: images.iter().map(|i| digest_of(i)).collect(),
                images,
                kind,
                reason,
                justification: String::new(),
                principal,
                insert_id: e.insert_id.clone(),
            })
        }
    }
}

/// `--since`: a duration back from now (`90m`, `12h`, `7d`, `2w`) or an RFC 3339 time; the
/// start of the window as RFC 3339 (UTC).
pub fn since(text: &str, now: SystemTime) -> Result<String, String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return t.format(&Rfc3339).map_err(|e| e.to_string());
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&i| i > 0)
        .ok_or_else(|| {
            format!("`{text}` is neither a duration like 7d, 12h, 90m, 2w nor an RFC 3339 time")
        })?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}`: the number is too large"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => {
            return Err(format!(
                "`{text}`: unit `{unit}` is not one of s, m, h, d, w (e.g. 7d), nor is it an RFC 3339 time"
            ))
        }
    };
    let back = n
        .checked_mul(secs)
        .map(Duration::from_secs)
        .and_then(|d| now.checked_sub(d))
        .ok_or_else(|| format!("`{text}` reaches before 1970"))?;
    let t = time::OffsetDateTime::from(back);
    t.format(&Rfc3339).map_err(|e| e.to_string())
}

/// Events per kind, in the order of [`Kind`].
pub fn counts(events: &[Event]) -> [(Kind, usize); 3] {
    [Kind::Denied, Kind::DryRun, Kind::Breakglass]
        .map(|k| (k, events.iter().filter(|e| e.kind == k).count()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_entry(payload: Value) -> Entry {
        Entry {
            insert_id: "i1".into(),
            timestamp: "2026-12-03T12:00:00Z".into(),
            resource_type: "cloud_run_revision".into(),
            resource_labels: [("service_name".to_string(), "svc".to_string())].into(),
            payload,
            ..Entry::default()
        }
    }

    #[test]
    fn cloud_run_entries_read_as_their_kind() {
        let image = "r.io/p/app@sha256:abc";
        let denied = run_entry(
            json!({"authenticationInfo": {"principalEmail": "dev@example.com"},
            "response": {"spec": {"template": {"spec": {"containers": [{"image": image}]}}},
                         "status": {"conditions": [{"type": "Ready", "reason": "ContainerImageUnauthorized", "message": "not authorized"}]}}}),
        );
        let e = classify(Platform::Cloudrun, &denied).unwrap();
        assert_eq!(
            (e.kind, e.reason.as_str(), e.principal.as_str()),
            (Kind::Denied, "not authorized", "dev@example.com")
        );
        assert_eq!(e.digests, ["sha256:abc"]);
        let dry =
            run_entry(json!({"status": {"message": "Dry run: Image x denied"}, "response": {}}));
        let e = classify(Platform::Cloudrun, &dry).unwrap();
        assert_eq!(
            (e.kind, e.reason.as_str()),
            (Kind::DryRun, "Image x denied")
        );
        let glass = run_entry(
            json!({"response": {"metadata": {"annotations": {RUN_BREAKGLASS: "incident 7"}}}}),
        );
        let e = classify(Platform::Cloudrun, &glass).unwrap();
        assert_eq!(
            (e.kind, e.justification.as_str()),
            (Kind::Breakglass, "incident 7")
        );
        assert!(classify(Platform::Cloudrun, &run_entry(json!({"response": {}}))).is_none());
    }

    #[test]
    fn since_takes_durations_and_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10 * 86_400);
        assert_eq!(since("7d", now).unwrap(), "1970-01-04T00:00:00Z");
        assert_eq!(since("90m", now).unwrap(), "1970-01-10T22:30:00Z");
        assert_eq!(
            since("2026-12-01T00:00:00Z", now).unwrap(),
            "2026-12-01T00:00:00Z"
        );
        for bad in ["", "7", "d", "7y", "yesterday", "99999999999999999999d"] {
            assert!(since(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_carry_the_documented_restrictions() {
        let f = filter(Platform::Cloudrun, "2026-12-01T00:00:00Z", Some("svc"));
        assert!(f.contains(r#"resource.type="cloud_run_revision""#));
        assert!(f.contains(r#"logName:"cloudaudit.googleapis.com%2Fsystem_event""#));
        assert!(f.contains(r#"reason="ContainerImageUnauthorized""#));
        assert!(f.contains(r#"timestamp>="2026-12-01T00:00:00Z""#));
        assert!(f.ends_with(r#"resource.labels.service_name="svc""#));
        let g = filter(Platform::Gke, "2026-12-01T00:00:00Z", None);
        assert!(g.contains(r#"protoPayload.response.reason="VIOLATES_POLICY""#));
    }
}
