//! Fault injection (latency, error statuses, dropped connections) and accounting (a request log
//! and per-route counters), so tests and benchmarks can provoke failures and count round trips.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// One rule, matched against route names (`kms.cryptoKeyVersions.asymmetricSign`); `*` in
/// `route` matches any run of characters (`kms.*`, `*`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub route: String,
    /// Delay every matching call by this much (before any injected answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Answer this status (429, 500, 503, ...) in Google's error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop: bool,
    /// Serve the call, then close the connection without answering: the change happened but its
    /// answer is lost, the case a client must look up before it retries a create.
    #[serde(default)]
    pub drop_after: bool,
    /// Fire only for the next N matching calls, then the rule retires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Fire for this fraction of matching calls (0.0 to 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Seconds for a `Retry-After` header on injected answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The `message` of an injected error (in Google's or the registry's shape) instead of
    /// "Injected fault: ...": a hostile or buggy server echoing what it was sent, so tests can
    /// check that a client never repeats a secret from an error body. `{authorization}` in it
    /// (or in `body`) stands for the request's `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The whole body of an injected error, as `text/plain`, instead of the JSON shape (a proxy's
    /// or load balancer's page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A quota: serve at most this many matching calls in each one-second window and answer
    /// the rest `status` (429 unless set) with Google's quota message, as Cloud KMS enforces its
    /// hosting-project quotas "by the second" with RESOURCE_EXHAUSTED
    /// (https://cloud.google.com/kms/quotas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u32>,
    /// The current window of a `perSecond` quota: when it opened and the calls it served.
    #[serde(skip)]
    window: Option<(Instant, u32)>,
}

impl Rule {
    /// For a quota rule: whether this call is over the quota (consuming a slot when not).
    fn over_quota(&mut self, limit: u32, now: Instant) -> bool {
        let (opened, served) = match self.window {
            Some((opened, served)) if now.duration_since(opened) < Duration::from_secs(1) => {
                (opened, served)
            }
            _ => (now, 0),
        };
        let over = served >= limit;
        self.window = Some((opened, if over { served } else { served + 1 }));
        over
    }
}

/// Google's message for a call over a per-second quota (the shape Service Control answers).
fn quota_message(route: &str, limit: u32) -> String {
    let service = route.split('.').next().unwrap_or(route);
    format!(
        "Quota exceeded for quota metric '{service} requests' and limit '{service} requests per \
         second ({limit})' of service '{service}.googleapis.com' for consumer 'project_number:0'."
    )
}

impl Rule {
    /// Parses the `--fault` flag: `ROUTE=STATUS|drop|lost[xN][@RATE]`, e.g. `kms.*=503x2`,
    /// `grafeas.occurrences.create=drop`, `grafeas.occurrences.create=lostx1`, `*=429@0.1`.
    pub fn parse_fault(text: &str) -> Result<Rule, String> {
        let (route, spec) = text
            .split_once('=')
            .ok_or(format!("{text:?}: expected ROUTE=STATUS[xN][@RATE]"))?;
        let (spec, rate) = match spec.split_once('@') {
            Some((s, r)) => (
                s,
                Some(
                    r.parse::<f64>()
                        .map_err(|_| format!("{text:?}: bad rate {r:?}"))?,
                ),
            ),
            None => (spec, None),
        };
        let (what, times) = match spec.split_once('x') {
            Some((w, n)) => (
                w,
                Some(
                    n.parse::<u32>()
                        .map_err(|_| format!("{text:?}: bad count {n:?}"))?,
                ),
            ),
            None => (spec, None),
        };
        let mut rule = Rule {
            route: route.to_string(),
            times,
            rate,
            ..Rule::default()
        };
        if what == "drop" {
            rule.drop = true;
        } else if what == "lost" {
            rule.drop_after = true;
        } else {
            rule.status = Some(
                what.parse()
                    .map_err(|_| format!("{text:?}: {what:?} is not a status, drop or lost"))?,
            );
        }
        Ok(rule)
    }

    /// Parses the `--latency` flag: `ROUTE=MILLISECONDS`.
    pub fn parse_latency(text: &str) -> Result<Rule, String> {
        let (route, ms) = text
            .split_once('=')
            .ok_or(format!("{text:?}: expected ROUTE=MILLISECONDS"))?;
        let ms = ms
            .parse()
            .map_err(|_| format!("{text:?}: bad milliseconds {ms:?}"))?;
        Ok(Rule {
            route: route.to_string(),
            latency_ms: Some(ms),
            ..Rule::default()
        })
    }
}

/// What to do with a call, decided before it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Serve,
    Answer {
        status: u16,
        retry_after: Option<u64>,
        /// The error's message, when the rule sets one.
        message: Option<String>,
        /// The raw body, when the rule sets one.
        body: Option<String>,
    },
    Drop,
    /// Serve, then drop the connection: the answer is lost.
    Lose,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub route: String,
    /// 0 when the connection was dropped.
    pub status: u16,
    pub millis: u64,
    /// When the request arrived, in milliseconds since the Unix epoch: tests measure the gap a
    /// client left between two calls (a `Retry-After` honoured) from it.
    pub received_ms: u64,
    /// How the caller authenticated (`bearer`, `basic`, `none`), never the credential.
    pub auth: String,
    /// On routes that need one, which credential it was: `google-token`, `registry-token`
    /// (minted by the registry's `/v2/token`), `invalid` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<&'static str>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counter {
    pub calls: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Calls a fault rule acted on (a delay, an answer, a drop, a lost answer): a test proves
    /// its fault fired by this count.
    pub faults: u64,
}

/// How many requests the log keeps: a long run (a soak, a benchmark of thousands of images)
/// must not grow the emulator without bound. `seq` numbers show what was dropped.
pub const LOG_LIMIT: usize = 100_000;

