//! binauthz-attest: sign container images for Google Binary Authorization from any CI.
//! The binary (`main.rs`) only parses the command line and maps errors to exit codes; the work
//! lives here, one module per job.

pub mod attestation;
pub mod ci;
pub mod cli;
pub mod error;
pub mod gcp;
pub mod github_status;
pub mod names;
pub mod payload;
pub mod reference;
pub mod registry;
pub mod report;
pub mod sign;
pub mod signing;
pub mod token;
pub mod verify;

use std::io::{IsTerminal, Write};

use futures_util::stream::{self, StreamExt, TryStreamExt};

use cli::{AttestorArgs, Cli, Command, Output, SignArgs};
use error::{Error, Result};
use gcp::auth::{Auth, AuthOptions};
use gcp::Endpoints;
use names::{AttestorName, KeyVersionName};
use payload::Payload;
use reference::ImageRef;
use registry::{Registry, RegistryConfig};
use token::AccessToken;

/// How many images are resolved at once: enough to hide latency, few enough to be polite.
const CONCURRENCY: usize = 8;

/// Runs one command, writing its result to stdout; returns what `sign` did, for the CI layer.
pub async fn run(cli: Cli) -> Result<Vec<report::Outcome>> {
    let registry_config = RegistryConfig {
        insecure: cli.insecure_registries.clone(),
        google_hosts: cli.google_registries.clone(),
        google_token: None,
    };
    match &cli.command {
        Command::Digest { images } => {
            // Credentials only when an image needs them: `digest` on a public registry needs none.
            let token = if registry_config.needs_google_token(images) {
                Some(auth(&cli)?.access_token().await?)
            } else {
                None
            };
            let registry = registry_client(registry_config, token, images)?;
            let registry = &registry;
            // `buffered` keeps input order, so line N of the output is image N.
            let pinned: Vec<_> = stream::iter(images)
                .map(|image| async move {
                    let digest = registry.resolve(image).await?;
                    Ok::<_, Error>(image.with_digest(&digest))
                })
                .buffered(CONCURRENCY)
                .try_collect()
                .await?;
            let lines: String = pinned.iter().map(|p| format!("{p}\n")).collect();
            write_stdout(lines.as_bytes())?;
            Ok(Vec::new())
        }
        Command::Payload { image } => {
            write_stdout(&Payload::for_pinned(image)?.to_bytes())?;
            Ok(Vec::new())
        }
        Command::Sign(args) => {
            let request = sign_request(args)?;
            let auth = auth(&cli)?;
            let endpoints = Endpoints::from_env();
            let services = services(&auth, &endpoints, registry_config, &request.images).await?;
            // Checked before anything is signed, so a missing variable costs nothing.
            let github = args
                .github_status
                .then(github_status::Target::from_env)
                .transpose()?;
            let outcomes = sign::sign(&services, &request).await?;
            print(args.output, &outcomes, |o| o.line() + "\n")?;
            if let Some(target) = github {
                github_status::post(&target, &outcomes).await?;
            }
            Ok(outcomes)
        }
        Command::Verify(args) => {
            let attestor = attestor_name(&args.attestor)?;
            let auth = auth(&cli)?;
            let endpoints = Endpoints::from_env();
            let token = auth.warm().await?;
            let registry = registry_client(registry_config, Some(token), &args.images)?;
            let binauthz = gcp::binauthz::Binauthz::new(&auth, &endpoints).await?;
            let grafeas = gcp::grafeas::Grafeas::new(&auth, &endpoints).await?;
            let verdicts =
                verify::verify(&registry, &binauthz, &grafeas, &args.images, &attestor).await?;
            print(args.output, &verdicts, verify::Verdict::text)?;
            let unattested: Vec<&str> = verdicts
                .iter()
                .filter(|v| !v.verified)
                .map(|v| v.image_ref.as_str())
                .collect();
            if unattested.is_empty() {
                Ok(Vec::new())
            } else {
                Err(Error::NotAttested {
                    attestor: attestor.to_string(),
                    images: unattested.join(", "),
                })
            }
        }
    }
}

/// Writes results as JSON (the default when stdout is not a terminal) or as text.
fn print<T: serde::Serialize>(
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

fn attestor_name(args: &AttestorArgs) -> Result<AttestorName> {
    AttestorName::parse(&args.attestor, args.attestor_project.as_deref())
}

/// The four clients `sign` uses, set up on both cores at once: each loads the system's trust
/// roots, which is most of a run's local cost.
async fn services(
    auth: &Auth,
    endpoints: &Endpoints,
    config: RegistryConfig,
    images: &[ImageRef],
) -> Result<sign::Services> {
    // Every Google call needs the token: fetch it once, before anything runs concurrently.
    let token = auth.warm().await?;
    let (kms, binauthz, grafeas) = {
        let (a, e) = (auth.clone(), endpoints.clone());
        let kms = tokio::spawn(async move { gcp::kms::Kms::new(&a, &e).await });
        let (a, e) = (auth.clone(), endpoints.clone());
        let binauthz = tokio::spawn(async move { gcp::binauthz::Binauthz::new(&a, &e).await });
        let (a, e) = (auth.clone(), endpoints.clone());
        let grafeas = tokio::spawn(async move { gcp::grafeas::Grafeas::new(&a, &e).await });
        (kms, binauthz, grafeas)
    };
    let registry = registry_client(config, Some(token), images)?;
    let joined = |e: tokio::task::JoinError| Error::Setup(format!("client set-up failed: {e}"));
    Ok(sign::Services {
        registry,
        kms: kms.await.map_err(joined)??,
        binauthz: binauthz.await.map_err(joined)??,
        grafeas: grafeas.await.map_err(joined)??,
    })
}

fn auth(cli: &Cli) -> Result<Auth> {
    Auth::new(AuthOptions {
        access_token_file: cli.access_token_file.as_deref(),
        access_token: std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty()),
    })
}

/// A registry client holding the Google token when an image's registry takes it.
fn registry_client(
    mut config: RegistryConfig,
    token: Option<AccessToken>,
    images: &[ImageRef],
) -> Result<Registry> {
    if config.needs_google_token(images) {
        config.google_token = token;
    }
    Registry::new(config)
}

fn sign_request(args: &SignArgs) -> Result<sign::SignRequest> {
    let mut images = args.images.clone();
    if let Some(path) = &args.images_file {
        images.extend(read_images_file(path)?);
    }
    if images.is_empty() {
        return Err(Error::Usage(
            "no images to sign: pass IMAGE arguments, BINAUTHZ_IMAGES, or --images-file".into(),
        ));
    }
    Ok(sign::SignRequest {
        images,
        attestor: attestor_name(&args.attestor)?,
        key_version: KeyVersionName::parse(&args.kms_key_version)?,
        project: args
            .project
            .as_deref()
            .map(names::parse_project)
            .transpose()?,
        dry_run: args.dry_run,
    })
}

/// One image per line; blank lines and `#` comments skipped; `-` reads stdin.
fn read_images_file(path: &std::path::Path) -> Result<Vec<ImageRef>> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| {
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

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}
