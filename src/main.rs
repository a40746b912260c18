//! Thin entry point: detect the CI, take its inputs, parse, run, hand outputs back the CI's way,
//! map the error to its exit code (DESIGN §6).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use binauthz_attest::ci;
use binauthz_attest::cli::Cli;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let env = |name: &str| std::env::var(name).ok();
    let ci = ci::detect(&args, &env);
    // Single-threaded here: the runtime starts below, so changing the environment is sound.
    for (name, value) in
        ci::environment_changes(ci.as_ref(), &env, &std::env::vars().collect::<Vec<_>>())
    {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
    let cli = Cli::parse_from(&args);
    let outputs_file = cli.outputs_file.clone();
    // The CI's log commands go to stderr (GitHub reads workflow commands there too), so stdout
    // stays the command's output alone, e.g. JSON for `jq`.
    let mut log = std::io::stderr();
    let result = ci
        .start(&env, &mut log)
        .map_err(binauthz_attest::error::Error::Output)
        .and_then(|()| {
            let runtime = tokio::runtime::Runtime::new()
                .map_err(|e| binauthz_attest::error::Error::Setup(e.to_string()))?;
            runtime.block_on(binauthz_attest::run(cli))
        });
    let emitted = result.and_then(|outcomes| {
        ci.emit(&env, &outcomes, &mut log)
            .and_then(|()| ci::write_outputs_file(ci.as_ref(), outputs_file, &env, &outcomes))
            .map_err(binauthz_attest::error::Error::Output)
    });
    match emitted {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = ci.fail(&e, &mut log).and_then(|()| log.flush());
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
