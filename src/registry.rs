//! Manifest digests from any OCI / Docker registry, via `oci-client`.
//!
//! Round trips per [`Registry::resolve`] (what oci-client 0.18 sends):
//! - with the Google token (Artifact Registry, gcr.io, marked hosts): one `HEAD` of the manifest;
//!   oci-client uses a bearer as given, without probing `/v2/`.
//! - anonymous: `GET /v2/` first (oci-client's auth probe; when the registry answers without a
//!   challenge nothing is cached, so every resolution repeats it), then the `HEAD`. A registry that
//!   challenges (Docker Hub, Harbor) adds one token `GET`, cached per repository.
//! - a `GET` of the manifest only when the `HEAD` carries no `Docker-Content-Digest`; the digest is
//!   then the hash of the bytes served.
//!
//! Writes (`sign --cosign` only, `cosign.rs`): each blob one `POST` and one `PUT` (monolithic
//! upload), each manifest one `PUT`; referrers are read through the referrers API, or the
//! `sha256-HEX` tag where the registry answers 404 there.
//!
//! Failed calls cost the same again; transient failures (connection, 429, 5xx) are retried under
//! the one policy of `retry.rs`.
//!
//! Credentials: per registry and repository, what `credentials.rs` finds in the container tools'
//! files (looked up once per run); else the Google token for Google registries; else anonymous.
//! oci-client does the rest of the distribution auth: a `Basic` credential is sent as Basic auth
//! when `/v2/` challenges with Basic, and to the token service (`GET realm?scope=&service=` with
//! Basic auth) when it challenges with `Bearer`; a bearer is sent as given. What it lacks, done
//! here: the OAuth2 refresh-token grant for an `identitytoken` (docker's token spec, "OAuth2
//! token": `POST realm` with `grant_type=refresh_token`), and more than one credential per
//! registry (it stores one per registry: each credential gets its own client).

use std::collections::HashMap;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::credentials::{Credential, Credentials, Source};
use crate::error::{Error, Result};
use crate::reference::{Digest, ImageRef};
use crate::retry::{self, Failure, Stopped};
use crate::token::{redact, AccessToken};
use crate::trust;

/// How the registry client reaches registries and whom it trusts with the Google token.
#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// Registries (`HOST[:PORT]`, as written in references) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Sent as a bearer to Google registries and to [`RegistryConfig::google_hosts`] only.
    pub google_token: Option<AccessToken>,
    /// Further registries (`HOST[:PORT]`) that take the Google token, e.g. an emulated Artifact
    /// Registry on loopback. Only these receive it over plain HTTP.
    pub google_hosts: Vec<String>,
    /// Where registry credentials are looked up (`--registry-auth-file`, the tools' files).
    pub credentials: Credentials,
}

/// One manifest of a multi-arch index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    /// `os/arch[/variant]`, when the index says.
    pub platform: Option<String>,
    /// The child manifest's digest.
    pub digest: Digest,
}

/// One registry client, shared by every image of a run: its connections and tokens are reused.
pub struct Registry {
    /// Anonymous calls and the Google token.
    client: Client,
    config: RegistryConfig,
    /// One client per credential found (oci-client keeps one credential per registry).
    clients: tokio::sync::Mutex<Vec<(RegistryAuth, Client)>>,
    /// What each repository is reached with, looked up once per run and operation.
    access: tokio::sync::Mutex<HashMap<(String, String, bool), Access>>,
    /// For the identity-token grant, which oci-client does not make; built on the first grant,
    /// so a run without an identity token never builds it.
    http: std::sync::OnceLock<reqwest::Client>,
}

/// How one repository is reached: the client, what it sends, and where that came from.
#[derive(Clone)]
struct Access {
    client: Client,
    auth: RegistryAuth,
    /// The credential's origin; `None` for the Google token or anonymous.
    source: Option<Source>,
}

/// Reading or writing: a token for an identity token is asked for with this scope.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Pull,
    Push,
}

impl Registry {
    /// One client for the run (connections and registry tokens reused), with connect and read
    /// timeouts.
    pub fn new(config: RegistryConfig) -> Result<Registry> {
        let client = build_client(&config)?;
        Ok(Registry {
            client,
            config,
            clients: tokio::sync::Mutex::new(Vec::new()),
            access: tokio::sync::Mutex::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
        })
    }

