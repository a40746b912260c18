//! Cloud Logging v2 `entries.list`, over the audit entries the emulated Cloud Run writes, with
//! the part of the Logging query language the documented Binary Authorization queries use.
//!
//! Sources:
//! - https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list (`resourceNames`
//!   required, `filter`, `orderBy` "timestamp asc" (default) or "timestamp desc", `pageSize`
//!   "Non-positive values are ignored ... default is 50 and the maximum is 1000", `pageToken`).
//! - https://cloud.google.com/logging/docs/view/logging-query-language: comparisons `=`, `!=`,
//!   `<`, `<=`, `>`, `>=`, `:` (has: substring, case-insensitive), `:*` (presence), `AND`, `OR`,
//!   `NOT`/`-`, implicit AND between adjacent restrictions, parentheses, quoted path segments
//!   (`labels."k8s-pod/app"`), a repeated field matching when any element does, bare text as a
//!   global restriction over every field's value, timestamps compared as times.
//! - The entry shape: Cloud Audit Logs' LogEntry with an AuditLog `protoPayload`
//!   (https://cloud.google.com/logging/docs/audit/understanding-audit-logs), logName
//!   `projects/P/logs/cloudaudit.googleapis.com%2Fsystem_event`, resource type
//!   `cloud_run_revision` with labels `service_name`, `revision_name`, `location`,
//!   `configuration_name`, `project_id` (https://cloud.google.com/logging/docs/api/v2/resource-list),
//!   as Cloud Run's Binary Authorization events are read
//!   (https://cloud.google.com/binary-authorization/docs/run/viewing-audit-logs-cloud-run).
//!
//! Not served: other operators (`=~` regular expressions), functions (`search`, `log_id`,
//! `sample`), numeric comparison of non-timestamp fields, `summaryFields`, tailing.

use crate::google::{int64_field, now, random_id, ApiError, ApiResult};
use crate::http::Reply;
use crate::router::{Call, Emulator};
use crate::schema::{self, f, Msg, Ty};
use crate::state::State;
use serde_json::{json, Value};

/// What Cloud Run writes for one Binary Authorization event.
pub struct SystemEvent<'a> {
    pub project: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub revision: &'a str,
    pub principal: &'a str,
    pub method: &'a str,
    pub severity: &'static str,
    /// The operation status message (dry run and breakglass events).
    pub status_message: Option<String>,
    /// The service as the deploy left it (its conditions, its annotations).
    pub response: Value,
}

/// Appends a system-event audit entry (the log is append-only, in time order).
pub fn write_system_event(state: &mut State, e: SystemEvent) {
    let t = now();
    let mut payload = json!({
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "serviceName": "run.googleapis.com",
        "methodName": e.method,
        "resourceName": format!("namespaces/{}/revisions/{}", e.project, e.revision),
        "authenticationInfo": {"principalEmail": e.principal},
        "response": e.response,
    });
    if let Some(m) = e.status_message {
        payload["status"] = json!({"code": 0, "message": m});
    }
    state.log_seq += 1;
    state.log_entries.push(json!({
        "insertId": format!("{}{:06}", &random_id().replace('-', "")[..8], state.log_seq),
        "logName": format!("projects/{}/logs/cloudaudit.googleapis.com%2Fsystem_event", e.project),
        "resource": {"type": "cloud_run_revision", "labels": {
            "project_id": e.project, "location": e.region, "service_name": e.service,
            "revision_name": e.revision, "configuration_name": e.service,
        }},
        "timestamp": t,
        "receiveTimestamp": t,
        "severity": e.severity,
        "protoPayload": payload,
        "_seq": state.log_seq,
    }));
}

/// `ListLogEntriesRequest`.
static LIST_REQUEST: Msg = Msg {
    fields: &[
        f("resourceNames", "resource_names", Ty::Str).repeated(),
        f("projectIds", "project_ids", Ty::Str).repeated(),
        f("filter", "filter", Ty::Str),
        f("orderBy", "order_by", Ty::Str),
        f("pageSize", "page_size", Ty::Int64),
        f("pageToken", "page_token", Ty::Str),
    ],
    oneofs: &[],
};

