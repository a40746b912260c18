//! Google's REST/JSON surface for what the SDK crates do not cover in one client: creating the
//! chain (`setup`) and IAM policies on keys, key rings, notes, attestors and projects (the
//! Container Analysis notes' and Resource Manager's IAM methods have no crate we depend on).
//! Requests are what gcloud sends (`?alt=json`, JSON bodies, string enums); every call goes
//! through the one retry policy of `retry.rs`, and Google's errors become ours.

use super::auth::Auth;
use super::Endpoints;
use crate::error::{Error, Result};
use crate::retry::{self, Failure, Stopped};
use crate::token::AccessToken;
use serde_json::Value;
use std::time::SystemTime;

/// Which Google API a call goes to: its default endpoint and gcloud's override variable.
#[derive(Debug, Clone, Copy)]
pub enum Api {
    /// Cloud KMS.
    Kms,
    /// Binary Authorization.
    Binauthz,
    /// Container Analysis.
    Grafeas,
    /// Cloud Resource Manager (project IAM policies and numbers).
    ResourceManager,
}

/// A JSON client for Google's REST APIs with the run's token.
pub struct Rest {
    http: reqwest::Client,
    auth: Auth,
    endpoints: Endpoints,
}

/// A failed attempt: the HTTP status and Google's error message, or a transport failure.
#[derive(Debug)]
pub struct CallError {
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Google's `error.message`, or the transport error.
    pub message: String,
    retry_after: Option<std::time::Duration>,
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

    /// The base URL of `api`, without a trailing slash.
    pub fn base(&self, api: Api) -> String {
        let (endpoint, default) = match api {
            Api::Kms => (&self.endpoints.kms, "https://cloudkms.googleapis.com"),
            Api::Binauthz => (
                &self.endpoints.binauthz,
                "https://binaryauthorization.googleapis.com",
            ),
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

    /// `GET`; `Ok(None)` when the resource does not exist (404).
    pub async fn get(&self, api: Api, path: &str) -> Result<Option<Value>> {
        let token = self.auth.access_token().await?;
        match self.send(&token, api, "GET", path, None, true).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(to_error(e, format!("read {}", resource_of(path)))),
        }
    }

    /// A call that must succeed; `action` reads after "to" in errors.
    pub async fn call(
        &self,
        api: Api,
        method: &str,
        path: &str,
        body: Option<&Value>,
        action: String,
    ) -> Result<Value> {
        // Creates are not idempotent for the retry policy (a lost answer is looked up by rerunning).
        let idempotent = method != "POST" || path.contains(":getIamPolicy");
        let token = self.auth.access_token().await?;
        self.send(&token, api, method, path, body, idempotent)
            .await
            .map_err(|e| to_error(e, action))
    }

    async fn send(
        &self,
        token: &AccessToken,
        api: Api,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> std::result::Result<Value, CallError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{}/v1/{path}{sep}alt=json", self.base(api));
        let what = format!("{method} {path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| CallError {
            status: None,
            message: e.to_string(),
            retry_after: None,
        })?;
        let attempt = || async {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.secret())
                .header("accept", "application/json");
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.map_err(|e| CallError {
                status: None,
                message: e.to_string(),
                retry_after: None,
            })?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
            let body = crate::bounded::body(response, crate::bounded::API_ANSWER)
                .await
                .map_err(|e| CallError {
                    status: None,
                    message: format!("its answer could not be read: {e}"),
                    retry_after: None,
                })?;
            let text = String::from_utf8_lossy(&body);
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(value);
            }
            let message = value["error"]["message"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("HTTP {status}: {text}"));
            Err(CallError {
                status: Some(status),
                message,
                retry_after,
            })
        };
        let classify = |e: &CallError| match e.status {
            None | Some(429 | 500 | 502 | 503 | 504) => Failure::Transient {
                retry_after: e.retry_after,
            },
            _ => Failure::Permanent,
        };
        retry::run(&what, idempotent, classify, attempt)
            .await
            .map_err(|stopped| match stopped {
                Stopped::Failed(e) => e,
                Stopped::RetryAfterTooLong { error, .. } => error,
                Stopped::TimedOut(limit) => CallError {
                    status: None,
                    message: format!("no answer within {} s", limit.as_secs()),
                    retry_after: None,
                },
            })
    }
}

/// The resource a path names, without its query or `:verb`.
fn resource_of(path: &str) -> &str {
    let path = path.split('?').next().unwrap_or(path);
    path.split(':').next().unwrap_or(path)
}

fn to_error(mut e: CallError, action: String) -> Error {
    e.message = crate::token::redact(&e.message);
    match e.status {
        Some(401) => Error::Unauthenticated {
            action,
            reason: e.message,
            token_source: String::new(),
        },
        Some(403) => super::denied(action, e.message, "the caller needs the permission named"),
        // Another writer's change racing ours (an etag mismatch on setIamPolicy, a
        // create that lost a race): rerunning resolves it.
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
        let e = to_error(
            call(404),
            "get key ring projects/p/locations/l/keyRings/r".into(),
        );
        assert_eq!(e.exit_code(), crate::error::exit::NOT_FOUND, "{e}");
        assert!(e.to_string().contains("keyRings/r"), "{e}");
        assert_eq!(
            to_error(call(400), "x".into()).exit_code(),
            crate::error::exit::USAGE
        );
    }
}
