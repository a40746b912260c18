//! `verify`: the attestations an attestor's note holds for each image's registry digest, and
//! whether Binary Authorization would accept each one, with the reason when not.

use crate::attestation;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::names::AttestorName;
use crate::reference::ImageRef;
use crate::registry::Registry;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

const CONCURRENCY: usize = 8;

#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub name: String,
    pub resource_uri: String,
    pub public_key_ids: Vec<String>,
    pub valid: bool,
    /// Why Binary Authorization would not accept it; empty when valid.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub image: String,
    pub image_ref: String,
    pub attestor: String,
    pub verified: bool,
    pub attestations: Vec<Checked>,
}

impl Verdict {
    /// A readable block, like gcloud's `attestations list` with a verdict per attestation.
    pub fn text(&self) -> String {
        let head = if self.verified {
            "attested"
        } else {
            "NOT attested"
        };
        let mut out = format!("{}  {head} by {}\n", self.image_ref, self.attestor);
        for a in &self.attestations {
            let state = if a.valid {
                "valid".to_string()
            } else {
                format!("invalid: {}", a.reason)
            };
            out += &format!(
                "  {}  key {}  {state}\n",
                a.name,
                a.public_key_ids.join(",")
            );
        }
        out
    }
}

pub async fn verify(
    registry: &Registry,
    binauthz: &Binauthz,
    grafeas: &Grafeas,
    images: &[ImageRef],
    attestor: &AttestorName,
) -> Result<Vec<Verdict>> {
    let digests = stream::iter(images)
        .map(|image| async move { Ok::<_, Error>((image, registry.resolve(image).await?)) })
        .buffered(CONCURRENCY)
        .try_collect::<Vec<_>>();
    let (attestor, digests) = tokio::try_join!(binauthz.attestor(attestor), digests)?;
    let attestor = &attestor;
    stream::iter(digests)
        .map(|(image, digest)| async move {
            let image_ref = image.with_digest(&digest).to_string();
            let filed = grafeas.attestations(&attestor.note, &digest).await?;
            let attestations: Vec<Checked> = filed
                .iter()
                .map(|a| {
                    let result = attestation::check(a, attestor, &image_ref);
                    Checked {
                        name: a.name.clone(),
                        resource_uri: a.resource_uri.clone(),
                        public_key_ids: a.signatures.iter().map(|(id, _)| id.clone()).collect(),
                        valid: result.is_ok(),
                        reason: result.err().unwrap_or_default(),
                    }
                })
                .collect();
            Ok(Verdict {
                image: image.to_string(),
                image_ref,
                attestor: attestor.name.to_string(),
                verified: attestations.iter().any(|a| a.valid),
                attestations,
            })
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}
