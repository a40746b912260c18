//! `sign`: resolve each image's digest in its registry, sign the Binary Authorization payload
//! with Cloud KMS, check the signature, and file it as an attestation once.
//!
//! Round trips on the critical path: digest -> sign -> create. The attestor, the KMS public key
//! and the digests are fetched concurrently; the idempotency lookup runs beside the signing.

use crate::attestation;
use crate::error::{Error, Result};
use crate::gcp::binauthz::{Attestor, Binauthz, TrustedKey};
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::{Kms, PublicKey};
use crate::names::{AttestorName, KeyVersionName};
use crate::payload::Payload;
use crate::reference::{Digest, ImageRef};
use crate::registry::Registry;
use crate::report::{Outcome, Status};
use crate::signing::same_public_key;
use futures_util::stream::{self, StreamExt, TryStreamExt};

/// Images signed at once: enough to hide latency, few enough to stay under API quotas.
const CONCURRENCY: usize = 8;
/// Attempts at filing one attestation when the answer is lost (each after looking first).
const CREATE_ATTEMPTS: usize = 3;

pub struct SignRequest {
    pub images: Vec<ImageRef>,
    pub attestor: AttestorName,
    pub key_version: KeyVersionName,
    /// The project that stores the occurrences; the attestor's when absent.
    pub project: Option<String>,
    pub dry_run: bool,
}

/// The clients one run shares.
pub struct Services {
    pub registry: Registry,
    pub kms: Kms,
    pub binauthz: Binauthz,
    pub grafeas: Grafeas,
}

/// What every image's attestation shares, checked once before any image is signed.
struct Signer<'a> {
    services: &'a Services,
    request: &'a SignRequest,
    attestor: Attestor,
    key: PublicKey,
    trusted: TrustedKey,
    project: String,
}

pub async fn sign(services: &Services, request: &SignRequest) -> Result<Vec<Outcome>> {
    let lookups = async {
        tokio::try_join!(
            services.binauthz.attestor(&request.attestor),
            services.kms.public_key(&request.key_version)
        )
    };
    let digests = stream::iter(&request.images)
        .map(
            |image| async move { Ok::<_, Error>((image, services.registry.resolve(image).await?)) },
        )
        .buffered(CONCURRENCY)
        .try_collect::<Vec<_>>();
    let ((attestor, key), digests) = tokio::try_join!(lookups, digests)?;

    let trusted = trusted_key(&attestor, &request.key_version, &key)?;
    let project = request
        .project
        .clone()
        .unwrap_or_else(|| attestor.name.project.clone());
    let signer = Signer {
        services,
        request,
        attestor,
        key,
        trusted,
        project,
    };
    let signer = &signer;
    stream::iter(digests)
        .map(|(image, digest)| signer.attest(image, digest))
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// Fails closed: the attestor must file this very key version, with the key KMS serves, or
/// Binary Authorization could never verify what we write.
fn trusted_key(
    attestor: &Attestor,
    version: &KeyVersionName,
    key: &PublicKey,
) -> Result<TrustedKey> {
    let trusted = attestor.key_for_version(version).ok_or_else(|| {
        let (crypto_key, number) = version.key_and_version();
        Error::KeyNotTrustedByAttestor {
            attestor: attestor.name.to_string(),
            key: version.to_string(),
            command: format!(
                "gcloud container binauthz attestors public-keys add --attestor={} --attestor-project={} --keyversion={crypto_key}/cryptoKeyVersions/{number}",
                attestor.name.id, attestor.name.project
            ),
        }
    })?;
    let same_key = trusted
        .pem
        .as_deref()
        .is_none_or(|pem| same_public_key(pem, &key.pem));
    let same_algorithm = trusted.algorithm.is_none_or(|a| a == key.algorithm);
    if !(same_key && same_algorithm) {
        return Err(Error::AttestorKeyMismatch {
            attestor: attestor.name.to_string(),
            key_id: trusted.id.clone(),
            key: version.to_string(),
        });
    }
    Ok(trusted.clone())
}

impl Signer<'_> {
    async fn attest(&self, image: &ImageRef, digest: Digest) -> Result<Outcome> {
        let pinned = image.with_digest(&digest);
        let image_ref = pinned.to_string();
        let payload = Payload::new(image, &digest).to_bytes();
        let mut outcome = Outcome {
            image: image.to_string(),
            digest: digest.to_string(),
            image_ref: image_ref.clone(),
            attestor: self.attestor.name.to_string(),
            note: self.attestor.note.to_string(),
            key_version: self.request.key_version.to_string(),
            public_key_id: self.trusted.id.clone(),
            attestation: String::new(),
            status: Status::WouldCreate,
            created: false,
        };
        let (existing, signature) = if self.request.dry_run {
            (self.find_valid(&digest, &image_ref).await?, None)
        } else {
            let signing =
                self.services
                    .kms
                    .sign(&self.request.key_version, self.key.algorithm, &payload);
            let (existing, signature) = tokio::join!(self.find_valid(&digest, &image_ref), signing);
            (existing?, Some(signature))
        };
        if let Some(name) = existing {
            outcome.attestation = name;
            outcome.status = Status::Existing;
            return Ok(outcome);
        }
        let Some(signature) = signature else {
            return Ok(outcome);
        };
        let signature = signature?;
        if !self
            .key
            .algorithm
            .verifies(&self.key.pem, &payload, &signature)
        {
            return Err(Error::SignatureDoesNotVerify {
                key: self.request.key_version.to_string(),
            });
        }
        outcome.attestation = self
            .create(&digest, &image_ref, &payload, &signature)
            .await?;
        outcome.status = Status::Created;
        outcome.created = true;
        Ok(outcome)
    }

    /// A valid attestation by this attestor already filed for the image (by us or by gcloud).
    async fn find_valid(&self, digest: &Digest, image_ref: &str) -> Result<Option<String>> {
        let filed = self
            .services
            .grafeas
            .attestations(&self.attestor.note, digest)
            .await?;
        Ok(filed
            .into_iter()
            .find(|a| attestation::check(a, &self.attestor, image_ref).is_ok())
            .map(|a| a.name))
    }

    /// Files the attestation. Creating is not idempotent, so when an attempt fails in a way
    /// that may hide a success (a lost answer, a 5xx), look before trying again.
    async fn create(
        &self,
        digest: &Digest,
        image_ref: &str,
        payload: &[u8],
        signature: &[u8],
    ) -> Result<String> {
        let grafeas = &self.services.grafeas;
        let mut attempt = 1;
        loop {
            let created = grafeas
                .create(
                    &self.project,
                    &self.attestor.note,
                    image_ref,
                    payload,
                    &self.trusted.id,
                    signature,
                )
                .await;
            match created {
                Err(Error::Google { .. }) if attempt < CREATE_ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(250 * attempt as u64))
                        .await;
                    if let Some(name) = self.find_valid(digest, image_ref).await? {
                        return Ok(name);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
