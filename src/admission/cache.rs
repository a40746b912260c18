//! A bounded cache of verification results with a time to live, shared by every review: one
//! verification per key however many reviews ask for it at once (the first computes, the others
//! wait for its answer), a verified result kept for `ttl`, a refusal for the shorter
//! `refused_ttl` (a signature pushed after a refused deploy counts soon), a failure (the
//! registry or Google did not answer) not kept at all. Hand-written: a map, a lock and
//! `tokio::sync::OnceCell` per entry are all it takes.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// How a computed value is kept.
pub trait Keep {
    /// True for a refusal (kept for the shorter time).
    fn is_refusal(&self) -> bool;
}

struct Entry<V> {
    cell: Arc<OnceCell<V>>,
    created: Instant,
}

/// The cache.
pub struct Cache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    capacity: usize,
    ttl: Duration,
    refused_ttl: Duration,
}

/// Whether the value came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Found (or computed by a concurrent caller).
    Hit,
    /// Computed by this caller.
    Miss,
}

impl<K: Eq + Hash + Clone, V: Clone + Keep> Cache<K, V> {
    /// At most `capacity` entries.
    pub fn new(capacity: usize, ttl: Duration, refused_ttl: Duration) -> Self {
        Cache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
            refused_ttl,
        }
    }

    fn fresh(&self, entry: &Entry<V>, now: Instant) -> bool {
        match entry.cell.get() {
            None => true, // being computed
            Some(v) if v.is_refusal() => now < entry.created + self.refused_ttl,
            Some(_) => now < entry.created + self.ttl,
        }
    }

    /// The value for `key`: cached, or computed by `compute`. An `Err` is not kept.
    pub async fn get_or_compute<E, F, Fut>(&self, key: K, compute: F) -> (Result<V, E>, Lookup)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match entries.get(&key) {
                Some(entry) if self.fresh(entry, now) => {
                    if let Some(v) = entry.cell.get() {
                        return (Ok(v.clone()), Lookup::Hit);
                    }
                    entry.cell.clone()
                }
                _ => {
                    if entries.len() >= self.capacity {
                        self.evict(&mut entries, now);
                    }
                    let cell = Arc::new(OnceCell::new());
                    entries.insert(
                        key.clone(),
                        Entry {
                            cell: cell.clone(),
                            created: now,
                        },
                    );
                    cell
                }
            }
        };
        let mut computed_here = false;
        // A failed computation leaves the cell empty: each caller waiting on it then runs its
        // own `compute`, so the error returned is always this caller's.
        let value = cell
            .get_or_try_init(|| {
                computed_here = true;
                compute()
            })
            .await;
        let lookup = match computed_here {
            true => Lookup::Miss,
            false => Lookup::Hit,
        };
        match value {
            Ok(v) => (Ok(v.clone()), lookup),
            Err(e) => {
                // Forget the entry, unless another caller already replaced it.
                let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                if entries
                    .get(&key)
                    .is_some_and(|e| Arc::ptr_eq(&e.cell, &cell))
                {
                    entries.remove(&key);
                }
                (Err(e), lookup)
            }
        }
    }

    /// Drops expired entries, and the oldest if that freed nothing.
    fn evict(&self, entries: &mut HashMap<K, Entry<V>>, now: Instant) {
        entries.retain(|_, e| self.fresh(e, now));
        while entries.len() >= self.capacity {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    /// Forgets everything (the attestors or the policy changed).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone, Debug, PartialEq)]
    struct V(bool);
    impl Keep for V {
        fn is_refusal(&self) -> bool {
            !self.0
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_computation() {
        let cache: Cache<&str, V> = Cache::new(10, Duration::from_secs(60), Duration::from_secs(1));
        let calls = AtomicUsize::new(0);
        let compute = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok::<_, String>(V(true))
        };
        let (a, b) = tokio::join!(
            cache.get_or_compute("k", compute),
            cache.get_or_compute("k", compute)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(a.0, Ok(V(true)));
        assert_eq!(b.0, Ok(V(true)));
        let lookups = [a.1, b.1];
        assert!(lookups.contains(&Lookup::Miss) && lookups.contains(&Lookup::Hit));
    }

    #[tokio::test]
    async fn refusals_expire_sooner_and_failures_are_not_kept() {
        let cache: Cache<&str, V> = Cache::new(10, Duration::from_secs(60), Duration::from_secs(5));
        let ok = || async { Ok::<_, String>(V(true)) };
        let no = || async { Ok::<_, String>(V(false)) };
        assert_eq!(cache.get_or_compute("ok", ok).await.1, Lookup::Miss);
        assert_eq!(cache.get_or_compute("no", no).await.1, Lookup::Miss);
        let failed = cache
            .get_or_compute("err", || async { Err::<V, _>("down".to_string()) })
            .await;
        assert_eq!(failed.0, Err("down".into()));
        assert_eq!(cache.len(), 2, "the failure is forgotten");
        assert_eq!(cache.get_or_compute("ok", ok).await.1, Lookup::Hit);
        assert_eq!(cache.get_or_compute("no", no).await.1, Lookup::Hit);
        // std's Instant does not follow tokio's paused clock: wait for real, briefly, with a
        // cache whose refusal TTL is short.
        let short: Cache<&str, V> =
            Cache::new(10, Duration::from_secs(60), Duration::from_millis(20));
        let _ = short.get_or_compute("no", no).await;
        let _ = short.get_or_compute("ok", ok).await;
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(short.get_or_compute("no", no).await.1, Lookup::Miss);
        assert_eq!(short.get_or_compute("ok", ok).await.1, Lookup::Hit);
    }

    #[tokio::test]
    async fn it_never_holds_more_than_its_capacity() {
        let cache: Cache<u32, V> = Cache::new(3, Duration::from_secs(60), Duration::from_secs(60));
        for k in 0..10 {
            let _ = cache
                .get_or_compute(k, || async { Ok::<_, String>(V(true)) })
                .await;
        }
        assert!(cache.len() <= 3);
    }
}
