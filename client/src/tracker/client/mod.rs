//! The tracker client: announcing to HTTP and UDP trackers over [`Net`](crate::net::Net), and
//! walking a torrent's tiers (BEP 12) until one tracker answers.
//!
//! [`Announcer`] is what the shell uses: it owns the tiers, every tracker's session state (UDP
//! connection ids, HTTP tracker ids, the intervals last announced) and the session's `key`, and
//! turns "some trackers are down" into log lines rather than errors. [`http`] and [`udp`] speak
//! to one tracker each and can be used alone.
//!
//! **Architecture Invariant:** nothing here names `tokio::net`; time is `tokio::time` only and
//! randomness comes from the caller's seeded RNG, so the same code runs in the simulator.

mod announcer;
mod error;
pub mod http;
mod tiers;
pub mod udp;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use announcer::Announcer;
pub use error::{AnnounceError, Error};
pub use tiers::{Endpoint, Tiers, Tracker};

/// The most trackers (distinct usable URLs over all tiers) a torrent's announcer uses. Popular
/// public torrents list a few dozen; a torrent listing thousands would otherwise cost a socket,
/// a resolution and up to a minute of retransmissions each per round. Later ones are ignored.
pub const MAX_TRACKERS: usize = 64;

/// How long an HTTP announce or scrape may take, connection and TLS included. Trackers answer in
/// well under a second when healthy; 20 s leaves room for a slow network without letting one
/// dead tracker hold up the rest of its tier for long.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends of each UDP request before moving on to the next tracker: 2 means waiting 15 s, then
/// 30 s (BEP 15's first two timeouts), so a dead UDP tracker costs 45 s. BEP 15's full schedule
/// (nine sends over about two hours) suits a daemon that has nowhere else to go, not a command
/// line user waiting for a download to start while the tier's other trackers could answer.
pub const UDP_ATTEMPTS: u32 = 2;

/// The bound on one UDP announce or scrape to one tracker, reconnection included. A lone UDP
/// tracker (the torrent's only one) follows BEP 15's full schedule, cut here: 225 s = 15 + 30 +
/// 60 + 120, so four sends, after which the caller's failure backoff takes over.
pub const UDP_MAX_WAIT: Duration = Duration::from_secs(225);

/// The bound on a whole `stopped` announce. It is a courtesy to the tracker on the way out, and
/// must never make exit slow.
pub const STOPPED_TIMEOUT: Duration = Duration::from_secs(5);

/// The re-announce interval when no tracker has said one: 30 minutes, the common tracker
/// default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30 * 60);

/// The shortest re-announce interval we follow, whatever the tracker says: a tracker asking for
/// less is broken or hostile, and hammering it helps nobody.
pub const MIN_INTERVAL_FLOOR: Duration = Duration::from_secs(30);

/// The longest re-announce interval we follow: past an hour, the peer list goes stale, and a
/// tracker's huge `min interval` is capped here too.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// The wait before retrying after a round in which every tracker failed; doubled after each
/// further failed round, up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_secs(15);

/// The longest wait between failed rounds: trackers that are down for a while are still retried
/// twice an hour.
pub const RETRY_MAX: Duration = Duration::from_secs(30 * 60);

/// The tracker client's policy knobs; [`Config::default`] holds the values documented on the
/// constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The bound on one HTTP request.
    pub http_timeout: Duration,
    /// Sends of each UDP request when the torrent has other trackers to fall back on. A lone
    /// UDP tracker gets BEP 15's full schedule instead, bounded by `udp_max_wait`.
    pub udp_attempts: u32,
    /// The bound on one UDP announce or scrape to one tracker.
    pub udp_max_wait: Duration,
    /// The bound on a whole `stopped` announce round.
    pub stopped_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            http_timeout: HTTP_TIMEOUT,
            udp_attempts: UDP_ATTEMPTS,
            udp_max_wait: UDP_MAX_WAIT,
            stopped_timeout: STOPPED_TIMEOUT,
        }
    }
}
