//! The evidence a REQUIRE_ATTESTATION rule asks for, read live: the digest a tag names (one
//! manifest HEAD, `registry.rs`), and for each (image digest, attestor) whether the attestor
//! vouches for it, by either of the two forms it may take:
//! - a Binary Authorization attestation in Container Analysis under the attestor's note, when
//!   the server has Google credentials: judged by `verify`'s own judgement
//!   (`attest::verify::judge`);
//! - a cosign signature (`.sig` tag or sigstore bundle referrer) in the image's registry by one
//!   of the attestor's PKIX keys, judged offline by `cosign.rs` (what `verify --cosign-key`
//!   runs).
//!
//! Results are cached per (image digest, attestor) (`cache.rs`); a remote failure is an `Err`,
//! never cached, so the review can say the evidence could not be read.

use std::sync::{Arc, RwLock};

use super::attestors::Trusted;
use super::cache::{Cache, Keep, Lookup};
use super::config::Config;
use super::decide::Evidence;
use super::metrics::Metrics;
use crate::attest::verify;
use crate::cosign;
use crate::error::{Error, Result};
use crate::gcp::auth::Auth;
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::names::AttestorName;
use crate::reference::{Digest, ImageRef};
use crate::registry::{Registry, RegistryConfig};
use crate::report::{Checked, Judge, Verdict};
use crate::token::AccessToken;

impl Keep for Verdict {
    fn is_refusal(&self) -> bool {
        !self.verified
    }
}

impl Keep for Arc<Trusted> {
    fn is_refusal(&self) -> bool {
        false
    }
}

/// Google's side, when the server has credentials.
pub struct Google {
    /// The credentials, also the Google registries' token.
    pub auth: Auth,
    /// Attestors not given by file.
    pub binauthz: Binauthz,
    /// Attestations.
    pub grafeas: Grafeas,
}

/// The registry client, rebuilt when the Google token it holds for Google registries changes
/// (a server outlives any one token).
struct Registries {
    config: RegistryConfig,
    current: RwLock<(Option<AccessToken>, Arc<Registry>)>,
}

impl Registries {
    fn new(config: RegistryConfig) -> Result<Registries> {
        let registry = Arc::new(Registry::new(config.clone())?);
        Ok(Registries {
            config,
            current: RwLock::new((None, registry)),
        })
    }

    async fn for_image(&self, image: &ImageRef, auth: Option<&Auth>) -> Result<Arc<Registry>> {
        let token = match auth {
            Some(auth) if self.config.needs_google_token(std::slice::from_ref(image)) => {
                Some(auth.access_token().await?)
            }
            _ => None,
        };
        {
            let current = self.current.read().unwrap_or_else(|e| e.into_inner());
            if token.is_none() || current.0 == token {
                return Ok(current.1.clone());
            }
        }
        let mut config = self.config.clone();
        config.google_token = token.clone();
        let registry = Arc::new(Registry::new(config)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (token, registry.clone());
        Ok(registry)
    }
}

/// Live evidence, shared by every review.
pub struct Live {
    registries: Registries,
    google: Option<Google>,
    verdicts: Cache<(String, String), Verdict>,
    attestors: Cache<String, Arc<Trusted>>,
    metrics: Arc<Metrics>,
}

/// Cache sizes and lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Entries at most.
    pub capacity: usize,
    /// How long a verified result is kept.
    pub ttl: std::time::Duration,
    /// How long a refusal is kept.
    pub refused_ttl: std::time::Duration,
}

