//! The webhook's Prometheus metrics (`GET /metrics`, text format), through the official client
//! (`prometheus-client`): decisions by result and reason, review latency, cache hits and misses,
//! the calls made to registries and to Google, and configuration reloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    result: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    service: &'static str,
    call: &'static str,
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    decisions: Family<Decision, Counter>,
    latency: Histogram,
    cache: Family<Outcome, Counter>,
    calls: Family<Call, Counter>,
    reloads: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The registry and its metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("binauthz_admission");
        let decisions = Family::<Decision, Counter>::default();
        registry.register(
            "decisions",
            "Reviews answered, by result (allowed, denied, dry-run, breakglass, passed, error) and reason",
            decisions.clone(),
        );
        // 0.5 ms to ~16 s: a warm review is well under a millisecond, a cold one a few round
        // trips, and the webhook's timeoutSeconds is at most 30.
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "review_duration_seconds",
            "Time from a review's arrival to its answer",
            latency.clone(),
        );
        let cache = Family::<Outcome, Counter>::default();
        registry.register(
            "cache_lookups",
            "Verification results looked up in the cache, by result (hit, miss)",
            cache.clone(),
        );
        let calls = Family::<Call, Counter>::default();
        registry.register(
            "remote_calls",
            "Calls to registries and Google APIs, by service and call",
            calls.clone(),
        );
        let reloads = Family::<Outcome, Counter>::default();
        registry.register(
            "config_reloads",
            "Policy and attestor reloads after a change, by result (ok, error)",
            reloads.clone(),
        );
        Metrics {
            registry,
            decisions,
            latency,
            cache,
            calls,
            reloads,
        }
    }

    /// One review answered.
    pub fn decision(&self, result: &'static str, reason: &'static str, seconds: f64) {
        self.decisions
            .get_or_create(&Decision { result, reason })
            .inc();
        self.latency.observe(seconds);
    }

    /// One cache lookup.
    pub fn cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&Outcome { result }).inc();
    }

    /// One call to `service` (`registry`, `google`).
    pub fn call(&self, service: &'static str, call: &'static str) {
        self.calls.get_or_create(&Call { service, call }).inc();
    }

    /// One configuration reload.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&Outcome { result }).inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
