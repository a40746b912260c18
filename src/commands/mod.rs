//! The commands, one file each, as thin glue: which flags a command reads (into the core's typed
//! request), which core function it calls (`crate::attest`), what it prints and how it ends.
//! `lib.rs` only dispatches here, so a new verb is one file in this folder, its entry in
//! `cli.rs` and one dispatch line. A command never imports another; what they share is here.
//!
//! What every command shares is the [`Context`] (the core's: global options, credentials, the
//! `--timeout` deadline, what the CI layer hands in) and printing.

/// `admission`: the validating webhook, and `admission certs`.
pub mod admission;
/// `audit`: Binary Authorization events from Cloud Audit Logs.
pub mod audit;
/// `digest`: tag -> digest, and `--compare` for copies between registries.
pub mod digest;
/// `completions` and `man`, generated from the clap definition.
pub mod docs;
/// `payload`: the simple-signing payload gcloud would sign.
pub mod payload;
/// `pin`: rewrite the images of manifests as REPO@DIGEST, every other byte kept.
pub mod pin;
/// `policy check`: what Binary Authorization would decide for images and manifests.
pub mod policy;
/// `rotate`: move an attestor to a new key without breaking deploys.
pub mod rotate;
/// `setup`: key, note, attestor, least-privilege IAM and policy.
pub mod setup;
/// `sign`: resolve, sign, check, file once.
pub mod sign;
/// `verify`: would Binary Authorization accept the attestations of these images.
pub mod verify;

use std::io::{IsTerminal, Write};

use crate::cli::Output;
use crate::error::{Error, Result};
use crate::reference::ImageRef;

pub use crate::attest::Context;
pub use crate::report::Report;

/// Writes results as JSON (the default when stdout is not a terminal) or as text.
pub fn print<T: serde::Serialize>(
    output: Option<Output>,
    items: &[T],
    text: impl Fn(&T) -> String,
) -> Result<()> {
    let json = match output {
        Some(output) => output == Output::Json,
        None => !std::io::stdout().is_terminal(),
    };
    let rendered = if json {
        serde_json::to_string_pretty(items).map_err(|e| Error::Setup(e.to_string()))? + "\n"
    } else {
        items.iter().map(text).collect()
    };
    write_stdout(rendered.as_bytes())
}

/// Writes the command's output; a closed pipe is an error of its own.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// One image per line; blank lines and `#` comments skipped; `-` reads stdin. Read on a
/// blocking thread, so `--timeout` still fires while a pipe stays silent.
pub async fn read_images_file(path: &std::path::Path) -> Result<Vec<ImageRef>> {
    let owned = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || match owned.as_os_str() == "-" {
        true => crate::bounded::stdin_to_string(crate::bounded::MANIFESTS),
        false => crate::bounded::read_to_string(&owned, crate::bounded::MANIFESTS),
    })
    .await
    .map_err(|e| Error::Setup(format!("reading --images-file stopped: {e}")))?;
    let text = read.map_err(|e| {
        Error::Usage(format!(
            "cannot read --images-file {} ({e})",
            path.display()
        ))
    })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(ImageRef::parse)
        .collect()
}
