//! The command line: clap derive, every flag also readable from a `BINAUTHZ_*` variable so CI
//! wrappers can pass settings through the environment.

use clap::{Parser, Subcommand};

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

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

/// Lets clap report a bad reference with our message (which names the input and the fix).
fn parse_image(s: &str) -> Result<ImageRef, String> {
    ImageRef::parse(s).map_err(|e| e.to_string())
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
    fn help_shows_the_environment_variable() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("BINAUTHZ_INSECURE_REGISTRIES"), "{help}");
    }
}
