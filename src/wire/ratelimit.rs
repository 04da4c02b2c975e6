//! A token bucket on tokio time, for the per-socket and per-endpoint limits of the contracts.

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

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.refill_per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
