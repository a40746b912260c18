//! `payload`: the Binary Authorization signature payload for `IMAGE@DIGEST` on stdout, byte for
//! byte what `gcloud container binauthz create-signature-payload` prints. Local only.

use super::{write_stdout, Report};
use crate::payload::Payload;
use crate::reference::ImageRef;

/// The top-level entry point for `payload`.
pub fn run(image: &ImageRef) -> Report {
    Report::plain(Payload::for_pinned(image).and_then(|p| write_stdout(&p.to_bytes())))
}
