//! `pin`: every image in Cloud Run and Kubernetes manifests rewritten as `REPO@DIGEST`, the
//! digest the registry serves now. GKE checks attestations only for images given by digest
//! (`policy check` denies tags there), and a digest is what was signed. Each image scalar is
//! replaced at the span the YAML parser reports (`manifest.rs`), in its own quoting; every
//! other byte (comments, key order, quoting elsewhere) stays as it was.

use std::collections::HashMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{write_stdout, Context, Report};
use crate::cli::PinArgs;
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use crate::reference::ImageRef;

/// The top-level entry point for `pin`.
pub async fn run(ctx: &Context, args: &PinArgs) -> Report {
    Report::plain(ctx.within_deadline(pin_all(ctx, args)).await)
}

async fn pin_all(ctx: &Context, args: &PinArgs) -> Result<()> {
    let mut files = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("cannot read manifest {name} ({e})")))?;
        let parsed = manifest::parse(&name, &text)?;
        files.push((path, text, parsed));
    }
    let mut images: Vec<ImageRef> = Vec::new();
    for (_, _, m) in &files {
        for image in images_of(m)? {
            if !images.contains(&image) {
                images.push(image);
            }
        }
    }
    let token = if ctx.registry.needs_google_token(&images) {
        Some(ctx.auth()?.access_token().await?)
    } else {
        None
    };
    let registry = &ctx.registry_client(token, &images)?;
    let pinned: HashMap<ImageRef, ImageRef> = stream::iter(&images)
        .map(|image| async move {
            let digest = registry.resolve(image).await?;
            Ok::<_, Error>((image.clone(), image.with_digest(&digest)))
        })
        .buffered(ctx.concurrency)
        .try_collect()
        .await?;
    for (path, text, m) in &files {
        let out = rewrite(text, m, &pinned)?;
        if args.in_place {
            if out != *text {
                // Written beside the file and renamed over it: never half a manifest.
                let tmp = path.with_extension("pin.tmp");
                std::fs::write(&tmp, &out)
                    .and_then(|()| std::fs::metadata(path))
                    .and_then(|meta| std::fs::set_permissions(&tmp, meta.permissions()))
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map_err(Error::Output)?;
            }
        } else {
            write_stdout(out.as_bytes())?;
        }
    }
    Ok(())
}

/// Each site's image, parsed; a bad one is named by file and line.
fn images_of(m: &Manifest) -> Result<Vec<ImageRef>> {
    m.sites
        .iter()
        .map(|s| {
            ImageRef::parse(&s.image).map_err(|e| Error::ManifestFile {
                file: m.file.clone(),
                position: format!("line {}", s.line),
                reason: format!("{} container {}: {e}", s.workload, s.container),
            })
        })
        .collect()
}

/// `text` with each image replaced by its pinned form, in the quotes it was written in.
pub fn rewrite(text: &str, m: &Manifest, pinned: &HashMap<ImageRef, ImageRef>) -> Result<String> {
    let images = images_of(m)?;
    let mut out = String::with_capacity(text.len() + 80 * images.len());
    let mut at = 0;
    // In file order (a pod may list its containers before its init containers).
    let mut sites: Vec<_> = m.sites.iter().zip(&images).collect();
    sites.sort_by_key(|(s, _)| s.start);
    for (site, image) in sites {
        let new = pinned
            .get(image)
            .map_or_else(|| image.to_string(), ToString::to_string);
        let written = &text[site.start..site.end];
        let quote = match written.chars().next() {
            Some(q @ ('"' | '\'')) => q.to_string(),
            _ => String::new(),
        };
        out.push_str(&text[at..site.start]);
        out.push_str(&format!("{quote}{new}{quote}"));
        at = site.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_replaced_in_file_order_in_their_quotes_and_nothing_else_moves() {
        // Containers before init containers, non-ASCII text before the images (byte offsets,
        // not char offsets), every quoting style, a flow mapping, a trailing comment.
        let text = "# déploiement — ünïcode\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: r.io/x/a:1}\n  - name: b\n    image: \"r.io/x/b:2\"   # keep me\n  initContainers:\n  - name: c\n    image: 'r.io/x/a:1'\n";
        let m = manifest::parse("p.yaml", text).unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned: HashMap<ImageRef, ImageRef> = images_of(&m)
            .unwrap()
            .into_iter()
            .map(|i| {
                let d = crate::reference::Digest::parse(&digest).unwrap();
                (i.clone(), i.with_digest(&d))
            })
            .collect();
        let out = rewrite(text, &m, &pinned).unwrap();
        let expected = text
            .replace("r.io/x/a:1", &format!("r.io/x/a@{digest}"))
            .replace("r.io/x/b:2", &format!("r.io/x/b@{digest}"));
        assert_eq!(out, expected);
    }
}
