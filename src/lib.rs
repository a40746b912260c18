//! binauthz-attest: sign container images for Google Binary Authorization from any CI.
//! The binary (`main.rs`) only parses the command line and maps errors to exit codes; the work
//! lives here, one module per job.

pub mod cli;
pub mod error;
pub mod payload;
pub mod reference;
pub mod registry;
pub mod token;

use std::io::Write;

use futures_util::stream::{self, StreamExt, TryStreamExt};

use cli::{Cli, Command};
use error::{Error, Result};
use payload::Payload;
use registry::{Registry, RegistryConfig};

/// How many images are resolved at once: enough to hide latency, few enough to be polite.
const CONCURRENCY: usize = 8;

/// Runs one command, writing its result to stdout.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Digest { images } => {
            let registry = Registry::new(RegistryConfig {
                insecure: cli.insecure_registries,
                ..RegistryConfig::default()
            })?;
            let registry = &registry;
            // `buffered` keeps input order, so line N of the output is image N.
            let pinned: Vec<_> = stream::iter(&images)
                .map(|image| async move {
                    let digest = registry.resolve(image).await?;
                    Ok::<_, Error>(image.with_digest(&digest))
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            let lines: String = pinned.iter().map(|p| format!("{p}\n")).collect();
            write_stdout(lines.as_bytes())
        }
        Command::Payload { image } => write_stdout(&Payload::for_pinned(&image)?.to_bytes()),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
