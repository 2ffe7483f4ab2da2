//! [`Announcer`]: one torrent's trackers for a session. It walks the tiers (BEP 12), keeps each
//! tracker's state between announces, and decides when to announce next.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::timeout;
use tracing::{debug, warn};

use super::tiers::{Endpoint, Tiers, Tracker};
use super::udp::{self, Limits};
use super::{
    http, AnnounceError, Config, Error, DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL_FLOOR,
    RETRY_FIRST, RETRY_MAX,
};
use crate::net::Net;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event, ScrapeStats};
use crate::InfoHash;

/// A torrent's trackers and what we remember about them during a session.
pub struct Announcer<N: Net> {
    /// The network every request goes through.
    net: N,
    /// The tiers, in the order they are tried, reordered as trackers answer.
    tiers: Tiers,
    /// Timeouts and retransmission policy.
    config: Config,
    /// The session's RNG: UDP transaction ids. Seeded by the caller so a simulation replays.
    rng: ChaCha8Rng,
    /// The `key` sent in every announce: drawn once, so trackers recognise this session even if
    /// our IP changes (BEP 3, BEP 15).
    key: u32,
    /// Per-tracker state, by announce URL (a `BTreeMap` so nothing depends on hash order).
    trackers: BTreeMap<String, State<N>>,
    /// The URL of the tracker that answered last: its interval sets the next announce.
    current: Option<String>,
    /// Failed rounds in a row, for the retry backoff.
    failures: u32,
}

/// What we remember about one tracker.
struct State<N: Net> {
    /// The UDP client (with its socket and connection id) for a `udp://` tracker; `None` for
    /// HTTP, which keeps no connection state of its own.
    udp: Option<udp::Client<N>>,
    /// The `tracker id` this tracker gave us over HTTP, echoed back in every later announce; an
    /// answer without one keeps the old one (BEP 3).
    tracker_id: Option<String>,
    /// The `interval` of its last answer, in seconds.
    interval: Option<u32>,
    /// The `min interval` of its last answer, in seconds.
    min_interval: Option<u32>,
}

impl<N: Net> Announcer<N> {
    /// The announcer for `tiers` (the torrent's `announce-list`, or its lone `announce` as one
    /// tier). `rng` should be derived from the client's seeded RNG; it draws the session key,
    /// then shuffles each tier, then supplies transaction ids.
    pub fn new(net: N, tiers: Vec<Vec<String>>, mut rng: ChaCha8Rng, config: Config) -> Self {
        let key = rng.gen();
        let tiers = Tiers::new(tiers, &mut rng);
        let trackers = tiers
            .tiers()
            .iter()
            .flatten()
            .map(|tracker| (tracker.url.clone(), State::new(&net, tracker)))
            .collect();
        Announcer {
            net,
            tiers,
            config,
            rng,
            key,
            trackers,
            current: None,
            failures: 0,
        }
    }

    /// The tiers in their current order.
    pub fn tiers(&self) -> &Tiers {
        &self.tiers
    }

    /// The session key sent with every announce.
    pub fn key(&self) -> u32 {
        self.key
    }

    /// How many UDP trackers hold a socket, and how many a receive buffer.
    #[cfg(test)]
    pub(crate) fn udp_holdings(&self) -> (usize, usize) {
        let held = self
            .trackers
            .values()
            .filter_map(|s| s.udp.as_ref().map(|c| c.holds()));
        held.fold((0, 0), |(sockets, bufs), (socket, buf)| {
            (sockets + usize::from(socket), bufs + usize::from(buf))
        })
    }

    /// Announces `req` to the first tracker that answers, by BEP 12: tiers in order, trackers
    /// within a tier in order, the one that answers moved to the front of its tier.
    ///
    /// `req.key` and `req.tracker_id` are overwritten with the session key and what each tracker
    /// gave us. Each tracker's failure is logged and skipped; only a round in which every tracker
    /// failed is an error. A `stopped` announce is bounded by [`Config::stopped_timeout`].
    pub async fn announce(
        &mut self,
        req: AnnounceRequest,
    ) -> Result<AnnounceResponse, AnnounceError> {
        if req.event == Event::Stopped {
            let limit = self.config.stopped_timeout;
            return timeout(limit, self.round(req))
                .await
                .unwrap_or(Err(AnnounceError::StoppedTimeout(limit)));
        }
        self.round(req).await
    }

