//! Credentials: an explicit access token when the CI already minted one, else Application
//! Default Credentials through `google-cloud-auth`. One object serves every Google call and the
//! registry, so a token is minted once per run.

use crate::error::{Error, Result};
use crate::retry::{self, Failure, Stopped};
use crate::token::AccessToken;
use google_cloud_auth::credentials::{
    AccessTokenCredentials, AccessTokenCredentialsProvider, Builder, CacheableResource,
    Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_auth::errors::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue};
use std::path::Path;

/// How a token fetch is named in errors and in the `--timeout` report.
const TOKEN_CALL: &str = "Google credentials: mint an access token";

/// Where the token comes from, first match wins.
pub struct AuthOptions<'a> {
    /// `--access-token-file` / `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE` (gcloud's variable).
    pub access_token_file: Option<&'a Path>,
    /// `GOOGLE_OAUTH_ACCESS_TOKEN`.
    pub access_token: Option<String>,
    /// Hides a token minted through Application Default Credentials from the CI's log (GitHub's
    /// `::add-mask::`); tokens given by the user are masked by the CI layer when it starts.
    pub mask: Option<Mask>,
}

/// A CI's way to hide a secret from its log.
pub type Mask = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// The run's Google credentials, shared by every client.
#[derive(Clone)]
pub struct Auth {
    /// Shared by clones, so credentials rebuilt after a failed fetch serve every client.
    credentials: std::sync::Arc<std::sync::RwLock<AccessTokenCredentials>>,
    /// Application Default Credentials, rebuilt before each retry of a failed fetch: the
    /// library's cache keeps a transient failure for 10 s before it asks the token source again
    /// (`SHORT_REFRESH_SLACK` in google-cloud-auth's `token_cache.rs`), so asking the same
    /// object again within our retries would only repeat the error without a new request.
    adc: bool,
    /// Set for minted tokens only, with the last token masked (each is masked once).
    mask: Option<(Mask, std::sync::Arc<std::sync::Mutex<String>>)>,
    /// Application Default Credentials found no file, so they ask the metadata server: one
    /// that never answers means "not on Google Cloud, nothing configured", not an outage.
    metadata_only: bool,
}

/// True when Application Default Credentials will fall back to the metadata server: no
/// `GOOGLE_APPLICATION_CREDENTIALS` and no gcloud ADC file, the order documented at
/// <https://cloud.google.com/docs/authentication/application-default-credentials#order>.
fn adc_uses_metadata_server() -> bool {
    if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some() {
        return false;
    }
    let config = std::env::var_os("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config/gcloud")));
    !config.is_some_and(|dir| dir.join("application_default_credentials.json").exists())
}

impl Auth {
    /// Credentials from the first source `options` names, else Application Default Credentials.
    pub fn new(options: AuthOptions) -> Result<Auth> {
        if let Some(path) = options.access_token_file {
            let text = crate::bounded::read_to_string(path, crate::bounded::CONFIG_FILE).map_err(|e| Error::Usage(format!(
                "cannot read the access token file {} ({e}): check --access-token-file / CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
                path.display()
            )))?;
            let auth = Self::fixed(
                text.trim(),
                &format!("the access token file {}", path.display()),
            )?;
            // The CI layer masks the file named by CLOUDSDK_AUTH_ACCESS_TOKEN_FILE when it
            // starts; a file named by the flag is known only here.
            if let Some(mask) = &options.mask {
                mask(text.trim());
            }
            return Ok(auth);
        }
        if let Some(token) = options.access_token {
            return Self::fixed(token.trim(), "GOOGLE_OAUTH_ACCESS_TOKEN");
        }
        let credentials = Builder::default()
            .build_access_token_credentials()
            .map_err(|e| Error::NoCredentials {
                reason: adc_failure(&e.to_string()),
            })?;
        Ok(Auth {
            credentials: std::sync::Arc::new(std::sync::RwLock::new(credentials)),
            adc: true,
            mask: options.mask.map(|m| (m, Default::default())),
            metadata_only: adc_uses_metadata_server(),
        })
    }

