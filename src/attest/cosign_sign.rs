//! `sign --cosign` without an attestor: cosign signatures only, for clusters that admit images by
//! cosign signature (policy-controller, Kyverno, cosign itself) and images in any registry. The
//! same digests, signer and storage forms as the attestation pipeline, and no Binary
//! Authorization or Container Analysis call: Google is reached only for a KMS key or a Google
//! registry.
//!
//! Each distinct repository@digest is signed once (bounded by `--concurrency`); a rerun finds
//! the signatures and writes nothing (`cosign::write_sig`, `cosign::write_bundle`).

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::stream::{self, StreamExt};

use crate::attest::sign::{targets, SignRequest, Target};
use crate::cli::CosignForm;
use crate::cosign;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::reference::{Digest, ImageRef};
use crate::registry::Registry;
use crate::report::{ImageError, Outcome, Status};
use crate::signer::Signer;

/// What a cosign-only run needs: the registry and the signer.
pub struct CosignServices {
    /// Digests, and where the signatures go.
    pub registry: Registry,
    /// Whatever holds the key.
    pub signer: Box<dyn Signer>,
}

/// Signs every image of `request` with cosign signatures of `form`: an outcome per input (and
/// per platform asked for), in input order; one image's failure is its own outcome unless
/// `fail_fast`.
pub async fn sign(
    services: &CosignServices,
    request: &SignRequest,
    form: CosignForm,
    concurrency: usize,
    finished: &Mutex<Vec<Outcome>>,
    progress: &Progress,
) -> Result<Vec<Outcome>> {
    let key = services.signer.public_key().await?;
    let key = key.pkix()?.clone();
    let registry = &services.registry;
    let resolutions: Vec<(&ImageRef, Result<Vec<Target>>)> = stream::iter(&request.images)
        .map(|image| async move { (image, targets(registry, request, image).await) })
        .buffered(concurrency)
        .collect()
        .await;
    if request.fail_fast {
        if let Some((_, Err(e))) = resolutions.iter().find(|(_, r)| r.is_err()) {
            return Err(clone_error(e));
        }
    }
    // Each repository@digest once: the first input that names it signs it.
    let mut distinct: Vec<(ImageRef, Target)> = Vec::new();
    for target in resolutions.iter().flat_map(|(_, r)| r.iter().flatten()) {
        let id = target.image.with_digest(&target.digest);
        if !distinct.iter().any(|(d, _)| *d == id) {
            distinct.push((id, target.clone()));
        }
    }
    progress.start(distinct.len());
    let signer = services.signer.as_ref();
    let key = &key;
    let signed: HashMap<ImageRef, Result<Outcome>> = stream::iter(&distinct)
        .map(|(id, target)| async move {
            let result = match request.dry_run {
                true => Ok(outcome(
                    signer,
                    target.image,
                    Some(&target.digest),
                    Status::WouldCreate,
                    Vec::new(),
                )),
                false => sign_one(registry, signer, key, target.image, &target.digest, form).await,
            };
            let shown = match &result {
                Ok(o) => o.clone(),
                Err(e) => failed(signer, target.image, Some(&target.digest), e),
            };
            progress.finished(&shown);
            if result.is_ok() {
                finished
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(shown);
            }
            (id.clone(), result)
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut outcomes = Vec::new();
    for (image, resolved) in &resolutions {
        let targets = match resolved {
            Ok(targets) => targets,
            Err(e) => {
                outcomes.push(failed(signer, image, None, e));
                continue;
            }
        };
        for target in targets {
            let id = target.image.with_digest(&target.digest);
            let mut outcome = match &signed[&id] {
                Ok(outcome) => outcome.clone(),
                Err(e) if request.fail_fast => return Err(clone_error(e)),
                Err(e) => failed(signer, image, Some(&target.digest), e),
            };
            let first = distinct.iter().find(|(d, _)| *d == id).map(|(_, t)| t);
            outcome.image = (*image).clone();
            outcome.platform = target.platform.clone();
            if let Some(first) = first
                .filter(|f| !std::ptr::eq(f.image, target.image) || f.platform != target.platform)
            {
                outcome.duplicate_of = Some(first.image.clone());
            }
            outcomes.push(outcome);
        }
    }
    Ok(outcomes)
}

/// Writes (or finds) the forms `form` asks for, `.sig` first.
async fn sign_one(
    registry: &Registry,
    signer: &dyn Signer,
    key: &crate::model::PublicKey,
    image: &ImageRef,
    digest: &Digest,
    form: CosignForm,
) -> Result<Outcome> {
    let mut stored = Vec::new();
    if matches!(form, CosignForm::Sig | CosignForm::Both) {
        stored.push(cosign::write_sig(registry, image, digest, signer, key).await?);
    }
    if matches!(form, CosignForm::Bundle | CosignForm::Both) {
        stored.push(cosign::write_bundle(registry, image, digest, signer, key).await?);
    }
    let status = match stored.iter().any(|s| s.created) {
        true => Status::Created,
        false => Status::Existing,
    };
    let manifests = stored.into_iter().map(|s| s.manifest).collect();
    Ok(outcome(signer, image, Some(digest), status, manifests))
}

/// An outcome with no attestation: attestor, note, key id and occurrence stay empty.
fn outcome(
    signer: &dyn Signer,
    image: &ImageRef,
    digest: Option<&Digest>,
    status: Status,
    cosign_signatures: Vec<ImageRef>,
) -> Outcome {
    Outcome {
        image: image.clone(),
        digest: digest.cloned(),
        attestor: None,
        note: None,
        key_version: signer.key_name(),
        public_key_id: None,
        attestation: None,
        status,
        platform: None,
        duplicate_of: None,
        error: None,
        cosign_signatures,
        warnings: Vec::new(),
    }
}

fn failed(signer: &dyn Signer, image: &ImageRef, digest: Option<&Digest>, e: &Error) -> Outcome {
    Outcome {
        error: Some(ImageError::from(e)),
        ..outcome(signer, image, digest, Status::Failed, Vec::new())
    }
}

/// `--fail-fast` returns the first failure as the run's error; errors are not `Clone`, so the
/// message and exit code travel as the batch error does.
fn clone_error(e: &Error) -> Error {
    let failed = ImageError::from(e);
    Error::ImagesFailed {
        failed: 1,
        total: 1,
        worst: failed.message,
        exit_code: failed.exit_code,
    }
}
