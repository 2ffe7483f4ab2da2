//! A shared token bucket that caps a torrent's download rate (`--max-down`).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Bytes per second shared by every connection of a torrent. Readers take what they read and
/// sleep off any debt, so the long-run rate never exceeds the limit and TCP's flow control
/// slows the senders.
#[derive(Debug)]
pub struct RateLimiter {
    rate: u64,
    /// How far ahead of the rate a burst may run: a quarter second of traffic.
    burst: f64,
    /// Available tokens (negative: debt) and when they were last topped up.
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter for `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1);
        let burst = (rate as f64 / 4.0).max(16.0 * 1024.0);
        RateLimiter {
            rate,
            burst,
            state: Mutex::new((burst, tokio::time::Instant::now())),
        }
    }

    /// Accounts for `bytes` just transferred and waits until the rate allows more.
    pub async fn consume(&self, bytes: usize) {
        let wait = {
            let Ok(mut state) = self.state.lock() else {
                return;
            };
            let now = tokio::time::Instant::now();
            let (tokens, last) = &mut *state;
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate as f64)
                .min(self.burst);
            *last = now;
            *tokens -= bytes as f64;
            if *tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-*tokens / self.rate as f64)
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn long_run_rate_stays_under_the_limit() {
        let limiter = RateLimiter::new(100_000);
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            limiter.consume(10_000).await;
        }
        // 1 MB at 100 kB/s, less the initial burst of 25 kB: at least 9.75 s.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(9_700), "{took:?}");
        assert!(took <= Duration::from_millis(10_100), "{took:?}");
    }
}