    /// The plain HTTP client of the identity-token grant, with the same roots and timeouts as
    /// the registry client.
    fn http(&self) -> Result<&reqwest::Client> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(retry::POLICY.attempt_timeout)
            .user_agent(concat!("binauthz-attest/", env!("CARGO_PKG_VERSION")));
        let roots = trust::system_roots();
        if !roots.is_empty() {
            builder = builder.tls_certs_only(
                roots
                    .iter()
                    .filter_map(|der| reqwest::Certificate::from_der(der).ok()),
            );
        }
        let built = builder
            .build()
            .map_err(|e| Error::Setup(format!("cannot build the registry client: {e}")))?;
        Ok(self.http.get_or_init(|| built))
    }

    /// The digest of `image`'s manifest (image, index or manifest list, whichever the tag names)
    /// as this registry stores it. For a reference that has a digest, checks that the registry
    /// holds it and returns it.
    pub async fn resolve(&self, image: &ImageRef) -> Result<Digest> {
        let reference = oci_reference(image);
        let access = self.access(image, Op::Pull).await?;
        let what = format!("registry {}: manifest HEAD of {image}", image.registry());
        let served = self
            .call(&what, image, &access, || {
                access
                    .client
                    .fetch_manifest_digest(&reference, &access.auth)
            })
            .await?;
        let served = Digest::parse(&served).map_err(|_| Error::Registry {
            registry: image.registry().to_string(),
            image: image.to_string(),
            reason: format!("it answered with an invalid digest `{served}`"),
        })?;
        match image.digest() {
            // Same algorithm: oci-client compared them, compare again for certainty. Another
            // algorithm: the registry served the manifest at the requested digest's address.
            Some(wanted) if wanted.algorithm() == served.algorithm() && *wanted != served => {
                Err(Error::DigestMismatch {
                    registry: image.registry().to_string(),
                    image: image.to_string(),
                    expected: wanted.to_string(),
                    actual: served.to_string(),
                })
            }
            Some(wanted) => Ok(wanted.clone()),
            None => Ok(served),
        }
    }

    /// The platform manifests of `image` at `digest` when it is a multi-arch index (OCI image
    /// index or Docker manifest list); empty for a single manifest. One manifest GET.
    pub async fn children(&self, image: &ImageRef, digest: &Digest) -> Result<Vec<Child>> {
        let pinned = oci_reference(&image.with_digest(digest));
        let access = self.access(image, Op::Pull).await?;
        let what = format!("registry {}: manifest GET of {pinned}", image.registry());
        let (manifest, _) = self
            .call(&what, image, &access, || {
                access.client.pull_manifest(&pinned, &access.auth)
            })
            .await?;
        let OciManifest::ImageIndex(index) = manifest else {
            return Ok(Vec::new());
        };
        index
            .manifests
            .iter()
            .map(|entry| {
                let digest = Digest::parse(&entry.digest).map_err(|_| Error::Registry {
                    registry: image.registry().to_string(),
                    image: image.to_string(),
                    reason: format!("its index lists an invalid digest `{}`", entry.digest),
                })?;
                let platform = entry.platform.as_ref().map(|p| {
                    let mut name = format!("{}/{}", p.os, p.architecture);
                    if let Some(variant) = p.variant.as_deref().filter(|v| !v.is_empty()) {
                        name = format!("{name}/{variant}");
                    }
                    name
                });
                Ok(Child { platform, digest })
            })
            .collect()
    }

    /// The raw manifest `image` names under `reference` (a tag or a digest) in its repository, and
    /// its digest; `None` when the registry has none there. One manifest GET.
    pub async fn manifest_raw(
        &self,
        image: &ImageRef,
        reference: &str,
        accept: &[&str],
    ) -> Result<Option<(Vec<u8>, String)>> {
        let target = in_repository(image, reference);
        let access = self.access(image, Op::Pull).await?;
        let what = format!("registry {}: manifest GET of {target}", image.registry());
        let pulled = self
            .call(&what, image, &access, || {
                access
                    .client
                    .pull_manifest_raw(&target, &access.auth, accept)
            })
            .await;
        match pulled {
            Ok((bytes, digest)) => Ok(Some((bytes.to_vec(), digest))),
            Err(Error::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The blob `digest` of `image`'s repository, checked against its digest by oci-client, and
    /// at most `limit` bytes: the download stops at the first byte past it
    /// ([`Error::BlobTooLarge`]), whatever the registry declared.
    pub async fn blob(&self, image: &ImageRef, digest: &str, limit: u64) -> Result<Vec<u8>> {
        let target = oci_reference(image);
        let access = self.access(image, Op::Pull).await?;
        access
            .client
            .store_auth_if_needed(target.resolve_registry(), &access.auth)
            .await;
        let what = format!("registry {}: blob GET of {digest}", image.registry());
        let too_large = std::sync::atomic::AtomicBool::new(false);
        let pulled = self
            .call(&what, image, &access, || async {
                let mut out = Capped::new(limit);
                let pulled = access.client.pull_blob(&target, digest, &mut out).await;
                if out.overflowed {
                    too_large.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Ok(Vec::new());
                }
                pulled.map(|()| out.bytes)
            })
            .await?;
        match too_large.into_inner() {
            true => Err(Error::BlobTooLarge {
                image: image.to_string(),
                digest: digest.to_string(),
                limit: crate::bounded::size(limit),
            }),
            false => Ok(pulled),
        }
    }

    /// Uploads `data` as a blob of `image`'s repository (content-addressed: a retry or a rerun
    /// stores nothing twice).
    pub async fn push_blob(&self, image: &ImageRef, data: &[u8]) -> Result<String> {
        let target = oci_reference(image);
        let digest = sha256_digest(data);
        let access = self.access(image, Op::Push).await?;
        access
            .client
            .store_auth_if_needed(target.resolve_registry(), &access.auth)
            .await;
        let what = format!("registry {}: blob upload of {digest}", image.registry());
        let bytes = bytes::Bytes::copy_from_slice(data);
        self.call(&what, image, &access, || {
            access.client.push_blob(&target, bytes.clone(), &digest)
        })
        .await
        .map_err(|e| write_denied(e, &format!("blob {digest}")))?;
        Ok(digest)
    }

    /// Stores `body` (of media type `content_type`) as a manifest of `image`'s repository under
    /// `reference`, a tag or its own digest; returns its digest.
    pub async fn push_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<String> {
        let target = in_repository(image, reference);
        let access = self.access(image, Op::Push).await?;
        access
            .client
            .store_auth_if_needed(target.resolve_registry(), &access.auth)
            .await;
        let header = http::HeaderValue::from_str(content_type)
            .map_err(|_| Error::Setup(format!("invalid media type {content_type}")))?;
        let what = format!("registry {}: manifest PUT of {target}", image.registry());
        let bytes = bytes::Bytes::copy_from_slice(body);
        self.call(&what, image, &access, || {
            access
                .client
                .push_manifest_raw(&target, bytes.clone(), header.clone())
        })
        .await
        .map_err(|e| write_denied(e, &format!("manifest {target}")))?;
        Ok(sha256_digest(body))
    }

    /// The referrers of `image` at `digest`, with `artifact_type` when one is given (OCI 1.1
    /// referrers API, or the `sha256-HEX` referrers tag where the registry lacks it, as
    /// oci-client falls back).
    pub async fn referrers(
        &self,
        image: &ImageRef,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<oci_client::manifest::ImageIndexEntry>> {
        let target = oci_reference(&image.with_digest(digest));
        let access = self.access(image, Op::Pull).await?;
        access
            .client
            .store_auth_if_needed(target.resolve_registry(), &access.auth)
            .await;
        let what = format!("registry {}: referrers of {target}", image.registry());
        let index = self
            .call(&what, image, &access, || {
                access.client.pull_referrers(&target, artifact_type)
            })
            .await?;
        Ok(index.manifests)
    }

    /// One registry call under the retry policy, its failure as our error naming `image`.
    async fn call<T, Fut>(
        &self,
        what: &str,
        image: &ImageRef,
        access: &Access,
        send: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = std::result::Result<T, OciDistributionError>>,
    {
        let classify = |e: &OciDistributionError| match is_transient(e) {
            // oci-client does not hand over the response headers: no `Retry-After` here.
            true => Failure::Transient { retry_after: None },
            false => Failure::Permanent,
        };
        retry::run(what, true, classify, send)
            .await
            .map_err(|stopped| match stopped {
                Stopped::Failed(e) | Stopped::RetryAfterTooLong { error: e, .. } => {
                    self.credentials_error(self.registry_error(e, image), access)
                }
                Stopped::TimedOut(limit) => Error::Registry {
                    registry: image.registry().to_string(),
                    image: image.to_string(),
                    reason: format!("no answer within {} s", limit.as_secs()),
                },
            })
    }

    /// Our error for `e`, with a hint when an HTTPS connection failed to a registry that may
    /// serve plain HTTP.
    fn registry_error(&self, e: OciDistributionError, image: &ImageRef) -> Error {
        let https_failed = matches!(&e, OciDistributionError::RequestError(r) if r.is_connect())
            && !self.config.insecure.iter().any(|h| h == image.registry());
        match registry_error(e, image) {
            Error::Registry {
                registry,
                image,
                reason,
            } if https_failed => Error::Registry {
                reason: format!(
                    "{reason} (if {registry} serves plain HTTP, pass --insecure-registry {registry})"
                ),
                registry,
                image,
            },
            // A registry that refuses an anonymous read may be one that takes the Google token
            // under a name we do not know for Google's (the emulator, a proxy in front of
            // Artifact Registry): say how to send it there.
            Error::RegistryAuth {
                registry,
                image,
                reason,
            } if !self.config.takes_google_token(&registry) => Error::RegistryAuth {
                reason: format!(
                    "{reason}; no Google token was sent: only *.pkg.dev, gcr.io and registries                      named with --google-registry (BINAUTHZ_GOOGLE_REGISTRIES, the CI input                      google-registry) get it. If {registry} takes Google tokens (the emulator,                      Artifact Registry under another name), pass --google-registry {registry}"
                ),
                registry,
                image,
            },
            other => other,
        }
    }

    /// A refusal says which credential was refused, or, when none was configured, where to put
    /// one.
    fn credentials_error(&self, e: Error, access: &Access) -> Error {
        let Error::RegistryAuth {
            registry,
            image,
            reason,
        } = e
        else {
            return e;
        };
        match (&access.source, &access.auth) {
            (Some(source), _) => Error::RegistryAuth {
                reason: format!("{reason}; the credential used: {source}"),
                registry,
                image,
            },
            (None, RegistryAuth::Anonymous) => {
                let mut fix = self.config.credentials.where_to_put(&registry);
                if looks_like_google(&registry) {
                    fix.push_str(&format!(
                        "; if {registry} takes the Google access token (an emulated or proxied \
                         Artifact Registry), pass --google-registry {registry}"
                    ));
                }
                Error::RegistryNoCredentials {
                    registry,
                    image,
                    reason,
                    fix,
                }
            }
            (None, _) => Error::RegistryAuth {
                registry,
                image,
                reason,
            },
        }
    }

    /// How `image`'s repository is reached for `op`: a credential the container tools' files
    /// hold for it, else [`Registry::default_auth`]. Looked up once per run (the lock is held
    /// across the lookup, so a batch runs a helper once).
    async fn access(&self, image: &ImageRef, op: Op) -> Result<Access> {
        let reference = oci_reference(image);
        let registry = image.registry();
        let repository = reference.repository().to_string();
        let key = (registry.to_string(), repository.clone(), op == Op::Push);
        let mut cache = self.access.lock().await;
        if let Some(access) = cache.get(&key) {
            return Ok(access.clone());
        }
        let google = self.config.takes_google_token(registry);
        let found = self
            .config
            .credentials
            .lookup(registry, &repository, google)
            .await?;
        let access = match found {
            None => Access {
                client: self.client.clone(),
                auth: self.default_auth(registry),
                source: None,
            },
            Some(found) => {
                let auth = match &found.credential {
                    Credential::Basic { username, password } => {
                        RegistryAuth::Basic(username.clone(), password.secret().to_string())
                    }
                    Credential::RegistryToken(token) => {
                        RegistryAuth::Bearer(token.secret().to_string())
                    }
                    Credential::IdentityToken(token) => {
                        let bearer = self
                            .identity_token_grant(image, &repository, token, op, &found.source)
                            .await?;
                        RegistryAuth::Bearer(bearer.secret().to_string())
                    }
                };
                Access {
                    client: self.client_for(&auth).await?,
                    auth,
                    source: Some(found.source),
                }
            }
        };
        cache.insert(key, access.clone());
        Ok(access)
    }

    /// The client that sends `auth`: one per credential, so two repositories of one registry
    /// may use two credentials.
    async fn client_for(&self, auth: &RegistryAuth) -> Result<Client> {
        let mut clients = self.clients.lock().await;
        if let Some((_, client)) = clients.iter().find(|(a, _)| a == auth) {
            return Ok(client.clone());
        }
        let client = build_client(&self.config)?;
        clients.push((auth.clone(), client.clone()));
        Ok(client)
    }

    /// The OAuth2 refresh-token grant at the registry's token service (docker distribution's
    /// token spec, "OAuth2 token"): the realm and service from `/v2/`'s `Bearer` challenge,
    /// `POST realm` with `grant_type=refresh_token`, the repository's scope, our client id and
    /// the identity token; the answer's `access_token` is the bearer.
    async fn identity_token_grant(
        &self,
        image: &ImageRef,
        repository: &str,
        token: &crate::token::AccessToken,
        op: Op,
        source: &Source,
    ) -> Result<crate::token::AccessToken> {
        let registry = image.registry();
        let refused = |reason: String| Error::RegistryAuth {
            registry: registry.to_string(),
            image: image.to_string(),
            reason: redact(&format!("{reason}; the credential used: {source}")),
        };
        let scheme = match self.config.insecure.iter().any(|h| h == registry) {
            true => "http",
            false => "https",
        };
        let what = format!("registry {registry}: token service for the identity token");
        let scope = match op {
            Op::Pull => format!("repository:{repository}:pull"),
            Op::Push => format!("repository:{repository}:pull,push"),
        };
        let http = self.http()?;
        let grant = || async {
            let probe = http
                .get(format!("{scheme}://{registry}/v2/"))
                .send()
                .await
                .map_err(|e| refused(format!("GET /v2/ failed: {}", error_chain(&e))))?;
            let challenge = probe
                .headers()
                .get(http::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_challenge)
                .ok_or_else(|| {
                    refused(format!(
                        "an identitytoken needs a token service, and /v2/ answered {} without \
                         a Bearer challenge",
                        probe.status().as_u16()
                    ))
                })?;
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("client_id", "binauthz-attest"),
                ("scope", scope.as_str()),
                ("refresh_token", token.secret()),
            ];
            if let Some(service) = &challenge.service {
                form.push(("service", service.as_str()));
            }
            let answer = http
                .post(&challenge.realm)
                .form(&form)
                .send()
                .await
                .map_err(|e| refused(format!("the token service failed: {}", error_chain(&e))))?;
            let status = answer.status();
            // A token answer is a few KiB; an endless one is cut at the limit, unread.
            let body = crate::bounded::body(answer, crate::bounded::KEY_FILE)
                .await
                .unwrap_or_default();
            if !status.is_success() {
                return Err(refused(format!(
                    "the token service at {} refused the identity token (HTTP {})",
                    challenge.realm,
                    status.as_u16()
                )));
            }
            #[derive(serde::Deserialize)]
            struct Granted {
                access_token: Option<String>,
                token: Option<String>,
            }
            let granted: Granted = serde_json::from_slice(&body)
                .map_err(|_| refused("the token service answered no token".into()))?;
            granted
                .access_token
                .or(granted.token)
                .filter(|t| !t.is_empty())
                .map(crate::token::AccessToken::new)
                .ok_or_else(|| refused("the token service answered no token".into()))
        };
        retry::run(&what, true, |_: &Error| Failure::Permanent, grant)
            .await
            .map_err(|stopped| match stopped {
                Stopped::Failed(e) | Stopped::RetryAfterTooLong { error: e, .. } => e,
                Stopped::TimedOut(limit) => Error::Registry {
                    registry: registry.to_string(),
                    image: image.to_string(),
                    reason: format!(
                        "its token service did not answer within {} s",
                        limit.as_secs()
                    ),
                },
            })
    }

    /// The Google token for Google registries and hosts marked as such; anonymous elsewhere, so
    /// the token never reaches Docker Hub, Nexus, Harbor or any other third party.
    fn default_auth(&self, registry: &str) -> RegistryAuth {
        match &self.config.google_token {
            Some(token) if self.config.takes_google_token(registry) => {
                RegistryAuth::Bearer(token.secret().to_string())
            }
            _ => RegistryAuth::Anonymous,
        }
    }
}

impl RegistryConfig {
    /// True for registries that get the Google token: Google's own over HTTPS, and hosts marked
    /// in [`RegistryConfig::google_hosts`].
    pub fn takes_google_token(&self, registry: &str) -> bool {
        let listed = |hosts: &[String]| hosts.iter().any(|h| h.eq_ignore_ascii_case(registry));
        listed(&self.google_hosts) || (is_google_registry(registry) && !listed(&self.insecure))
    }

    /// True when any of `images` lives in a registry that takes the Google token.
    pub fn needs_google_token(&self, images: &[ImageRef]) -> bool {
        images.iter().any(|i| self.takes_google_token(i.registry()))
    }
}

/// The oci-client configuration of every client of a run.
fn build_client(config: &RegistryConfig) -> Result<Client> {
    let client_config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(config.insecure.clone()),
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(retry::POLICY.attempt_timeout),
        user_agent: concat!("binauthz-attest/", env!("CARGO_PKG_VERSION")),
        // The blobs pushed (cosign payloads, configs, bundles) are small: one POST and one
        // PUT each, instead of a chunked POST, PATCH, PUT.
        use_monolithic_push: true,
        // The roots read once per process, not once per client (each client would otherwise
        // decode the whole CA bundle again; trust.rs). None found: reqwest's own lookup.
        tls_certs_only: trust::system_roots()
            .iter()
            .map(|der| Certificate {
                encoding: CertificateEncoding::Der,
                data: der.clone(),
            })
            .collect(),
        ..ClientConfig::default()
    };
    Client::try_from(client_config)
        .map_err(|e| Error::Setup(format!("cannot build the registry client: {e}")))
}

/// A `Bearer` challenge's realm and service.
#[derive(Debug, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
}

/// The `Bearer` challenge of a `WWW-Authenticate` value (RFC 6750 section 3), if it has one
/// with a realm.
fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let challenges = http_auth::parse_challenges(header).ok()?;
    let bearer = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))?;
    let param = |name: &str| {
        bearer
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    Some(BearerChallenge {
        realm: param("realm")?,
        service: param("service"),
    })
}

