//! The admission webhook (`binauthz-attest admission`): a Kubernetes validating webhook that
//! enforces a Binary Authorization policy in any cluster, with `policy check`'s decision
//! (`policy.rs`) and `verify`'s evidence checks, so CI and the cluster never disagree.
//!
//! - `review.rs`: AdmissionReview in and out, to the letter of the Kubernetes reference;
//! - `workload.rs`: which requests and containers are judged (the kinds `manifest.rs` reads);
//! - `decide.rs`: one review's decision and response;
//! - `evidence.rs`: digests, attestations (Container Analysis) and cosign signatures, cached
//!   (`cache.rs`);
//! - `config.rs`, `attestors.rs`: the policy and the attestors given by file, reloaded on change;
//! - `server.rs`, `tls.rs`: HTTPS (rustls, certificate reloaded on change), HTTP/1.1 and 2;
//! - `metrics.rs`, `log.rs`: Prometheus metrics, one JSON log line per decision;
//! - `certs.rs`: `admission certs`, a CA and serving certificate for clusters without
//!   cert-manager.

/// Attestors from local files (`--attestor-file`) or from Google (`--project`).
pub mod attestors;
/// The bounded TTL cache of verified (digest, attestor) results.
pub mod cache;
pub mod certs;
pub mod config;
pub mod decide;
pub mod evidence;
pub mod log;
pub mod metrics;
pub mod review;
pub mod server;
pub mod tls;
pub mod workload;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::{Error, Result};
use crate::gcp::auth::Auth;
use crate::gcp::binauthz::Binauthz;
use crate::gcp::grafeas::Grafeas;
use crate::gcp::Endpoints;
use crate::registry::RegistryConfig;

/// Everything the server is started with.
pub struct Options {
    /// `HOST:PORT` to listen on.
    pub addr: String,
    /// The serving certificate (PEM chain) and its key.
    pub cert_file: PathBuf,
    /// Its private key (PEM).
    pub key_file: PathBuf,
    /// The policy and the attestor files.
    pub sources: config::Sources,
    /// Each review's budget.
    pub budget: Duration,
    /// The result cache.
    pub cache: evidence::CacheSettings,
    /// How long to keep serving after SIGTERM, not ready, so endpoints drop the pod first.
    pub shutdown_delay: Duration,
    /// Registries: plain-HTTP hosts and hosts that take the Google token.
    pub registry: RegistryConfig,
    /// Google credentials, when the server has them.
    pub auth: Option<Auth>,
}

/// The top-level entry point for `admission`: loads and checks the configuration, serves until
/// SIGTERM or SIGINT, then answers what is in flight and stops.
pub async fn run(options: Options) -> Result<()> {
    let log = log::Log::start();
    let metrics = Arc::new(metrics::Metrics::new());
    let google = match options.auth {
        Some(auth) => {
            let endpoints = Endpoints::from_env();
            let (binauthz, grafeas) = tokio::try_join!(
                Binauthz::new(&auth, &endpoints),
                Grafeas::new(&auth, &endpoints)
            )?;
            Some(evidence::Google {
                auth,
                binauthz,
                grafeas,
            })
        }
        None => None,
    };
    let config = options
        .sources
        .load(google.as_ref().map(|g| &g.binauthz))
        .await?;
    let certs = tls::Certs::load(options.cert_file.clone(), options.key_file.clone()).await?;
    let listener = tokio::net::TcpListener::bind(&options.addr)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on --addr {} ({e})", options.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Setup(format!("the listener has no address ({e})")))?;
    for warning in &config.warnings {
        log.event("policy-warning", json!({ "warning": warning }));
    }
    // Handlers in place before anyone is told the server listens: a future's would only be
    // installed at its first poll, and a signal before that would kill the server, not drain it.
    let signalled_by = wait_for_signal();
    log.event(
        "listening",
        json!({
            "addr": local.to_string(),
            "policy": config.policy_source,
            "attestors": config.attestors.keys().collect::<Vec<_>>(),
            "google": google.is_some(),
        }),
    );
    let evidence = evidence::Live::new(options.registry, google, options.cache, metrics.clone())?;
    let state = Arc::new(server::State {
        config: RwLock::new(Arc::new(config)),
        evidence,
        metrics,
        budget: options.budget,
        ready: AtomicBool::new(true),
        log,
    });
    let watcher = tokio::spawn(watch(state.clone(), options.sources, certs.clone()));
    let delay = options.shutdown_delay;
    let signalled = state.clone();
    let shutdown = async move {
        let signal = signalled_by.await;
        signalled.ready.store(false, Ordering::Relaxed);
        signalled.log.event(
            "shutting-down",
            json!({"signal": signal, "delayMillis": delay.as_millis() as u64}),
        );
        tokio::time::sleep(delay).await;
    };
    let served = server::serve(state.clone(), listener, certs, shutdown).await;
    watcher.abort();
    state.log.flush().await;
    served
}

/// SIGTERM (what the kubelet sends) or SIGINT; its name. The handlers are installed by the
/// call, not at the first poll.
fn wait_for_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers the server runs until killed.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    }
}

/// Reloads the certificate and the configuration when they change.
async fn watch(state: Arc<server::State>, sources: config::Sources, certs: Arc<tls::Certs>) {
    let mut stamps = sources.stamps().await;
    let mut last_read = Instant::now();
    let mut cert_error = String::new();
    let mut tick = tokio::time::interval(tls::POLL);
    let mut polls: u32 = 0;
    loop {
        tick.tick().await;
        polls = polls.wrapping_add(1);
        match certs.refresh().await {
            Ok(true) => {
                cert_error.clear();
                state.log.event("certificate-reloaded", json!({}));
            }
            Ok(false) => {}
            // Logged once per distinct error: a rotation half done resolves itself.
            Err(e) if e.to_string() != cert_error => {
                cert_error = e.to_string();
                state.log.event(
                    "certificate-reload-failed",
                    json!({"error": cert_error, "serving": "the previous certificate"}),
                );
            }
            Err(_) => {}
        }
        if !polls.is_multiple_of(config::FILE_POLL.as_secs().max(1) as u32) {
            continue;
        }
        let now = sources.stamps().await;
        let project_due = sources.policy_file.is_none()
            && sources.project.is_some()
            && last_read.elapsed() >= config::PROJECT_POLL;
        if now == stamps && !project_due {
            continue;
        }
        let files_changed = now != stamps;
        stamps = now;
        last_read = Instant::now();
        match sources.load(state.evidence.binauthz()).await {
            Ok(config) => {
                let before = state
                    .config
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let same = |c: &config::Config| serde_json::to_string(&c.policy).ok();
                if !files_changed && same(&before) == same(&config) {
                    continue; // the project's policy, read again, unchanged
                }
                state.evidence.forget();
                state.metrics.reload(true);
                state.log.event(
                    "config-reloaded",
                    json!({"policy": config.policy_source, "attestors": config.attestors.keys().collect::<Vec<_>>()}),
                );
                *state.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
            }
            Err(e) => {
                state.metrics.reload(false);
                state.log.event(
                    "config-reload-failed",
                    json!({"error": e.to_string(), "serving": "the previous configuration"}),
                );
            }
        }
    }
}
