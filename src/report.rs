//! What a command returns: one typed [`Output`] for the CI layer (`sign`'s per-image
//! [`Outcome`], `verify`'s [`Verdict`] per image and attestor, or named outputs), how it ended,
//! and what the CI shows beside it. Scripts read it as JSON and people as text.

use crate::names::{AttestorName, NoteName};
use crate::reference::{Digest, ImageRef};
use serde::{Serialize, Serializer};

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

/// One image's result of `sign`: typed values, turned into the documented JSON (and its empty
/// strings for what is absent) only by its `Serialize`.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The image as given.
    pub image: ImageRef,
    /// The manifest digest the registry serves; `None` when the image never resolved.
    pub digest: Option<Digest>,
    /// The attestor the attestation is for; `None` for `sign --cosign` without an attestor.
    pub attestor: Option<AttestorName>,
    /// The note it is filed under (with the attestor).
    pub note: Option<NoteName>,
    /// The key that signed, as the signer names it (a KMS key version name, or a key file).
    pub key_version: String,
    /// The id the signature is filed under (the attestor's id for the key).
    pub public_key_id: Option<String>,
    /// The occurrence name; `None` until one is found or filed (a dry run, a failure).
    pub attestation: Option<String>,
    /// What happened.
    pub status: Status,
    /// `os/arch[/variant]` for a child manifest of a multi-arch index.
    pub platform: Option<String>,
    /// For an image that resolved to a digest listed before it (another tag, the same image
    /// twice): that earlier image, whose attestation this one shares.
    pub duplicate_of: Option<ImageRef>,
    /// Why this image failed (status `failed`).
    pub error: Option<ImageError>,
    /// With `--cosign`: the cosign signature manifest (`.sig` tag) and/or bundle referrer,
    /// written or found, sig first.
    pub cosign_signatures: Vec<ImageRef>,
    /// What went wrong beside the result (a duplicate left after a lost answer): the command
    /// hands these to the CI layer's warnings; not part of the JSON outcome.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// `REPO@DIGEST`: what was signed and what to deploy (`None` when the image never resolved).
    pub fn image_ref(&self) -> Option<ImageRef> {
        self.digest.as_ref().map(|d| self.image.with_digest(d))
    }

    /// True when this run filed the attestation (or wrote the cosign signatures).
    pub fn created(&self) -> bool {
        self.status == Status::Created
    }

    /// The cosign signature manifests as the outputs carry them: comma-separated.
    pub fn cosign_signature(&self) -> Option<String> {
        let all: Vec<String> = self
            .cosign_signatures
            .iter()
            .map(|r| r.to_string())
            .collect();
        (!all.is_empty()).then(|| all.join(","))
    }

    /// One readable line.
    pub fn line(&self) -> String {
        let attestation = self.attestation.as_deref().unwrap_or_default();
        let what = match self.status {
            Status::Created => format!("attested {attestation}"),
            Status::Existing => format!("already attested {attestation}"),
            Status::WouldCreate => "would attest (dry run)".to_string(),
            Status::Failed => {
                let why = self.error.as_ref().map_or("", |e| e.message.as_str());
                return format!("{}  FAILED: {why}", self.image);
            }
        };
        let cosign = match self.cosign_signature() {
            Some(stored) => format!("; cosign signature {stored}"),
            None => String::new(),
        };
        let image_ref = shown(self.image_ref().as_ref());
        match &self.attestor {
            Some(attestor) => format!("{image_ref}  {what} by {attestor}{cosign}"),
            // `sign --cosign` without an attestor: the signatures are the whole outcome.
            None => {
                let what = match self.status {
                    Status::Created => "cosign signed",
                    Status::Existing => "already cosign signed",
                    _ => "would cosign sign (dry run)",
                };
                format!("{image_ref}  {what} with {}{cosign}", self.key_version)
            }
        }
    }
}