/// The projects a list reads (`resourceNames`, or the deprecated `projectIds`), each of which
/// must exist; only `projects/P` is served (not folders, organizations, billing accounts).
pub fn projects_of(body: &Value) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for r in body["resourceNames"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap_or_default();
        match r
            .strip_prefix("projects/")
            .filter(|p| !p.contains('/') && !p.is_empty())
        {
            Some(p) => out.push(p.to_string()),
            None => {
                return Err(schema::bad_request(
                    "resource_names",
                    format!(
                        "Invalid resource name {r:?}: the emulator serves projects/PROJECT_ID."
                    ),
                ))
            }
        }
    }
    for p in body["projectIds"].as_array().into_iter().flatten() {
        out.push(p.as_str().unwrap_or_default().to_string());
    }
    if out.is_empty() {
        return Err(schema::bad_request(
            "resource_names",
            "resource_names is required.".into(),
        ));
    }
    Ok(out)
}

/// `POST v2/entries:list`.
pub fn list_entries(emu: &Emulator, call: &Call) -> ApiResult<Reply> {
    let body = schema::parse(&call.req.body, &LIST_REQUEST, "")?;
    let projects = projects_of(&body)?;
    let state = emu.state();
    for p in &projects {
        if !state.project_exists(p) {
            return Err(ApiError::unknown_project(p, "logging.googleapis.com"));
        }
    }
    let filter = match body["filter"].as_str().filter(|s| !s.trim().is_empty()) {
        Some(text) => Some(Filter::parse(text)?),
        None => None,
    };
    let desc = match body["orderBy"].as_str().unwrap_or_default().trim() {
        "" | "timestamp asc" | "timestamp" => false,
        "timestamp desc" => true,
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid orderBy {other:?}: only \"timestamp asc\" and \"timestamp desc\" are supported."
            )))
        }
    };
    let size = int64_field(body.get("pageSize")).unwrap_or(0);
    let mut size = if size <= 0 {
        50
    } else {
        size.min(1000) as usize
    };
    if state.settings.log_page_cap > 0 {
        size = size.min(state.settings.log_page_cap);
    }
    // The token is the position after the last entry answered (an insert sequence number), so
    // entries written while a client pages neither shift nor repeat what it already read.
    let cursor = match body["pageToken"].as_str().filter(|s| !s.is_empty()) {
        Some(t) => Some(
            t.strip_prefix("seq-")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid(format!("Invalid page token {t:?}.")))?,
        ),
        None => None,
    };
    let logs: Vec<String> = projects
        .iter()
        .map(|p| format!("projects/{p}/logs/"))
        .collect();
    let mut matching: Vec<&Value> = state
        .log_entries
        .iter()
        .filter(|e| {
            let name = e["logName"].as_str().unwrap_or_default();
            logs.iter().any(|l| name.starts_with(l.as_str()))
        })
        .filter(|e| filter.as_ref().is_none_or(|f| f.matches(e)))
        .collect();
    if desc {
        matching.reverse();
    }
    let seq = |e: &Value| e["_seq"].as_u64().unwrap_or_default();
    let rest: Vec<&Value> = matching
        .into_iter()
        .filter(|e| match cursor {
            None => true,
            Some(c) if desc => seq(e) < c,
            Some(c) => seq(e) > c,
        })
        .collect();
    let chunk: Vec<Value> = rest
        .iter()
        .take(size)
        .map(|e| {
            let mut e = (*e).clone();
            e.as_object_mut().map(|o| o.remove("_seq"));
            e
        })
        .collect();
    let mut out = json!({ "entries": chunk });
    if rest.len() > size {
        out["nextPageToken"] = json!(format!("seq-{}", seq(rest[size - 1])));
    }
    Ok(Reply::json(&out))
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Compare(Vec<String>, Op, String),
    /// `path:*`.
    Present(Vec<String>),
    /// Bare text: in any field's value.
    Global(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Has,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    Dot,
    Open,
    Close,
    Minus,
    Star,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1
            }
            '*' => {
                out.push(Tok::Star);
                i += 1
            }
            '-' => {
                out.push(Tok::Minus);
                i += 1
            }
            ':' => {
                out.push(Tok::Op(Op::Has));
                i += 1
            }
            '=' => {
                if chars.get(i + 1) == Some(&'~') {
                    return Err("regular expressions (=~) are not supported".into());
                }
                out.push(Tok::Op(Op::Eq));
                i += 1
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2
            }
            '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += 1 + eq as usize;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                s.push(*n);
                            }
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1
                        }
                    }
                }
                i += 1;
                out.push(Tok::Quoted(s));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"().:=!<>\"".contains(chars[i])
                {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected character {c:?}"));
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn or(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.and()?];
        while self.word("OR") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.unary()?];
        loop {
            if self.word("AND") {
                self.pos += 1;
                parts.push(self.unary()?);
            } else if self.peek().is_some() && self.peek() != Some(&Tok::Close) && !self.word("OR")
            {
                // Adjacent restrictions are ANDed.
                parts.push(self.unary()?);
            } else {
                break;
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }
    fn unary(&mut self) -> Result<Filter, String> {
        if self.word("NOT") || self.peek() == Some(&Tok::Minus) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            if self.peek() != Some(&Tok::Close) {
                return Err("missing )".into());
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.restriction()
    }
    fn segment(&mut self) -> Result<String, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => {
                self.pos += 1;
                Ok(w)
            }
            other => Err(format!("expected a field or value, found {other:?}")),
        }
    }
    fn restriction(&mut self) -> Result<Filter, String> {
        let first = self.segment()?;
        let mut path = vec![first];
        while self.peek() == Some(&Tok::Dot) {
            self.pos += 1;
            path.push(self.segment()?);
        }
        let Some(Tok::Op(op)) = self.peek().cloned() else {
            if path.len() == 1 {
                return Ok(Filter::Global(path.remove(0)));
            }
            return Err(format!("{} needs an operator", path.join(".")));
        };
        self.pos += 1;
        if op == Op::Has && self.peek() == Some(&Tok::Star) {
            self.pos += 1;
            return Ok(Filter::Present(path));
        }
        let value = self.segment()?;
        Ok(Filter::Compare(path, op, value))
    }
}

