//! [`Tracker`]: the state both front ends share (the swarms behind one lock), the clock the
//! fault windows are read against, and the observer every announce is reported to.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bitswarm_client::tracker::{AnnounceRequest, AnnounceResponse, Event, ScrapeStats};
use bitswarm_client::InfoHash;
use tokio::time::Instant;

use crate::config::{Config, FaultKind, Protocol};
use crate::swarm::{Family, Swarms};

/// Called with every announce the tracker receives, in the order it handles them; in the
/// simulator that order is deterministic, so the calls can feed a trace.
pub type Observer = Arc<dyn Fn(TrackerEvent) + Send + Sync>;

/// A tracker: swarms, policy and fault schedule. Serve it with [`Tracker::serve_http`] and
/// [`Tracker::serve_udp`] (as often as wanted: every front end shares the same swarms).
pub struct Tracker {
    /// Intervals, peer limits and faults.
    config: Config,
    /// When the tracker was made: fault windows and event times count from here. A
    /// `tokio::time::Instant`, so in the simulator it is simulated time.
    started: Instant,
    /// Who hears about each announce.
    observer: Option<Observer>,
    /// Every swarm. A plain mutex: it is never held across an `.await`.
    swarms: Mutex<Swarms>,
}

/// One announce as the tracker handled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerEvent {
    /// When, since the tracker was made.
    pub at: Duration,
    /// Which front end received it.
    pub protocol: Protocol,
    /// The address the peer announced: the request's source IP with its `port` parameter.
    pub peer: SocketAddr,
    /// The torrent announced for.
    pub info_hash: InfoHash,
    /// Why the peer announced.
    pub event: Event,
    /// Bytes the peer said it still misses.
    pub left: u64,
    /// What the tracker did about it.
    pub answered: Answer,
    /// How many peers the answer carried (0 unless it was answered).
    pub peers: usize,
}

/// What the tracker did with an announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Answer {
    /// A normal answer with peers.
    Ok,
    /// A valid answer without peers ([`FaultKind::NoPeers`]).
    NoPeers,
    /// A refusal ([`FaultKind::Failure`]).
    Failure,
    /// No answer; the request was held or dropped ([`FaultKind::Timeout`]).
    Timeout,
    /// Unparseable bytes ([`FaultKind::Garbage`]).
    Garbage,
    /// Nothing: the connection was closed or the packet ignored ([`FaultKind::Down`]).
    Down,
    /// An HTTP error status ([`FaultKind::HttpError`]).
    HttpError(u16),
    /// Sent elsewhere ([`FaultKind::Redirect`]).
    Redirect,
    /// Refused by the protocol rather than by a fault: a UDP announce with an unknown or expired
    /// connection id.
    Rejected,
}

impl Answer {
    /// The answer a request gets under `fault`.
    fn under(fault: Option<&FaultKind>) -> Answer {
        match fault {
            None => Answer::Ok,
            Some(FaultKind::NoPeers) => Answer::NoPeers,
            Some(FaultKind::Failure(_)) => Answer::Failure,
            Some(FaultKind::Timeout) => Answer::Timeout,
            Some(FaultKind::Garbage) => Answer::Garbage,
            Some(FaultKind::Down) => Answer::Down,
            Some(FaultKind::HttpError(status)) => Answer::HttpError(*status),
            Some(FaultKind::Redirect(_)) => Answer::Redirect,
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Ok => f.write_str("ok"),
            Answer::NoPeers => f.write_str("no-peers"),
            Answer::Failure => f.write_str("failure"),
            Answer::Timeout => f.write_str("timeout"),
            Answer::Garbage => f.write_str("garbage"),
            Answer::Down => f.write_str("down"),
            Answer::HttpError(status) => write!(f, "http-{status}"),
            Answer::Redirect => f.write_str("redirect"),
            Answer::Rejected => f.write_str("rejected"),
        }
    }
}

/// The fault a request falls under, fixed when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// What to do.
    pub(crate) kind: FaultKind,
    /// When the window ends (`None`: never, or too far to matter), so a held HTTP request knows
    /// when to let go.
    pub(crate) until: Option<Instant>,
}

