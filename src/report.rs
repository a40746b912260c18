//! What a command returns: one typed [`Output`] for the CI layer (`sign`'s per-image
//! [`Outcome`], `verify`'s [`Verdict`] per image and attestor, or named outputs), how it ended,
//! and what the CI shows beside it. Scripts read it as JSON and people as text.

use serde::Serialize;

/// What happened to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// A new attestation was filed.
    Created,
    /// A valid attestation by this attestor already existed; nothing was written.
    Existing,
    /// `--dry-run`: nothing was signed or written; one would have been created.
    WouldCreate,
    /// This image failed; `error` says why. The others went on.
    Failed,
}

/// Why one image failed: the message and the exit code it alone would have given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageError {
    /// The error, as a sentence naming the input and the fix.
    pub message: String,
    /// Its exit code (ARCHITECTURE.md, "Exit codes").
    pub exit_code: i32,
}

impl From<&crate::error::Error> for ImageError {
    fn from(error: &crate::error::Error) -> ImageError {
        ImageError {
            message: error.to_string(),
            exit_code: error.exit_code(),
        }
    }
}

/// One image's result of `sign`.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The image as given.
    pub image: String,
    /// The manifest digest the registry serves.
    pub digest: String,
    /// `REPO@DIGEST`: what was signed and what to deploy.
    pub image_ref: String,
    /// The attestor the attestation is for.
    pub attestor: String,
    /// The note it is filed under.
    pub note: String,
    /// The key that signed (a KMS key version name).
    pub key_version: String,
    /// The id the signature is filed under (the attestor's id for the key).
    pub public_key_id: String,
    /// The occurrence name; empty for a dry run that would create one.
    pub attestation: String,
    /// What happened.
    pub status: Status,
    /// True when this run filed the attestation.
    pub created: bool,
    /// `os/arch[/variant]` for a child manifest of a multi-arch index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// For an image that resolved to a digest listed before it (another tag, the same image
    /// twice): that earlier image, whose attestation this one shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Why this image failed (status `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ImageError>,
    /// With `--cosign`: the cosign signature manifest (`.sig` tag) and/or bundle referrer,
    /// `REPO@sha256:...`, comma-separated, written or found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosign_signature: Option<String>,
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
    /// The key id whose signature verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// Why Binary Authorization would not accept it; empty when valid.
    pub reason: String,
}

/// One image judged against one attestor by `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The image as given.
    pub image: String,
    /// `REPO@DIGEST` as the registry serves it.
    pub image_ref: String,
    /// The attestor judged against.
    pub attestor: String,
    /// True when at least one of its attestations for the digest is valid.
    pub verified: bool,
    /// The attestation that satisfies the attestor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<String>,
    /// The key id whose signature verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_id: Option<String>,
    /// Why not, when not verified.
    pub reason: String,
    /// Every attestation filed under the attestor's note for this image's digest.
    pub attestations: Vec<Checked>,
}

impl Verdict {
    /// One readable line per image and attestor.
    pub fn line(&self) -> String {
        match (&self.attestation, &self.public_key_id) {
            (Some(name), Some(key)) => format!(
                "{}  verified by {} ({name}, key {key})\n",
                self.image_ref, self.attestor
            ),
            _ => format!(
                "{}  NOT verified by {}: {}\n",
                self.image_ref_or_image(),
                self.attestor,
                self.reason
            ),
        }
    }

    /// `REPO@DIGEST`, or the image as given when it never resolved.
    pub fn image_ref_or_image(&self) -> &str {
        match self.image_ref.is_empty() {
            true => &self.image,
            false => &self.image_ref,
        }
    }
}

impl Outcome {
    /// One readable line.
    pub fn line(&self) -> String {
        let what = match self.status {
            Status::Created => format!("attested {}", self.attestation),
            Status::Existing => format!("already attested {}", self.attestation),
            Status::WouldCreate => "would attest (dry run)".to_string(),
            Status::Failed => {
                let why = self.error.as_ref().map_or("", |e| e.message.as_str());
                return format!("{}  FAILED: {why}", self.image);
            }
        };
        let cosign = match &self.cosign_signature {
            Some(stored) => format!("; cosign signature {stored}"),
            None => String::new(),
        };
        // `sign --cosign` without an attestor: the signatures are the whole outcome.
        if self.attestor.is_empty() {
            let what = match self.status {
                Status::Created => "cosign signed",
                Status::Existing => "already cosign signed",
                _ => "would cosign sign (dry run)",
            };
            return format!(
                "{}  {what} with {}{cosign}",
                self.image_ref, self.key_version
            );
        }
        format!("{}  {what} by {}{cosign}", self.image_ref, self.attestor)
    }
}

/// What a command hands the CI layer, one kind per command (`ci::finish` writes it the CI's way).
#[derive(Debug, Clone, Default)]
pub enum Output {
    /// Nothing for later steps (`digest`, `payload`, `pin`, `rotate`, the docs).
    #[default]
    Nothing,
    /// `sign`: per image, what was done (all of them, or those done before it failed).
    Signed(Vec<Outcome>),
    /// `verify`: per image and attestor, what was found.
    Verified(Vec<Verdict>),
    /// Named outputs (`setup`: attestor, key-version, note; `policy check`: decision, json).
    Named(Vec<(String, String)>),
}

impl Output {
    /// True when there is nothing to hand on.
    pub fn is_empty(&self) -> bool {
        match self {
            Output::Nothing => true,
            Output::Signed(outcomes) => outcomes.is_empty(),
            Output::Verified(verdicts) => verdicts.is_empty(),
            Output::Named(outputs) => outputs.is_empty(),
        }
    }
}

/// What a command leaves for the CI layer: its output and how it ended.
pub struct Report {
    /// What later steps read.
    pub output: Output,
    /// How the command ended.
    pub result: crate::error::Result<()>,
    /// A Markdown summary for CIs that show one (`policy check`'s table).
    pub summary: Option<String>,
    /// Warnings for CIs that annotate them (a dry-run denial, a policy pattern too broad).
    pub warnings: Vec<String>,
}

impl Report {
    /// An output and how the command ended, with no summary or warnings.
    pub fn new(output: Output, result: crate::error::Result<()>) -> Report {
        Report {
            output,
            result,
            summary: None,
            warnings: Vec::new(),
        }
    }

    /// A command that hands nothing on.
    pub fn plain(result: crate::error::Result<()>) -> Report {
        Report::new(Output::Nothing, result)
    }
}
