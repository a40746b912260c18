//! How many calls to one service are in flight at once, adapted to what the service says
//! (additive increase, multiplicative decrease, as TCP's congestion control): every answer that
//! is not a 429 lets one more call in over `limit` answers, a 429 halves the limit, once per
//! generation of calls (the 429s of calls sent before the last cut do not cut again).
//!
//! Why: Google publishes per-project quotas as queries per minute but enforces some by the
//! second (Cloud KMS: "hosting project quotas are enforced by the second ... you receive a
//! RESOURCE_EXHAUSTED error", https://cloud.google.com/kms/quotas) and publishes no number for
//! Container Analysis ("limits the maximum rate of incoming requests and enforces quotas
//! per-project", https://cloud.google.com/artifact-analysis/quotas). So the batch starts with as
//! many calls in flight as `--concurrency` allows and lets the 429s say where the quota is.

use std::sync::Mutex;
use tokio::sync::Notify;

/// The lowest limit: one call at a time always goes.
const FLOOR: f64 = 1.0;
/// The highest: well above any `--concurrency` a batch runs with, so only 429s bind.
const CEILING: f64 = 1024.0;

/// The in-flight limit of one service.
pub struct Pace {
    state: Mutex<State>,
    freed: Notify,
}

struct State {
    limit: f64,
    in_flight: usize,
    /// Bumped at each cut; a permit remembers the generation it was issued in.
    generation: u64,
    cuts: u64,
}

/// A call's place in flight; give it back with [`Permit::answered`].
pub struct Permit<'a> {
    pace: &'a Pace,
    generation: u64,
    done: bool,
}

impl Pace {
    /// A limit that starts at the ceiling.
    pub const fn new() -> Pace {
        Pace {
            state: Mutex::new(State {
                limit: CEILING,
                in_flight: 0,
                generation: 0,
                cuts: 0,
            }),
            freed: Notify::const_new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a call may go.
    pub async fn admit(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a permit given back in between wakes us.
            freed.as_mut().enable();
            {
                let mut state = self.state();
                if (state.in_flight as f64) < state.limit.floor() {
                    state.in_flight += 1;
                    return Permit {
                        pace: self,
                        generation: state.generation,
                        done: false,
                    };
                }
            }
            freed.await;
        }
    }

    /// The current limit and how many times a 429 has cut it.
    #[cfg(test)]
    pub(crate) fn limit_and_cuts(&self) -> (usize, u64) {
        let state = self.state();
        (state.limit.floor() as usize, state.cuts)
    }
}

impl Default for Pace {
    fn default() -> Pace {
        Pace::new()
    }
}

impl Permit<'_> {
    /// The call was answered: `throttled` when the answer was a 429.
    pub fn answered(mut self, throttled: bool) {
        self.done = true;
        let mut state = self.pace.state();
        state.in_flight -= 1;
        if throttled {
            if self.generation == state.generation {
                state.limit = (state.limit / 2.0).max(FLOOR);
                state.generation += 1;
                state.cuts += 1;
            }
        } else {
            state.limit = (state.limit + 1.0 / state.limit).min(CEILING);
        }
        drop(state);
        self.pace.freed.notify_waiters();
    }
}

impl Drop for Permit<'_> {
    /// A call abandoned before its answer (a timeout, a cancelled batch) frees its place alone.
    fn drop(&mut self) {
        if !self.done {
            self.pace.state().in_flight -= 1;
            self.pace.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_429_halves_the_limit_once_per_generation_and_answers_grow_it_back() {
        let pace = Pace::new();
        let early: Vec<Permit> = futures_util::future::join_all((0..3).map(|_| pace.admit())).await;
        let mut early = early.into_iter();
        early.next().unwrap().answered(true);
        assert_eq!(pace.limit_and_cuts(), (512, 1));
        // Sent before the cut: their 429s are the same burst, not a new signal.
        early.next().unwrap().answered(true);
        assert_eq!(pace.limit_and_cuts(), (512, 1));
        pace.admit().await.answered(true);
        assert_eq!(pace.limit_and_cuts(), (256, 2));
        drop(early);
        // About one more per limit's worth of answers.
        for _ in 0..258 {
            pace.admit().await.answered(false);
        }
        assert_eq!(pace.limit_and_cuts().0, 257);
    }

    #[tokio::test]
    async fn the_limit_never_falls_below_one_and_a_freed_place_wakes_a_waiter() {
        let pace = Pace::new();
        for _ in 0..20 {
            pace.admit().await.answered(true);
        }
        assert_eq!(pace.limit_and_cuts().0, 1);
        let first = pace.admit().await;
        let second = pace.admit();
        tokio::pin!(second);
        assert!(
            futures_util::FutureExt::now_or_never(second.as_mut()).is_none(),
            "at the limit, the next call waits"
        );
        first.answered(false);
        let second = second.await;
        drop(second);
        assert_eq!(
            pace.state().in_flight,
            0,
            "a dropped permit frees its place"
        );
    }
}
