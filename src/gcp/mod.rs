//! Google's APIs, one module each (KMS, Binary Authorization, Container Analysis), built on the
//! official Rust SDK. Each converts the SDK's types into the model (`model.rs`) and back. This
//! file holds what they share: endpoints, client set-up, retries, and turning Google's errors
//! into ours.

pub mod auth;
pub mod binauthz;
pub mod grafeas;
pub mod kms;

use crate::error::Error;
use crate::retry::{self, Failure, Stopped};
use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::client_builder::ClientBuilder;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::retry_policy::NeverRetry;
use std::time::SystemTime;

/// API base URLs; overridden by the same variables gcloud reads, so one environment (an
/// emulator, a private endpoint) drives both tools.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS`.
    pub kms: Option<String>,
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_BINARYAUTHORIZATION`.
    pub binauthz: Option<String>,
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINERANALYSIS`.
    pub grafeas: Option<String>,
}

impl Endpoints {
    /// Reads gcloud's endpoint overrides; unset means Google's public endpoints.
    pub fn from_env() -> Endpoints {
        let read = |api: &str| {
            std::env::var(format!("CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}"))
                .ok()
                .map(|url| url.trim_end_matches('/').to_string())
                .filter(|url| !url.is_empty())
        };
        Endpoints {
            kms: read("CLOUDKMS"),
            binauthz: read("BINARYAUTHORIZATION"),
            grafeas: read("CONTAINERANALYSIS"),
        }
    }
}

/// Points a client builder of any of the SDK's services at its endpoint and our credentials,
/// with the SDK's own retries off: [`call`] retries under the one policy of `retry.rs`, which
/// honours `Retry-After` (the SDK's backoff cannot see it).
pub(crate) fn configure<F, Cr>(
    builder: ClientBuilder<F, Cr>,
    endpoint: Option<&String>,
    credentials: Credentials,
) -> ClientBuilder<F, Cr>
where
    Credentials: Into<Cr>,
{
    let builder = builder
        .with_credentials(credentials)
        .with_retry_policy(NeverRetry);
    match endpoint {
        Some(endpoint) => builder.with_endpoint(endpoint.clone()),
        None => builder,
    }
}

/// Sends one Google call under the retry policy. `what` names the call for errors and for the
/// `--timeout` report; `on_error` maps the last error to ours (callers know what a 404 means).
pub(crate) async fn call<T, Fut>(
    what: &str,
    idempotent: bool,
    on_error: impl FnOnce(GaxError) -> Error,
    send: impl FnMut() -> Fut,
) -> Result<T, Error>
where
    Fut: std::future::Future<Output = Result<T, GaxError>>,
{
    retry::run(what, idempotent, classify, send)
        .await
        .map_err(|stopped| match stopped {
            Stopped::Failed(e) => on_error(e),
            Stopped::RetryAfterTooLong { after, .. } => Error::RetryAfterTooLong {
                call: what.to_string(),
                seconds: after.as_secs(),
            },
            Stopped::TimedOut(limit) => Error::Google {
                action: what.to_string(),
                reason: format!("no answer within {} s", limit.as_secs()),
            },
        })
}

/// Connection failures, 429 and 5xx may pass; the rest will not.
fn classify(error: &GaxError) -> Failure {
    let retryable_status = matches!(error.http_status_code(), Some(429 | 500 | 502 | 503 | 504));
    if error.is_transient_and_before_rpc()
        || error.is_io()
        || error.is_connect()
        || error.is_timeout()
        || retryable_status
    {
        let retry_after = error
            .http_headers()
            .and_then(|h| h.get(http::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        Failure::Transient { retry_after }
    } else {
        Failure::Permanent
    }
}

/// Turns an SDK error into ours. `action` reads after "to" ("sign with KMS key version X");
/// `hint` says which role grants it. Callers map 404 themselves, to the resource they asked for.
pub(crate) fn error(err: GaxError, action: String, hint: &'static str) -> Error {
    let reason = match err.status() {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => err.to_string(),
    };
    if err.is_authentication() {
        return Error::NoCredentials { reason };
    }
    match err.http_status_code() {
        Some(401) => Error::Unauthenticated { action, reason },
        Some(403) => Error::PermissionDenied {
            action,
            reason,
            hint,
        },
        Some(400 | 404 | 409 | 412) => Error::Rejected { action, reason },
        _ => Error::Google { action, reason },
    }
}
