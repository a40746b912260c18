//! The verify judgement: for each image's registry digest and each attestor, whether Binary
//! Authorization would find a valid attestation, which one, and the reason when not. An image
//! passes when every attestor has at least one valid attestation for its digest (any of that
//! attestor's keys suffices), as an admission rule with several `requireAttestationsBy` entries
//! demands. `verify` and `policy check` run it; the cosign judgement is `cosign_verify.rs`'s.
//!
//! Each distinct image reference is resolved once and each attestor's note is listed once per
//! distinct digest, however many inputs share them.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::cosign_verify::{cosign_verdicts, VerifyKey};
use super::Context;
use crate::attestation;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::kms::Kms;
use crate::gcp::Endpoints;
use crate::model::{Attestation, Attestor};
use crate::names::{AttestorName, KeyVersionName, NoteName};
use crate::reference::{Digest, ImageRef};
use crate::registry::Registry;
use crate::report::{Checked, Judge, Verdict};

/// What to verify: the command line, parsed and checked.
pub struct VerifyRequest {
    /// Images as given, tags or digests.
    pub images: Vec<ImageRef>,
    /// The attestors each image must satisfy.
    pub attestors: Vec<AttestorName>,
    /// `--dsse-type`: the payload type of DSSE-signed (`--pae`) attestations.
    pub dsse_type: Option<String>,
    /// `--cosign-key`: a PEM public key file or a KMS key version the cosign signatures are
    /// judged against.
    pub cosign_key: Option<String>,
}

/// Every verdict `request` asks for: each image against each attestor, then against the cosign
/// key. Google credentials only when something Google is asked.
pub async fn verify_all(ctx: &Context, request: &VerifyRequest) -> Result<Vec<Verdict>> {
    let (images, attestors) = (&request.images, &request.attestors);
    // A file is a PEM key; anything else must be a KMS key version (any form
    // `--kms-key-version` takes, cosign's `gcpkms://` too).
    let cosign_kms = request
        .cosign_key
        .as_deref()
        .filter(|k| !std::path::Path::new(k).exists())
        .map(|k| {
            KeyVersionName::parse(k).map_err(|e| Error::CosignKey {
                key: k.to_string(),
                reason: format!("is no file, and not a KMS key version ({e})"),
            })
        })
        .transpose()?;
    // Google credentials only when something Google is asked: a PEM key and a registry that
    // takes no Google token verify with none.
    let needs_google =
        !attestors.is_empty() || cosign_kms.is_some() || ctx.registry.needs_google_token(images);
    let endpoints = Endpoints::from_env();
    let (auth, token) = match needs_google {
        true => {
            let auth = ctx.auth()?;
            let token = auth.warm().await?;
            (Some(auth), Some(token))
        }
        false => (None, None),
    };
    let registry = ctx.registry_client(token, images)?;
    let mut verdicts = Vec::new();
    if let (Some(auth), false) = (&auth, attestors.is_empty()) {
        let (binauthz, grafeas) = tokio::try_join!(
            Binauthz::new(auth, &endpoints),
            Grafeas::new(auth, &endpoints)
        )?;
        let clients = Clients {
            registry: &registry,
            binauthz: &binauthz,
            grafeas: &grafeas,
        };
        let dsse_type = request.dsse_type.as_deref();
        verdicts = verify(clients, images, attestors, dsse_type, ctx.concurrency).await?;
    }
    if let Some(shown) = &request.cosign_key {
        let key = match (&cosign_kms, &auth) {
            (Some(version), Some(auth)) => {
                let public = Kms::new(auth, &endpoints)
                    .await?
                    .public_key(version)
                    .await?;
                VerifyKey {
                    pem: public.pem,
                    algorithm: Some(public.algorithm),
                }
            }
            _ => VerifyKey::from_pem_file(shown)?,
        };
        verdicts.extend(cosign_verdicts(&registry, images, shown, &key, ctx.concurrency).await?);
    }
    Ok(verdicts)
}

/// The clients `verify` reads through.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    /// Digests.
    pub registry: &'a Registry,
    /// The attestors.
    pub binauthz: &'a Binauthz,
    /// The attestations.
    pub grafeas: &'a Grafeas,
}

