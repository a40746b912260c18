//! The batch sign pipeline: resolve each image's digest in its registry, sign the Binary
//! Authorization payload, check the signature, and file it as an attestation once (the filing
//! protocol is `create.rs`'s). `sign` and `rotate --reattest` run it.
//!
//! Round trips on the critical path: digest -> sign -> create. The attestor, the signer's public
//! key and the digests are fetched concurrently; the idempotency lookup runs beside the signing.
//! The pipeline knows the signer only through the `Signer` seam.

use std::sync::Mutex;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::building::{joined, Building};
use super::keyfiles::{pgp_passphrase, warn_if_readable_by_others};
use super::Context;
use crate::algorithm::SigningAlgorithm;
use crate::attestation;
use crate::cli::CosignForm;
use crate::commit_status;
use crate::cosign;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::Kms;
use crate::gcp::Endpoints;
use crate::model::{Attestor, TrustedKey};
use crate::names::{AttestorName, KeyVersionName};
use crate::payload::Payload;
use crate::progress::Progress;
use crate::reference::{Digest, ImageRef};
use crate::registry::{Child, Registry};
use crate::report::{ImageError, Outcome, Status};
use crate::signer::cosign_key::CosignKeySigner;
use crate::signer::kms::KmsSigner;
use crate::signer::pgp::PgpSigner;
use crate::signer::pkix::PkixSigner;
use crate::signer::{Signer, SignerKey};

/// Posts the batch's commit status (`--github-status`) where the CI layer found the commit.
pub async fn post_status(target: &commit_status::Target, outcomes: &[Outcome]) -> Result<()> {
    commit_status::post(target, outcomes).await
}

/// The batch's exit: the worst failed image's code, with how many failed.
pub fn worst_failure(outcomes: &[Outcome]) -> Result<()> {
    let failed: Vec<&ImageError> = outcomes.iter().filter_map(|o| o.error.as_ref()).collect();
    match failed.iter().max_by_key(|e| e.exit_code) {
        None => Ok(()),
        Some(worst) => Err(Error::ImagesFailed {
            failed: failed.len(),
            total: outcomes.len(),
            worst: worst.message.clone(),
            exit_code: worst.exit_code,
        }),
    }
}

/// Which manifests of a multi-arch index to sign besides the index itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    /// The index alone (what a deploy by the index's digest is checked against).
    IndexOnly,
    /// `--all-platforms`: every child manifest too.
    All,
    /// `--platform os/arch[/variant]`: that child too.
    One(String),
}

/// What to sign, with what, and where to file it: the command line, parsed and checked.
pub struct SignRequest {
    /// Images as given, tags or digests.
    pub images: Vec<ImageRef>,
    /// The attestor whose note and keys the attestations are for; none for cosign signatures
    /// alone (`--cosign` without `--attestor`).
    pub attestor: Option<AttestorName>,
    /// The KMS key version that signs.
    pub key: KeySource,
    /// The project that stores the occurrences; the attestor's when absent.
    pub project: Option<String>,
    /// Check everything, sign and write nothing.
    pub dry_run: bool,
    /// Children of multi-arch indexes to sign too.
    pub platforms: Platforms,
    /// `--expect-digest`: the digest the (single) image must have in the target registry.
    pub expect_digest: Option<Digest>,
    /// `--source`: the image as built or pushed elsewhere; the target must serve its digest.
    pub source: Option<ImageRef>,
    /// `--fail-fast`: stop at the first image that fails.
    pub fail_fast: bool,
    /// `--pae`: the DSSE payload type whose pre-authentication encoding is signed.
    pub pae: Option<String>,
    /// `--cosign`: the cosign storage forms written after the attestation.
    pub cosign: Option<crate::cli::CosignForm>,
    /// Count as existing only an attestation by the signing key itself, not one by another key
    /// of the attestor (`rotate --reattest`: the old key's attestations are what it replaces).
    pub only_by_signing_key: bool,
}

