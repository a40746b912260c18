//! Google's APIs, one module each (KMS, Binary Authorization, Container Analysis, Logging,
//! Run), built on the official Rust SDK. Each converts the SDK's types into the model
//! (`model.rs`) and back. This file holds what they share: endpoints, client set-up, retries,
//! and turning Google's errors into ours.

pub mod auth;
pub mod binauthz;
pub mod grafeas;
pub mod kms;
/// Cloud Logging: the audit-log entries `audit` reads.
pub mod logging;
pub mod rest;
/// Cloud Run Admin API v2: the services and revisions `policy check --running` judges.
pub mod run;

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
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER` (project IAM, `setup` only).
    pub resource_manager: Option<String>,
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` (`audit`).
    pub logging: Option<String>,
    /// `CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN` (`policy check --running`; the Admin API v2 is
    /// served at this global host, gcloud's v1 calls at `REGION-` this host).
    pub run: Option<String>,
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
            resource_manager: read("CLOUDRESOURCEMANAGER"),
            logging: read("LOGGING"),
            run: read("RUN"),
        }
    }

    /// The KMS host as attestor key ids name it (`//HOST/v1/<version>`, gcloud's form): the
    /// override's host, else Google's.
    pub fn kms_host(&self) -> String {
        let base = self
            .kms
            .as_deref()
            .unwrap_or("https://cloudkms.googleapis.com");
        base.split("://")
            .nth(1)
            .unwrap_or(base)
            .trim_end_matches('/')
            .to_string()
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

/// How many Google calls of this run are in flight: one limit for every API, since a batch's
/// calls alternate between them (a throttled KMS starves the creates that follow its signatures
/// anyway), cut by 429s and grown by answers (`pace.rs`).
pub static PACE: crate::pace::Pace = crate::pace::Pace::new();

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
    retry::run_paced(Some(&PACE), what, idempotent, classify, send)
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
    let retry_after = || {
        error
            .http_headers()
            .and_then(|h| h.get(http::header::RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()))
    };
    let status = error.http_status_code();
    if status == Some(429) {
        return Failure::Throttled {
            retry_after: retry_after(),
        };
    }
    if error.is_transient_and_before_rpc()
        || error.is_io()
        || error.is_connect()
        || error.is_timeout()
        || matches!(status, Some(500 | 502 | 503 | 504))
    {
        Failure::Transient {
            retry_after: retry_after(),
        }
    } else {
        Failure::Permanent
    }
}

/// The hint of a denial in what `setup` and `rotate` read and write, when Google's message
/// names no permission: they run as an administrator, whose roles are the project's choice.
pub(crate) const ADMIN: &str = "the caller needs the permission named";

/// The IAM policy version asked for: 3, so a policy with conditions is read whole
/// (https://cloud.google.com/iam/docs/policies#versions).
pub(crate) const POLICY_VERSION: i32 = 3;

