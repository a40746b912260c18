//! The outcome of a command, per image: what scripts read as JSON and people read as text.

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
        format!("{}  {what} by {}", self.image_ref, self.attestor)
    }
}
