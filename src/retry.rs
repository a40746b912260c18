//! One retry and timeout policy for every remote call: Google (through the SDK, whose own
//! retries are turned off), the registry and GitHub.
//!
//! Why at our layer: the SDK's backoff policy never sees the response, so it cannot honour
//! `Retry-After`; its retry policy sees the error but not a delay to choose. Retrying here, with
//! the SDK's `NeverRetry`, gives every service the same rules:
//! - retried: connection failures, attempts that time out, 429 and 5xx, and only for calls that
//!   change nothing when repeated (reads, KMS signing, a commit status). Creating an occurrence
//!   is never repeated blindly: `sign` looks before it creates again.
//! - delay: exponential backoff with jitter, or the server's `Retry-After` (seconds or an HTTP
//!   date, RFC 9110 §10.2.3) when it sends one; a `Retry-After` above [`Policy::retry_after_cap`]
//!   stops the call with an error instead of sleeping through the step's budget.
//! - bounds: [`Policy::attempts`] attempts, [`Policy::total`] for all of them, and
//!   [`Policy::attempt_timeout`] for each; a 429 is a request to slow down, not a failure: it
//!   is retried within [`Policy::total`] alone, and with a [`Pace`] it lowers how many calls
//!   are in flight (`pace.rs`).
//!
//! Each call in flight is also recorded (see [`in_flight`]) so that when the whole command runs
//! out of time, the error names what it was waiting for.

use crate::pace::Pace;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The limits every remote call runs under.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The backoff before the second attempt; doubled after each failure.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// Time for all attempts of one call, waits included.
    pub total: Duration,
    /// The longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Time for one attempt (connect, send, answer).
    pub attempt_timeout: Duration,
}

/// The policy of every remote call.
pub const POLICY: Policy = Policy {
    attempts: 4,
    initial_backoff: Duration::from_millis(200),
    max_backoff: Duration::from_secs(5),
    total: Duration::from_secs(60),
    retry_after_cap: Duration::from_secs(30),
    // Half the total: a hung first attempt still leaves time for a second.
    attempt_timeout: Duration::from_secs(30),
};

/// How one failed attempt counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Retrying cannot help (a 4xx, a refused request).
    Permanent,
    /// Retrying may help; `retry_after` is the server's own delay when it sent one.
    Transient {
        /// The parsed `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A 429: the server refused the call before running it (RESOURCE_EXHAUSTED, "Too Many
    /// Requests"), so any call may be sent again, a create too. It slows the service's
    /// [`Pace`] and does not count against [`Policy::attempts`]: only [`Policy::total`] bounds
    /// a call the server keeps throttling.
    Throttled {
        /// The parsed `Retry-After`.
        retry_after: Option<Duration>,
    },
}

/// Why a call stopped without an answer.
#[derive(Debug)]
pub enum Stopped<E> {
    /// The last attempt's error: permanent, or transient with no attempts or time left.
    Failed(E),
    /// The server asked to wait longer than [`Policy::retry_after_cap`].
    RetryAfterTooLong {
        /// What it asked for.
        after: Duration,
        /// Its answer.
        error: E,
    },
    /// The last attempt got no answer within [`Policy::attempt_timeout`].
    TimedOut(Duration),
}

impl Policy {
    /// What to do after attempt `attempt` (1-based) failed transiently, `elapsed` into the call:
    /// the wait before the next attempt, or None when attempts or time are spent.
    pub fn next_wait(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        self.wait_throttled(attempt, elapsed, retry_after, jitter)
    }

    /// After the `throttled`th 429 of a call: the wait before sending it again, bounded by
    /// [`Policy::total`] alone.
    pub fn wait_throttled(
        &self,
        throttled: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let wait = retry_after.unwrap_or_else(|| self.backoff(throttled, jitter));
        (elapsed + wait <= self.total).then_some(wait)
    }

    /// The backoff after the `step`th failure in a row (1-based): doubling from
    /// [`Policy::initial_backoff`] up to [`Policy::max_backoff`], with "equal jitter" (half
    /// fixed, half random), so clients that failed together spread out without ever retrying
    /// at once.
    pub fn backoff(&self, step: u32, jitter: f64) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1 << (step.max(1) - 1).min(16));
        doubled
            .min(self.max_backoff)
            .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past
/// means now; anything else is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Runs `call` under [`POLICY`]. `what` names the call for errors ("KMS asymmetricSign
/// projects/..."); `classify` says whether a failure may be retried. Calls that are not
/// `idempotent` are attempted once (unless throttled: [`Failure::Throttled`]).
pub async fn run<T, E, F, Fut>(
    what: &str,
    idempotent: bool,
    classify: impl Fn(&E) -> Failure,
    call: F,
) -> Result<T, Stopped<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    run_paced(None, what, idempotent, classify, call).await
}