/// What holds the private key.
pub enum KeySource {
    /// A Cloud KMS key version.
    Kms(KeyVersionName),
    /// A local PKIX key file, with `--signature-algorithm` when given.
    Pkix(std::path::PathBuf, Option<SigningAlgorithm>),
    /// A local ASCII-armored OpenPGP secret key file, with `--pgp-passphrase-file` when given
    /// (else the passphrase is read from `BINAUTHZ_PGP_PASSPHRASE`, if set).
    Pgp(std::path::PathBuf, Option<std::path::PathBuf>),
    /// cosign's encrypted key file, with `--cosign-password-file` when given (else
    /// `COSIGN_PASSWORD`), and `--signature-algorithm` when given.
    Cosign(
        std::path::PathBuf,
        Option<std::path::PathBuf>,
        Option<SigningAlgorithm>,
    ),
}

/// The clients one run shares, and the signer.
pub struct Services {
    /// Digests, from each image's registry.
    pub registry: Registry,
    /// Attestors.
    pub binauthz: Binauthz,
    /// Attestation occurrences: first needed in the second round trip, so built beside the
    /// first.
    pub grafeas: Building<Grafeas>,
    /// Whatever holds the key.
    pub signer: Box<dyn Signer>,
}

/// The clients `sign` uses, set up concurrently: each reads the system's trust roots (the CA
/// bundle alone, see trust.rs), the largest part of a run's local start-up. The first round trip
/// (attestor, public key, digests) waits only for its own clients; the occurrences client, first
/// needed in the second, is built while the first is in flight.
pub async fn services(ctx: &Context, request: &SignRequest) -> Result<Services> {
    let auth = ctx.auth()?;
    let endpoints = Endpoints::from_env();
    // Every Google call needs the token: fetch it once, before anything runs concurrently.
    let token = auth.warm().await?;
    // A KMS client only for a KMS key: a key file needs none.
    let kms = matches!(request.key, KeySource::Kms(_)).then(|| {
        let (a, e) = (auth.clone(), endpoints.clone());
        tokio::spawn(async move { Kms::new(&a, &e).await })
    });
    let (a, e) = (auth.clone(), endpoints.clone());
    let binauthz = tokio::spawn(async move { Binauthz::new(&a, &e).await });
    let registry = ctx.registry_client(Some(token), &request.images)?;
    let kms = match kms {
        Some(building) => Some(joined(building).await?),
        None => None,
    };
    let binauthz = joined(binauthz).await?;
    let grafeas = Building::spawn(async move { Grafeas::new(&auth, &endpoints).await });
    let signer = signer(&request.key, kms).await?;
    Ok(Services {
        registry,
        binauthz,
        grafeas,
        signer,
    })
}

/// The signer `key` names; `kms` is the KMS client, needed for a KMS key only.
pub async fn signer(key: &KeySource, kms: Option<Kms>) -> Result<Box<dyn Signer>> {
    Ok(match key {
        KeySource::Kms(version) => {
            let kms = kms.ok_or_else(|| Error::Setup("no KMS client for a KMS key".into()))?;
            Box::new(KmsSigner::new(kms, version.clone()))
        }
        KeySource::Pkix(path, algorithm) => {
            warn_if_readable_by_others(path);
            Box::new(PkixSigner::load(path, *algorithm)?)
        }
        KeySource::Pgp(path, passphrase_file) => {
            warn_if_readable_by_others(path);
            let passphrase = pgp_passphrase(passphrase_file.as_deref())?;
            // The unlock runs the key's iterated S2K (tens of MB through a hash): off the
            // runtime, so `--timeout` and the other lookups keep running meanwhile.
            let path = path.clone();
            let loaded = tokio::task::spawn_blocking(move || PgpSigner::load(&path, passphrase));
            Box::new(
                loaded.await.map_err(|e| {
                    Error::Setup(format!("unlocking the OpenPGP key failed: {e}"))
                })??,
            )
        }
        KeySource::Cosign(path, password_file, algorithm) => {
            warn_if_readable_by_others(path);
            Box::new(CosignKeySigner::load(path.clone(), password_file.clone(), *algorithm).await?)
        }
    })
}

