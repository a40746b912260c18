//! The one error type of the binary: each variant names what went wrong and at what, reads as a
//! sentence the user can act on, and maps to the exit code documented in ARCHITECTURE.md ("Exit codes").

#![allow(missing_docs)] // the variants' fields are the words of their messages

/// Everything that can stop a command. Add variants here (one per thing that goes wrong), and
/// give each its exit code in [`Error::exit_code`]: the compiler then points at every `match`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command line or environment value that cannot be used as given.
    #[error("{0}")]
    Usage(String),

    #[error("invalid image reference `{input}`: {reason}")]
    InvalidReference { input: String, reason: String },

    #[error(
        "invalid digest `{input}`: {reason}; \
         expected sha256:<64 lowercase hex digits> or sha512:<128 lowercase hex digits>"
    )]
    InvalidDigest { input: String, reason: String },

    #[error(
        "image {image} was not found: check the repository, tag or digest, \
         and that the image was pushed to this registry"
    )]
    ImageNotFound { image: String },

    #[error(
        "registry {registry} refused access to {image} ({reason}): check that the credentials \
         used may read this repository"
    )]
    RegistryAuth {
        registry: String,
        image: String,
        reason: String,
    },

    #[error(
        "registry {registry} asks for credentials for {image} ({reason}) and none are \
         configured for it: {fix}"
    )]
    RegistryNoCredentials {
        registry: String,
        image: String,
        reason: String,
        fix: String,
    },

    #[error(
        "registry credentials file {file}, read for registry {registry}, {reason}; fix it (the format of containers-auth.json(5) \
         and docker's config.json: {{\"auths\": {{\"HOST\": {{\"auth\": \"base64 of \
         USER:PASSWORD\"}}}}}})"
    )]
    RegistryAuthFile {
        file: String,
        registry: String,
        reason: String,
    },

    #[error(
        "credential helper {program}, named in {file} for registry {registry}: {reason}; \
         nothing was written"
    )]
    CredentialHelper {
        program: String,
        registry: String,
        file: String,
        reason: String,
        exit_code: i32,
    },

    #[error(
        "registry {registry} served {image} with digest {actual}, not {expected}: \
         the registry or a proxy in between altered the manifest; do not sign it"
    )]
    DigestMismatch {
        registry: String,
        image: String,
        expected: String,
        actual: String,
    },

    #[error("registry {registry} failed for {image}: {reason}")]
    Registry {
        registry: String,
        image: String,
        reason: String,
    },

    #[error("invalid {what} `{input}`: expected {expected}")]
    InvalidName {
        what: &'static str,
        input: String,
        expected: &'static str,
    },

    #[error(
        "no Google credentials ({reason}); give an access token (--access-token-file, \
         CLOUDSDK_AUTH_ACCESS_TOKEN_FILE or GOOGLE_OAUTH_ACCESS_TOKEN), or Application Default \
         Credentials (GOOGLE_APPLICATION_CREDENTIALS naming a service-account key or a Workload \
         Identity Federation config, or the metadata server on Google Cloud)"
    )]
    NoCredentials { reason: String },

    #[error("Google rejected the credentials while trying to {action} ({reason}): the token is invalid or expired; {}", token_fix(.token_source))]
    Unauthenticated {
        action: String,
        reason: String,
        /// Where the token came from (`Context::token_source`), filled in once the command ends.
        token_source: String,
    },

    #[error("permission denied to {action} ({reason}); {hint}")]
    PermissionDenied {
        action: String,
        reason: String,
        hint: String,
    },

    #[error("attestor {attestor} was not found: check --attestor and --attestor-project")]
    AttestorNotFound { attestor: String },

    #[error("note {note}, which the attestor files its attestations under, was not found: recreate it (binauthz-attest setup) or point the attestor at an existing note")]
    NoteNotFound { note: String },

    #[error("{action} conflicted with a concurrent change ({reason}): run the step again")]
    Conflict { action: String, reason: String },

    #[error("KMS key version {key} was not found: check --kms-key-version (gcloud kms keys versions list --key=KEY --keyring=RING --location=LOCATION)")]
    KeyVersionNotFound { key: String },

    #[error("KMS key version {key} cannot sign attestations ({reason}): use a key with purpose ASYMMETRIC_SIGN and an EC_SIGN_* or RSA_SIGN_* algorithm")]
    KeyNotForSigning { key: String, reason: String },

    #[error(
        "attestor {attestor} does not trust {key}, so Binary Authorization would reject the \
         attestation; nothing was written. Add the key to the attestor:\n  {command}"
    )]
    KeyNotTrustedByAttestor {
        attestor: String,
        key: String,
        command: String,
    },

    #[error(
        "attestor {attestor} files key id {key_id} with a public key that is not the one KMS \
         serves for {key}; attestations would not verify. Remove and re-add the key on the attestor"
    )]
    AttestorKeyMismatch {
        attestor: String,
        key_id: String,
        key: String,
    },

    #[error("KMS answered for {key} with data that failed its integrity check ({reason}); nothing was written, retry the step")]
    KmsIntegrity { key: String, reason: String },

    #[error("the signature made with {key} (KMS or a key file) does not verify with the key's public key; nothing was written")]
    SignatureDoesNotVerify { key: String },

    #[error("no valid attestation for {missing}: Binary Authorization would block it; see the output for each attestation's reason")]
    NotAttested { missing: String },

    #[error("Google refused to {action}: {reason}")]
    Rejected { action: String, reason: String },

    #[error("registry blob {digest} of {image} is larger than the {limit} read for it: not a signature this tool (or cosign) would write; remove it or re-sign")]
    BlobTooLarge {
        image: String,
        digest: String,
        limit: String,
    },

    /// A 404 no caller mapped to the resource it asked for: still "not found" (exit 4).
    #[error("Google found nothing to {action}: {reason}; check the name (flag, CI input or file)")]
    GoogleNotFound { action: String, reason: String },

    #[error(
        "GitHub failed to {action}: {reason}; check GITHUB_TOKEN's permissions (statuses: write)"
    )]
    GitHub { action: String, reason: String },

    #[error("Google failed to {action} after retries: {reason}")]
    Google { action: String, reason: String },

    #[error(
        "registry digest of {image} is {actual}, but {origin} says {expected}: the copy into \
         this registry changed the manifest (a format conversion such as OCI to Docker schema 2, \
         or recompressed layers). Only the digest this registry serves can be admitted: deploy \
         and sign {actual}, or copy the image without conversion (skopeo copy --preserve-digests)"
    )]
    DigestDrift {
        image: String,
        actual: String,
        expected: String,
        origin: String,
    },

    #[error("{image} has no {platform} manifest (its platforms: {available}): check --platform")]
    PlatformNotInIndex {
        image: String,
        platform: String,
        available: String,
    },

    #[error("{failed} of {total} images failed; the worst: {worst}")]
    ImagesFailed {
        failed: usize,
        total: usize,
        worst: String,
        exit_code: i32,
    },

    #[error(
        "the command did not finish within --timeout {limit} (BINAUTHZ_TIMEOUT): it was waiting \
         for {waiting_for}. What finished is reported; raise --timeout or rerun the step, which \
         will not duplicate what was done"
    )]
    Timeout { limit: String, waiting_for: String },

    #[error(
        "{call}: the server asked to retry after {seconds} s, longer than this tool waits \
         (30 s); rerun the step later"
    )]
    RetryAfterTooLong { call: String, seconds: u64 },

    /// Local set-up that failed before any remote call (HTTP client, runtime).
    #[error("{0}")]
    Setup(String),

    #[error("could not write the output: {0}")]
    Output(#[source] std::io::Error),

    #[error("policy file {file}, {position}: {reason}; fix the file (the format `gcloud container binauthz policy export` writes)")]
    PolicyFile {
        file: String,
        position: String,
        reason: String,
    },

    #[error("manifest {file}, {position}: {reason}")]
    ManifestFile {
        file: String,
        position: String,
        reason: String,
    },

    #[error("Binary Authorization would deny {denied}; see the report for the deciding rule")]
    PolicyDenied { denied: String },

    #[error(
        "--cosign-key {key}: {reason}; give a public key PEM file (e.g. cosign.pub) or a KMS key \
         version projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N"
    )]
    CosignKey { key: String, reason: String },

    #[error(
        "registry {registry} refused to store {what} for {image} ({reason}): --cosign writes \
         into the image's repository; give the signing identity write access there (Artifact \
         Registry: roles/artifactregistry.writer on the repository)"
    )]
    RegistryWriteDenied {
        registry: String,
        image: String,
        what: String,
        reason: String,
    },

    #[error("no valid cosign signature by {key} for {missing}: cosign and sigstoreSigned policies would refuse it; see the output for each signature's reason")]
    NotCosignSigned { key: String, missing: String },

    #[error(
        "the OpenPGP secret key in {key} {reason}: set BINAUTHZ_PGP_PASSPHRASE or pass \
         --pgp-passphrase-file with the key's passphrase; nothing was written"
    )]
    PgpPassphrase { key: String, reason: String },

    #[error(
        "the cosign key {key} does not open with the password from {from}: the password is wrong \
         or the file is damaged; set COSIGN_PASSWORD to the password `cosign generate-key-pair` \
         was given (an empty value is the empty password) or pass --cosign-password-file; \
         nothing was signed"
    )]
    CosignKeyPassword { key: String, from: String },

    #[error(
        "project {project} does not exist, or the caller may not see it ({reason}): check \
         --project (the project id, not its name)"
    )]
    ProjectNotFound { project: String, reason: String },

    #[error(
        "no Cloud Run services in project {project}, region {region}: check --region (services \
         live in one region each; `gcloud run services list --project {project}` shows where)"
    )]
    NoRunningServices { project: String, region: String },

    #[error("audit found {found} in project {project}, which --fail-on {fail_on} refuses; see the report")]
    AuditEvents {
        project: String,
        found: String,
        fail_on: String,
    },

    #[error(
        "the old key {key} stays on attestor {attestor}: {count} image(s) it attested have no \
         valid attestation by the new key yet, and removing it would block their deploys; \
         rerun with --reattest (or sign them with the new key) first. Images: {images}"
    )]
    RotateIncomplete {
        attestor: String,
        key: String,
        count: usize,
        images: String,
    },
}