/// Hosts where a 401 may mean "this is an Artifact Registry we did not send the Google token
/// to": loopback (an emulator) and names that look like Google's.
fn looks_like_google(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => registry.split(':').next().unwrap_or(registry),
    }
    .to_ascii_lowercase();
    host == "localhost"
        || host.starts_with("127.")
        || host == "::1"
        || host.contains("pkg.dev")
        || host.contains("gcr.io")
}

/// Google's own registries: Artifact Registry (`*.pkg.dev`) and Container Registry (`gcr.io`,
/// `*.gcr.io`). A port, if written, is ignored; host names are case-insensitive.
pub fn is_google_registry(registry: &str) -> bool {
    let host = registry
        .split(':')
        .next()
        .unwrap_or(registry)
        .to_ascii_lowercase();
    host.ends_with(".pkg.dev") || host == "gcr.io" || host.ends_with(".gcr.io")
}

/// The oci-client form of `image`. Docker Hub wants `library/` before one-segment names, which
/// `ImageRef` keeps as written for the payload. A digest, when present, wins over the tag.
fn oci_reference(image: &ImageRef) -> Reference {
    let registry = image.registry().to_string();
    let docker_hub = matches!(image.registry(), "docker.io" | "index.docker.io");
    let repository = if docker_hub && !image.repository().contains('/') {
        format!("library/{}", image.repository())
    } else {
        image.repository().to_string()
    };
    match (image.digest(), image.tag()) {
        (Some(digest), _) => Reference::with_digest(registry, repository, digest.to_string()),
        (None, tag) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    }
}