/// The clients of `sign --cosign` without an attestor: the registry, and Google only where
/// something Google is asked (a KMS key, a Google registry), as `verify --cosign-key` does.
pub async fn cosign_services(
    ctx: &Context,
    request: &SignRequest,
) -> Result<super::cosign_sign::CosignServices> {
    let kms_key = matches!(request.key, KeySource::Kms(_));
    let google_registry = ctx.registry.needs_google_token(&request.images);
    let (kms, token) = match (kms_key, google_registry) {
        (false, false) => (None, None),
        (kms_key, _) => {
            let auth = ctx.auth()?;
            let token = auth.warm().await?;
            let kms = match kms_key {
                true => Some(Kms::new(&auth, &Endpoints::from_env()).await?),
                false => None,
            };
            (kms, Some(token))
        }
    };
    let registry = ctx.registry_client(token, &request.images)?;
    Ok(super::cosign_sign::CosignServices {
        registry,
        signer: signer(&request.key, kms).await?,
    })
}

/// What every image's attestation shares, checked once before any image is signed.
pub(super) struct Batch<'a> {
    pub(super) services: &'a Services,
    pub(super) request: &'a SignRequest,
    pub(super) attestor: Attestor,
    pub(super) key: SignerKey,
    pub(super) trusted: TrustedKey,
    pub(super) project: String,
    pub(super) finished: &'a Mutex<Vec<Outcome>>,
}

/// One manifest to attest: an input image at a digest (its own, or a child's of its index).
#[derive(Clone)]
pub struct Target<'a> {
    /// The input image.
    pub image: &'a ImageRef,
    /// Its digest, or a child's.
    pub digest: Digest,
    /// The child's platform.
    pub platform: Option<String>,
}

