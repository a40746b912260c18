//! The HTTPS server: TLS by rustls (the certificate from `tls.rs`), HTTP/2 or HTTP/1.1 by
//! ALPN (the API server's Go client offers both), hyper 1 serving each connection.
//!
//! Routes: `POST /validate` (an AdmissionReview; `?timeout=` from the API server shortens the
//! review's budget), `GET /healthz`, `GET /readyz` (503 once shutting down, so endpoints drop
//! the pod first), `GET /metrics`. Request bodies are capped at [`BODY_MAX`]. On shutdown the
//! listener closes, open connections finish the reviews they carry and are closed, for at most
//! [`GRACE`].

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::config::Config;
use super::decide;
use super::evidence::Live;
use super::metrics::Metrics;
use super::review;
use super::tls::Certs;
use crate::error::{Error, Result};

/// The largest AdmissionReview read: an object is at most 1.5 MiB in etcd, and a review holds
/// the object and the old one, so 4 MiB is ample and still bounded.
pub const BODY_MAX: usize = 4 << 20;
/// How long open connections get to finish after shutdown begins.
pub const GRACE: Duration = Duration::from_secs(25);
/// How long a client gets for its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Kept back from the API server's `?timeout=` so the answer arrives before it gives up.
const MARGIN: Duration = Duration::from_millis(500);

/// Everything a review reads, shared by every connection.
pub struct State {
    /// The enforced configuration, swapped whole on reload.
    pub config: RwLock<Arc<Config>>,
    /// Evidence, with its cache.
    pub evidence: Live,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Each review's budget (`--review-timeout`).
    pub budget: Duration,
    /// False before the config is loaded and once shutting down.
    pub ready: AtomicBool,
    /// One JSON line per decision.
    pub log: super::log::Log,
}

type Body = Full<Bytes>;

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The review's budget: ours, shortened to answer before the API server's own timeout.
fn budget(state: &State, query: Option<&str>) -> Duration {
    let asked = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(|t| crate::cli::parse_duration(t).ok());
    match asked {
        Some(t) => state.budget.min(t.saturating_sub(MARGIN).max(MARGIN)),
        None => state.budget,
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::POST, "/validate") => validate(state, request).await,
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") => match state.ready.load(Ordering::Relaxed) {
            true => text(StatusCode::OK, "ok\n"),
            false => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        },
        (&Method::GET, "/metrics") => {
            let mut response = text(StatusCode::OK, state.metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (_, "/validate" | "/healthz" | "/readyz" | "/metrics") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: the webhook serves POST /validate\n",
        ),
    }
}

async fn validate(state: Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let budget = budget(&state, request.uri().query());
    let body = match Limited::new(request.into_body(), BODY_MAX).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            state
                .metrics
                .decision("error", "body", started.elapsed().as_secs_f64());
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return match too_big {
                true => text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the AdmissionReview is larger than {BODY_MAX} bytes\n"),
                ),
                false => text(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body ({e})\n"),
                ),
            };
        }
    };
    let admission = match review::parse(&body) {
        Ok(r) => r,
        Err(reason) => {
            state
                .metrics
                .decision("error", "malformed-review", started.elapsed().as_secs_f64());
            return text(StatusCode::BAD_REQUEST, format!("{reason}\n"));
        }
    };
    let config = state
        .config
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let judged = decide::review(&config, &state.evidence, &admission, budget).await;
    let elapsed = started.elapsed();
    state
        .metrics
        .decision(judged.result, judged.reason, elapsed.as_secs_f64());
    state.log.decision(&admission, &judged, elapsed);
    let mut response = Response::new(Full::new(Bytes::from(judged.response.into_review())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Returns once shutdown has begun (or the server is gone).
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}

/// Serves `listener` until `shutdown` completes, then drains open connections.
pub async fn serve(
    state: Arc<State>,
    listener: TcpListener,
    certs: Arc<Certs>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut tls = rustls::ServerConfig::builder_with_provider(certs.provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("TLS configuration: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(e) => {
                    state.log.event("accept-failed", json!({"error": e.to_string()}));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let state = state.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let io = TokioIo::new(tls);
            let service = service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, request).await) }
            });
            if h2 {
                let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection(io, service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    () = stopped(&mut stopping) => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            } else {
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    () = stopped(&mut stopping) => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
        });
    }
    drop(listener);
    state.ready.store(false, Ordering::Relaxed);
    let _ = stop.send(true);
    let open = connections.len();
    let drained = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    state.log.event(
        "stopped",
        json!({"connectionsAtShutdown": open, "drained": drained.is_ok()}),
    );
    Ok(())
}
