//! The commands, one file each: which clients a command builds, which arguments it reads, what
//! it prints and how it ends. `lib.rs` only dispatches here, so a new verb is one file in this
//! folder, its entry in `cli.rs` and one dispatch line.
//!
//! What every command shares is the [`Context`]: the global options (registries, credentials,
//! `--concurrency`, the `--timeout` deadline) and what the CI layer hands the core.

/// `admission`: the validating webhook, and `admission certs`.
pub mod admission;
/// `digest`: tag -> digest, and `--compare` for copies between registries.
pub mod digest;
/// `completions` and `man`, generated from the clap definition.
pub mod docs;
/// Attestor key entries for KMS versions and keys the team holds (setup, rotate).
pub mod keys;
/// `payload`: the simple-signing payload gcloud would sign.
pub mod payload;
/// `pin`: rewrite the images of manifests as REPO@DIGEST, every other byte kept.
pub mod pin;
/// `policy check`: what Binary Authorization would decide for images and manifests.
pub mod policy;
/// `rotate`: move an attestor to a new key without breaking deploys.
pub mod rotate;
/// `setup`: key, note, attestor, least-privilege IAM and policy.
pub mod setup;
/// `sign`: resolve, sign, check, file once.
pub mod sign;
/// `verify`: would Binary Authorization accept the attestations of these images.
pub mod verify;

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Output;
use crate::commit_status;
use crate::error::{Error, Result};
use crate::gcp::auth::{Auth, AuthOptions};
use crate::reference::ImageRef;
use crate::registry::{Registry, RegistryConfig};
use crate::report::{Outcome, Verdict};
use crate::retry;
use crate::token::AccessToken;

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
    pub mask: Option<crate::gcp::auth::Mask>,
}

/// What a command leaves for the CI layer: the images it finished (all of them, or those done
/// before it failed) and how it ended.
pub struct Report {
    /// Per image, what `sign` did; empty for the other commands.
    pub outcomes: Vec<Outcome>,
    /// Per image and attestor, what `verify` found; empty for the other commands.
    pub verdicts: Vec<Verdict>,
    /// Named outputs of the other commands (`setup`: attestor, key-version, note).
    pub outputs: Vec<(String, String)>,
    /// How the command ended.
    pub result: Result<()>,
    /// A Markdown summary for CIs that show one (`policy check`'s table).
    pub summary: Option<String>,
    /// Warnings for CIs that annotate them (a dry-run denial, a policy pattern too broad).
    pub warnings: Vec<String>,
}

impl Report {
    /// A command that reports no per-image outcomes.
    pub fn plain(result: Result<()>) -> Report {
        Report {
            outcomes: Vec::new(),
            verdicts: Vec::new(),
            outputs: Vec::new(),
            result,
            summary: None,
            warnings: Vec::new(),
        }
    }
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

/// Writes results as JSON (the default when stdout is not a terminal) or as text.
pub fn print<T: serde::Serialize>(
    output: Option<Output>,
    items: &[T],
    text: impl Fn(&T) -> String,
) -> Result<()> {
    let json = match output {
        Some(output) => output == Output::Json,
        None => !std::io::stdout().is_terminal(),
    };
    let rendered = if json {
        serde_json::to_string_pretty(items).map_err(|e| Error::Setup(e.to_string()))? + "\n"
    } else {
        items.iter().map(text).collect()
    };
    write_stdout(rendered.as_bytes())
}

/// Writes the command's output; a closed pipe is an error of its own.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// One image per line; blank lines and `#` comments skipped; `-` reads stdin.
pub fn read_images_file(path: &std::path::Path) -> Result<Vec<ImageRef>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| {
        Error::Usage(format!(
            "cannot read --images-file {} ({e})",
            path.display()
        ))
    })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(ImageRef::parse)
        .collect()
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
