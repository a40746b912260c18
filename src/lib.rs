//! binauthz-attest: sign container images for Google Binary Authorization from any CI.
//!
//! The binary (`main.rs`) detects the CI and maps errors to exit codes; [`run`] dispatches to
//! one command in `commands/` (thin glue over its flags), which calls the library core in
//! `attest/`. `ARCHITECTURE.md` maps every module.

#![warn(missing_docs)]

/// The admission webhook: `policy check`'s decision inside any Kubernetes cluster.
pub mod admission;
pub mod algorithm;
pub mod attest;
pub mod attestation;
/// After the deploy: Binary Authorization events read from Cloud Audit Logs.
pub mod audit;
/// Reads from outside with a ceiling: files, stdin and HTTP answers.
pub mod bounded;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod commit_status;
/// cosign signatures (`.sig` tag and sigstore bundle) written and verified with the attestation's key.
pub mod cosign;
pub mod credentials;
pub mod error;
pub mod gcp;
/// Cloud Run and Kubernetes manifests: every image, where it is written, and what enforces it.
pub mod manifest;
pub mod model;
pub mod names;
pub mod openpgp;
/// How many Google calls are in flight: halved by a 429, grown back by answers (AIMD).
pub mod pace;
pub mod payload;
/// PEM blocks by label, for every key reader.
pub mod pem;
/// Binary Authorization policies and the admission decision they make, offline.
pub mod policy;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod report;
pub mod retry;
/// The images Cloud Run services run now, for `policy check --running`.
pub mod running;
pub mod signer;
pub mod token;
pub mod trust;

use attest::Context;
use cli::{Cli, Command};
use registry::RegistryConfig;
use report::Report;

/// Runs the command `cli` names. `commit_status` is what the CI layer found for
/// `--github-status`, `mask` its way to hide a minted token; the core reads no CI variable.
pub async fn run(
    cli: Cli,
    commit_status: Option<commit_status::Target>,
    mask: Option<attest::Mask>,
) -> Report {
    let ctx = Context {
        registry: RegistryConfig {
            insecure: cli.insecure_registries.clone(),
            google_hosts: cli.google_registries.clone(),
            google_token: None,
            credentials: credentials::Credentials::from_env(
                cli.registry_auth_file.clone(),
                |name| std::env::var(name).ok(),
            ),
        },
        access_token_file: cli.access_token_file.clone(),
        access_token: std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty()),
        concurrency: cli.concurrency,
        timeout: cli.timeout,
        deadline: tokio::time::Instant::now() + cli.timeout,
        commit_status,
        mask,
    };
    let mut report = match &cli.command {
        Command::Sign(args) => commands::sign::run(&ctx, args).await,
        Command::Verify(args) => commands::verify::run(&ctx, args).await,
        Command::Digest { images, compare } => commands::digest::run(&ctx, images, *compare).await,
        Command::Payload { image } => commands::payload::run(image),
        Command::Completions { shell } => commands::docs::completions(*shell),
        Command::Man => commands::docs::man(),
        Command::Setup(args) => commands::setup::run(&ctx, args).await,
        Command::Policy {
            command: cli::PolicyCommand::Check(args),
        } => commands::policy::check(&ctx, args).await,
        Command::Pin(args) => commands::pin::run(&ctx, args).await,
        Command::Rotate(args) => commands::rotate::run(&ctx, args).await,
        Command::Audit(args) => commands::audit::run(&ctx, args).await,
        Command::Admission(args) => commands::admission::run(&ctx, args).await,
    };
    // A rejected token says where it came from: the flag, the variable or the file.
    report.result = report
        .result
        .map_err(|e| e.with_token_source(&ctx.token_source()));
    // Key files are read deep in the signers `sign` and `rotate --reattest` share; whatever
    // they warned about joins the report, for the CI layer to print once.
    report
        .warnings
        .extend(attest::keyfiles::take_key_file_warnings());
    report
}