/// A read's answer, None for a 404 (which [`error`] maps to `GoogleNotFound`): the caller
/// decides what a missing resource means.
pub(crate) fn found_or_none<T>(answer: Result<T, Error>) -> Result<Option<T>, Error> {
    match answer {
        Ok(found) => Ok(Some(found)),
        Err(Error::GoogleNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Google's message of an error, else the error itself.
pub(crate) fn status_message(err: &GaxError) -> String {
    crate::token::redact(&match err.status() {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => err.to_string(),
    })
}

/// Whether Google answered as it does for a project that does not exist: 403 "Permission
/// denied on resource project P." (ErrorInfo reason CONSUMER_INVALID), which no grant fixes.
pub(crate) fn unknown_project(err: &GaxError) -> bool {
    status_message(err).starts_with("Permission denied on resource project ")
}

/// Turns an SDK error into ours. `action` reads after "to" ("sign with KMS key version X");
/// `hint` says which role grants it. Callers map 404 themselves, to the resource they asked for.
pub(crate) fn error(err: GaxError, action: String, hint: &'static str) -> Error {
    let reason = crate::token::redact(&match err.status() {
        Some(status) if !status.message.is_empty() => status.message.clone(),
        _ => err.to_string(),
    });
    if err.is_authentication() {
        return Error::NoCredentials { reason };
    }
    match err.http_status_code() {
        Some(401) => Error::Unauthenticated {
            action,
            reason,
            token_source: String::new(),
        },
        Some(403) => denied(action, reason, hint),
        // 409 (ABORTED, ALREADY_EXISTS) and 412 (a failed etag precondition) are another
        // writer's change racing ours, not a bad input: rerunning resolves them
        // (https://cloud.google.com/apis/design/errors#handling_errors).
        Some(409 | 412) => Error::Conflict { action, reason },
        Some(404) => Error::GoogleNotFound { action, reason },
        Some(400) => Error::Rejected { action, reason },
        _ => Error::Google { action, reason },
    }
}

/// A 403 as ours: when Google's message names the permission and the resource ("Permission 'P'
/// denied on resource 'R'"), the hint names the role that grants it and where to grant it;
/// otherwise `fallback`.
pub(crate) fn denied(action: String, reason: String, fallback: &str) -> Error {
    let mut hint = match denied_permission(&reason) {
        Some((permission, resource)) => match granting_role(permission) {
            Some(role) if SIGN_NEEDS.iter().any(|(p, _, _)| *p == permission) => format!(
                "grant the caller {role} on {} (it holds {permission}), e.g. with `binauthz-attest setup --signer MEMBER`",
                grant_target(resource)
            ),
            Some(role) => format!(
                "grant the caller {role} on {} (it holds {permission})",
                grant_target(resource)
            ),
            None => match reading_role(permission) {
                Some(role) => format!(
                    "grant the caller {role} on {} (it holds {permission})",
                    grant_target(resource)
                ),
                None => format!("grant the caller a role holding {permission} on {resource}"),
            },
        },
        None => fallback.to_string(),
    };
    // Google answers 403, not 404, for a resource the caller may not see, whether or not it
    // exists ("... (or it may not exist)"): a mistyped name reads the same as a missing grant.
    if let (Some((_, resource)), true) = (
        denied_permission(&reason),
        reason.contains("or it may not exist"),
    ) {
        hint += &format!(
            "; or {resource} does not exist: check its name (a typo in the flag or CI input \
             reads the same to Google)"
        );
    }
    Error::PermissionDenied {
        action,
        reason,
        hint,
    }
}

/// The permission and resource of Google's IAM denial message.
fn denied_permission(message: &str) -> Option<(&str, &str)> {
    let rest = message.split("Permission '").nth(1)?;
    let (permission, rest) = rest.split_once('\'')?;
    let resource = rest
        .split_once("on resource '")
        .and_then(|(_, r)| r.split_once('\''))
        .map(|(r, _)| r)?;
    Some((permission, resource))
}

/// Key versions hold no IAM policy: grants go on their key; a project's policy is read with a
/// grant on the project.
fn grant_target(resource: &str) -> &str {
    let resource = resource.strip_suffix("/policy").unwrap_or(resource);
    resource
        .split_once("/cryptoKeyVersions/")
        .map_or(resource, |(key, _)| key)
}

/// Every permission `sign` needs, on what, and the least predefined role that grants it
/// (Google's IAM roles reference: https://cloud.google.com/iam/docs/roles-permissions/cloudkms,
/// .../containeranalysis, .../binaryauthorization). `setup` grants exactly these; the
/// minimality test removes each and watches `sign` fail naming the permission.
pub const SIGN_NEEDS: &[(&str, Grantee, &str)] = &[
    (
        "binaryauthorization.attestors.get",
        Grantee::Attestor,
        "roles/binaryauthorization.attestorsViewer",
    ),
    (
        "cloudkms.cryptoKeyVersions.viewPublicKey",
        Grantee::Key,
        "roles/cloudkms.signerVerifier",
    ),
    (
        "cloudkms.cryptoKeyVersions.useToSign",
        Grantee::Key,
        "roles/cloudkms.signerVerifier",
    ),
    (
        "containeranalysis.notes.listOccurrences",
        Grantee::Note,
        "roles/containeranalysis.notes.occurrences.viewer",
    ),
    (
        "containeranalysis.notes.attachOccurrence",
        Grantee::Note,
        "roles/containeranalysis.notes.attacher",
    ),
    (
        "containeranalysis.occurrences.create",
        Grantee::Project,
        "roles/containeranalysis.occurrences.editor",
    ),
];

/// The resource a grant of [`SIGN_NEEDS`] goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grantee {
    /// The KMS key (versions inherit it).
    Key,
    /// The attestor's note.
    Note,
    /// The project that stores the attestations.
    Project,
    /// The attestor.
    Attestor,
}

/// What `verify` and `policy check` read besides `sign`'s permissions, and the least
/// predefined role that grants each (https://cloud.google.com/iam/docs/roles-permissions/binaryauthorization).
const READ_NEEDS: &[(&str, &str)] = &[
    (
        "binaryauthorization.policy.get",
        "roles/binaryauthorization.policyViewer",
    ),
    (
        "containeranalysis.occurrences.list",
        "roles/containeranalysis.occurrences.viewer",
    ),
];

/// The role that grants `permission` to a reader (`verify`, `policy check`), for the
/// permissions `sign` does not need.
fn reading_role(permission: &str) -> Option<&'static str> {
    READ_NEEDS
        .iter()
        .find(|(p, _)| *p == permission)
        .map(|(_, role)| *role)
}

/// The role that grants `permission` to a signer, when `sign` needs it.
pub fn granting_role(permission: &str) -> Option<&'static str> {
    SIGN_NEEDS
        .iter()
        .find(|(p, _, _)| *p == permission)
        .map(|(_, _, role)| *role)
        .or_else(|| {
            AFTER_DEPLOY_NEEDS
                .iter()
                .find(|(p, _)| *p == permission)
                .map(|(_, role)| *role)
        })
}

