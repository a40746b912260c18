//! The HTTP layer: accepts connections, applies fault rules, runs the route off the async
//! runtime (key generation and signing are CPU work), and records every call.

use crate::faults::{Action, LogEntry};
use crate::google::ApiError;
use crate::http::{Reply, Request};
use crate::registry::{auth::identify, RegError};
use crate::router::{self, Emulator, Serve};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves.
pub async fn serve(listener: TcpListener, emu: Arc<Emulator>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let emu = emu.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(emu.clone(), req));
                    // An error here is a dropped or broken connection: nothing to answer.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
}

/// How the caller authenticated, for the log; never the credential itself.
fn auth_kind(req: &Request) -> String {
    let scheme = req
        .header("authorization")
        .and_then(|v| v.split(' ').next())
        .unwrap_or("none");
    scheme.to_ascii_lowercase()
}

async fn handle(
    emu: Arc<Emulator>,
    req: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let started = Instant::now();
    let received_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    // Once a request has arrived it runs to the end, logged and counted, even when the client
    // hangs up (hyper drops this future then): a create whose client timed out during injected
    // latency is still stored, as a server that accepted it would.
    tokio::spawn(answer(emu, parts, body, started, received_ms))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Waits until `deadline`, to within a fraction of a millisecond: tokio's timer fires on the
/// next whole-millisecond tick after a deadline ("operates at millisecond granularity",
/// <https://docs.rs/tokio/1/tokio/time/fn.sleep.html>), which made a call of `--latency *=20`
/// take 21 to 22 ms. The timer covers all but the last two milliseconds; a blocking thread
/// sleeps the rest, so a thread is held for at most that long.
async fn wait_until(deadline: Instant) {
    let coarse = deadline.checked_sub(Duration::from_millis(2));
    if let Some(coarse) = coarse.filter(|c| *c > Instant::now()) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

async fn answer(
    emu: Arc<Emulator>,
    parts: hyper::http::request::Parts,
    body: Vec<u8>,
    started: Instant,
    received_ms: u64,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let request = Request::new(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        parts.headers,
        body,
    );
    let route = router::resolve(&request);
    let name = route.map_or("unknown", |r| r.name);
    let counted = name != "emulator.admin";
    let (latency, action) = if counted {
        emu.faults().decide(name)
    } else {
        (Duration::ZERO, Action::Serve)
    };
    if !latency.is_zero() {
        wait_until(started + latency).await;
    }
    let mut entry = LogEntry {
        seq: 0,
        method: request.method.clone(),
        path: request.path.clone(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        route: name.to_string(),
        status: 0,
        millis: 0,
        received_ms,
        auth: auth_kind(&request),
        credential: None,
    };
    let registry = matches!(route.map(|r| r.serve), Some(Serve::Registry(_)));
    if counted && (registry || route.is_some_and(|r| r.api)) {
        entry.credential = Some(identify(&emu.state(), &request, registry).0.as_str());
    }
    let lose_answer = action == Action::Lose;
    let reply = match (action, route) {
        (Action::Drop, _) => None,
        (
            Action::Answer {
                status,
                retry_after,
                message,
                body,
            },
            _,
        ) => {
            // `{authorization}` in a chosen message or body: the request's own header, echoed
            // as a careless server or proxy would.
            let echo = |text: String| {
                text.replace(
                    "{authorization}",
                    request.header("authorization").unwrap_or_default(),
                )
            };
            let (message, body) = (message.map(echo), body.map(echo));
            let reply = match (body, registry) {
                (Some(body), _) => Reply::text(status, &body),
                (None, true) => {
                    let mut e = RegError::for_status(status);
                    e.message = message.unwrap_or(e.message);
                    e.reply()
                }
                (None, false) => {
                    let mut e = ApiError::for_status(status);
                    e.message = message.unwrap_or(e.message);
                    Reply::error(&e)
                }
            };
            Some(match retry_after {
                Some(secs) => reply.header("retry-after", &secs.to_string()),
                None => reply,
            })
        }
        (Action::Serve | Action::Lose, Some(route)) => {
            let emu = emu.clone();
            let ran =
                tokio::task::spawn_blocking(move || router::dispatch(&emu, &request, route)).await;
            Some(ran.unwrap_or_else(|e| {
                Reply::error(&ApiError::new(
                    500,
                    "INTERNAL",
                    format!("Handler failed: {e}"),
                ))
            }))
        }
        (Action::Serve | Action::Lose, None) => Some(Reply::error(&ApiError::not_found(format!(
            "The emulator serves no {} {}.",
            entry.method, entry.path
        )))),
    };
    // Status 0 in the log: no answer reached the client (dropped before or after serving).
    let reply = reply.filter(|_| !lose_answer);
    entry.status = reply.as_ref().map_or(0, |r| r.status);
    entry.millis = started.elapsed().as_millis() as u64;
    if counted {
        emu.faults().record(entry);
    }
    let Some(reply) = reply else {
        return Err(std::io::Error::other("connection dropped by a fault rule"));
    };
    let mut response = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        response = response.header(k, v);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .map_err(std::io::Error::other)
}