impl Tracker {
    /// A tracker with `config`, reporting announces to `observer`.
    ///
    /// Make it inside the runtime whose clock should drive it (in the simulator: inside the
    /// tracker's host), since fault windows count from this moment.
    pub fn new(config: Config, observer: Option<Observer>) -> Arc<Tracker> {
        Arc::new(Tracker {
            config,
            started: Instant::now(),
            observer,
            swarms: Mutex::new(Swarms::default()),
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Time since the tracker was made: the clock fault windows are read against.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The live peers of `info_hash` with the bytes each still misses, sorted by address; for
    /// tests and for checking a simulation's state.
    pub fn swarm(&self, info_hash: &InfoHash) -> Vec<(SocketAddr, u64)> {
        self.lock()
            .list(info_hash, self.elapsed(), self.peer_timeout())
    }

    /// The fault in force for a request of `protocol` arriving now, if any.
    pub(crate) fn fault(&self, protocol: Protocol) -> Option<Fault> {
        let window = self.config.faults.active(protocol, self.elapsed())?;
        Some(Fault {
            kind: window.kind.clone(),
            // An end too far away to be an `Instant` is as good as never.
            until: window
                .until
                .and_then(|until| self.started.checked_add(until)),
        })
    }

    /// Handles an announce from `source` under `fault` and reports it to the observer.
    ///
    /// Without a fault, or under [`FaultKind::NoPeers`], the peer is registered (or removed, for
    /// `stopped`) and the answer is returned: at most `cap` peers of family `only` (none for
    /// `stopped`, which needs none, or under `NoPeers`), the swarm's counts, the intervals, and
    /// the source address as `external ip`. Under any other fault the swarm is untouched and
    /// `None` tells the front end to misbehave instead.
    pub(crate) fn announce(
        &self,
        protocol: Protocol,
        source: IpAddr,
        req: &AnnounceRequest,
        fault: Option<&FaultKind>,
        only: Family,
        cap: usize,
    ) -> Option<AnnounceResponse> {
        let now = self.elapsed();
        let timeout = self.peer_timeout();
        let peer = SocketAddr::new(source.to_canonical(), req.port);
        let answered = Answer::under(fault);
        let response = matches!(answered, Answer::Ok | Answer::NoPeers).then(|| {
            let mut swarms = self.lock();
            swarms.announce(now, timeout, peer, req);
            let wanted = req.numwant.unwrap_or(self.config.max_numwant);
            let limit = usize::try_from(wanted.min(self.config.max_numwant))
                .unwrap_or(usize::MAX)
                .min(cap);
            let peers = if answered == Answer::Ok && req.event != Event::Stopped {
                let me = (&req.peer_id, peer);
                let swarm = swarms.peers(&req.info_hash, me, only, now, timeout, limit);
                let mut peers: Vec<SocketAddr> = Vec::new();
                for addr in self
                    .config
                    .listed
                    .iter()
                    .filter(|a| only.allows(a))
                    .chain(&swarm)
                {
                    if !peers.contains(addr) {
                        peers.push(*addr);
                    }
                }
                peers.truncate(limit);
                peers
            } else {
                Vec::new()
            };
            let counts = swarms.counts(&req.info_hash, now, timeout);
            AnnounceResponse {
                interval: Some(self.config.interval),
                min_interval: self.config.min_interval,
                complete: Some(counts.complete),
                incomplete: Some(counts.incomplete),
                external_ip: Some(peer.ip()),
                peers,
                ..AnnounceResponse::default()
            }
        });
        self.report(now, protocol, peer, req, answered, response.as_ref());
        response
    }

    /// Reports an announce refused by the protocol itself ([`Answer::Rejected`]).
    pub(crate) fn reject(&self, protocol: Protocol, source: IpAddr, req: &AnnounceRequest) {
        let peer = SocketAddr::new(source.to_canonical(), req.port);
        self.report(self.elapsed(), protocol, peer, req, Answer::Rejected, None);
    }

    /// Counts for each of `hashes` in order (zeros for torrents never heard of), or for every
    /// torrent when `hashes` is empty.
    pub(crate) fn scrape(&self, hashes: &[InfoHash]) -> Vec<(InfoHash, ScrapeStats)> {
        let (now, timeout) = (self.elapsed(), self.peer_timeout());
        let swarms = self.lock();
        let all;
        let hashes = if hashes.is_empty() {
            all = swarms.hashes();
            &all
        } else {
            hashes
        };
        hashes
            .iter()
            .map(|hash| (*hash, swarms.stats(hash, now, timeout)))
            .collect()
    }

    fn report(
        &self,
        at: Duration,
        protocol: Protocol,
        peer: SocketAddr,
        req: &AnnounceRequest,
        answered: Answer,
        response: Option<&AnnounceResponse>,
    ) {
        tracing::debug!(%protocol, %peer, info_hash = %req.info_hash, event = ?req.event, %answered, "announce");
        if let Some(observer) = &self.observer {
            observer(TrackerEvent {
                at,
                protocol,
                peer,
                info_hash: req.info_hash,
                event: req.event,
                left: req.left,
                answered,
                peers: response.map_or(0, |r| r.peers.len()),
            });
        }
    }

    fn peer_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.peer_timeout))
    }

    /// The swarms. A panic while holding the lock cannot leave them half-updated in a way that
    /// matters to a test tracker, so poisoning is ignored rather than spread.
    fn lock(&self) -> MutexGuard<'_, Swarms> {
        self.swarms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
