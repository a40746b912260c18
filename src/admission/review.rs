//! `admission.k8s.io/v1` AdmissionReview: the part of the request the webhook reads and the
//! whole response it writes, as the Kubernetes reference defines them
//! (<https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/>,
//! "Request" and "Response"; the field list is
//! <https://kubernetes.io/docs/reference/config-api/apiserver-admission.v1/>).
//!
//! What the reference demands of a response, and how the types hold to it:
//! - the same `apiVersion` and `kind` as the request (`admission.k8s.io/v1`, `AdmissionReview`):
//!   [`Response::into_review`] writes them, and [`parse`] refuses any other version;
//! - `response.uid` is `request.uid`: a [`Response`] is only made from its [`Request`]
//!   ([`Response::allow`]), as kube-rs's `AdmissionResponse::from(&req)` does, so it cannot
//!   forget it;
//! - `allowed`, and for a refusal a `status` whose `code` and `message` the API server shows
//!   the user; `warnings` (the reference: "Limit warnings to 120 characters if possible");
//!   `auditAnnotations`, which the API server prefixes with the webhook's name in the audit log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only AdmissionReview version served; the webhook configuration asks for it
/// (`admissionReviewVersions: ["v1"]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The review's kind.
pub const KIND: &str = "AdmissionReview";
/// The longest warning we write: the reference asks for at most 120 characters.
pub const WARNING_MAX: usize = 119;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: Option<Request>,
}

/// `request`: what is being admitted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// Ties the response to this request.
    pub uid: String,
    /// The kind of `object`, in the version the webhook registered for (`matchPolicy:
    /// Equivalent` converts other versions to it).
    pub kind: GroupVersionKind,
    /// The resource (`pods`, `deployments`, ...).
    pub resource: GroupVersionResource,
    /// `ephemeralcontainers`, `status`, ... or empty.
    #[serde(default)]
    pub sub_resource: String,
    /// The object's name (empty on a CREATE whose name the server generates).
    #[serde(default)]
    pub name: String,
    /// The object's namespace.
    #[serde(default)]
    pub namespace: String,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Who asks (logged).
    #[serde(default)]
    pub user_info: UserInfo,
    /// The object as it would be stored (absent on DELETE).
    #[serde(default)]
    pub object: Option<Value>,
    /// The object as it is stored (UPDATE and DELETE).
    #[serde(default)]
    pub old_object: Option<Value>,
    /// True when the request will not be persisted (`kubectl apply --dry-run=server`).
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `group`, `version`, `kind`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionKind {
    /// Empty for the core group.
    #[serde(default)]
    pub group: String,
    /// `v1`.
    #[serde(default)]
    pub version: String,
    /// `Pod`, `Deployment`, ...
    #[serde(default)]
    pub kind: String,
}

/// `group`, `version`, `resource`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupVersionResource {
    /// Empty for the core group.
    #[serde(default)]
    pub group: String,
    /// `v1`.
    #[serde(default)]
    pub version: String,
    /// `pods`, `deployments`, ...
    #[serde(default)]
    pub resource: String,
}

/// The user asking, as the API server authenticated them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInfo {
    /// `system:serviceaccount:kube-system:replicaset-controller`, `alice@example.com`, ...
    #[serde(default)]
    pub username: String,
}

/// `request.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    /// A new object.
    Create,
    /// A change to an object.
    Update,
    /// A deletion.
    Delete,
    /// `exec`, `attach`, `portforward`, ...
    Connect,
}

impl Request {
    /// `apiVersion` of `kind`: `v1` for the core group, `GROUP/VERSION` otherwise.
    pub fn api_version(&self) -> String {
        match self.kind.group.as_str() {
            "" => self.kind.version.clone(),
            group => format!("{group}/{}", self.kind.version),
        }
    }

    /// True for `dryRun` requests: nothing will be stored.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run == Some(true)
    }
}

/// Reads an AdmissionReview; the error says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<Request, String> {
    let review: ReviewIn = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not an AdmissionReview ({e})"))?;
    if review.api_version != API_VERSION || review.kind != KIND {
        return Err(format!(
            "expected apiVersion {API_VERSION}, kind {KIND}; got apiVersion `{}`, kind `{}` \
             (set admissionReviewVersions: [\"v1\"] in the webhook configuration)",
            review.api_version, review.kind
        ));
    }
    review
        .request
        .ok_or_else(|| "the AdmissionReview has no request".to_string())
}

/// `response.status`: a `metav1.Status` for a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Always `Failure` for a refusal.
    pub status: &'static str,
    /// The HTTP status the API server answers the user with: 403 for a policy refusal, 503
    /// when the evidence could not be read.
    pub code: u16,
    /// `Forbidden` or `ServiceUnavailable` (metav1.StatusReason).
    pub reason: &'static str,
    /// What the user reads under `kubectl apply`.
    pub message: String,
}

/// `response`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    uid: String,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Why not, for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Shown to the user by kubectl (`Warning: ...`), each under 120 characters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Written to the audit event, each key prefixed by the API server with the webhook's name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: &'a Response,
}

impl Response {
    /// Admits `request`; the refusal, warnings and annotations are added to it.
    pub fn allow(request: &Request) -> Response {
        Response {
            uid: request.uid.clone(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }

    /// Refuses, with the code and message the user sees.
    pub fn deny(mut self, code: u16, message: String) -> Response {
        self.allowed = false;
        self.status = Some(Status {
            status: "Failure",
            code,
            reason: match code {
                503 => "ServiceUnavailable",
                _ => "Forbidden",
            },
            message,
        });
        self
    }

    /// Adds a warning, shortened to [`WARNING_MAX`] characters.
    pub fn warn(mut self, warning: &str) -> Response {
        self.warnings.push(shorten(warning, WARNING_MAX));
        self
    }

    /// Adds an audit annotation.
    pub fn annotate(mut self, key: &str, value: String) -> Response {
        self.audit_annotations.insert(key.to_string(), value);
        self
    }

    /// The request's uid, which this response answers.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The whole AdmissionReview to send back.
    pub fn into_review(&self) -> Vec<u8> {
        // A struct of strings, booleans and maps: serializing it cannot fail.
        serde_json::to_vec(&ReviewOut {
            api_version: API_VERSION,
            kind: KIND,
            response: self,
        })
        .unwrap_or_default()
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}
