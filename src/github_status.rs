//! `--github-status`: a commit status on the built commit naming the attestation, so a pull
//! request shows that its image is attested. Works from any CI that builds a GitHub repository.

use crate::error::{Error, Result};
use crate::report::{Outcome, Status};
use octocrab::models::StatusState;

/// Where to post: GitHub's own variables, as Actions sets them (`GITHUB_API_URL` lets GitHub
/// Enterprise and tests point elsewhere).
pub struct Target {
    pub api_url: String,
    pub repository: String,
    pub sha: String,
    pub token: String,
}

impl Target {
    pub fn from_env() -> Result<Target> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let missing = |name: &str| {
            Error::Usage(format!(
                "--github-status needs {name}: set it (GitHub Actions sets it for every job)"
            ))
        };
        Ok(Target {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            repository: var("GITHUB_REPOSITORY").ok_or_else(|| missing("GITHUB_REPOSITORY"))?,
            sha: var("GITHUB_SHA").ok_or_else(|| missing("GITHUB_SHA"))?,
            token: var("GITHUB_TOKEN").ok_or_else(|| missing("GITHUB_TOKEN"))?,
        })
    }
}

/// GitHub limits a status description to 140 characters.
fn description(outcomes: &[Outcome]) -> String {
    let created = outcomes
        .iter()
        .filter(|o| o.status == Status::Created)
        .count();
    let attestor = outcomes
        .first()
        .map(|o| o.attestor.as_str())
        .unwrap_or_default();
    let text = format!(
        "{} image(s) attested by {attestor} ({created} new)",
        outcomes.len()
    );
    text.chars().take(140).collect()
}

pub async fn post(target: &Target, outcomes: &[Outcome]) -> Result<()> {
    let failed = |reason: String| Error::GitHub {
        action: format!(
            "post a commit status on {}@{}",
            target.repository, target.sha
        ),
        reason,
    };
    let (owner, repo) = target.repository.split_once('/').ok_or_else(|| {
        Error::Usage(format!(
            "GITHUB_REPOSITORY `{}` is not OWNER/REPO",
            target.repository
        ))
    })?;
    let github = octocrab::Octocrab::builder()
        .base_uri(target.api_url.as_str())
        .and_then(|b| b.personal_token(target.token.clone()).build())
        .map_err(|e| failed(e.to_string()))?;
    github
        .repos(owner, repo)
        .create_status(target.sha.clone(), StatusState::Success)
        .context("binauthz-attest".to_string())
        .description(description(outcomes))
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}
