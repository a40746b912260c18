//! `digest`: each image as `REPOSITORY@sha256:...`, one per line, in input order. A tag is
//! resolved with one manifest HEAD; a digest is checked to exist in the registry.

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{write_stdout, Context, Report};
use crate::error::{Error, Result};
use crate::reference::ImageRef;

/// The top-level entry point for `digest`; with `compare`, exits 5 when the two images'
/// digests differ.
pub async fn run(ctx: &Context, images: &[ImageRef], compare: bool) -> Report {
    Report::plain(ctx.within_deadline(resolve_all(ctx, images, compare)).await)
}

async fn resolve_all(ctx: &Context, images: &[ImageRef], compare: bool) -> Result<()> {
    if compare && images.len() != 2 {
        return Err(Error::Usage(format!(
            "digest --compare takes two images (the source and its copy), not {}",
            images.len()
        )));
    }
    // Credentials only when an image needs them: `digest` on a public registry needs none.
    let token = if ctx.registry.needs_google_token(images) {
        Some(ctx.auth()?.access_token().await?)
    } else {
        None
    };
    let registry = &ctx.registry_client(token, images)?;
    // `buffered` keeps input order, so line N of the output is image N.
    let pinned: Vec<_> = stream::iter(images)
        .map(|image| async move {
            let digest = registry.resolve(image).await?;
            Ok::<_, Error>(image.with_digest(&digest))
        })
        .buffered(ctx.concurrency)
        .try_collect()
        .await?;
    let lines: String = pinned.iter().map(|p| format!("{p}\n")).collect();
    write_stdout(lines.as_bytes())?;
    match (compare, pinned.as_slice()) {
        (true, [source, copy]) if source.digest() != copy.digest() => Err(Error::DigestDrift {
            image: images[1].to_string(),
            actual: copy.digest().map(ToString::to_string).unwrap_or_default(),
            expected: source.digest().map(ToString::to_string).unwrap_or_default(),
            origin: images[0].to_string(),
        }),
        _ => Ok(()),
    }
}