/// What `audit` and `policy check --running` read, and the least predefined role holding it
/// (https://cloud.google.com/iam/docs/roles-permissions/logging, .../run).
const AFTER_DEPLOY_NEEDS: &[(&str, &str)] = &[
    ("logging.logEntries.list", "roles/logging.viewer"),
    ("run.services.list", "roles/run.viewer"),
    ("run.revisions.get", "roles/run.viewer"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmapped_404_is_not_found_and_a_400_is_bad_input() {
        let http = |code| GaxError::http(code, Default::default(), bytes::Bytes::new());
        let e = error(
            http(404),
            "read key ring projects/p/locations/l/keyRings/r".into(),
            "",
        );
        assert_eq!(e.exit_code(), crate::error::exit::NOT_FOUND, "{e}");
        assert!(
            e.to_string()
                .contains("read key ring projects/p/locations/l/keyRings/r"),
            "{e}"
        );
        let e = error(http(400), "create key ring".into(), "");
        assert_eq!(e.exit_code(), crate::error::exit::USAGE, "{e}");
    }

    #[test]
    fn a_policy_read_denial_names_the_viewer_role_and_a_hidden_resource_may_be_missing() {
        let e = denied(
            "read policy projects/p/policy".into(),
            "Permission 'binaryauthorization.policy.get' denied on resource 'projects/p/policy' (or it may not exist).".into(),
            "fallback",
        );
        let text = e.to_string();
        assert!(
            text.contains(
                "grant the caller roles/binaryauthorization.policyViewer on projects/p (it holds"
            ),
            "{text}"
        );
        assert!(!text.contains("setup --signer"), "{text}");
        let e = denied(
            "read attestor projects/p/attestors/typo".into(),
            "Permission 'binaryauthorization.attestors.get' denied on resource 'projects/p/attestors/typo' (or it may not exist).".into(),
            "fallback",
        );
        assert!(
            e.to_string()
                .contains("or projects/p/attestors/typo does not exist: check its name"),
            "{e}"
        );
    }

    #[test]
    fn a_denial_names_the_role_and_where_to_grant_it() {
        let e = denied(
            "sign".into(),
            "Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1' (or it may not exist).".into(),
            "fallback",
        );
        let text = e.to_string();
        assert!(
            text.contains("grant the caller roles/cloudkms.signerVerifier on projects/p/locations/l/keyRings/r/cryptoKeys/k (it holds cloudkms.cryptoKeyVersions.useToSign)"),
            "{text}"
        );
        let other = denied(
            "x".into(),
            "Permission denied on resource project p.".into(),
            "fallback",
        );
        assert!(other.to_string().ends_with("; fallback"), "{other}");
    }
}