/// A refused write says that writing, not reading, needs the permission.
fn write_denied(e: Error, what: &str) -> Error {
    match e {
        Error::RegistryAuth {
            registry,
            image,
            reason,
        } => Error::RegistryWriteDenied {
            registry,
            image,
            what: what.to_string(),
            reason,
        },
        other => other,
    }
}

/// `image`'s repository at `reference`: a digest (`sha256:...`) or a tag.
fn in_repository(image: &ImageRef, reference: &str) -> Reference {
    let base = oci_reference(image);
    let (registry, repository) = (base.registry().to_string(), base.repository().to_string());
    match reference.contains(':') {
        true => Reference::with_digest(registry, repository, reference.to_string()),
        false => Reference::with_tag(registry, repository, reference.to_string()),
    }
}

/// `sha256:HEX` of `data`, as registries address content.
pub fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A sink that takes at most `limit` bytes: one more fails the write, so oci-client's download
/// stops there instead of buffering whatever the registry sends.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    overflowed: bool,
}

impl Capped {
    fn new(limit: u64) -> Capped {
        Capped {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }
}

impl tokio::io::AsyncWrite for Capped {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            self.overflowed = true;
            let limit = crate::bounded::size(self.limit);
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "larger than the {limit} limit"
            ))));
        }
        self.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        // A connection the registry closed before answering (`is_request`: the send failed) is
        // as safe to repeat as a refused one: every registry call here is a HEAD or GET.
        OciDistributionError::RequestError(e) => e.is_connect() || e.is_timeout() || e.is_request(),
        OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == OciErrorCode::Toomanyrequests),
        _ => false,
    }
}

