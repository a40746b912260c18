//! The cosign judgement (`verify --cosign-key`): each image's cosign signatures, both storage
//! forms (the `.sig` tag and sigstore bundle referrers, read by `cosign.rs`), judged offline
//! against one key.

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::algorithm::SigningAlgorithm;
use crate::cosign;
use crate::error::{Error, Result};
use crate::reference::ImageRef;
use crate::registry::Registry;
use crate::report::{Judge, Verdict};

/// The key `--cosign-key` names, as a verifier: its PEM and, from KMS, its algorithm (a PEM file
/// is tried under every algorithm its key type allows, as cosign does from the key alone).
pub struct VerifyKey {
    pub(super) pem: String,
    pub(super) algorithm: Option<SigningAlgorithm>,
}

impl VerifyKey {
    /// A PEM public key file; refused when it holds no `PUBLIC KEY` block.
    pub fn from_pem_file(path: &str) -> Result<VerifyKey> {
        let bad = |reason: String| Error::CosignKey {
            key: path.to_string(),
            reason,
        };
        let pem = crate::bounded::read_to_string(path, crate::bounded::KEY_FILE)
            .map_err(|e| bad(format!("cannot be read ({})", e.kind())))?;
        if !pem.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(bad(
                "holds no `PUBLIC KEY` PEM block (verifying needs the public key only)".into(),
            ));
        }
        Ok(VerifyKey {
            pem,
            algorithm: None,
        })
    }

    /// True when `signature` over `message` verifies under the key (any algorithm its type
    /// allows when the algorithm is not known).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            Some(a) => a.verifies(&self.pem, message, signature),
            None => SigningAlgorithm::all().any(|a| a.verifies(&self.pem, message, signature)),
        }
    }
}

/// Each image's cosign signatures, both storage forms, judged against `key`: one verdict per
/// image, verified when at least one signature holds.
pub async fn cosign_verdicts(
    registry: &Registry,
    images: &[ImageRef],
    shown: &str,
    key: &VerifyKey,
    concurrency: usize,
) -> Result<Vec<Verdict>> {
    let verifies = |m: &[u8], s: &[u8]| key.verifies(m, s);
    let verifies: &(dyn Fn(&[u8], &[u8]) -> bool + Sync) = &verifies;
    stream::iter(images)
        .map(|image| async move {
            let digest = registry.resolve(image).await?;
            let (mut checked, bundles) = tokio::try_join!(
                cosign::check_sig(registry, image, &digest, verifies),
                cosign::check_bundles(registry, image, &digest, verifies)
            )?;
            checked.extend(bundles);
            let pinned = image.with_digest(&digest);
            let valid = checked.iter().find(|c| c.valid).map(|c| c.name.clone());
            let reason = match (&valid, checked.as_slice()) {
                (Some(_), _) => String::new(),
                (None, []) => format!("no cosign signature for {pinned} (neither a .sig tag nor a sigstore bundle referrer)"),
                (None, all) => all
                    .iter()
                    .map(|c| format!("{}: {}", c.name, c.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            Ok::<_, Error>(Verdict {
                image: image.clone(),
                image_ref: Some(pinned),
                judge: Judge::CosignKey(shown.to_string()),
                verified: valid.is_some(),
                public_key_id: valid.as_ref().map(|_| shown.to_string()),
                attestation: valid,
                reason,
                attestations: checked,
            })
        })
        .buffered(concurrency)
        .try_collect()
        .await
}
