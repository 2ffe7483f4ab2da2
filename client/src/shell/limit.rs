//! The project's one token bucket: the client's rate caps (`--max-down`) and the synthetic
//! seeders' upload `rate` both use [`RateLimiter`].
//!
//! It serves two styles of caller:
//! - A reader that has already moved the bytes calls [`RateLimiter::consume`], which takes them
//!   and sleeps off any debt; while it sleeps it does not read, so TCP's flow control slows the
//!   sender.
//! - A writer that must go on reading while it waits (a `select!` loop that still sees cancels
//!   and chokes) sleeps until [`RateLimiter::ready_at`], which has no side effect, and calls
//!   [`RateLimiter::take`] only once it commits to sending.
//!
//! Either way a message is never split or refused: the bucket may go into debt, and whoever
//! comes next waits until the debt is paid. Waiting instead until `n` tokens are in would need
//! a burst of at least the largest message, or that message could never pass; with debt the
//! long-run rate is exact whatever the message size, and a rate below one block still moves
//! whole blocks, one per `block / rate` seconds.
//!
//! Time is `tokio::time` only, so turmoil and paused tokio time drive the bucket exactly as
//! they drive everything else, and a simulation replays by seed.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::BLOCK_LEN;

/// The largest message a cap normally meters: a `piece` message carrying a full block (length
/// prefix 4, id 1, index 4, begin 4, then the block).
const BLOCK_MESSAGE_LEN: f64 = BLOCK_LEN as f64 + 13.0;

/// Bytes per second, shared (through an `Arc`) by every connection under one cap.
///
/// The long-run rate is exact: over any span `t` during which callers keep asking, at most
/// `burst + rate * t` bytes are taken, plus one message per caller that is still paying its
/// debt off, and no less than `burst + rate * t` minus what a timer's granularity (1 ms of
/// rate) holds back.
#[derive(Debug)]
pub struct RateLimiter {
    /// The long-run rate in bytes per second (at least 1), as a float for the token
    /// arithmetic.
    rate: f64,
    /// The most tokens that pile up while idle: a quarter second of traffic, and at least one
    /// block message.
    ///
    /// A quarter second absorbs the jitter of several connections finishing their reads and
    /// writes at slightly different moments, which would otherwise lose rate whenever the
    /// bucket sat full; yet it adds at most a quarter second of traffic to any span: 5% over
    /// the five seconds a rate display averages, under 1% over the 30 s the accuracy
    /// requirement speaks of.
    ///
    /// The floor of one block message (16 KiB + 13) matters below 64 KiB/s, where a quarter
    /// second is less than a block: an idle bucket then still lets one whole block go at once,
    /// so the wait falls between blocks instead of before the first one. (Debt, not the floor,
    /// is what lets a block pass at all; see the module documentation.)
    burst: f64,
    /// The tokens, and when they were last topped up.
    state: Mutex<Tokens>,
}

/// The mutable part of a [`RateLimiter`].
#[derive(Debug)]
struct Tokens {
    /// Bytes that may go now; negative while in debt.
    available: f64,
    /// When `available` was last topped up.
    at: Instant,
}

