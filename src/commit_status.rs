//! `--github-status`: a commit status on the built commit naming the attestation, so a pull
//! request shows that its image is attested. Works from any CI that builds a GitHub repository;
//! the CI layer finds the target, this module only posts.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::report::{Outcome, Status};
use crate::retry::{self, Failure, Stopped};
use crate::token::AccessToken;
use octocrab::models::StatusState;

/// Where to post, as the CI layer found it (GitHub's own variables; `ci/github.rs`).
#[derive(Debug, Clone)]
pub struct Target {
    /// `GITHUB_API_URL`: GitHub's API, or GitHub Enterprise's.
    pub api_url: String,
    /// The repository's owner.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The commit built.
    pub sha: String,
    /// A token with `statuses: write`.
    pub token: AccessToken,
}

/// GitHub limits a status description to 140 characters.
fn description(outcomes: &[Outcome]) -> String {
    let created = outcomes
        .iter()
        .filter(|o| o.status == Status::Created)
        .count();
    let attestor = outcomes
        .first()
        .and_then(|o| o.attestor.as_ref())
        .map(ToString::to_string)
        .unwrap_or_default();
    let text = format!(
        "{} image(s) attested by {attestor} ({created} new)",
        outcomes.len()
    );
    text.chars().take(140).collect()
}

/// Posts one `success` status named `binauthz-attest` on the target commit.
pub async fn post(target: &Target, outcomes: &[Outcome]) -> Result<()> {
    let (owner, repo) = (target.owner.as_str(), target.repo.as_str());
    let what = format!("post a commit status on {owner}/{repo}@{}", target.sha);
    let failed = |reason: String| Error::GitHub {
        action: what.clone(),
        reason: crate::token::redact(&reason),
    };
    // Octocrab's own retries off: ours (retry.rs) apply, like for every remote call.
    let github = octocrab::Octocrab::builder()
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(retry::POLICY.attempt_timeout))
        .set_write_timeout(Some(retry::POLICY.attempt_timeout))
        .base_uri(target.api_url.as_str())
        .and_then(|b| b.personal_token(target.token.secret().to_string()).build())
        .map_err(|e| failed(e.to_string()))?;
    let description = description(outcomes);
    let send = || async {
        github
            .repos(owner, repo)
            .create_status(target.sha.clone(), StatusState::Success)
            .context("binauthz-attest".to_string())
            .description(description.clone())
            .send()
            .await
    };
    // A status with the same context replaces the last one: repeating the call is harmless.
    retry::run(&format!("GitHub: {what}"), true, classify, send)
        .await
        .map_err(|stopped| match stopped {
            // A token GitHub rejects (401) or that lacks the permission (403) is the caller's
            // to fix: exit 3, as for Google (README, "Exit codes").
            Stopped::Failed(octocrab::Error::GitHub { source, .. })
                if matches!(source.status_code.as_u16(), 401 | 403) =>
            {
                Error::PermissionDenied {
                    action: what.clone(),
                    reason: crate::token::redact(&source.message),
                    hint: "give GITHUB_TOKEN `statuses: write` (the job's `permissions:`)".into(),
                }
            }
            Stopped::Failed(e) | Stopped::RetryAfterTooLong { error: e, .. } => {
                failed(e.to_string())
            }
            Stopped::TimedOut(limit) => failed(format!("no answer within {} s", limit.as_secs())),
        })?;
    Ok(())
}

/// Rate limits (429, and 403 with a rate-limit message is left to the user) and 5xx may pass.
fn classify(error: &octocrab::Error) -> Failure {
    match error {
        octocrab::Error::GitHub { source, .. }
            if source.status_code.as_u16() == 429 || source.status_code.is_server_error() =>
        {
            Failure::Transient { retry_after: None }
        }
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => {
            Failure::Transient { retry_after: None }
        }
        _ => Failure::Permanent,
    }
}