#[derive(Default)]
pub struct Faults {
    pub rules: Vec<Rule>,
    /// The newest [`LOG_LIMIT`] requests, oldest first.
    pub log: VecDeque<LogEntry>,
    pub counters: BTreeMap<String, Counter>,
    seq: u64,
}

/// Matches `name` against a pattern where `*` stands for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| glob(tail, &name[head.len() + i..]))
        }
    }
}

impl Faults {
    /// The latency and action for one call of `route`, consuming counted rules.
    pub fn decide(&mut self, route: &str) -> (Duration, Action) {
        let mut latency = 0;
        let mut action = Action::Serve;
        let now = Instant::now();
        for rule in self.rules.iter_mut().filter(|r| glob(&r.route, route)) {
            if let Some(limit) = rule.per_second {
                if action == Action::Serve && rule.over_quota(limit, now) {
                    action = Action::Answer {
                        status: rule.status.unwrap_or(429),
                        retry_after: rule.retry_after,
                        message: Some(
                            rule.message
                                .clone()
                                .unwrap_or_else(|| quota_message(route, limit)),
                        ),
                        body: rule.body.clone(),
                    };
                }
                continue;
            }
            if let Some(rate) = rule.rate {
                if rand::random::<f64>() >= rate {
                    continue;
                }
            }
            if rule.times == Some(0) {
                continue;
            }
            latency += rule.latency_ms.unwrap_or(0);
            if action == Action::Serve {
                if rule.drop {
                    action = Action::Drop;
                } else if rule.drop_after {
                    action = Action::Lose;
                } else if let Some(status) = rule.status {
                    action = Action::Answer {
                        status,
                        retry_after: rule.retry_after,
                        message: rule.message.clone(),
                        body: rule.body.clone(),
                    };
                }
            }
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
        }
        self.rules.retain(|r| r.times != Some(0));
        if latency > 0 || action != Action::Serve {
            self.counters.entry(route.to_string()).or_default().faults += 1;
        }
        (Duration::from_millis(latency), action)
    }

    pub fn record(&mut self, mut entry: LogEntry) {
        self.seq += 1;
        entry.seq = self.seq;
        let counter = self.counters.entry(entry.route.clone()).or_default();
        counter.calls += 1;
        *counter
            .statuses
            .entry(entry.status.to_string())
            .or_default() += 1;
        if self.log.len() == LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Clears the log and counters (rules stay).
    pub fn reset(&mut self) {
        self.log.clear();
        self.counters.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_route_names() {
        assert!(glob("*", "kms.keyRings.get"));
        assert!(glob("kms.*", "kms.keyRings.get"));
        assert!(glob("*.get", "kms.keyRings.get"));
        assert!(!glob("kms.*", "grafeas.notes.get"));
        assert!(glob("kms.keyRings.get", "kms.keyRings.get"));
    }

    #[test]
    fn counted_faults_fire_n_times_then_retire() {
        let mut f = Faults::default();
        f.rules.push(Rule::parse_fault("kms.*=503x2").unwrap());
        f.rules.push(Rule::parse_latency("*=5").unwrap());
        let answer = Action::Answer {
            status: 503,
            retry_after: None,
            message: None,
            body: None,
        };
        assert_eq!(
            f.decide("kms.sign"),
            (Duration::from_millis(5), answer.clone())
        );
        assert_eq!(
            f.decide("grafeas.x"),
            (Duration::from_millis(5), Action::Serve)
        );
        assert_eq!(f.decide("kms.sign").1, answer);
        assert_eq!(f.decide("kms.sign").1, Action::Serve);
        assert_eq!(f.rules.len(), 1);
        // Every call a rule acted on is counted, the latency-only ones too.
        assert_eq!(f.counters["kms.sign"].faults, 3);
        assert_eq!(f.counters["grafeas.x"].faults, 1);
        f.rules.clear();
        f.decide("grafeas.x");
        assert_eq!(f.counters["grafeas.x"].faults, 1);
    }

    #[test]
    fn a_per_second_quota_serves_its_limit_in_each_window_and_refuses_the_rest() {
        let mut f = Faults::default();
        f.rules.push(Rule {
            route: "kms.*".into(),
            per_second: Some(2),
            ..Rule::default()
        });
        let refused = |a: &Action| matches!(a, Action::Answer { status: 429, message: Some(m), .. } if m.starts_with("Quota exceeded"));
        assert_eq!(f.decide("kms.sign").1, Action::Serve);
        assert_eq!(f.decide("kms.sign").1, Action::Serve);
        assert!(refused(&f.decide("kms.sign").1));
        assert_eq!(
            f.decide("grafeas.list").1,
            Action::Serve,
            "other routes are not counted"
        );
        // A new window serves again.
        let opened = f.rules[0].window.unwrap().0;
        f.rules[0].window = Some((opened - Duration::from_secs(1), 2));
        assert_eq!(f.decide("kms.sign").1, Action::Serve);
        assert_eq!(
            f.counters["kms.sign"].faults, 1,
            "only the refusal is a fault"
        );
    }

    #[test]
    fn fault_flags_parse() {
        let r = Rule::parse_fault("grafeas.occurrences.create=dropx1").unwrap();
        assert!(r.drop && r.times == Some(1));
        let r = Rule::parse_fault("grafeas.occurrences.create=lost").unwrap();
        assert!(r.drop_after && !r.drop);
        let r = Rule::parse_fault("*=429@0.5").unwrap();
        assert_eq!((r.status, r.rate), (Some(429), Some(0.5)));
        assert!(Rule::parse_fault("kms").is_err());
        assert!(Rule::parse_fault("kms=teapot").is_err());
    }
}