/// Each image's verdict for each attestor, image-major in input order.
pub async fn verify(
    clients: Clients<'_>,
    images: &[ImageRef],
    attestors: &[AttestorName],
    dsse_type: Option<&str>,
    concurrency: usize,
) -> Result<Vec<Verdict>> {
    // Each distinct reference resolved once, beside the attestor reads.
    let mut distinct: Vec<&ImageRef> = Vec::new();
    for image in images {
        if !distinct.contains(&image) {
            distinct.push(image);
        }
    }
    let digests = stream::iter(distinct.iter().copied())
        .map(|image| async move {
            Ok::<_, Error>((image.clone(), clients.registry.resolve(image).await?))
        })
        .buffered(concurrency)
        .try_collect::<HashMap<ImageRef, Digest>>();
    let attestor_reads = stream::iter(attestors)
        .map(|name| clients.binauthz.attestor(name))
        .buffered(concurrency)
        .try_collect::<Vec<Attestor>>();
    let (digests, attestors) = tokio::try_join!(digests, attestor_reads)?;

    // Each (note, digest) listed once.
    let mut lookups: Vec<(NoteName, Digest)> = Vec::new();
    for attestor in &attestors {
        for digest in digests.values() {
            let key = (attestor.note.clone(), digest.clone());
            if !lookups.contains(&key) {
                lookups.push(key);
            }
        }
    }
    let filed: HashMap<(NoteName, Digest), Vec<Attestation>> = stream::iter(lookups)
        .map(|(note, digest)| async move {
            let found = clients.grafeas.attestations(&note, &digest).await?;
            Ok::<_, Error>(((note, digest), found))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;

    let mut verdicts = Vec::new();
    for image in images {
        let digest = &digests[image];
        let pinned = image.with_digest(digest);
        for attestor in &attestors {
            let candidates = &filed[&(attestor.note.clone(), digest.clone())];
            verdicts.push(judge(image, &pinned, attestor, candidates, dsse_type));
        }
    }
    Ok(verdicts)
}

/// One image against one attestor, from the attestations filed under its note for the digest
/// (also the admission webhook's judgement of Container Analysis evidence).
pub fn judge(
    image: &ImageRef,
    pinned: &ImageRef,
    attestor: &Attestor,
    filed: &[Attestation],
    dsse_type: Option<&str>,
) -> Verdict {
    let image_ref = pinned.to_string();
    let image_ref = image_ref.as_str();
    // Attestations for the same digest in other repositories are not this image's business.
    let mine = filed.iter().filter(|a| {
        let uri = a
            .resource_uri
            .strip_prefix("https://")
            .unwrap_or(&a.resource_uri);
        uri.rsplit_once('@').map(|(repo, _)| repo)
            == image_ref.rsplit_once('@').map(|(repo, _)| repo)
    });
    let checked: Vec<Checked> = mine
        .map(|a| {
            let result = attestation::check_with(a, attestor, image_ref, dsse_type);
            Checked {
                name: a.name.clone(),
                resource_uri: a.resource_uri.clone(),
                public_key_ids: a.signatures.iter().map(|(id, _)| id.clone()).collect(),
                valid: result.is_ok(),
                verified_by: result.as_ref().ok().cloned(),
                reason: result.err().unwrap_or_default(),
            }
        })
        .collect();
    let valid = checked.iter().find(|c| c.valid);
    let reason = match (valid, checked.as_slice()) {
        (Some(_), _) => String::new(),
        (None, []) => format!("no attestation by {} for {image_ref}", attestor.name),
        (None, all) => all
            .iter()
            .map(|c| format!("{}: {}", c.name, c.reason))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Verdict {
        image: image.clone(),
        image_ref: Some(pinned.clone()),
        judge: Judge::Attestor(attestor.name.to_string()),
        verified: valid.is_some(),
        attestation: valid.map(|c| c.name.clone()),
        public_key_id: valid.and_then(|c| c.verified_by.clone()),
        reason,
        attestations: checked,
    }
}
