//! Google's REST/JSON surface for the calls no SDK crate we depend on offers, typed with serde:
//! a note's IAM policy (Container Analysis `notes.getIamPolicy`/`setIamPolicy`, whose crate is
//! `google-cloud-containeranalysis-v1`) and a project's IAM policy and number (Resource
//! Manager, `google-cloud-resourcemanager-v3`). Either crate would link a whole client and its
//! models for two calls; the size was not measured (a debug build's size says nothing, and
//! release builds are not run here), so the cost is an estimate from the KMS client's share
//! (ARCHITECTURE.md, "Packaging"). The IAM policy is the SDK's `google.iam.v1.Policy`, the type
//! the KMS and Binary Authorization clients use. Requests are what gcloud sends (`?alt=json`,
//! JSON bodies); every call goes through the one retry policy of `retry.rs`, and Google's
//! errors become ours.

use super::auth::Auth;
use super::Endpoints;
use crate::error::{Error, Result};
use crate::names::NoteName;
use crate::retry::{self, Failure, Stopped};
use crate::token::AccessToken;
use google_cloud_iam_v1::model::Policy;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Which Google API a call goes to: its default endpoint and gcloud's override variable.
#[derive(Debug, Clone, Copy)]
enum Api {
    /// Container Analysis.
    Grafeas,
    /// Cloud Resource Manager (project IAM policies and numbers).
    ResourceManager,
}

/// A JSON client for the REST calls above, with the run's token.
pub struct Rest {
    http: reqwest::Client,
    auth: Auth,
    endpoints: Endpoints,
}

/// `GetIamPolicyRequest` without its resource (which is in the path).
#[derive(Serialize)]
struct GetIamPolicy {
    options: PolicyOptions,
}

/// `GetPolicyOptions`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyOptions {
    requested_policy_version: i32,
}

/// `SetIamPolicyRequest` without its resource (which is in the path).
#[derive(Serialize)]
struct SetIamPolicy<'a> {
    policy: &'a Policy,
}

/// Resource Manager v1 `Project`: only its number (int64, written as a string), which names
/// the project's service agents.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Project {
    #[serde(default)]
    project_number: String,
}

/// Google's error answer (`{"error": {"code", "message", "status"}}`), for its message.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorStatus,
}

#[derive(Deserialize)]
struct ErrorStatus {
    message: String,
}

/// A failed attempt: the HTTP status and Google's error message, or a transport failure.
#[derive(Debug)]
struct CallError {
    /// The HTTP status, when the server answered.
    status: Option<u16>,
    /// Google's `error.message`, or the transport error.
    message: String,
    retry_after: Option<std::time::Duration>,
}

impl CallError {
    fn transport(message: String) -> CallError {
        CallError {
            status: None,
            message,
            retry_after: None,
        }
    }
}

/// One call: its name for the retry policy and `--timeout`, its request, and what it does
/// (read after "to" in errors).
struct Request<'a, B> {
    what: String,
    action: String,
    api: Api,
    method: reqwest::Method,
    path: String,
    body: Option<&'a B>,
    /// Only reads are retried; a write guarded by an etag is resolved by rerunning.
    idempotent: bool,
}

