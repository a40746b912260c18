//! Cloud Logging: `entries.list` through the official `google-cloud-logging-v2` crate, every
//! page of one query, as plain entries `audit.rs` reads (the AuditLog payload stays JSON: the
//! SDK carries it as a `google.protobuf.Any`, and the fields Binary Authorization events use
//! are a handful of paths in it).

use super::auth::Auth;
use super::{call, configure};
use crate::error::{Error, Result};
use google_cloud_logging_v2::client::LoggingServiceV2;
use std::collections::HashMap;

/// One log entry, reduced to what an audit report reads.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The entry's `insertId` (unique per log), to tell entries apart across pages.
    pub insert_id: String,
    /// RFC 3339.
    pub timestamp: String,
    /// `projects/P/logs/LOG_ID`.
    pub log_name: String,
    /// The monitored resource's type (`cloud_run_revision`, `k8s_cluster`).
    pub resource_type: String,
    /// The monitored resource's labels (`service_name`, `revision_name`, ...).
    pub resource_labels: HashMap<String, String>,
    /// The entry's own labels (GKE's dry-run label).
    pub labels: HashMap<String, String>,
    /// The `protoPayload` as JSON (`@type`, `authenticationInfo`, `request`, `response`, ...).
    pub payload: serde_json::Value,
}

/// The Logging client of a run.
pub struct Logging {
    client: LoggingServiceV2,
}

/// Entries per page asked for: the API's maximum (entries.list: "the maximum is 1000").
const PAGE_SIZE: i32 = 1000;
/// At most this many entries are read in one run, so an unbounded log cannot exhaust memory.
pub const MAX_ENTRIES: usize = 100_000;

impl Logging {
    /// A client for `CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` (Google's by default).
    pub async fn new(auth: &Auth, endpoint: Option<&String>) -> Result<Logging> {
        let builder = configure(LoggingServiceV2::builder(), endpoint, auth.credentials());
        let client = builder
            .build()
            .await
            .map_err(|e| Error::Setup(format!("cannot create the Cloud Logging client: {e}")))?;
        Ok(Logging { client })
    }

    /// Every entry of `project` matching `filter`, oldest first, page after page.
    pub async fn list(&self, project: &str, filter: &str) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let what = format!("Cloud Logging entries.list for projects/{project}");
            let page_token = token.clone();
            let send = || {
                self.client
                    .list_log_entries()
                    .set_resource_names([format!("projects/{project}")])
                    .set_filter(filter)
                    .set_order_by("timestamp asc")
                    .set_page_size(PAGE_SIZE)
                    .set_page_token(page_token.clone())
                    .send()
            };
            let page = call(
                &what,
                true,
                |e| match e.http_status_code() {
                    Some(403 | 404) if super::unknown_project(&e) => Error::ProjectNotFound {
                        project: project.to_string(),
                        reason: super::status_message(&e),
                    },
                    _ => super::error(
                        e,
                        format!("read the audit log of project {project}"),
                        "grant the caller roles/logging.viewer on the project (it holds logging.logEntries.list)",
                    ),
                },
                send,
            )
            .await?;
            for e in page.entries {
                out.push(entry(e));
            }
            if out.len() > MAX_ENTRIES {
                return Err(Error::Usage(format!(
                    "more than {MAX_ENTRIES} audit log entries match in project {project}: narrow the query with --since or --service"
                )));
            }
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }
}

fn entry(e: google_cloud_logging_v2::model::LogEntry) -> Entry {
    let timestamp = e
        .timestamp
        .as_ref()
        .and_then(|t| serde_json::to_value(t).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let payload = e
        .proto_payload()
        .and_then(|any| serde_json::to_value(any.as_ref()).ok())
        .unwrap_or_default();
    let (resource_type, resource_labels) = match e.resource {
        Some(r) => (r.r#type, r.labels.into_iter().collect()),
        None => (String::new(), HashMap::new()),
    };
    Entry {
        insert_id: e.insert_id,
        timestamp,
        log_name: e.log_name,
        resource_type,
        resource_labels,
        labels: e.labels.into_iter().collect(),
        payload,
    }
}
