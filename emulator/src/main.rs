//! `binauthz-emulator`: a local stand-in for Cloud KMS, Binary Authorization, Container
//! Analysis, Artifact Registry's Docker API and Google's token endpoints, for offline tests,
//! benchmarks and demos.

mod admin;
mod admission;
mod auth;
mod binauthz;
mod crypto;
mod faults;
mod google;
mod grafeas;
mod http;
mod iam;
mod kms;
mod logging;
mod registry;
mod router;
mod run;
mod schema;
mod seed;
mod server;
mod state;

use clap::Parser;
use faults::{Faults, Rule};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(
    version,
    about = "Local stand-in for Google's KMS, Binary Authorization, Container Analysis and Artifact Registry APIs"
)]
struct Args {
    /// Address to listen on; loopback by default, port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// YAML seed: tokens, keys, notes, attestors, policies, denials (see emulator/README.md).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Inject a fault: ROUTE=STATUS|drop[xN][@RATE], e.g. `kms.*=503x2`. Repeatable.
    #[arg(long = "fault", value_parser = Rule::parse_fault)]
    faults: Vec<Rule>,
    /// Add latency: ROUTE=MILLISECONDS, e.g. `*=20`. Repeatable.
    #[arg(long = "latency", value_parser = Rule::parse_latency)]
    latencies: Vec<Rule>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("binauthz-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let seed = match &args.seed {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read seed {}: {e}", path.display()))?;
            seed::Seed::from_yaml(&text).map_err(|e| format!("seed {}: {e}", path.display()))?
        }
        None => seed::Seed::default(),
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if !local.ip().is_loopback() {
        eprintln!("binauthz-emulator: warning: listening on {local}, which is not loopback");
    }
    let state =
        state::State::from_seed(seed, &local.to_string()).map_err(|e| format!("seed: {e}"))?;
    let mut faults = Faults::default();
    faults
        .rules
        .extend(args.latencies.into_iter().chain(args.faults));
    let emu = router::Emulator {
        state: Mutex::new(state),
        faults: Mutex::new(faults),
        base_url: format!("http://{local}"),
    };
    // The handlers are in place before the URL is printed: a signal sent as soon as the first
    // answer arrives must stop the emulator, not kill it (a future's handler is only installed
    // when it is first polled, which the accept loop may not have done yet).
    let shutdown = shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
    println!("http://{local}/");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    eprintln!("binauthz-emulator: serving on http://{local}/");
    server::serve(listener, Arc::new(emu), shutdown).await;
    eprintln!("binauthz-emulator: stopped");
    Ok(())
}

/// Resolves at the first SIGTERM or SIGINT; both handlers are installed by the call itself.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