impl Rest {
    /// A client for the APIs at `endpoints` with `auth`'s token.
    pub fn new(auth: Auth, endpoints: Endpoints) -> Result<Rest> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Setup(format!("cannot create the HTTP client: {e}")))?;
        Ok(Rest {
            http,
            auth,
            endpoints,
        })
    }

    /// The note's IAM policy (Container Analysis `notes.getIamPolicy`): REST, as no crate we
    /// depend on has it (it is in `google-cloud-containeranalysis-v1`).
    pub async fn note_policy(&self, note: &NoteName) -> Result<Policy> {
        let what = format!("Container Analysis notes.getIamPolicy {note}");
        self.get_policy(what, Api::Grafeas, &note.to_string()).await
    }

    /// Replaces the note's IAM policy (Container Analysis `notes.setIamPolicy`): REST, as
    /// [`Rest::note_policy`].
    pub async fn set_note_policy(
        &self,
        note: &NoteName,
        policy: &Policy,
        action: String,
    ) -> Result<Policy> {
        let what = format!("Container Analysis notes.setIamPolicy {note}");
        self.set_policy(what, Api::Grafeas, &note.to_string(), policy, action)
            .await
    }

    /// The project's IAM policy (Resource Manager `projects.getIamPolicy`): REST, as no crate
    /// we depend on has it (it is in `google-cloud-resourcemanager-v3`).
    pub async fn project_policy(&self, project: &str) -> Result<Policy> {
        let resource = format!("projects/{project}");
        let what = format!("Resource Manager projects.getIamPolicy {resource}");
        self.get_policy(what, Api::ResourceManager, &resource).await
    }

    /// Replaces the project's IAM policy (Resource Manager `projects.setIamPolicy`): REST, as
    /// [`Rest::project_policy`].
    pub async fn set_project_policy(
        &self,
        project: &str,
        policy: &Policy,
        action: String,
    ) -> Result<Policy> {
        let resource = format!("projects/{project}");
        let what = format!("Resource Manager projects.setIamPolicy {resource}");
        self.set_policy(what, Api::ResourceManager, &resource, policy, action)
            .await
    }

    /// The project's number (Resource Manager `projects.get`): REST, as
    /// [`Rest::project_policy`]. None when the project is not found or has no number.
    pub async fn project_number(&self, project: &str) -> Result<Option<String>> {
        let path = format!("projects/{project}");
        let request = Request::<()> {
            what: format!("Resource Manager projects.get {path}"),
            action: format!("read {path}"),
            api: Api::ResourceManager,
            method: reqwest::Method::GET,
            path,
            body: None,
            idempotent: true,
        };
        let found = super::found_or_none(self.send::<_, Project>(request).await)?;
        Ok(found
            .map(|p| p.project_number)
            .filter(|number| !number.is_empty()))
    }

    /// `getIamPolicy` as Container Analysis and Resource Manager take it: a POST, version 3.
    async fn get_policy(&self, what: String, api: Api, resource: &str) -> Result<Policy> {
        let body = GetIamPolicy {
            options: PolicyOptions {
                requested_policy_version: super::POLICY_VERSION,
            },
        };
        let request = Request {
            what,
            action: format!("read the IAM policy of {resource}"),
            api,
            method: reqwest::Method::POST,
            path: format!("{resource}:getIamPolicy"),
            body: Some(&body),
            idempotent: true,
        };
        self.send(request).await
    }

    /// `setIamPolicy`: sent once, as the etag read with the policy guards the write.
    async fn set_policy(
        &self,
        what: String,
        api: Api,
        resource: &str,
        policy: &Policy,
        action: String,
    ) -> Result<Policy> {
        let body = SetIamPolicy { policy };
        let request = Request {
            what,
            action,
            api,
            method: reqwest::Method::POST,
            path: format!("{resource}:setIamPolicy"),
            body: Some(&body),
            idempotent: false,
        };
        self.send(request).await
    }

    /// The base URL of `api`, without a trailing slash.
    fn base(&self, api: Api) -> String {
        let (endpoint, default) = match api {
            Api::Grafeas => (
                &self.endpoints.grafeas,
                "https://containeranalysis.googleapis.com",
            ),
            Api::ResourceManager => (
                &self.endpoints.resource_manager,
                "https://cloudresourcemanager.googleapis.com",
            ),
        };
        endpoint.clone().unwrap_or_else(|| default.to_string())
    }

    /// Sends `request` under the retry policy and reads its answer as `R`.
    async fn send<B: Serialize, R: DeserializeOwned>(&self, request: Request<'_, B>) -> Result<R> {
        let token = self.auth.access_token().await?;
        let body = request
            .body
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Setup(format!("cannot write the request: {e}")))?;
        let url = format!("{}/v1/{}?alt=json", self.base(request.api), request.path);
        let attempt = || self.attempt(&token, &request.method, &url, body.as_deref());
        let classify = |e: &CallError| match e.status {
            Some(429) => Failure::Throttled {
                retry_after: e.retry_after,
            },
            None | Some(500 | 502 | 503 | 504) => Failure::Transient {
                retry_after: e.retry_after,
            },
            _ => Failure::Permanent,
        };
        retry::run_paced(
            Some(&super::PACE),
            &request.what,
            request.idempotent,
            classify,
            attempt,
        )
        .await
        .map_err(|stopped| match stopped {
            Stopped::Failed(e) => e,
            Stopped::RetryAfterTooLong { error, .. } => error,
            Stopped::TimedOut(limit) => {
                CallError::transport(format!("no answer within {} s", limit.as_secs()))
            }
        })
        .map_err(|e| to_error(e, request.action.clone()))
    }

    /// One attempt: the answer read within its bound, parsed as `R` on success, Google's
    /// error message otherwise.
    async fn attempt<R: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: &reqwest::Method,
        url: &str,
        body: Option<&str>,
    ) -> std::result::Result<R, CallError> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(token.secret())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::transport(e.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let answer = crate::bounded::body(response, crate::bounded::API_ANSWER)
            .await
            .map_err(|e| CallError::transport(format!("its answer could not be read: {e}")))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&answer).map_err(|e| CallError {
                status: Some(status),
                message: format!("its answer could not be read: {e}"),
                retry_after: None,
            });
        }
        let message = match serde_json::from_slice::<ErrorAnswer>(&answer) {
            Ok(answer) => answer.error.message,
            Err(_) => format!("HTTP {status}: {}", String::from_utf8_lossy(&answer)),
        };
        Err(CallError {
            status: Some(status),
            message,
            retry_after,
        })
    }
}