/// The documented JSON of an [`Outcome`] (README, "Outputs"): every field a string, empty when
/// absent, in this order.
#[derive(Serialize)]
struct OutcomeJson<'a> {
    image: String,
    digest: String,
    image_ref: String,
    attestor: String,
    note: String,
    key_version: &'a str,
    public_key_id: &'a str,
    attestation: &'a str,
    status: Status,
    created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ImageError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cosign_signature: Option<String>,
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        OutcomeJson {
            image: self.image.to_string(),
            digest: shown(self.digest.as_ref()),
            image_ref: shown(self.image_ref().as_ref()),
            attestor: shown(self.attestor.as_ref()),
            note: shown(self.note.as_ref()),
            key_version: &self.key_version,
            public_key_id: self.public_key_id.as_deref().unwrap_or_default(),
            attestation: self.attestation.as_deref().unwrap_or_default(),
            status: self.status,
            created: self.created(),
            platform: self.platform.as_deref(),
            duplicate_of: self.duplicate_of.as_ref().map(ToString::to_string),
            error: self.error.as_ref(),
            cosign_signature: self.cosign_signature(),
        }
        .serialize(serializer)
    }
}

/// A value as the JSON shows it, or `""` when absent.
fn shown(value: Option<&impl std::fmt::Display>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
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

/// Who judges an image in a [`Verdict`]: an attestor, or a cosign public key
/// (`verify --cosign-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judge {
    /// An attestor, by its resource name `projects/P/attestors/A` (as policies name it).
    Attestor(String),
    /// A cosign public key, as the user gave it (a PEM file or a KMS key version).
    CosignKey(String),
}

impl Judge {
    /// True when this is the attestor named `name`.
    pub fn is_attestor(&self, name: &str) -> bool {
        matches!(self, Judge::Attestor(a) if a == name)
    }
}

impl std::fmt::Display for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Judge::Attestor(name) => f.write_str(name),
            Judge::CosignKey(key) => write!(f, "cosign key {key}"),
        }
    }
}

/// One image judged against one attestor (or cosign key) by `verify`; serialised by
/// `Serialize` into the documented JSON.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The image as given.
    pub image: ImageRef,
    /// `REPO@DIGEST` as the registry serves it; `None` when the image never resolved.
    pub image_ref: Option<ImageRef>,
    /// Who judged it.
    pub judge: Judge,
    /// True when at least one of its attestations for the digest is valid.
    pub verified: bool,
    /// The attestation that satisfies the attestor.
    pub attestation: Option<String>,
    /// The key id whose signature verified.
    pub public_key_id: Option<String>,
    /// Why not, when not verified.
    pub reason: String,
    /// Every attestation filed under the attestor's note for this image's digest.
    pub attestations: Vec<Checked>,
}

/// The documented JSON of a [`Verdict`], in this order.
#[derive(Serialize)]
struct VerdictJson<'a> {
    image: String,
    image_ref: String,
    attestor: String,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key_id: Option<&'a str>,
    reason: &'a str,
    attestations: &'a [Checked],
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        VerdictJson {
            image: self.image.to_string(),
            image_ref: shown(self.image_ref.as_ref()),
            attestor: self.judge.to_string(),
            verified: self.verified,
            attestation: self.attestation.as_deref(),
            public_key_id: self.public_key_id.as_deref(),
            reason: &self.reason,
            attestations: &self.attestations,
        }
        .serialize(serializer)
    }
}

impl Verdict {
    /// One readable line per image and attestor.
    pub fn line(&self) -> String {
        match (&self.attestation, &self.public_key_id) {
            (Some(name), Some(key)) => format!(
                "{}  verified by {} ({name}, key {key})\n",
                self.image_ref_or_image(),
                self.judge
            ),
            _ => format!(
                "{}  NOT verified by {}: {}\n",
                self.image_ref_or_image(),
                self.judge,
                self.reason
            ),
        }
    }

    /// `REPO@DIGEST`, or the image as given when it never resolved.
    pub fn image_ref_or_image(&self) -> &ImageRef {
        self.image_ref.as_ref().unwrap_or(&self.image)
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
