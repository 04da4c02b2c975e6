//! A token bucket on tokio time, for the per-socket and per-endpoint limits of the contracts,
//! and a bounded set of them keyed by who is asking.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// Allows `burst` events at once and refills one every `period / burst`.
#[derive(Debug, Clone)]
pub struct RateLimit {
    capacity: f64,
    refill_per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// `count` events per `period`, with a burst of up to `count`.
    pub fn new(count: u32, period: Duration) -> Self {
        let capacity = f64::from(count.max(1));
        Self {
            capacity,
            refill_per_sec: capacity / period.as_secs_f64().max(1e-3),
            tokens: capacity,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.refill_per_sec).min(self.capacity);
    }

    /// Whether a token is there, without taking it: for budgets spent only on failures.
    pub fn has_token(&mut self) -> bool {
        self.refill();
        self.tokens >= 1.0
    }

    /// Seconds until the next token.
    pub fn wait_secs(&mut self) -> u64 {
        self.refill();
        let missing = (1.0 - self.tokens).max(0.0);
        (missing / self.refill_per_sec).ceil() as u64
    }

    /// Takes `n` tokens if there are that many, else none.
    pub fn try_take_n(&mut self, n: usize) -> bool {
        self.refill();
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely: forgetting it changes nothing, since a new
    /// one starts full.
    fn is_full(&self) -> bool {
        let elapsed = Instant::now().duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.refill_per_sec >= self.capacity
    }
}

/// One [`RateLimit`] per key (a viewer, a client address), made on first use. Keys come from
/// clients, so the map is bounded: at `max_keys`, buckets that have refilled are forgotten,
/// and when every bucket is in use a new key is refused rather than let the map grow.
#[derive(Debug)]
pub struct KeyedRateLimit<K> {
    count: u32,
    period: Duration,
    max_keys: usize,
    limits: HashMap<K, RateLimit>,
}

impl<K: Hash + Eq + Clone> KeyedRateLimit<K> {
    pub fn new(count: u32, period: Duration, max_keys: usize) -> Self {
        Self {
            count,
            period,
            max_keys: max_keys.max(1),
            limits: HashMap::new(),
        }
    }

    /// [`KeyedRateLimit::try_take_n`] on a limit shared behind a mutex (a poisoned one refuses).
    pub fn take_shared(limits: &std::sync::Mutex<Self>, key: &K, n: usize) -> bool {
        limits
            .lock()
            .map(|mut limits| limits.try_take_n(key, n))
            .unwrap_or(false)
    }

    /// Takes one token from `key`'s bucket if there is one.
    pub fn try_take(&mut self, key: &K) -> bool {
        self.try_take_n(key, 1)
    }

    /// Takes `n` tokens from `key`'s bucket if it holds that many, else none.
    pub fn try_take_n(&mut self, key: &K, n: usize) -> bool {
        if let Some(limit) = self.limits.get_mut(key) {
            return limit.try_take_n(n);
        }
        if self.limits.len() >= self.max_keys {
            self.limits.retain(|_, limit| !limit.is_full());
            if self.limits.len() >= self.max_keys {
                return false;
            }
        }
        let mut limit = RateLimit::new(self.count, self.period);
        let allowed = limit.try_take_n(n);
        self.limits.insert(key.clone(), limit);
        allowed
    }
}

/// Clients (addresses, viewers, tokens) whose rate limits are tracked at once per limit; far
/// above a venue's devices, and a bound on what a flood of made-up names can make the box
/// remember.
pub const MAX_RATE_LIMITED_CLIENTS: usize = 10_000;

/// A limit per client that a contract's handlers share (votes per viewer, scans per token):
/// `count` per `period` for each key, at most [`MAX_RATE_LIMITED_CLIENTS`] keys.
#[derive(Debug)]
pub struct PerClient(std::sync::Mutex<KeyedRateLimit<String>>);

impl PerClient {
    pub fn new(count: u32, period: Duration) -> Self {
        Self(std::sync::Mutex::new(KeyedRateLimit::new(
            count,
            period,
            MAX_RATE_LIMITED_CLIENTS,
        )))
    }

    /// Takes `n` from `key`'s budget, or nothing when it has fewer left.
    pub fn take(&self, key: &str, n: usize) -> bool {
        KeyedRateLimit::take_shared(&self.0, &key.to_string(), n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keys_have_their_own_buckets_and_the_map_stays_bounded() {
        let mut limits = KeyedRateLimit::new(2, Duration::from_secs(1), 3);
        assert!(limits.try_take(&"a") && limits.try_take(&"a"));
        assert!(!limits.try_take(&"a"), "a's bucket is empty");
        assert!(limits.try_take(&"b"), "b is not slowed by a");
        assert!(limits.try_take(&"c"));
        // Three keys in use: a fourth is refused until some bucket has refilled.
        assert!(!limits.try_take(&"d"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            limits.try_take(&"d"),
            "refilled buckets were forgotten to make room"
        );
        assert!(limits.limits.len() <= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn allows_the_rate_and_refuses_beyond_it() {
        let mut limit = RateLimit::new(10, Duration::from_secs(1));
        let allowed = (0..15).filter(|_| limit.try_take()).count();
        assert_eq!(allowed, 10);
        tokio::time::advance(Duration::from_millis(500)).await;
        let allowed = (0..15).filter(|_| limit.try_take()).count();
        assert_eq!(allowed, 5);

        let mut slow = RateLimit::new(1, Duration::from_secs(5));
        assert!(slow.try_take());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!slow.try_take());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(slow.try_take());
    }
}