impl RateLimiter {
    /// A bucket for `rate` bytes per second (0 counts as 1), starting full.
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1) as f64;
        let burst = (rate / 4.0).max(BLOCK_MESSAGE_LEN);
        RateLimiter {
            rate,
            burst,
            state: Mutex::new(Tokens {
                available: burst,
                at: Instant::now(),
            }),
        }
    }

    /// Accounts for `bytes` just transferred and waits until the debt, this caller's and
    /// everyone's before it, is paid.
    pub async fn consume(&self, bytes: usize) {
        let now = Instant::now();
        let ready = {
            let mut tokens = self.refill(now);
            tokens.available -= bytes as f64;
            self.ready_from(&tokens, now)
        };
        if ready > now {
            tokio::time::sleep_until(ready).await;
        }
    }

    /// When at least one byte may go: now if the bucket is not in debt, else when the debt is
    /// paid. Asking changes nothing, so a `select!` may ask on every turn.
    pub fn ready_at(&self) -> Instant {
        let now = Instant::now();
        let tokens = self.refill(now);
        self.ready_from(&tokens, now)
    }

    /// Takes `bytes` tokens, into debt if there are not enough; later callers wait it out.
    pub fn take(&self, bytes: usize) {
        self.refill(Instant::now()).available -= bytes as f64;
    }

    /// Tops the tokens up to `now` (at most to the burst) and hands them over locked.
    fn refill(&self, now: Instant) -> MutexGuard<'_, Tokens> {
        // The lock guards two numbers that every update leaves consistent, so a panic
        // elsewhere while holding it cannot have broken them: poisoning is ignored.
        let mut tokens = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let earned = now.saturating_duration_since(tokens.at).as_secs_f64() * self.rate;
        tokens.available = (tokens.available + earned).min(self.burst);
        tokens.at = now;
        tokens
    }

    /// When `tokens`, topped up at `now`, are out of debt.
    fn ready_from(&self, tokens: &Tokens, now: Instant) -> Instant {
        if tokens.available >= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64(-tokens.available / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    /// What readers and seeders meter per block: a `piece` message carrying 16 KiB.
    const MSG: usize = BLOCK_MESSAGE_LEN as usize;

    /// The span the accuracy requirement speaks of.
    const WINDOW: Duration = Duration::from_secs(30);

    #[derive(Debug, Clone, Copy)]
    enum Style {
        /// `consume` after each message, as the connection reader does.
        Consume,
        /// `ready_at` then `take`, as the seeders' serving loop does.
        ReadyTake,
    }

    /// What `tasks` tasks sharing one bucket at `rate` got through in `window`, each sending
    /// block messages as fast as the bucket lets it, and the bucket's burst. A message counts
    /// once its tokens are taken before the window ends.
    async fn metered(rate: u64, tasks: usize, style: Style, window: Duration) -> (f64, f64) {
        let limiter = Arc::new(RateLimiter::new(rate));
        let burst = limiter.burst;
        let total = Arc::new(AtomicU64::new(0));
        let end = Instant::now() + window;
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (limiter, total) = (Arc::clone(&limiter), Arc::clone(&total));
                tokio::spawn(async move {
                    loop {
                        if let Style::ReadyTake = style {
                            tokio::time::sleep_until(limiter.ready_at()).await;
                        }
                        if Instant::now() >= end {
                            break;
                        }
                        total.fetch_add(MSG as u64, Ordering::Relaxed);
                        match style {
                            Style::Consume => limiter.consume(MSG).await,
                            Style::ReadyTake => limiter.take(MSG),
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task ran");
        }
        (total.load(Ordering::Relaxed) as f64, burst)
    }

    /// Checks one run against the rate: within 5% of `rate * window` once the initial burst
    /// is counted, and inside the bounds the type promises (at most one message per task of
    /// debt over, at most a millisecond of rate under). Returns the relative error.
    async fn check(rate: u64, tasks: usize, style: Style, window: Duration) -> f64 {
        let (total, burst) = metered(rate, tasks, style, window).await;
        let allowed = rate as f64 * window.as_secs_f64();
        let expected = burst + allowed;
        let error = (total - expected) / allowed;
        println!(
            "{style:?} rate {rate} B/s, {tasks} tasks, {window:?}: {total} bytes, expected \
             {expected} (burst {burst}), error {:+.3}%",
            error * 100.0
        );
        assert!(
            total <= expected + (tasks * MSG) as f64,
            "{total} > {expected} + debt"
        );
        assert!(
            total >= expected - rate as f64 / 1000.0,
            "{total} < {expected} - 1 ms"
        );
        error
    }

    #[tokio::test(start_paused = true)]
    async fn shared_consumers_hold_the_rate_over_30s() {
        for (rate, tasks) in [(50_000, 2), (100_000, 4), (1_000_000, 4), (10 << 20, 8)] {
            let error = check(rate, tasks, Style::Consume, WINDOW).await;
            assert!(error.abs() <= 0.05, "rate {rate}: {error}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shared_ready_take_holds_the_rate_over_30s() {
        for (rate, tasks) in [(50_000, 2), (100_000, 4), (1_000_000, 4), (10 << 20, 8)] {
            let error = check(rate, tasks, Style::ReadyTake, WINDOW).await;
            assert!(error.abs() <= 0.05, "rate {rate}: {error}");
        }
    }

    /// At 4 KiB/s a block message takes four seconds of tokens: blocks still pass, whole, and
    /// 30 s holds only seven or eight of them, so there the count is right to within one
    /// message per task; over ten minutes the rate is within 5%.
    #[tokio::test(start_paused = true)]
    async fn a_rate_below_one_block_still_moves_blocks() {
        for style in [Style::Consume, Style::ReadyTake] {
            check(4096, 2, style, WINDOW).await;
            let error = check(4096, 2, style, Duration::from_secs(600)).await;
            assert!(error.abs() <= 0.05, "{style:?}: {error}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn blocks_below_the_rate_are_spaced_by_block_over_rate() {
        let limiter = RateLimiter::new(4096);
        let start = Instant::now();
        // The burst lets the first block go at once.
        limiter.consume(MSG).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            limiter.consume(MSG).await;
        }
        // Ten blocks' worth of debt, each paid off before the next is taken; the timer wheel
        // rounds each wait up to a millisecond.
        let ideal = Duration::from_secs_f64(10.0 * MSG as f64 / 4096.0);
        let took = start.elapsed();
        assert!(
            took >= ideal && took <= ideal + Duration::from_millis(10),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ready_at_has_no_side_effect() {
        let limiter = RateLimiter::new(1000);
        limiter.take(20_000);
        let first = limiter.ready_at();
        assert_eq!(limiter.ready_at(), first);
        assert!(first > Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_fills_only_to_the_burst() {
        let limiter = RateLimiter::new(100_000);
        assert_eq!(limiter.burst, 25_000.0);
        tokio::time::sleep(Duration::from_secs(60)).await;
        // A minute idle buys a quarter second, not a minute: the burst, then the rate.
        limiter.take(25_000);
        assert_eq!(limiter.ready_at(), Instant::now());
        limiter.take(10_000);
        assert_eq!(
            limiter.ready_at(),
            Instant::now() + Duration::from_millis(100)
        );
    }

    #[test]
    fn the_burst_holds_at_least_one_block_message() {
        assert_eq!(RateLimiter::new(0).burst, BLOCK_MESSAGE_LEN);
        assert_eq!(RateLimiter::new(4096).burst, 16_397.0);
        assert_eq!(RateLimiter::new(1 << 20).burst, 262_144.0);
    }

    #[test]
    fn is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        fn sendable<T: Send>(_: &T) {}
        shareable::<RateLimiter>();
        // The future holds no lock across its sleep, so a connection task may own it.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let limiter = RateLimiter::new(1);
        sendable(&limiter.consume(1));
    }
}