/// Exit codes are part of the interface (ARCHITECTURE.md, "Exit codes"); keep them stable.
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const DENIED: i32 = 5;
    pub const REMOTE: i32 = 6;
}

/// What to do about a rejected token, by where it came from.
fn token_fix(source: &str) -> String {
    match source {
        "" => "mint a new one".to_string(),
        source => format!("it came from {source}: replace it with a fresh one (gcloud auth print-access-token), or fix that source"),
    }
}

impl Error {
    /// The error with the token's source named, when it is a rejected token.
    pub fn with_token_source(self, source: &str) -> Error {
        match self {
            Error::Unauthenticated { action, reason, .. } => Error::Unauthenticated {
                action,
                reason,
                token_source: source.to_string(),
            },
            other => other,
        }
    }

    /// The process exit code for this error (ARCHITECTURE.md, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::InvalidReference { .. }
            | Error::InvalidDigest { .. }
            | Error::InvalidName { .. }
            | Error::KeyNotForSigning { .. }
            | Error::Rejected { .. }
            | Error::PolicyFile { .. }
            | Error::ManifestFile { .. }
            | Error::CosignKey { .. }
            | Error::RegistryAuthFile { .. } => exit::USAGE,
            Error::RegistryAuth { .. }
            | Error::NoCredentials { .. }
            | Error::Unauthenticated { .. }
            | Error::PermissionDenied { .. }
            | Error::RegistryWriteDenied { .. }
            | Error::RegistryNoCredentials { .. } => exit::AUTH,
            Error::ImageNotFound { .. }
            | Error::AttestorNotFound { .. }
            | Error::NoteNotFound { .. }
            | Error::KeyVersionNotFound { .. }
            | Error::PlatformNotInIndex { .. }
            | Error::ProjectNotFound { .. }
            | Error::NoRunningServices { .. }
            | Error::GoogleNotFound { .. } => exit::NOT_FOUND,
            Error::DigestMismatch { .. }
            | Error::KeyNotTrustedByAttestor { .. }
            | Error::AttestorKeyMismatch { .. }
            | Error::SignatureDoesNotVerify { .. }
            | Error::DigestDrift { .. }
            | Error::NotAttested { .. }
            | Error::PolicyDenied { .. }
            | Error::NotCosignSigned { .. }
            | Error::BlobTooLarge { .. } => exit::DENIED,
            Error::ImagesFailed { exit_code, .. } | Error::CredentialHelper { exit_code, .. } => {
                *exit_code
            }
            Error::Registry { .. }
            | Error::KmsIntegrity { .. }
            | Error::Google { .. }
            | Error::GitHub { .. }
            | Error::Timeout { .. }
            | Error::Conflict { .. }
            | Error::RetryAfterTooLong { .. } => exit::REMOTE,
            Error::Setup(_) | Error::Output(_) => exit::OTHER,
            Error::PgpPassphrase { .. } | Error::CosignKeyPassword { .. } => exit::USAGE,
            Error::RotateIncomplete { .. } | Error::AuditEvents { .. } => exit::DENIED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_exits_2_and_names_the_input() {
        let e = Error::InvalidReference {
            input: "Foo".into(),
            reason: "repository must be lowercase".into(),
        };
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "invalid image reference `Foo`: repository must be lowercase"
        );
    }

    #[test]
    fn each_kind_has_its_documented_exit_code() {
        let image = || "r.io/a/b:1".to_string();
        let registry = || "r.io".to_string();
        let reason = || "x".to_string();
        assert_eq!(Error::ImageNotFound { image: image() }.exit_code(), 4);
        let auth = Error::RegistryAuth {
            registry: registry(),
            image: image(),
            reason: reason(),
        };
        assert_eq!(auth.exit_code(), 3);
        let remote = Error::Registry {
            registry: registry(),
            image: image(),
            reason: reason(),
        };
        assert_eq!(remote.exit_code(), 6);
        assert_eq!(Error::Usage("u".into()).exit_code(), 2);
    }
}