/// The pipeline: lookups in parallel, the trust check once, then each distinct manifest once
/// (bounded by `concurrency`), and an outcome for every input in input order. One image's
/// failure is its own outcome and never stops the others (unless `fail_fast`). Each finished
/// manifest is also recorded in `finished`, so a run stopped by the deadline still reports it.
pub async fn sign(
    services: &Services,
    request: &SignRequest,
    concurrency: usize,
    finished: &Mutex<Vec<Outcome>>,
    progress: &Progress,
) -> Result<Vec<Outcome>> {
    let attestor_name = request.attestor.as_ref().ok_or_else(|| {
        Error::Usage("no attestor: pass --attestor, or --cosign for cosign signatures alone".into())
    })?;
    let lookups = async {
        tokio::try_join!(
            services.binauthz.attestor(attestor_name),
            services.signer.public_key()
        )
    };
    let resolutions = stream::iter(&request.images)
        .map(|image| async move { (image, targets(&services.registry, request, image).await) })
        .buffered(concurrency)
        .collect::<Vec<_>>();
    let (lookups, mut resolutions) = tokio::join!(lookups, resolutions);
    let (attestor, key) = lookups?;
    if request.fail_fast {
        if let Some(first) = resolutions.iter().position(|(_, r)| r.is_err()) {
            if let (_, Err(e)) = resolutions.swap_remove(first) {
                return Err(e);
            }
        }
    }

    let (trusted, key) = services.signer.entry_in(&attestor, &key)?;
    let trusted = trusted.clone();
    let project = request
        .project
        .clone()
        .unwrap_or_else(|| attestor.name.project.clone());
    let batch = Batch {
        services,
        request,
        attestor,
        key,
        trusted,
        project,
        finished,
    };

    // Each repository@digest once, however many inputs name it: the first input names it.
    let mut distinct: Vec<Target> = Vec::new();
    for (_, resolved) in &resolutions {
        for target in resolved.iter().flatten() {
            if !distinct.iter().any(|d| same_manifest(d, target)) {
                distinct.push(target.clone());
            }
        }
    }
    let batch = &batch;
    // Inputs that never resolved are finished too: `[n/N]` counts every outcome of the batch.
    let unresolved: Vec<(&ImageRef, &Error)> = resolutions
        .iter()
        .filter_map(|(image, r)| r.as_ref().err().map(|e| (*image, e)))
        .collect();
    progress.start(distinct.len() + unresolved.len());
    for (image, e) in &unresolved {
        progress.finished(&batch.failed(image, None, e));
    }
    let attested = stream::iter(&distinct).map(|target| async move {
        let outcome = batch.attest(target.image, target.digest.clone()).await;
        match &outcome {
            Ok(outcome) => {
                progress.finished(outcome);
                let mut done = batch.finished.lock().unwrap_or_else(|e| e.into_inner());
                done.push(outcome.clone());
            }
            Err(e) => progress.finished(&batch.failed(target.image, Some(&target.digest), e)),
        }
        outcome
    });
    let attested: Vec<Result<Outcome>> = if request.fail_fast {
        attested
            .buffered(concurrency)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .map(Ok)
            .collect()
    } else {
        attested.buffered(concurrency).collect().await
    };

    let mut outcomes = Vec::new();
    for (image, resolved) in &resolutions {
        let targets = match resolved {
            Ok(targets) => targets,
            Err(e) => {
                outcomes.push(batch.failed(image, None, e));
                continue;
            }
        };
        for target in targets {
            let index = distinct
                .iter()
                .position(|d| same_manifest(d, target))
                .unwrap_or_default();
            let first = &distinct[index];
            let mut outcome = match &attested[index] {
                Ok(outcome) => outcome.clone(),
                Err(e) => batch.failed(image, Some(&target.digest), e),
            };
            outcome.image = (*image).clone();
            outcome.platform = target.platform.clone();
            if !std::ptr::eq(first.image, target.image) || first.platform != target.platform {
                outcome.duplicate_of = Some(first.image.clone());
            }
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// Two targets name the same manifest in the same repository: one attestation serves both.
fn same_manifest(a: &Target, b: &Target) -> bool {
    a.digest == b.digest && a.image.repository_url() == b.image.repository_url()
}

/// The manifests `image` stands for: its digest in its registry, checked against
/// `--expect-digest` and `--source`, then the children of an index that `--all-platforms` or
/// `--platform` ask for.
pub async fn targets<'a>(
    registry: &Registry,
    request: &SignRequest,
    image: &'a ImageRef,
) -> Result<Vec<Target<'a>>> {
    let (digest, source_digest) = match &request.source {
        Some(source) => {
            let (d, s) = tokio::try_join!(registry.resolve(image), registry.resolve(source))?;
            (d, Some((source, s)))
        }
        None => (registry.resolve(image).await?, None),
    };
    let drift = |expected: &Digest, origin: String| Error::DigestDrift {
        image: image.to_string(),
        actual: digest.to_string(),
        expected: expected.to_string(),
        origin,
    };
    if let Some(expected) = request.expect_digest.as_ref().filter(|e| **e != digest) {
        return Err(drift(expected, "--expect-digest".into()));
    }
    if let Some((source, expected)) = source_digest.filter(|(_, s)| *s != digest) {
        return Err(drift(&expected, format!("the source {source}")));
    }
    let mut targets = vec![Target {
        image,
        digest: digest.clone(),
        platform: None,
    }];
    if request.platforms == Platforms::IndexOnly {
        return Ok(targets);
    }
    let children = registry.children(image, &digest).await?;
    let wanted = |child: &&Child| match &request.platforms {
        Platforms::One(platform) => child.platform.as_deref() == Some(platform.as_str()),
        _ => true,
    };
    let chosen: Vec<&Child> = children.iter().filter(wanted).collect();
    if let Platforms::One(platform) = &request.platforms {
        if chosen.is_empty() {
            let available: Vec<&str> = children
                .iter()
                .filter_map(|c| c.platform.as_deref())
                .collect();
            return Err(Error::PlatformNotInIndex {
                image: image.to_string(),
                platform: platform.clone(),
                available: match available.is_empty() {
                    true => "none: it is a single-platform manifest".into(),
                    false => available.join(", "),
                },
            });
        }
    }
    targets.extend(chosen.into_iter().map(|child| Target {
        image,
        digest: child.digest.clone(),
        platform: child.platform.clone(),
    }));
    Ok(targets)
}

impl Batch<'_> {
    /// The attestation, then (with `--cosign`, unless a dry run) the cosign signatures by the
    /// same signer.
    async fn attest(&self, image: &ImageRef, digest: Digest) -> Result<Outcome> {
        let mut outcome = self.attestation(image, digest.clone()).await?;
        if let (Some(form), false) = (self.request.cosign, self.request.dry_run) {
            outcome.cosign_signatures = self.cosign(image, &digest, form).await?;
        }
        Ok(outcome)
    }

    /// Writes (or finds) the cosign forms `form` asks for; the stored manifests, sig first.
    async fn cosign(
        &self,
        image: &ImageRef,
        digest: &Digest,
        form: CosignForm,
    ) -> Result<Vec<ImageRef>> {
        let (registry, signer) = (&self.services.registry, self.services.signer.as_ref());
        let mut stored = Vec::new();
        if matches!(form, CosignForm::Sig | CosignForm::Both) {
            stored
                .push(cosign::write_sig(registry, image, digest, signer, self.key.pkix()?).await?);
        }
        if matches!(form, CosignForm::Bundle | CosignForm::Both) {
            stored.push(
                cosign::write_bundle(registry, image, digest, signer, self.key.pkix()?).await?,
            );
        }
        Ok(stored.into_iter().map(|s| s.manifest).collect())
    }

    async fn attestation(&self, image: &ImageRef, digest: Digest) -> Result<Outcome> {
        let pinned = image.with_digest(&digest);
        let image_ref = pinned.to_string();
        let payload = Payload::new(image, &digest).to_bytes();
        // With --pae the signature covers the DSSE encoding, as gcloud's
        // `--pae-encode-payload`; the occurrence still stores the raw payload.
        let signed = match &self.request.pae {
            Some(dsse_type) => attestation::pae(dsse_type, &payload),
            None => payload.clone(),
        };
        let signer = &self.services.signer;
        let mut outcome = Outcome {
            status: Status::WouldCreate,
            ..self.outcome(image, Some(&digest))
        };
        let (existing, signature) = if self.request.dry_run {
            (self.find_valid(&digest, &image_ref).await?, None)
        } else {
            let signing = signer.sign(&self.key, &signed);
            let (existing, signature) = tokio::join!(self.find_valid(&digest, &image_ref), signing);
            (existing?, Some(signature))
        };
        if let Some(name) = existing {
            outcome.attestation = Some(name);
            outcome.status = Status::Existing;
            return Ok(outcome);
        }
        let Some(signature) = signature else {
            return Ok(outcome);
        };
        let signature = signature?;
        if !self.key.verifies(&signed, &signature) {
            return Err(Error::SignatureDoesNotVerify {
                key: signer.key_name(),
            });
        }
        let filed = self
            .create(&digest, &image_ref, &payload, &signature)
            .await?;
        outcome.attestation = Some(filed.name);
        outcome.warnings.extend(filed.warning);
        outcome.status = Status::Created;
        Ok(outcome)
    }

    /// The outcome of an image that failed, with what is known of it.
    fn failed(&self, image: &ImageRef, digest: Option<&Digest>, error: &Error) -> Outcome {
        Outcome {
            error: Some(ImageError::from(error)),
            ..self.outcome(image, digest)
        }
    }

    /// What is known of an image before anything is found or filed (status `failed` until
    /// the caller says otherwise).
    fn outcome(&self, image: &ImageRef, digest: Option<&Digest>) -> Outcome {
        Outcome {
            image: image.clone(),
            digest: digest.cloned(),
            attestor: Some(self.attestor.name.clone()),
            note: Some(self.attestor.note.clone()),
            key_version: self.services.signer.key_name(),
            public_key_id: Some(self.trusted.id.clone()),
            attestation: None,
            status: Status::Failed,
            platform: None,
            duplicate_of: None,
            error: None,
            cosign_signatures: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A valid attestation by this attestor already filed for the image (by us or by gcloud).
    async fn find_valid(&self, digest: &Digest, image_ref: &str) -> Result<Option<String>> {
        Ok(self.valid(digest, image_ref).await?.into_iter().next())
    }

    /// The names of every valid attestation by this attestor for the image.
    pub(super) async fn valid(&self, digest: &Digest, image_ref: &str) -> Result<Vec<String>> {
        let filed = self
            .services
            .grafeas
            .get()
            .await?
            .attestations(&self.attestor.note, digest)
            .await?;
        // `rotate --reattest` counts only attestations by the key it signs with.
        let counts = |a: &crate::model::Attestation| {
            attestation::check_with(a, &self.attestor, image_ref, self.request.pae.as_deref())
                .is_ok_and(|id| !self.request.only_by_signing_key || id == self.trusted.id)
        };
        Ok(filed.into_iter().filter(counts).map(|a| a.name).collect())
    }
}
