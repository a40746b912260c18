//! What one run shares across the core: the global options (registries, credentials,
//! `--concurrency`, the `--timeout` deadline), what the CI layer hands in (the commit-status
//! target, the way to mask a secret), and the client wiring every verb starts from.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::commit_status;
use crate::error::{Error, Result};
use crate::gcp::auth::{Auth, AuthOptions};
use crate::reference::ImageRef;
use crate::registry::{Registry, RegistryConfig};
use crate::retry;
use crate::token::AccessToken;

/// A way to hide a secret from the CI's log before it is used (GitHub's `::add-mask::`): plain
/// strings in, so the CI layer knows nothing of Google's types.
pub type Mask = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// What one run of the binary shares across its command.
pub struct Context {
    /// Plain-HTTP registries and hosts that take the Google token.
    pub registry: RegistryConfig,
    /// `--access-token-file` / `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE`.
    pub access_token_file: Option<PathBuf>,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`, when set.
    pub access_token: Option<String>,
    /// `--concurrency`: images worked on at once, in every command.
    pub concurrency: usize,
    /// `--timeout`: the command's whole budget, and when it runs out.
    pub timeout: Duration,
    /// When the budget ends.
    pub deadline: tokio::time::Instant,
    /// Where to post a commit status (`--github-status`), as the CI layer found it.
    pub commit_status: Option<commit_status::Target>,
    /// The CI's way to hide a minted token from its log, when it has one.
    pub mask: Option<Mask>,
}

impl Context {
    /// The run's credentials: the access token given, else Application Default Credentials.
    pub fn auth(&self) -> Result<Auth> {
        Auth::new(AuthOptions {
            access_token_file: self.access_token_file.as_deref(),
            access_token: self.access_token.clone(),
            mask: self.mask.clone(),
        })
    }

    /// Where this run's Google token comes from, in the words a user finds it by (the flag or
    /// variable, and the file).
    pub fn token_source(&self) -> String {
        match (&self.access_token_file, &self.access_token) {
            (Some(file), _) => format!(
                "the access token file {} (--access-token-file, CLOUDSDK_AUTH_ACCESS_TOKEN_FILE)",
                file.display()
            ),
            (None, Some(_)) => "the variable GOOGLE_OAUTH_ACCESS_TOKEN".to_string(),
            (None, None) => match std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
                Ok(file) if !file.is_empty() => {
                    format!("the credentials file {file} (GOOGLE_APPLICATION_CREDENTIALS)")
                }
                _ => "Application Default Credentials (gcloud's application_default_credentials.json, or the metadata server)".to_string(),
            },
        }
    }

    /// A registry client holding the Google token when one of `images` lives in a registry that
    /// takes it (Artifact Registry, gcr.io, hosts named with `--google-registry`).
    pub fn registry_client(
        &self,
        token: Option<AccessToken>,
        images: &[ImageRef],
    ) -> Result<Registry> {
        let mut config = self.registry.clone();
        if config.needs_google_token(images) {
            config.google_token = token;
        }
        Registry::new(config)
    }

    /// Runs `work` until the `--timeout` deadline; past it, the error names the call that was
    /// still waiting.
    pub async fn within_deadline<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let mut work = std::pin::pin!(work);
        tokio::select! {
            result = &mut work => result,
            // `work` is still alive here, so the calls it waits on are still recorded.
            () = tokio::time::sleep_until(self.deadline) => Err(Error::Timeout {
                limit: humanize(self.timeout),
                waiting_for: retry::in_flight().unwrap_or_else(|| "local work".into()),
            }),
        }
    }
}

/// `90s`, `5m`, `1h30m`: the way `--timeout` is written.
fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_back_as_written() {
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
        assert_eq!(humanize(Duration::from_secs(600)), "10m");
        assert_eq!(humanize(Duration::from_secs(90)), "1m30s");
        assert_eq!(humanize(Duration::from_secs(3700)), "1h1m40s");
    }
}