    fn fixed(token: &str, source: &str) -> Result<Auth> {
        if token.is_empty() {
            return Err(Error::Usage(format!(
                "{source} is empty: put an OAuth2 access token in it"
            )));
        }
        let header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Usage(format!(
                "{source} holds characters no HTTP header may carry"
            ))
        })?;
        let provider = FixedToken {
            token: AccessToken::new(token),
            header,
            tag: EntityTag::new(),
        };
        Ok(Auth {
            mask: None,
            adc: false,
            credentials: std::sync::Arc::new(std::sync::RwLock::new(AccessTokenCredentials::from(
                provider,
            ))),
            metadata_only: false,
        })
    }

    /// The credentials object the SDK clients share.
    pub fn credentials(&self) -> Credentials {
        Credentials::from(self.current())
    }

    fn current(&self) -> AccessTokenCredentials {
        self.credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The credentials for attempt `attempt` (0-based) of a token fetch: after a failure,
    /// Application Default Credentials built afresh (see the `adc` field).
    fn for_attempt(&self, attempt: u32) -> AccessTokenCredentials {
        if self.adc && attempt > 0 {
            if let Ok(fresh) = Builder::default().build_access_token_credentials() {
                *self.credentials.write().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
        }
        self.current()
    }

    /// Fetches the token and the universe domain once, so clients set up concurrently find
    /// them cached instead of each asking the token source (the metadata server, say) again.
    pub async fn warm(&self) -> Result<AccessToken> {
        let token = self.access_token().await?;
        let _ = CredentialsProvider::universe_domain(&self.current()).await;
        Ok(token)
    }

    /// The access token itself, for registries that take the Google token (Artifact Registry).
    pub async fn access_token(&self) -> Result<AccessToken> {
        // The token source (a token endpoint, STS, the metadata server) is a remote call like
        // any other: bounded in time and retried under the one policy.
        let classify = |e: &CredentialsError| match e.is_transient() {
            true => Failure::Transient { retry_after: None },
            false => Failure::Permanent,
        };
        let mut attempt = 0;
        let token = retry::run(TOKEN_CALL, true, classify, || {
            let credentials = self.for_attempt(attempt);
            attempt += 1;
            async move { credentials.access_token().await }
        })
        .await
        .map_err(|stopped| match stopped {
            // Credentials that do not work are the caller's to fix (exit 3); a token source
            // still failing after retries is a remote failure (exit 6), like any other call.
            // Server text is cleaned of every token we hold before it becomes an error.
            // Nothing configured and no metadata server: say that in our words (the library's
            // text speaks of transient errors and retries, which misleads here).
            Stopped::Failed(_) if self.metadata_only => Error::NoCredentials {
                reason: metadata_unreachable(),
            },
            Stopped::Failed(e) if !e.is_transient() => Error::NoCredentials {
                reason: crate::token::redact(&e.to_string()),
            },
            Stopped::Failed(e) => Error::Google {
                action: TOKEN_CALL.to_string(),
                reason: crate::token::redact(&e.to_string()),
            },
            Stopped::RetryAfterTooLong { after, .. } => Error::RetryAfterTooLong {
                call: TOKEN_CALL.to_string(),
                seconds: after.as_secs(),
            },
            Stopped::TimedOut(limit) if self.metadata_only => Error::NoCredentials {
                reason: format!("{}, within {} s", metadata_unreachable(), limit.as_secs()),
            },
            Stopped::TimedOut(limit) => Error::Google {
                action: TOKEN_CALL.to_string(),
                reason: format!(
                    "the token source gave no answer within {} s",
                    limit.as_secs()
                ),
            },
        })?;
        if let Some((mask, last)) = &self.mask {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if *last != token.token {
                mask(&token.token);
                last.clone_from(&token.token);
            }
        }
        Ok(AccessToken::new(token.token))
    }
}

/// A token someone else minted; never refreshed (the CI step is shorter than its lifetime).
struct FixedToken {
    token: AccessToken,
    header: HeaderValue,
    tag: EntityTag,
}

impl std::fmt::Debug for FixedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixedToken")
            .field("token", &self.token)
            .finish()
    }
}

impl CredentialsProvider for FixedToken {
    async fn headers(
        &self,
        extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        if extensions.get::<EntityTag>() == Some(&self.tag) {
            return Ok(CacheableResource::NotModified);
        }
        let mut headers = HeaderMap::new();
        let mut value = self.header.clone();
        value.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, value);
        Ok(CacheableResource::New {
            entity_tag: self.tag.clone(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        Some("googleapis.com".to_string())
    }
}

impl AccessTokenCredentialsProvider for FixedToken {
    async fn access_token(
        &self,
    ) -> Result<google_cloud_auth::credentials::AccessToken, CredentialsError> {
        Ok(google_cloud_auth::credentials::AccessToken {
            token: self.token.secret().to_string(),
        })
    }
}

/// Why there are no credentials when only the metadata server was left to ask.
fn metadata_unreachable() -> String {
    let host =
        std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "metadata.google.internal".into());
    format!(
        "none is set: no access token, no GOOGLE_APPLICATION_CREDENTIALS, no gcloud \
         application_default_credentials.json under $HOME, and the metadata server ({host}) did \
         not answer"
    )
}

/// Why Application Default Credentials could not be built, naming the file and the variable
/// that named it when there is one (the library's own words may not, as for a file that is
/// not JSON).
fn adc_failure(reason: &str) -> String {
    match std::env::var("GOOGLE_APPLICATION_CREDENTIALS") {
        Ok(path) if !path.is_empty() && !reason.contains(&path) => {
            format!("GOOGLE_APPLICATION_CREDENTIALS names {path}: {reason}")
        }
        _ => reason.to_string(),
    }
}