fn to_error(mut e: CallError, action: String) -> Error {
    e.message = crate::token::redact(&e.message);
    match e.status {
        Some(401) => Error::Unauthenticated {
            action,
            reason: e.message,
            token_source: String::new(),
        },
        Some(403) => super::denied(action, e.message, super::ADMIN),
        // Another writer's change racing ours (an etag mismatch on setIamPolicy): rerunning
        // resolves it.
        Some(409 | 412) => Error::Conflict {
            action,
            reason: e.message,
        },
        Some(404) => Error::GoogleNotFound {
            action,
            reason: e.message,
        },
        Some(400) => Error::Rejected {
            action,
            reason: e.message,
        },
        _ => Error::Google {
            action,
            reason: e.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_404_exits_not_found_and_a_400_bad_input() {
        let call = |status| CallError {
            status: Some(status),
            message: "Requested entity was not found.".into(),
            retry_after: None,
        };
        let e = to_error(call(404), "read projects/p".into());
        assert_eq!(e.exit_code(), crate::error::exit::NOT_FOUND, "{e}");
        assert!(e.to_string().contains("projects/p"), "{e}");
        assert_eq!(
            to_error(call(400), "x".into()).exit_code(),
            crate::error::exit::USAGE
        );
    }

    #[test]
    fn requests_and_answers_have_googles_json_names() {
        let get = GetIamPolicy {
            options: PolicyOptions {
                requested_policy_version: 3,
            },
        };
        assert_eq!(
            serde_json::to_value(&get).unwrap(),
            serde_json::json!({"options": {"requestedPolicyVersion": 3}})
        );
        let project: Project =
            serde_json::from_str(r#"{"projectNumber": "123456789012", "projectId": "p"}"#).unwrap();
        assert_eq!(project.project_number, "123456789012");
        let error: ErrorAnswer = serde_json::from_str(
            r#"{"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}"#,
        )
        .unwrap();
        assert_eq!(error.error.message, "denied");
    }
}
