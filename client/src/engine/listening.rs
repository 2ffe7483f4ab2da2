//! The listening clock: time during which the shell read what peers send.
//!
//! The shell stops reading peer input while its own disk is behind (the pending-write cap):
//! blocks then wait in socket buffers, and the requests for them look late although every
//! peer sent on time. Whatever judges a peer by time (the endgame's request ages, snub,
//! request and idle timeouts, download rates, the squatting grace) must not count those spells
//! against it; this clock stands still through them.

use std::time::Duration;

/// Wall time less the spells of not reading peer input.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    /// Time spent not reading, over the spells that ended.
    deaf_total: Duration,
    /// When the current spell began, if the shell is not reading now.
    deaf_since: Option<Duration>,
}

impl Listening {
    /// The clock at `now`: it stands still while the shell does not read.
    pub fn clock(&self, now: Duration) -> Duration {
        let until = self.deaf_since.unwrap_or(now).min(now);
        until.saturating_sub(self.deaf_total)
    }

    /// Whether the shell reads peer input now.
    pub fn is_listening(&self) -> bool {
        self.deaf_since.is_none()
    }

    /// The shell reads peer input (`true`) or stops reading it (`false`) from `now` on.
    pub fn set(&mut self, now: Duration, listening: bool) {
        match (self.deaf_since, listening) {
            (None, false) => self.deaf_since = Some(now),
            (Some(since), true) => {
                self.deaf_total += now.saturating_sub(since);
                self.deaf_since = None;
            }
            _ => {}
        }
    }

    /// When the clock, running from `now` without another spell, reaches `at`.
    pub fn wall_time_of(&self, now: Duration, at: Duration) -> Option<Duration> {
        self.is_listening()
            .then(|| now + at.saturating_sub(self.clock(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_clock_stands_still_while_deaf_and_runs_on_after() {
        let mut l = Listening::default();
        assert_eq!(l.clock(ms(100)), ms(100));
        l.set(ms(100), false);
        assert!(!l.is_listening());
        assert_eq!(l.clock(ms(400)), ms(100));
        assert_eq!(l.wall_time_of(ms(400), ms(150)), None);
        l.set(ms(400), true);
        assert_eq!(l.clock(ms(450)), ms(150));
        assert_eq!(l.wall_time_of(ms(450), ms(250)), Some(ms(550)));
        // Repeated calls change nothing; a second spell adds up.
        l.set(ms(450), true);
        l.set(ms(500), false);
        l.set(ms(600), false);
        l.set(ms(700), true);
        assert_eq!(l.clock(ms(700)), ms(200));
        assert_eq!(l.clock(ms(1000)), ms(500));
    }
}