/// Maps oci-client's error to ours, naming the image; the registry's own words go in `reason`,
/// cleaned of the tokens we hold (a registry may echo the bearer it was sent).
fn registry_error(e: OciDistributionError, image: &ImageRef) -> Error {
    match raw_registry_error(e, image) {
        Error::RegistryAuth {
            registry,
            image,
            reason,
        } => Error::RegistryAuth {
            registry,
            image,
            reason: redact(&reason),
        },
        Error::Registry {
            registry,
            image,
            reason,
        } => Error::Registry {
            registry,
            image,
            reason: redact(&reason),
        },
        other => other,
    }
}

fn raw_registry_error(e: OciDistributionError, image: &ImageRef) -> Error {
    let registry = image.registry().to_string();
    let image_name = image.to_string();
    let auth = |reason: String| Error::RegistryAuth {
        registry: registry.clone(),
        image: image_name.clone(),
        reason,
    };
    let not_found = || Error::ImageNotFound {
        image: image_name.clone(),
    };
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let has =
                |codes: &[OciErrorCode]| envelope.errors.iter().any(|e| codes.contains(&e.code));
            let messages = envelope
                .errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            if has(&[
                OciErrorCode::ManifestUnknown,
                OciErrorCode::NameUnknown,
                OciErrorCode::NotFound,
                OciErrorCode::BlobUnknown,
            ]) {
                not_found()
            } else if has(&[OciErrorCode::Unauthorized, OciErrorCode::Denied]) {
                auth(messages)
            } else {
                Error::Registry {
                    registry,
                    image: image_name,
                    reason: messages,
                }
            }
        }
        OciDistributionError::ServerError { code: 404, .. }
        | OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
        OciDistributionError::ServerError {
            code: code @ (401 | 403),
            message,
            ..
        } => auth(format!("HTTP {code}: {}", message.trim())),
        OciDistributionError::UnauthorizedError { .. } => auth("HTTP 401 Unauthorized".into()),
        OciDistributionError::AuthenticationFailure(reason) => auth(reason),
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError {
            expected,
            actual,
        }) => Error::DigestMismatch {
            registry,
            image: image_name,
            expected,
            actual,
        },
        other => Error::Registry {
            registry,
            image: image_name,
            reason: error_chain(&other),
        },
    }
}

