//! The command line: clap derive, every flag also readable from a `BINAUTHZ_*` variable so CI
//! wrappers can pass settings through the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::reference::ImageRef;

/// Sign container images for Google Binary Authorization.
#[derive(Debug, Parser)]
#[command(name = "binauthz-attest", version, about)]
pub struct Cli {
    /// Registry reached over plain HTTP instead of HTTPS (repeatable, or comma-separated in the
    /// variable). Write it as it appears in the image reference, e.g. 127.0.0.1:5000.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        env = "BINAUTHZ_INSECURE_REGISTRIES",
        value_delimiter = ',',
        global = true
    )]
    pub insecure_registries: Vec<String>,

    /// Registry that takes the Google access token, besides Artifact Registry (*.pkg.dev) and
    /// gcr.io, which always do (repeatable or comma-separated). Other registries never see it.
    #[arg(
        long = "google-registry",
        value_name = "HOST[:PORT]",
        env = "BINAUTHZ_GOOGLE_REGISTRIES",
        value_delimiter = ',',
        global = true
    )]
    pub google_registries: Vec<String>,

    /// File holding a Google OAuth2 access token (gcloud's variable, so one setting serves
    /// both). Without it: GOOGLE_OAUTH_ACCESS_TOKEN, then Application Default Credentials.
    #[arg(
        long,
        value_name = "FILE",
        env = "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
        global = true
    )]
    pub access_token_file: Option<PathBuf>,

    /// The CI running the step (default: detected from its variables; unknown CIs are local).
    #[arg(
        long,
        value_enum,
        value_name = "CI",
        env = "BINAUTHZ_CI",
        global = true
    )]
    pub ci: Option<crate::ci::CiName>,

    /// Also write the outputs as JSON to this file (Jenkins and Cloud Build read it; GitLab:
    /// the dotenv file, default binauthz-attest.env).
    #[arg(
        long,
        value_name = "FILE",
        env = "BINAUTHZ_OUTPUTS_FILE",
        global = true
    )]
    pub outputs_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign images and file their Binary Authorization attestations (once: reruns find them).
    Sign(SignArgs),
    /// List the attestor's attestations for each image's digest and say whether Binary
    /// Authorization would accept them; exits 5 when an image has no valid one.
    Verify(VerifyArgs),
    /// Print each image's manifest digest as REPOSITORY@sha256:..., one per line, in order.
    ///
    /// A tag is resolved with one manifest HEAD; a digest is checked to exist in the registry.
    Digest {
        /// Images, e.g. us-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG.
        #[arg(value_name = "IMAGE", required = true, value_parser = parse_image)]
        images: Vec<ImageRef>,
    },
    /// Write the Binary Authorization signature payload for IMAGE@sha256:... to stdout, byte for
    /// byte what `gcloud container binauthz create-signature-payload` prints.
    Payload {
        #[arg(value_name = "IMAGE@DIGEST", value_parser = parse_image)]
        image: ImageRef,
    },
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Images by tag or digest, e.g. us-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG. The digest signed
    /// is always the one the image's registry serves.
    #[arg(value_name = "IMAGE", env = "BINAUTHZ_IMAGES", value_delimiter = ',', value_parser = parse_image)]
    pub images: Vec<ImageRef>,

    /// File with more images, one per line (blank lines and #comments skipped; - for stdin).
    #[arg(long, value_name = "FILE", env = "BINAUTHZ_IMAGES_FILE")]
    pub images_file: Option<PathBuf>,

    #[command(flatten)]
    pub attestor: AttestorArgs,

    /// The KMS key version that signs:
    /// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N.
    #[arg(long, value_name = "KEY_VERSION", env = "BINAUTHZ_KMS_KEY_VERSION")]
    pub kms_key_version: String,

    /// Project that stores the attestations (default: the attestor's project).
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_PROJECT")]
    pub project: Option<String>,

    /// Resolve digests, check the attestor and key, and look for existing attestations; sign
    /// nothing and write nothing.
    #[arg(long, env = "BINAUTHZ_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,

    /// Post a commit status naming the attestation on GITHUB_SHA of GITHUB_REPOSITORY, with
    /// GITHUB_TOKEN (GITHUB_API_URL for GitHub Enterprise).
    #[arg(long, env = "BINAUTHZ_GITHUB_STATUS", value_parser = clap::builder::BoolishValueParser::new())]
    pub github_status: bool,
}

#[derive(Debug, Args)]
pub struct AttestorArgs {
    /// The attestor: projects/PROJECT/attestors/ATTESTOR, or ATTESTOR with --attestor-project.
    #[arg(long, value_name = "ATTESTOR", env = "BINAUTHZ_ATTESTOR")]
    pub attestor: String,

    /// Project of the attestor when --attestor is a bare id.
    #[arg(long, value_name = "PROJECT", env = "BINAUTHZ_ATTESTOR_PROJECT")]
    pub attestor_project: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Images by tag or digest; checked at the digest their registry serves.
    #[arg(value_name = "IMAGE", required = true, value_parser = parse_image)]
    pub images: Vec<ImageRef>,

    #[command(flatten)]
    pub attestor: AttestorArgs,

    /// Output format (default: json when stdout is not a terminal, else text).
    #[arg(long, value_enum, env = "BINAUTHZ_OUTPUT")]
    pub output: Option<Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Json,
    Text,
}

/// Lets clap report a bad reference with our message (which names the input and the fix).
pub fn parse_image(s: &str) -> Result<ImageRef, String> {
    ImageRef::parse(s.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn insecure_registries_repeat_and_split_on_commas() {
        let cli = Cli::try_parse_from([
            "b",
            "--insecure-registry",
            "a:5000,b:5000",
            "--insecure-registry",
            "c",
            "digest",
            "gcr.io/p/i:1",
        ])
        .unwrap();
        assert_eq!(cli.insecure_registries, ["a:5000", "b:5000", "c"]);
        let after = Cli::try_parse_from(["b", "digest", "--insecure-registry", "d", "gcr.io/p/i"]);
        assert_eq!(after.unwrap().insecure_registries, ["d"]);
    }

    #[test]
    fn help_shows_every_environment_variable() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        let sign = cmd
            .find_subcommand_mut("sign")
            .unwrap()
            .render_long_help()
            .to_string();
        for var in [
            "BINAUTHZ_INSECURE_REGISTRIES",
            "BINAUTHZ_GOOGLE_REGISTRIES",
            "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE",
        ] {
            assert!(help.contains(var), "{var} missing from --help");
        }
        for var in [
            "BINAUTHZ_IMAGES",
            "BINAUTHZ_IMAGES_FILE",
            "BINAUTHZ_ATTESTOR",
            "BINAUTHZ_ATTESTOR_PROJECT",
            "BINAUTHZ_KMS_KEY_VERSION",
            "BINAUTHZ_PROJECT",
            "BINAUTHZ_DRY_RUN",
            "BINAUTHZ_OUTPUT",
            "BINAUTHZ_GITHUB_STATUS",
            "BINAUTHZ_CI",
            "BINAUTHZ_OUTPUTS_FILE",
        ] {
            assert!(sign.contains(var), "{var} missing from sign --help");
        }
    }
}