impl Filter {
    /// Reads a Logging query, refusing what the emulated subset does not serve (400, as Google
    /// refuses a query it cannot parse).
    pub fn parse(text: &str) -> ApiResult<Filter> {
        let invalid =
            |why: String| ApiError::invalid(format!("Invalid filter: {why}. Filter: {text}"));
        let toks = tokenize(text).map_err(invalid)?;
        let mut p = Parser { toks, pos: 0 };
        let f = p.or().map_err(invalid)?;
        if p.pos != p.toks.len() {
            return Err(invalid(format!("unexpected {:?}", p.toks[p.pos])));
        }
        Ok(f)
    }

    /// Whether `entry` satisfies every term of the query.
    pub fn matches(&self, entry: &Value) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|f| f.matches(entry)),
            Filter::Or(v) => v.iter().any(|f| f.matches(entry)),
            Filter::Not(f) => !f.matches(entry),
            Filter::Present(path) => !values_at(entry, path).is_empty(),
            Filter::Global(text) => {
                let needle = text.to_lowercase();
                any_value(entry, &|s| s.to_lowercase().contains(&needle))
            }
            Filter::Compare(path, op, want) => {
                let timestamp =
                    path.len() == 1 && matches!(path[0].as_str(), "timestamp" | "receiveTimestamp");
                values_at(entry, path).iter().any(|v| {
                    let have = match v {
                        Value::String(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return matches!(op, Op::Has) && any_value(v, &|s| contains_ci(s, want))
                        }
                    };
                    if timestamp {
                        return compare_times(&have, *op, want);
                    }
                    match op {
                        Op::Eq => have == *want,
                        Op::Ne => have != *want,
                        Op::Has => contains_ci(&have, want),
                        Op::Lt => have < *want,
                        Op::Le => have <= *want,
                        Op::Gt => have > *want,
                        Op::Ge => have >= *want,
                    }
                })
            }
        }
    }
}

