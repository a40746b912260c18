//! Structured logs: one JSON line on stdout per decision and per server event, written by a
//! thread of its own so a slow log collector never blocks a review on the runtime. Nothing
//! secret is logged: the request's identity (uid, kind, namespace, name, user), the images, the
//! digests checked, the decision and its reason (server text in reasons has already had every
//! held token removed, `token.rs`).

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::decide::Judged;
use super::review::Request;

enum Message {
    Line(String),
    Flush(mpsc::Sender<()>),
}

/// The log's sending end.
pub struct Log {
    tx: mpsc::Sender<Message>,
}

impl Default for Log {
    fn default() -> Self {
        Self::start()
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Log {
    /// Starts the writer thread.
    pub fn start() -> Log {
        let (tx, rx) = mpsc::channel::<Message>();
        std::thread::spawn(move || {
            let stdout = std::io::stdout();
            for message in rx {
                match message {
                    Message::Line(line) => {
                        let mut out = stdout.lock();
                        // A closed stdout loses log lines, never reviews.
                        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                    }
                    Message::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Log { tx }
    }

    fn write(&self, mut value: Value) {
        value["time"] = now().into();
        let _ = self.tx.send(Message::Line(value.to_string()));
    }

    /// A server event: `listening`, `config-reloaded`, `stopped`, ...
    pub fn event(&self, msg: &str, mut fields: Value) {
        if !fields.is_object() {
            fields = json!({});
        }
        fields["msg"] = msg.into();
        self.write(fields);
    }

    /// One review's decision.
    pub fn decision(&self, request: &Request, judged: &Judged, took: Duration) {
        self.write(json!({
            "msg": "decision",
            "uid": request.uid,
            "kind": request.kind.kind,
            "namespace": request.namespace,
            "name": request.name,
            "operation": request.operation,
            "subResource": request.sub_resource,
            "dryRun": request.is_dry_run(),
            "user": request.user_info.username,
            "allowed": judged.response.allowed,
            "result": judged.result,
            "reason": judged.reason,
            "code": judged.response.status.as_ref().map(|s| s.code),
            "containers": judged.containers,
            "millis": took.as_secs_f64() * 1000.0,
        }));
    }

    /// Waits until every line sent so far is written.
    pub async fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Message::Flush(done)).is_ok() {
            let _ = tokio::task::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(2)))
                .await;
        }
    }
}