/// `e` and its causes, so "connection refused" is not hidden behind "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(config: RegistryConfig) -> Registry {
        Registry::new(config).unwrap()
    }

    fn with_token() -> RegistryConfig {
        RegistryConfig {
            google_token: Some(AccessToken::new("ya29.t")),
            ..RegistryConfig::default()
        }
    }

    fn is_bearer(auth: &RegistryAuth) -> bool {
        matches!(auth, RegistryAuth::Bearer(t) if t == "ya29.t")
    }

    #[test]
    fn google_registries_are_recognised() {
        for host in [
            "us-docker.pkg.dev",
            "europe-west1-docker.pkg.dev",
            "gcr.io",
            "eu.gcr.io",
            "us.gcr.io:443",
            "GCR.io",
        ] {
            assert!(is_google_registry(host), "{host}");
        }
        for host in [
            "pkg.dev.evil.com",
            "gcr.io.evil.com",
            "evilgcr.io",
            "nexus.corp:8443",
            "docker.io",
            "pkg.dev",
        ] {
            assert!(!is_google_registry(host), "{host}");
        }
    }

    #[test]
    fn token_goes_only_to_google_and_marked_hosts() {
        let r = registry(RegistryConfig {
            google_hosts: vec!["127.0.0.1:8080".into()],
            insecure: vec!["127.0.0.1:8080".into(), "127.0.0.1:5000".into()],
            ..with_token()
        });
        assert!(is_bearer(&r.default_auth("us-docker.pkg.dev")));
        assert!(is_bearer(&r.default_auth("gcr.io")));
        assert!(is_bearer(&r.default_auth("127.0.0.1:8080")));
        for other in [
            "harbor.corp",
            "nexus.corp:8443",
            "docker.io",
            "127.0.0.1:5000",
        ] {
            assert!(
                matches!(r.default_auth(other), RegistryAuth::Anonymous),
                "{other}"
            );
        }
    }

    #[test]
    fn token_never_goes_to_a_google_host_over_plain_http_unless_marked() {
        let r = registry(RegistryConfig {
            insecure: vec!["gcr.io".into()],
            ..with_token()
        });
        assert!(matches!(r.default_auth("gcr.io"), RegistryAuth::Anonymous));
    }

    #[test]
    fn without_a_token_everything_is_anonymous() {
        let r = registry(RegistryConfig::default());
        assert!(matches!(r.default_auth("gcr.io"), RegistryAuth::Anonymous));
    }

    #[test]
    fn docker_hub_short_names_get_library_prefix_for_the_api_only() {
        let image = ImageRef::parse("nginx:1.25").unwrap();
        let r = oci_reference(&image);
        assert_eq!(r.repository(), "library/nginx");
        assert_eq!(r.tag(), Some("1.25"));
        assert_eq!(image.repository_url(), "docker.io/nginx");
        assert_eq!(
            oci_reference(&ImageRef::parse("myorg/app").unwrap()).repository(),
            "myorg/app"
        );
        assert_eq!(
            oci_reference(&ImageRef::parse("gcr.io/x").unwrap()).repository(),
            "x"
        );
    }

    #[test]
    fn digest_wins_over_tag_and_latest_is_the_default() {
        let hex = "a".repeat(64);
        let image = ImageRef::parse(&format!("gcr.io/p/i:v1@sha256:{hex}")).unwrap();
        assert_eq!(
            oci_reference(&image).digest(),
            Some(format!("sha256:{hex}").as_str())
        );
        let image = ImageRef::parse("gcr.io/p/i").unwrap();
        assert_eq!(oci_reference(&image).tag(), Some("latest"));
    }

    #[test]
    fn bearer_challenges_give_realm_and_service() {
        assert_eq!(
            bearer_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#
            ),
            Some(BearerChallenge {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            bearer_challenge(r#"Basic realm="x", bearer realm="http://127.0.0.1:1/v2/token""#)
                .map(|c| c.realm),
            Some("http://127.0.0.1:1/v2/token".into())
        );
        assert_eq!(bearer_challenge(r#"Basic realm="Registry Realm""#), None);
        assert_eq!(bearer_challenge("Bearer service=\"s\""), None);
    }

    #[test]
    fn loopback_and_google_like_hosts_get_the_google_registry_hint() {
        for host in [
            "127.0.0.1:5000",
            "localhost:8080",
            "[::1]:5000",
            "proxy-pkg.dev.corp",
        ] {
            assert!(looks_like_google(host), "{host}");
        }
        for host in ["nexus.corp:8443", "ghcr.io", "docker.io"] {
            assert!(!looks_like_google(host), "{host}");
        }
    }

    #[test]
    fn registry_error_codes_map_to_our_variants() {
        let image = ImageRef::parse("r.io/a:1").unwrap();
        let envelope = |code: &str| OciDistributionError::RegistryError {
            envelope: serde_json::from_str(&format!(
                r#"{{"errors":[{{"code":"{code}","message":"m"}}]}}"#
            ))
            .unwrap(),
            url: "u".into(),
        };
        assert_eq!(
            registry_error(envelope("MANIFEST_UNKNOWN"), &image).exit_code(),
            4
        );
        assert_eq!(
            registry_error(envelope("NAME_UNKNOWN"), &image).exit_code(),
            4
        );
        assert_eq!(registry_error(envelope("DENIED"), &image).exit_code(), 3);
        assert_eq!(
            registry_error(envelope("UNSUPPORTED"), &image).exit_code(),
            6
        );
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "u".into(),
            message: "m".into(),
        };
        assert_eq!(registry_error(server(404), &image).exit_code(), 4);
        assert_eq!(registry_error(server(403), &image).exit_code(), 3);
        assert_eq!(registry_error(server(502), &image).exit_code(), 6);
        assert!(is_transient(&server(503)) && is_transient(&server(429)));
        assert!(!is_transient(&server(404)));
    }
}