fn contains_ci(have: &str, want: &str) -> bool {
    have.to_lowercase().contains(&want.to_lowercase())
}

fn compare_times(have: &str, op: Op, want: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    let (Ok(h), Ok(w)) = (
        time::OffsetDateTime::parse(have, &Rfc3339),
        time::OffsetDateTime::parse(want, &Rfc3339),
    ) else {
        return false;
    };
    match op {
        Op::Eq | Op::Has => h == w,
        Op::Ne => h != w,
        Op::Lt => h < w,
        Op::Le => h <= w,
        Op::Gt => h > w,
        Op::Ge => h >= w,
    }
}

/// The values a path reaches, looking through arrays (a repeated field matches when any
/// element does).
fn values_at<'a>(v: &'a Value, path: &[String]) -> Vec<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return match v {
            Value::Array(a) => a.iter().collect(),
            Value::Null => Vec::new(),
            other => vec![other],
        };
    };
    match v {
        Value::Array(a) => a.iter().flat_map(|e| values_at(e, path)).collect(),
        Value::Object(o) => o.get(first).map(|c| values_at(c, rest)).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn any_value(v: &Value, test: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => test(s),
        Value::Array(a) => a.iter().any(|e| any_value(e, test)),
        Value::Object(o) => o.iter().any(|(k, e)| k != "_seq" && any_value(e, test)),
        Value::Number(n) => test(&n.to_string()),
        Value::Bool(b) => test(&b.to_string()),
        Value::Null => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Value {
        json!({
            "logName": "projects/p/logs/cloudaudit.googleapis.com%2Fsystem_event",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "svc"}},
            "timestamp": "2026-12-03T12:00:00.500000Z",
            "protoPayload": {"status": {"message": "Dry run: Image x denied"},
                "response": {"metadata": {"annotations": {"run.googleapis.com/binary-authorization-breakglass": "why"}},
                             "status": {"conditions": [{"type": "Ready"}, {"type": "ConfigurationsReady", "reason": "ContainerImageUnauthorized"}]}}},
        })
    }

    #[test]
    fn documented_cloud_run_queries_match() {
        let e = entry();
        for (q, want) in [
            (
                r#"resource.type="cloud_run_revision" logName:"cloudaudit.googleapis.com%2Fsystem_event" protoPayload.response.status.conditions.reason="ContainerImageUnauthorized""#,
                true,
            ),
            (r#"resource.type="cloud_run_revision" AND "dry run""#, true),
            (
                r#"protoPayload.response.metadata.annotations."run.googleapis.com/binary-authorization-breakglass":*"#,
                true,
            ),
            (r#"resource.labels.service_name="other""#, false),
            (
                r#"timestamp>="2026-12-03T12:00:00Z" AND timestamp<"2026-12-03T12:00:01Z""#,
                true,
            ),
            (r#"timestamp>="2026-12-03T12:00:01Z""#, false),
            (
                r#"NOT resource.type="cloud_run_revision" OR -"dry run""#,
                false,
            ),
            (
                r#"(resource.type="k8s_cluster" OR resource.type="cloud_run_revision") resource.labels.service_name!="x""#,
                true,
            ),
        ] {
            assert_eq!(Filter::parse(q).unwrap().matches(&e), want, "{q}");
        }
        for bad in ["a=", "(a=\"b\"", "a=~\"x\"", "\"open"] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
