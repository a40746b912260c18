//! Thin entry point: parse, run, map the error to its exit code (DESIGN §6).

use std::process::ExitCode;

use clap::Parser;

use binauthz_attest::cli::Cli;
use binauthz_attest::error::exit;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match binauthz_attest::run(cli).await {
        Ok(()) => ExitCode::from(exit::OK as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