/// [`run`], each attempt admitted by `pace` first (the wait for a place is not part of the
/// attempt's time) and its answer reported to it.
pub async fn run_paced<T, E, F, Fut>(
    pace: Option<&Pace>,
    what: &str,
    idempotent: bool,
    classify: impl Fn(&E) -> Failure,
    mut call: F,
) -> Result<T, Stopped<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let _in_flight = InFlight::start(what);
    let started = tokio::time::Instant::now();
    // Failed attempts (they count against `POLICY.attempts`) and 429s (they do not).
    let (mut failed, mut throttled) = (0, 0);
    // Time spent waiting for a place is the batch's, not the call's: `--timeout` bounds it.
    let mut queued = Duration::ZERO;
    let spent = |queued: Duration| started.elapsed().saturating_sub(queued);
    loop {
        let permit = match pace {
            Some(pace) => {
                let asked = tokio::time::Instant::now();
                let permit = pace.admit().await;
                queued += asked.elapsed();
                Some(permit)
            }
            None => None,
        };
        // Each attempt gets what is left of the call's total, so "`attempts` in `total`" holds
        // even when an attempt hangs (tokio's clock: paused in the tests).
        let limit = POLICY
            .attempt_timeout
            .min(POLICY.total.saturating_sub(spent(queued)));
        let (failure, stopped) = match tokio::time::timeout(limit, call()).await {
            Ok(Ok(answer)) => {
                if let Some(permit) = permit {
                    permit.answered(false);
                }
                return Ok(answer);
            }
            Ok(Err(error)) => (classify(&error), Stopped::Failed(error)),
            Err(_) => (
                Failure::Transient { retry_after: None },
                Stopped::TimedOut(limit),
            ),
        };
        let is_throttled = matches!(failure, Failure::Throttled { .. });
        if let Some(permit) = permit {
            permit.answered(is_throttled);
        }
        let (retry_after, wait) = match failure {
            Failure::Permanent => return Err(stopped),
            Failure::Transient { .. } if !idempotent => return Err(stopped),
            Failure::Transient { retry_after } => {
                failed += 1;
                let wait = POLICY.next_wait(failed, spent(queued), retry_after, fastrand::f64());
                (retry_after, wait)
            }
            Failure::Throttled { retry_after } => {
                throttled += 1;
                let wait =
                    POLICY.wait_throttled(throttled, spent(queued), retry_after, fastrand::f64());
                (retry_after, wait)
            }
        };
        let stopped = match (retry_after, stopped) {
            (Some(after), Stopped::Failed(error)) if after > POLICY.retry_after_cap => {
                return Err(Stopped::RetryAfterTooLong { after, error })
            }
            (_, stopped) => stopped,
        };
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(stopped),
        }
    }
}

/// Calls under way, oldest first, so a command that runs out of time can say what it was
/// waiting for.
static IN_FLIGHT: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());

/// The oldest call still waiting for an answer, if any.
pub fn in_flight() -> Option<String> {
    let calls = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
    calls.first().map(|(_, what)| what.clone())
}

/// Records a call for as long as it lives.
struct InFlight(u64);

