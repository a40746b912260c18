//! `verify`: the attestations an attestor's note holds for each image's registry digest, and
//! whether Binary Authorization would accept each one, with the reason when not.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{print, Context, Report};
use crate::attestation;
use crate::cli::VerifyArgs;
use crate::error::{Error, Result};
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::Endpoints;
use crate::names::AttestorName;
use crate::reference::ImageRef;
use crate::registry::Registry;

/// The top-level entry point for `verify`: prints a verdict per image and exits 5 when an
/// image has no attestation Binary Authorization would accept.
pub async fn run(ctx: &Context, args: &VerifyArgs) -> Report {
    Report::plain(ctx.within_deadline(verify_and_print(ctx, args)).await)
}

async fn verify_and_print(ctx: &Context, args: &VerifyArgs) -> Result<()> {
    let attestor = args.attestor.name()?;
    let auth = ctx.auth()?;
    let endpoints = Endpoints::from_env();
    let token = auth.warm().await?;
    let registry = ctx.registry_client(Some(token), &args.images)?;
    let binauthz = Binauthz::new(&auth, &endpoints).await?;
    let grafeas = Grafeas::new(&auth, &endpoints).await?;
    let clients = Clients {
        registry: &registry,
        binauthz: &binauthz,
        grafeas: &grafeas,
    };
    let verdicts = verify(clients, &args.images, &attestor, ctx.concurrency).await?;
    print(args.output, &verdicts, Verdict::text)?;
    let unattested: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.verified)
        .map(|v| v.image_ref.as_str())
        .collect();
    if unattested.is_empty() {
        Ok(())
    } else {
        Err(Error::NotAttested {
            attestor: attestor.to_string(),
            images: unattested.join(", "),
        })
    }
}

/// The clients `verify` reads through.
#[derive(Clone, Copy)]
pub struct Clients<'a> {
    /// Digests.
    pub registry: &'a Registry,
    /// The attestor.
    pub binauthz: &'a Binauthz,
    /// The attestations.
    pub grafeas: &'a Grafeas,
}

/// One filed attestation and whether Binary Authorization would accept it.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The occurrence name.
    pub name: String,
    /// The resource it is filed for.
    pub resource_uri: String,
    /// The key ids its signatures are filed under.
    pub public_key_ids: Vec<String>,
    /// True when admission would accept it.
    pub valid: bool,
    /// Why Binary Authorization would not accept it; empty when valid.
    pub reason: String,
}

/// One image's verdict for one attestor.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The image as given.
    pub image: String,
    /// `REPO@DIGEST` as the registry serves it.
    pub image_ref: String,
    /// The attestor judged against.
    pub attestor: String,
    /// True when at least one attestation is valid.
    pub verified: bool,
    /// Every attestation filed under the attestor's note for the digest.
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

/// Each image's verdict, in input order.
pub async fn verify(
    clients: Clients<'_>,
    images: &[ImageRef],
    attestor: &AttestorName,
    concurrency: usize,
) -> Result<Vec<Verdict>> {
    let Clients {
        registry,
        binauthz,
        grafeas,
    } = clients;
    let digests = stream::iter(images)
        .map(|image| async move { Ok::<_, Error>((image, registry.resolve(image).await?)) })
        .buffered(concurrency)
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
        .buffered(concurrency)
        .try_collect()
        .await
}
