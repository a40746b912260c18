//! `pin`: every image in Cloud Run and Kubernetes manifests rewritten as `REPO@DIGEST`, the
//! digest the registry serves now. GKE checks attestations only for images given by digest
//! (`policy check` denies tags there), and a digest is what was signed. Each image scalar is
//! replaced at the span the YAML parser reports (`manifest.rs`), in its own quoting; every
//! other byte (comments, key order, quoting elsewhere) stays as it was.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

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
        if args.in_place && is_symlink(path) {
            return Err(Error::Usage(format!(
                "manifest {name} is a symbolic link: --in-place replaces the file it is given, \
                 so name the file it points to ($(readlink -f {name}))"
            )));
        }
        let text = crate::bounded::read_to_string(path, crate::bounded::MANIFESTS)
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
                replace(path, text, &out)?;
            }
        } else {
            write_stdout(out.as_bytes())?;
        }
    }
    Ok(())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Puts `out` in place of `path` with one rename of a uniquely named file beside it (never half
/// a manifest, never a name another run uses), keeping its permissions; refuses when the file no
/// longer holds `read`, the text `pin` rewrote (an edit made meanwhile would be lost).
fn replace(path: &Path, read: &str, out: &str) -> Result<()> {
    let name = path.display();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let failed = |e: std::io::Error| {
        Error::Output(std::io::Error::new(
            e.kind(),
            format!("cannot rewrite {name} in place: {e}"),
        ))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".pin-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(failed)?;
    tmp.write_all(out.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .and_then(|()| std::fs::metadata(path))
        .and_then(|meta| tmp.as_file().set_permissions(meta.permissions()))
        .map_err(failed)?;
    let now = crate::bounded::read_to_string(path, crate::bounded::MANIFESTS).map_err(failed)?;
    if now != read || is_symlink(path) {
        return Err(Error::Conflict {
            action: format!("pin --in-place {name}"),
            reason: "the file changed while pin asked the registry; it is left as it is now".into(),
        });
    }
    tmp.persist(path).map_err(|e| failed(e.error))?;
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

    #[test]
    fn in_place_swaps_the_whole_file_keeps_its_mode_and_leaves_no_temporary() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.yaml");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, "old", "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn in_place_refuses_a_file_edited_since_it_was_read_and_keeps_the_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.yaml");
        std::fs::write(&path, "edited meanwhile").unwrap();
        let e = replace(&path, "as read", "pinned").unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::REMOTE, "{e}");
        assert!(e.to_string().contains("app.yaml"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "edited meanwhile");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
