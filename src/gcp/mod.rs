//! Google's APIs, one module each (KMS, Binary Authorization, Container Analysis), built on the
//! official Rust SDK. This file holds what they share: endpoints, retries, and turning Google's
//! errors into ours.

pub mod auth;
pub mod binauthz;
pub mod grafeas;
pub mod kms;

use crate::error::Error;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::{RetryPolicy, RetryPolicyExt};
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use std::time::Duration;

/// API base URLs; overridden by the same variables gcloud reads, so one environment (an
/// emulator, a private endpoint) drives both tools.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub kms: Option<String>,
    pub binauthz: Option<String>,
    pub grafeas: Option<String>,
}

impl Endpoints {
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

/// Retries what is safe to retry: connection failures, 429 and 5xx, for calls that are
/// idempotent (reads, and KMS signing, which changes nothing). The SDK's default retries 503
/// only, and not 429.
#[derive(Debug)]
struct Transient;

impl RetryPolicy for Transient {
    fn on_error(&self, state: &RetryState, error: GaxError) -> RetryResult {
        if error.is_transient_and_before_rpc() {
            return RetryResult::Continue(error);
        }
        if !state.idempotent {
            return RetryResult::Permanent(error);
        }
        let retryable_status =
            matches!(error.http_status_code(), Some(429 | 500 | 502 | 503 | 504));
        if error.is_io() || error.is_connect() || error.is_timeout() || retryable_status {
            RetryResult::Continue(error)
        } else {
            RetryResult::Permanent(error)
        }
    }
}

/// Applies our retry and backoff policy to a client builder of any of the SDK's services.
macro_rules! configure {
    ($builder:expr, $endpoint:expr, $credentials:expr) => {{
        let mut builder = $builder
            .with_credentials($credentials.clone())
            .with_retry_policy($crate::gcp::retry_policy())
            .with_backoff_policy($crate::gcp::backoff_policy());
        if let Some(endpoint) = $endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        builder
    }};
}
pub(crate) use configure;

pub(crate) fn retry_policy() -> impl RetryPolicy {
    Transient
        .with_attempt_limit(4)
        .with_time_limit(Duration::from_secs(30))
}

pub(crate) fn backoff_policy() -> google_cloud_gax::exponential_backoff::ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(200))
        .with_maximum_delay(Duration::from_secs(5))
        .clamp()
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