    /// One pass over the tiers.
    async fn round(&mut self, mut req: AnnounceRequest) -> Result<AnnounceResponse, AnnounceError> {
        req.key = self.key;
        let limits = self.udp_limits();
        let mut failed = 0;
        let mut last = None;
        for (tier, index, tracker) in self.order() {
            let Some(state) = self.trackers.get_mut(&tracker.url) else {
                continue;
            };
            req.tracker_id = state.tracker_id.clone();
            let result = match &mut state.udp {
                Some(client) => client.announce(&req, &mut self.rng, limits).await,
                None => {
                    http::announce(&self.net, &tracker.url, &req, self.config.http_timeout).await
                }
            };
            match result {
                Ok(resp) => {
                    if let Some(warning) = &resp.warning {
                        warn!(tracker = %tracker.url, "tracker warning: {warning}");
                    }
                    if resp.tracker_id.is_some() {
                        state.tracker_id.clone_from(&resp.tracker_id);
                    }
                    state.interval = resp.interval;
                    state.min_interval = resp.min_interval;
                    debug!(tracker = %tracker.url, peers = resp.peers.len(), "announced");
                    self.tiers.promote(tier, index);
                    self.current = Some(tracker.url);
                    self.failures = 0;
                    return Ok(resp);
                }
                Err(e) => {
                    warn!(tracker = %tracker.url, "announce failed: {e}");
                    failed += 1;
                    last = Some(e);
                }
            }
        }
        Err(all_failed(failed, last))
    }

    /// Asks the trackers, in tier order, for the counts of `hashes` (in the same order); the
    /// first tracker that answers wins. HTTP trackers whose URL has no scrape form are skipped.
    pub async fn scrape(&mut self, hashes: &[InfoHash]) -> Result<Vec<ScrapeStats>, AnnounceError> {
        let limits = self.udp_limits();
        let mut failed = 0;
        let mut last = None;
        for (_, _, tracker) in self.order() {
            let Some(state) = self.trackers.get_mut(&tracker.url) else {
                continue;
            };
            let result = match &mut state.udp {
                Some(client) => client.scrape(hashes, &mut self.rng, limits).await,
                None => {
                    http::scrape(&self.net, &tracker.url, hashes, self.config.http_timeout).await
                }
            };
            match result {
                Ok(stats) => return Ok(stats),
                Err(e) => {
                    warn!(tracker = %tracker.url, "scrape failed: {e}");
                    failed += 1;
                    last = Some(e);
                }
            }
        }
        Err(all_failed(failed, last))
    }

    /// How long to wait before the next regular announce: the interval of the tracker that
    /// answered last, at least its `min interval` and [`MIN_INTERVAL_FLOOR`], at most
    /// [`MAX_INTERVAL`]; [`DEFAULT_INTERVAL`] when no tracker has said.
    pub fn next_interval(&self) -> Duration {
        let state = self.current.as_ref().and_then(|url| self.trackers.get(url));
        let seconds = |s: u32| Duration::from_secs(u64::from(s));
        let interval = state
            .and_then(|s| s.interval)
            .map_or(DEFAULT_INTERVAL, seconds);
        let floor = state
            .and_then(|s| s.min_interval)
            .map_or(MIN_INTERVAL_FLOOR, seconds)
            .max(MIN_INTERVAL_FLOOR)
            .min(MAX_INTERVAL);
        interval.max(floor).min(MAX_INTERVAL)
    }

    /// How long to wait before retrying after a round in which every tracker failed:
    /// [`RETRY_FIRST`], doubling with each call, up to [`RETRY_MAX`]. A successful announce
    /// starts the sequence over.
    pub fn retry_after_failure(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.failures = self.failures.saturating_add(1);
        RETRY_FIRST.saturating_mul(factor).min(RETRY_MAX)
    }

    /// Every tracker with its position, in the order to try them. A snapshot, so promoting one
    /// during the walk does not disturb it.
    fn order(&self) -> Vec<(usize, usize, Tracker)> {
        self.tiers
            .tiers()
            .iter()
            .enumerate()
            .flat_map(|(tier, trackers)| {
                trackers
                    .iter()
                    .enumerate()
                    .map(move |(index, tracker)| (tier, index, tracker.clone()))
            })
            .collect()
    }

    /// A lone tracker has nothing to fall back on, so it gets BEP 15's full schedule (still
    /// bounded by [`Config::udp_max_wait`]); otherwise [`Config::udp_attempts`] sends.
    fn udp_limits(&self) -> Limits {
        let attempts = if self.tiers.len() == 1 {
            crate::tracker::udp::MAX_ATTEMPTS
        } else {
            self.config.udp_attempts
        };
        Limits {
            attempts,
            max_wait: self.config.udp_max_wait,
        }
    }
}

impl<N: Net> State<N> {
    fn new(net: &N, tracker: &Tracker) -> Self {
        let udp = match &tracker.endpoint {
            Endpoint::Udp { host, port } => Some(udp::Client::from_parts(
                net.clone(),
                &tracker.url,
                host.clone(),
                *port,
            )),
            Endpoint::Http => None,
        };
        State {
            udp,
            tracker_id: None,
            interval: None,
            min_interval: None,
        }
    }
}

/// The error for a round that got no answer: `last` is `None` only when there was no tracker.
fn all_failed(failed: usize, last: Option<Error>) -> AnnounceError {
    match last {
        Some(last) => AnnounceError::AllFailed {
            failed,
            last: Box::new(last),
        },
        None => AnnounceError::NoTrackers,
    }
}
