//! A token bucket for a seeder's upload rate, shared by its connections.
//!
//! Unlike a limiter that sleeps inside `consume`, this one answers "when may I send?" without
//! side effects, so a connection can wait for it inside a `select!` while still reading
//! requests and cancels, and only takes tokens once it commits to sending.

use std::sync::Mutex;
use std::time::Duration;

use bitswarm_client::BLOCK_LEN;
use tokio::time::Instant;

/// Bytes per second with a small burst allowance.
#[derive(Debug)]
pub struct Bucket {
    /// The long-run rate in bytes per second (at least 1).
    rate: f64,
    /// The most tokens that can pile up while idle: a quarter second of traffic, and at least
    /// one block message, so the first block never waits.
    burst: f64,
    /// Tokens (negative: debt) and when they were last topped up.
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A bucket for `rate` bytes per second, starting full.
    pub fn new(rate: u64) -> Bucket {
        let rate = rate.max(1) as f64;
        let burst = (rate / 4.0).max(f64::from(BLOCK_LEN) + 13.0);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Tops up the tokens to `now` and returns them.
    fn refill(&self, now: Instant) -> std::sync::MutexGuard<'_, (f64, Instant)> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *state;
        let earned = now.saturating_duration_since(*last).as_secs_f64() * self.rate;
        *tokens = (*tokens + earned).min(self.burst);
        *last = now;
        state
    }

    /// When sending may go on: now if the bucket is not in debt, else when the debt is paid.
    pub fn ready_at(&self) -> Instant {
        let now = Instant::now();
        let tokens = self.refill(now).0;
        if tokens >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-tokens / self.rate)
        }
    }

    /// Takes `bytes` tokens (possibly into debt, which later senders wait out).
    pub fn take(&self, bytes: usize) {
        self.refill(Instant::now()).0 -= bytes as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn long_run_rate_is_the_limit() {
        let bucket = Bucket::new(100_000);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < 1_000_000 {
            tokio::time::sleep_until(bucket.ready_at()).await;
            bucket.take(10_000);
            sent += 10_000;
        }
        // 1 MB at 100 kB/s, less the initial burst (25 kB) and the last send's debt (10 kB).
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(9_600), "{took:?}");
        assert!(took <= Duration::from_millis(10_000), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_at_has_no_side_effect() {
        let bucket = Bucket::new(1000);
        bucket.take(20_000);
        let first = bucket.ready_at();
        assert_eq!(bucket.ready_at(), first);
        assert!(first > Instant::now());
    }
}