impl InFlight {
    fn start(what: &str) -> InFlight {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut calls = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        calls.push((id, what.to_string()));
        InFlight(id)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut calls = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        calls.retain(|(id, _)| *id != self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_answers_stops_within_the_documented_total() {
        let start = tokio::time::Instant::now();
        let mut attempts = 0;
        let stopped: Result<(), Stopped<()>> = run(
            "a hung call",
            true,
            |_| Failure::Transient { retry_after: None },
            || {
                attempts += 1;
                std::future::pending()
            },
        )
        .await;
        assert!(matches!(stopped, Err(Stopped::TimedOut(_))), "{stopped:?}");
        assert!(start.elapsed() <= POLICY.total, "{:?}", start.elapsed());
        assert!((2..=POLICY.attempts).contains(&attempts), "{attempts}");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_calls_stop_at_the_attempt_bound_within_the_total() {
        let start = tokio::time::Instant::now();
        let mut attempts = 0;
        let stopped: Result<(), Stopped<&str>> = run(
            "a failing call",
            true,
            |_| Failure::Transient { retry_after: None },
            || {
                attempts += 1;
                async { Err("503") }
            },
        )
        .await;
        assert!(matches!(stopped, Err(Stopped::Failed("503"))));
        assert_eq!(attempts, POLICY.attempts);
        assert!(start.elapsed() <= POLICY.total);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_maximum() {
        let p = POLICY;
        assert_eq!(p.next_wait(1, Duration::ZERO, None, 1.0), Some(200 * MS));
        assert_eq!(p.next_wait(1, Duration::ZERO, None, 0.0), Some(100 * MS));
        assert_eq!(p.next_wait(3, Duration::ZERO, None, 1.0), Some(800 * MS));
        let long = Policy {
            attempts: 20,
            ..POLICY
        };
        assert_eq!(
            long.next_wait(12, Duration::ZERO, None, 1.0),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn retry_after_replaces_the_backoff() {
        let wait = POLICY.next_wait(1, Duration::ZERO, Some(Duration::from_secs(2)), 0.3);
        assert_eq!(wait, Some(Duration::from_secs(2)));
    }

    #[test]
    fn attempts_and_total_time_are_bounded() {
        assert_eq!(POLICY.next_wait(4, Duration::ZERO, None, 0.5), None);
        let late = POLICY.total - 50 * MS;
        assert_eq!(POLICY.next_wait(1, late, None, 1.0), None);
        assert_eq!(
            POLICY.next_wait(1, late, Some(Duration::from_secs(1)), 1.0),
            None
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Tue, 01 Dec 2026 12:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_permanent_ones_are_not() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let classify = |e: &u16| match e {
            503 => Failure::Transient { retry_after: None },
            _ => Failure::Permanent,
        };
        let answer = run("test call", true, classify, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(503)
                } else {
                    Ok("done")
                }
            }
        })
        .await;
        assert_eq!(answer.ok(), Some("done"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);

        let calls = std::sync::atomic::AtomicU32::new(0);
        let refused = run("test call", true, classify, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<(), u16>(404) }
        })
        .await;
        assert!(matches!(refused, Err(Stopped::Failed(404))));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_that_are_not_idempotent_are_attempted_once() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let classify = |_: &u16| Failure::Transient { retry_after: None };
        let answer = run("create", false, classify, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<(), u16>(503) }
        })
        .await;
        assert!(matches!(answer, Err(Stopped::Failed(503))));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_call_is_sent_again_past_the_attempts_until_the_total_and_slows_its_pace() {
        let pace = Pace::new();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let classify = |e: &u16| match e {
            429 => Failure::Throttled { retry_after: None },
            _ => Failure::Transient { retry_after: None },
        };
        // A create (not idempotent) throttled 6 times: sent again each time, then answered.
        let answer = run_paced(Some(&pace), "create", false, classify, || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move {
                if n < 6 {
                    Err(429)
                } else {
                    Ok("created")
                }
            }
        })
        .await;
        assert_eq!(answer.ok(), Some("created"));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 7);
        assert_eq!(
            pace.limit_and_cuts().1,
            6,
            "each 429 of a new generation cut the limit"
        );

        // Throttled for good: stopped by the total, not by the attempts.
        let start = tokio::time::Instant::now();
        let calls = std::sync::atomic::AtomicU32::new(0);
        let stopped = run_paced(Some(&pace), "read", true, classify, || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Err::<(), u16>(429) }
        })
        .await;
        assert!(matches!(stopped, Err(Stopped::Failed(429))));
        assert!(calls.load(std::sync::atomic::Ordering::SeqCst) > POLICY.attempts);
        assert!(start.elapsed() <= POLICY.total && start.elapsed() > POLICY.total / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_over_the_cap_stops_instead_of_sleeping() {
        let classify = |_: &u16| Failure::Transient {
            retry_after: Some(Duration::from_secs(3600)),
        };
        let answer = run("read", true, classify, || async { Err::<(), u16>(429) }).await;
        assert!(matches!(
            answer,
            Err(Stopped::RetryAfterTooLong { after, error: 429 }) if after == Duration::from_secs(3600)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_attempt_times_out_and_the_call_is_named_while_it_waits() {
        let waiting = run(
            "KMS getPublicKey k",
            true,
            |_: &u16| Failure::Permanent,
            std::future::pending::<Result<(), u16>>,
        );
        tokio::pin!(waiting);
        tokio::select! {
            _ = &mut waiting => panic!("a pending call cannot finish"),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let calls = IN_FLIGHT.lock().unwrap().clone();
        assert!(calls.iter().any(|(_, what)| what == "KMS getPublicKey k"));
        assert!(matches!(waiting.await, Err(Stopped::TimedOut(_))));
    }
}
