//! Thin entry point: detect the CI, take its inputs, parse, run, hand outputs back the CI's way,
//! map the error to its exit code (ARCHITECTURE.md, "Exit codes").

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use binauthz_attest::ci;
use binauthz_attest::cli::{Cli, Command};
use binauthz_attest::error::Error;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let env = |name: &str| std::env::var(name).ok();
    let ci = ci::detect(&args, &env);
    // Single-threaded here: the runtime starts below, so changing the environment is sound
    // (the CI's inputs; the trust roots read from one file, see trust.rs).
    for (name, value) in
        ci::environment_changes(ci.as_ref(), &env, &std::env::vars().collect::<Vec<_>>())
    {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
    if let Some(bundle) = binauthz_attest::trust::bundle_file() {
        std::env::set_var("SSL_CERT_FILE", bundle);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => match ci::usage_error(
            ci.as_ref(),
            &e,
            &args,
            &std::env::vars().collect::<Vec<_>>(),
        ) {
            Some(error) => return failed(ci.as_ref(), &error),
            None => e.exit(),
        },
    };
    let outputs_file = cli.outputs_file.clone();
    // The CI layer reads `--outputs-file` through its variable (GitLab's dotenv path), so the
    // flag and the variable are one input.
    if let Some(path) = &outputs_file {
        std::env::set_var("BINAUTHZ_OUTPUTS_FILE", path);
    }
    // The CI's log commands go to stderr (GitHub reads workflow commands there too), so stdout
    // stays the command's output alone, e.g. JSON for `jq`.
    let mut log = std::io::stderr();
    let report = ci
        .start(&env, &mut log)
        .and_then(|()| ci::check_outputs_writable(ci.as_ref(), outputs_file.as_deref(), &env))
        .map_err(Error::Output)
        .and_then(|()| {
            // Checked before anything is signed, so a missing variable costs nothing.
            let github_status = matches!(&cli.command, Command::Sign(a) if a.github_status);
            let target = github_status
                .then(|| ci::commit_status_target(&env))
                .transpose()?;
            let runtime =
                tokio::runtime::Runtime::new().map_err(|e| Error::Setup(e.to_string()))?;
            let mask = ci::mask(ci.as_ref());
            let report = runtime.block_on(binauthz_attest::run(cli, target, mask));
            // The command is done: idle pooled connections and a client built for nothing (the
            // occurrences client of a run that failed first) are not waited for.
            runtime.shutdown_background();
            Ok(report)
        });
    // What finished is handed to the CI even when the command then failed.
    let result =
        report.and_then(|report| ci::finish(ci.as_ref(), &env, outputs_file, report, &mut log));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(ci.as_ref(), &e),
    }
}

/// Reports `e` the CI's way and gives its exit code.
fn failed(ci: &dyn ci::Ci, e: &Error) -> ExitCode {
    let mut log = std::io::stderr();
    let _ = ci.fail(e, &mut log).and_then(|()| log.flush());
    // Under GitHub Actions the annotation above is the error, escaped; the raw text
    // could carry a line the runner reads as a workflow command.
    if ci.name() != ci::CiName::Github {
        eprintln!("error: {e}");
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}
