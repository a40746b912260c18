//! `sign`: resolve each image's digest in its registry, sign the Binary Authorization payload,
//! check the signature, and file it as an attestation once.
//!
//! Round trips on the critical path: digest -> sign -> create. The attestor, the signer's public
//! key and the digests are fetched concurrently; the idempotency lookup runs beside the signing.
//! The pipeline knows the signer only through the `Signer` seam.

use std::sync::Mutex;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{print, read_images_file, Context, Report};
use crate::attestation;
use crate::cli::SignArgs;
use crate::commit_status;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::Kms;
use crate::gcp::Endpoints;
use crate::model::{Attestor, PublicKey, TrustedKey};
use crate::names::{self, AttestorName, KeyVersionName};
use crate::payload::Payload;
use crate::reference::{Digest, ImageRef};
use crate::registry::Registry;
use crate::report::{Outcome, Status};
use crate::signer::kms::KmsSigner;
use crate::signer::Signer;

/// Attempts at filing one attestation when the answer is lost (each after looking first).
const CREATE_ATTEMPTS: usize = 3;

/// The top-level entry point for `sign`: wires the clients, runs the pipeline, prints what was
/// done (also what finished before a failure or the deadline), posts the commit status.
pub async fn run(ctx: &Context, args: &SignArgs) -> Report {
    let finished = Mutex::new(Vec::new());
    let work = async {
        let request = request(args)?;
        let services = services(ctx, &request).await?;
        sign(&services, &request, ctx.concurrency, &finished).await
    };
    let result = ctx.within_deadline(work).await;
    let outcomes = match &result {
        Ok(outcomes) => outcomes.clone(),
        Err(_) => finished.into_inner().unwrap_or_else(|e| e.into_inner()),
    };
    let printed = if result.is_ok() || !outcomes.is_empty() {
        print(args.output, &outcomes, |o| o.line() + "\n")
    } else {
        Ok(())
    };
    let mut result = result.and(printed).map(drop);
    if let (Ok(()), Some(target)) = (&result, &ctx.commit_status) {
        result = ctx
            .within_deadline(commit_status::post(target, &outcomes))
            .await;
    }
    Report { outcomes, result }
}

/// What to sign, with what, and where to file it: the command line, parsed and checked.
pub struct SignRequest {
    /// Images as given, tags or digests.
    pub images: Vec<ImageRef>,
    /// The attestor whose note and keys the attestations are for.
    pub attestor: AttestorName,
    /// The KMS key version that signs.
    pub key_version: KeyVersionName,
    /// The project that stores the occurrences; the attestor's when absent.
    pub project: Option<String>,
    /// Check everything, sign and write nothing.
    pub dry_run: bool,
}

/// The clients one run shares, and the signer.
pub struct Services {
    /// Digests, from each image's registry.
    pub registry: Registry,
    /// Attestors.
    pub binauthz: Binauthz,
    /// Attestation occurrences.
    pub grafeas: Grafeas,
    /// Whatever holds the key.
    pub signer: Box<dyn Signer>,
}

fn request(args: &SignArgs) -> Result<SignRequest> {
    let mut images = args.images.clone();
    if let Some(path) = &args.images_file {
        images.extend(read_images_file(path)?);
    }
    if images.is_empty() {
        return Err(Error::Usage(
            "no images to sign: pass IMAGE arguments, BINAUTHZ_IMAGES, or --images-file".into(),
        ));
    }
    Ok(SignRequest {
        images,
        attestor: args.attestor.name()?,
        key_version: KeyVersionName::parse(&args.kms_key_version)?,
        project: args
            .project
            .as_deref()
            .map(names::parse_project)
            .transpose()?,
        dry_run: args.dry_run,
    })
}

/// The clients `sign` uses, set up on both cores at once: each loads the system's trust roots,
/// which is most of a run's local cost.
async fn services(ctx: &Context, request: &SignRequest) -> Result<Services> {
    let auth = ctx.auth()?;
    let endpoints = Endpoints::from_env();
    // Every Google call needs the token: fetch it once, before anything runs concurrently.
    let token = auth.warm().await?;
    let (kms, binauthz, grafeas) = {
        let (a, e) = (auth.clone(), endpoints.clone());
        let kms = tokio::spawn(async move { Kms::new(&a, &e).await });
        let (a, e) = (auth.clone(), endpoints.clone());
        let binauthz = tokio::spawn(async move { Binauthz::new(&a, &e).await });
        let (a, e) = (auth, endpoints);
        let grafeas = tokio::spawn(async move { Grafeas::new(&a, &e).await });
        (kms, binauthz, grafeas)
    };
    let registry = ctx.registry_client(Some(token), &request.images)?;
    let joined = |e: tokio::task::JoinError| Error::Setup(format!("client set-up failed: {e}"));
    let kms = kms.await.map_err(joined)??;
    Ok(Services {
        registry,
        binauthz: binauthz.await.map_err(joined)??,
        grafeas: grafeas.await.map_err(joined)??,
        signer: Box::new(KmsSigner::new(kms, request.key_version.clone())),
    })
}

/// What every image's attestation shares, checked once before any image is signed.
struct Batch<'a> {
    services: &'a Services,
    request: &'a SignRequest,
    attestor: Attestor,
    key: PublicKey,
    trusted: TrustedKey,
    project: String,
    finished: &'a Mutex<Vec<Outcome>>,
}

/// The pipeline: lookups in parallel, the trust check once, then each image (bounded by
/// `concurrency`). Each finished image is also recorded in `finished`, so a run stopped by an
/// error or the deadline still reports what it did.
pub async fn sign(
    services: &Services,
    request: &SignRequest,
    concurrency: usize,
    finished: &Mutex<Vec<Outcome>>,
) -> Result<Vec<Outcome>> {
    let lookups = async {
        tokio::try_join!(
            services.binauthz.attestor(&request.attestor),
            services.signer.public_key()
        )
    };
    let digests = stream::iter(&request.images)
        .map(
            |image| async move { Ok::<_, Error>((image, services.registry.resolve(image).await?)) },
        )
        .buffered(concurrency)
        .try_collect::<Vec<_>>();
    let ((attestor, key), digests) = tokio::try_join!(lookups, digests)?;

    let trusted = services.signer.entry_in(&attestor, &key)?.clone();
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
    let batch = &batch;
    stream::iter(digests)
        .map(|(image, digest)| async move {
            let outcome = batch.attest(image, digest).await?;
            let mut done = batch.finished.lock().unwrap_or_else(|e| e.into_inner());
            done.push(outcome.clone());
            Ok(outcome)
        })
        .buffered(concurrency)
        .try_collect()
        .await
}

impl Batch<'_> {
    async fn attest(&self, image: &ImageRef, digest: Digest) -> Result<Outcome> {
        let pinned = image.with_digest(&digest);
        let image_ref = pinned.to_string();
        let payload = Payload::new(image, &digest).to_bytes();
        let signer = &self.services.signer;
        let mut outcome = Outcome {
            image: image.to_string(),
            digest: digest.to_string(),
            image_ref: image_ref.clone(),
            attestor: self.attestor.name.to_string(),
            note: self.attestor.note.to_string(),
            key_version: signer.key_name(),
            public_key_id: self.trusted.id.clone(),
            attestation: String::new(),
            status: Status::WouldCreate,
            created: false,
        };
        let (existing, signature) = if self.request.dry_run {
            (self.find_valid(&digest, &image_ref).await?, None)
        } else {
            let signing = signer.sign(&self.key, &payload);
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
        if !self.key.verifies(&payload, &signature) {
            return Err(Error::SignatureDoesNotVerify {
                key: signer.key_name(),
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