impl Live {
    /// Evidence read through `registry` and, when given, Google.
    pub fn new(
        registry: RegistryConfig,
        google: Option<Google>,
        cache: CacheSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Live> {
        Ok(Live {
            registries: Registries::new(registry)?,
            google,
            verdicts: Cache::new(cache.capacity, cache.ttl, cache.refused_ttl),
            // Attestors change rarely; their reads are kept as long as verified results.
            attestors: Cache::new(256, cache.ttl, cache.ttl),
            metrics,
        })
    }

    /// Forgets every cached result (the policy or an attestor file changed).
    pub fn forget(&self) {
        self.verdicts.clear();
        self.attestors.clear();
    }

    /// The Binary Authorization client, when the server has Google credentials.
    pub fn binauthz(&self) -> Option<&Binauthz> {
        self.google.as_ref().map(|g| &g.binauthz)
    }

    /// True when Google is asked for attestations and attestors.
    pub fn has_google(&self) -> bool {
        self.google.is_some()
    }

    async fn attestor(&self, config: &Config, name: &str) -> Result<Arc<Trusted>> {
        if let Some(local) = config.attestors.get(name) {
            return Ok(local.clone());
        }
        let Some(google) = &self.google else {
            return Err(Error::Usage(format!(
                "the policy requires attestor {name}, which no --attestor-file defines, and the \
                 webhook has no Google credentials to read it: add its file \
                 (gcloud container binauthz attestors describe {name} --format=json)"
            )));
        };
        let parsed = AttestorName::parse(name, None)?;
        let (found, lookup) = self
            .attestors
            .get_or_compute(name.to_string(), || async {
                self.metrics.call("google", "attestors.get");
                google
                    .binauthz
                    .attestor(&parsed)
                    .await
                    .map(|a| Arc::new(Trusted::from_google(a)))
            })
            .await;
        self.metrics.cache(lookup == Lookup::Hit);
        found
    }

    /// Whether `attestor` vouches for `pinned` (an image with its digest), by either form.
    async fn check(&self, config: &Config, pinned: &ImageRef, attestor: &str) -> Result<Verdict> {
        let trusted = self.attestor(config, attestor).await?;
        let digest = pinned.digest().cloned().ok_or_else(|| {
            Error::Usage(format!(
                "{pinned} has no digest to check (a bug: tags are resolved first)"
            ))
        })?;
        let registry = self
            .registries
            .for_image(pinned, self.google.as_ref().map(|g| &g.auth))
            .await?;
        let cosign = async {
            if !trusted.has_pkix_keys() {
                return Ok(Vec::new());
            }
            self.metrics.call("registry", "cosign.sig");
            self.metrics.call("registry", "cosign.bundles");
            let verifies = |m: &[u8], s: &[u8]| trusted.verifies(m, s);
            let verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync) = &verifies;
            let (mut sig, bundles) = tokio::try_join!(
                cosign::check_sig(&registry, pinned, &digest, verifies),
                cosign::check_bundles(&registry, pinned, &digest, verifies)
            )?;
            sig.extend(bundles);
            Ok::<_, Error>(sig)
        };
        let attested = async {
            match (&self.google, trusted.model()) {
                (Some(google), Some(model)) => {
                    self.metrics.call("google", "notes.occurrences.list");
                    let filed = google.grafeas.attestations(&model.note, &digest).await?;
                    Ok(Some(verify::judge(pinned, pinned, &model, &filed, None)))
                }
                _ => Ok::<_, Error>(None),
            }
        };
        let (cosign, attested) = tokio::join!(cosign, attested);
        combine(pinned, &trusted, cosign, attested)
    }
}

/// One verdict from both forms: verified when either verifies; a remote failure only matters
/// when nothing verified.
fn combine(
    pinned: &ImageRef,
    trusted: &Trusted,
    cosign: Result<Vec<Checked>>,
    attested: Result<Option<Verdict>>,
) -> Result<Verdict> {
    let name = trusted.name.to_string();
    if let Ok(Some(v)) = &attested {
        if v.verified {
            return Ok(v.clone());
        }
    }
    if let Ok(checked) = &cosign {
        if let Some(valid) = checked.iter().find(|c| c.valid) {
            return Ok(Verdict {
                image: pinned.clone(),
                image_ref: Some(pinned.clone()),
                judge: Judge::Attestor(name),
                verified: true,
                attestation: Some(format!("cosign signature {}", valid.name)),
                public_key_id: None,
                reason: String::new(),
                attestations: checked.clone(),
            });
        }
    }
    let (checked, attested) = (cosign?, attested?);
    let mut reasons = Vec::new();
    if let Some(v) = &attested {
        reasons.push(v.reason.clone());
    }
    if trusted.has_pkix_keys() {
        reasons.push(match checked.as_slice() {
            [] => "no cosign signature (neither a .sig tag nor a sigstore bundle referrer)".into(),
            all => all
                .iter()
                .map(|c| format!("cosign {}: {}", c.name, c.reason))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    if attested.is_none() && trusted.note.is_some() {
        reasons.push(
            "its Container Analysis attestations were not read (no Google credentials)".into(),
        );
    }
    let mut all = checked;
    all.extend(attested.map(|v| v.attestations).unwrap_or_default());
    Ok(Verdict {
        image: pinned.clone(),
        image_ref: Some(pinned.clone()),
        judge: Judge::Attestor(name),
        verified: false,
        attestation: None,
        public_key_id: None,
        reason: reasons.join("; "),
        attestations: all,
    })
}

impl Evidence for Live {
    async fn resolve(&self, image: &ImageRef) -> Result<Digest> {
        let registry = self
            .registries
            .for_image(image, self.google.as_ref().map(|g| &g.auth))
            .await?;
        self.metrics.call("registry", "manifests.head");
        registry.resolve(image).await
    }

    async fn verdict(&self, config: &Config, pinned: &ImageRef, attestor: &str) -> Result<Verdict> {
        let key = (pinned.to_string(), attestor.to_string());
        let (verdict, lookup) = self
            .verdicts
            .get_or_compute(key, || self.check(config, pinned, attestor))
            .await;
        self.metrics.cache(lookup == Lookup::Hit);
        verdict
    }
}
