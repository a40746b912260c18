//! The one error type of the binary: each variant names what went wrong and at what, reads as a
//! sentence the user can act on, and maps to the exit code documented in DESIGN §6.

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

    /// Local set-up that failed before any remote call (HTTP client, runtime).
    #[error("{0}")]
    Setup(String),

    #[error("could not write the output: {0}")]
    Output(#[source] std::io::Error),
}

/// Exit codes are part of the interface (DESIGN §6); keep them stable.
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const DENIED: i32 = 5;
    pub const REMOTE: i32 = 6;
}

impl Error {
    /// The process exit code for this error (DESIGN §6).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::InvalidReference { .. } | Error::InvalidDigest { .. } => {
                exit::USAGE
            }
            Error::RegistryAuth { .. } => exit::AUTH,
            Error::ImageNotFound { .. } => exit::NOT_FOUND,
            Error::DigestMismatch { .. } => exit::DENIED,
            Error::Registry { .. } => exit::REMOTE,
            Error::Setup(_) | Error::Output(_) => exit::OTHER,
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
