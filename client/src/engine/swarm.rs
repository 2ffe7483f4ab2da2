//! The swarm beyond our connections: addresses we may dial (candidates), dials under way, and
//! whom we refuse (banned endpoints and peer ids, shunned addresses, IPs with strikes).
//!
//! **Telling one attacker from many honest peers on one IP.** Bans are per endpoint (ip:port)
//! and peer id, because loopback swarms and simulated hosts put many honest peers on one
//! address. A banned peer that comes back from a new port with a new id is caught by strikes
//! on its IP instead: every ban of an endpoint is a strike against its IP. Endpoints of a
//! struck IP that have not yet proven themselves (delivered data that verified) are refused
//! for a cool-down after each strike (doubling with each), then admitted on parole (whole
//! pieces alone, see `smartban`), so a returning corrupter is caught after one piece; after
//! [`IP_BAN_STRIKES`] strikes the IP is banned for every unproven endpoint. Proven endpoints
//! of a struck IP (honest neighbours on a shared address) keep their connections and may
//! reconnect.
//!
//! Architecture Invariant: memory is bounded whatever trackers and peers send: at most
//! [`MAX_CANDIDATES`] candidates and [`MAX_SHUNNED`] shunned addresses, oldest dropped first.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::close::{DialError, Reason};
use super::config::Config;
use crate::PeerId;

/// Addresses kept for dialling: a tracker returns at most a few hundred per announce, so this
/// holds a large swarm while bounding what a hostile tracker or peer list can make us store.
pub const MAX_CANDIDATES: usize = 2000;

/// A candidate nobody has named for this long, and that is not connected, is forgotten.
pub const CANDIDATE_TTL: Duration = Duration::from_secs(30 * 60);

/// How long an address that misbehaved (a protocol error, a peer that does not read) is
/// neither dialled nor accepted.
pub const MISBEHAVIOUR_PAUSE: Duration = Duration::from_secs(60 * 60);

/// How long a peer that was useless (nothing to trade, a squatter, a duplicate) waits before
/// it is dialled again.
pub const USELESS_PAUSE: Duration = Duration::from_secs(10 * 60);

/// The first redial delay after a peer closed a connection (or it failed); doubles with each
/// connection in a row that delivered nothing, up to [`USELESS_PAUSE`].
pub const REDIAL_DELAY: Duration = Duration::from_secs(1);

/// Shunned addresses remembered at most.
pub const MAX_SHUNNED: usize = 10_000;

/// Strikes (banned endpoints) after which an IP is banned for every unproven endpoint.
pub const IP_BAN_STRIKES: u32 = 3;

/// After a strike, unproven endpoints of the IP are refused this long, doubled per strike.
pub const STRIKE_COOLDOWN: Duration = Duration::from_secs(60);

/// How often stale candidates are swept out.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// An address we may dial.
#[derive(Debug, Clone)]
struct Candidate {
    /// Failed dials in a row.
    failures: u32,
    /// Connections in a row that ended having delivered nothing.
    fruitless: u32,
    /// Not dialled before this time.
    next_attempt: Duration,
    /// When a tracker (or the user) last named it.
    seen_at: Duration,
}

/// Bans of an IP's endpoints.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    last: Duration,
}

/// Whom we dial and whom we accept.
#[derive(Debug)]
pub struct Swarm {
    candidates: BTreeMap<SocketAddr, Candidate>,
    /// Dials under way.
    connecting: BTreeSet<SocketAddr>,
    /// Connected endpoints, and incoming connections per IP: an index of the engine's peers,
    /// kept by [`Swarm::connected`] and [`Swarm::disconnected`], for not dialling someone we
    /// are connected to and for the per-IP limit. The limit is on incoming connections only:
    /// those are the ones a host chooses to open at us, while whom we dial is our choice (and
    /// a loopback or simulated host may serve many honest seeders we want).
    connected: BTreeMap<SocketAddr, usize>,
    incoming_per_ip: BTreeMap<IpAddr, usize>,
    banned: BTreeSet<SocketAddr>,
    banned_ids: BTreeSet<PeerId>,
    strikes: BTreeMap<IpAddr, Strikes>,
    /// Endpoints that sent data that verified: honest neighbours of a struck IP.
    proven: BTreeSet<SocketAddr>,
    /// Addresses refused until the given time (`Duration::MAX`: for good).
    shunned: BTreeMap<SocketAddr, Duration>,
    /// Dial tokens (the rate cap) and when they were last topped up.
    tokens: f64,
    tokens_at: Duration,
    next_expiry: Duration,
    /// Where we listen: never a candidate.
    own: super::own::OwnAddrs,
}

impl Swarm {
    pub fn new(config: &Config) -> Self {
        Swarm {
            candidates: BTreeMap::new(),
            connecting: BTreeSet::new(),
            connected: BTreeMap::new(),
            incoming_per_ip: BTreeMap::new(),
            banned: BTreeSet::new(),
            banned_ids: BTreeSet::new(),
            strikes: BTreeMap::new(),
            proven: BTreeSet::new(),
            shunned: BTreeMap::new(),
            tokens: f64::from(config.dials_per_second.max(1)),
            tokens_at: Duration::ZERO,
            next_expiry: EXPIRY_INTERVAL,
            own: super::own::OwnAddrs::default(),
        }
    }

    /// Where we listen; candidates there are dropped now and never learned again.
    pub fn set_own(&mut self, own: super::own::OwnAddrs) {
        self.candidates.retain(|addr, _| !own.is_us(*addr));
        self.own = own;
    }

    /// Dials under way.
    pub fn connecting(&self) -> usize {
        self.connecting.len()
    }

    /// Candidates known.
    #[cfg(test)]
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(addr)
    }

    fn is_shunned(&self, now: Duration, addr: &SocketAddr) -> bool {
        self.shunned.get(addr).is_some_and(|until| now < *until)
    }

    /// Learns addresses to dial (a tracker's answer, a magnet's peers, `--peer`).
    pub fn learn(&mut self, now: Duration, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            if self.banned.contains(&addr) || self.is_shunned(now, &addr) || self.own.is_us(addr) {
                continue;
            }
            if let Some(c) = self.candidates.get_mut(&addr) {
                c.seen_at = now;
                continue;
            }
            if self.candidates.len() >= MAX_CANDIDATES && !self.evict_one() {
                continue;
            }
            self.candidates.insert(
                addr,
                Candidate {
                    failures: 0,
                    fruitless: 0,
                    next_attempt: now,
                    seen_at: now,
                },
            );
        }
    }

    /// Drops the least promising idle candidate (most failures, then least recently named)
    /// to make room; false if every candidate is busy.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .candidates
            .iter()
            .filter(|(a, _)| !self.connecting.contains(a) && !self.connected.contains_key(a))
            .max_by(|(_, x), (_, y)| {
                (x.failures + x.fruitless)
                    .cmp(&(y.failures + y.fruitless))
                    .then(y.seen_at.cmp(&x.seen_at))
            })
            .map(|(a, _)| *a);
        match victim {
            Some(a) => self.candidates.remove(&a).is_some(),
            None => false,
        }
    }

    /// Forgets candidates nobody has named for [`CANDIDATE_TTL`]; cheap between sweeps.
    pub fn expire(&mut self, now: Duration) {
        if now < self.next_expiry {
            return;
        }
        self.next_expiry = now + EXPIRY_INTERVAL;
        let (connecting, connected) = (&self.connecting, &self.connected);
        self.candidates.retain(|a, c| {
            now.saturating_sub(c.seen_at) < CANDIDATE_TTL
                || connecting.contains(a)
                || connected.contains_key(a)
        });
        self.shunned.retain(|_, until| now < *until);
    }

    /// Up to `room` addresses to dial now, within the half-open cap and the dial rate; each
    /// is marked as connecting.
    pub fn due(&mut self, now: Duration, room: usize, config: &Config) -> Vec<SocketAddr> {
        let room = room.min(config.max_half_open.saturating_sub(self.connecting.len()));
        if room == 0 || self.candidates.is_empty() {
            return Vec::new();
        }
        self.refill(now, config);
        let ready: Vec<SocketAddr> = self
            .candidates
            .iter()
            .filter(|(addr, c)| {
                c.next_attempt <= now
                    && !self.connecting.contains(addr)
                    && !self.connected.contains_key(addr)
                    && !self.ip_refuses(now, addr)
            })
            .map(|(addr, _)| *addr)
            .collect();
        let mut out = Vec::new();
        for addr in ready {
            if out.len() >= room || self.tokens < 1.0 {
                break;
            }
            self.tokens -= 1.0;
            self.connecting.insert(addr);
            out.push(addr);
        }
        out
    }

    fn refill(&mut self, now: Duration, config: &Config) {
        let rate = f64::from(config.dials_per_second.max(1));
        let elapsed = now.saturating_sub(self.tokens_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.tokens_at = now;
    }

    /// When [`Swarm::due`] could next return something, given room for more connections.
    pub fn next_dial_at(&self, now: Duration, config: &Config) -> Option<Duration> {
        if self.connecting.len() >= config.max_half_open {
            return None;
        }
        let earliest = self
            .candidates
            .iter()
            .filter(|(a, _)| !self.connecting.contains(a) && !self.connected.contains_key(a))
            .filter(|(a, _)| !self.ip_refuses(now, a))
            .map(|(_, c)| c.next_attempt)
            .min()?;
        let rate = f64::from(config.dials_per_second.max(1));
        let elapsed = now.saturating_sub(self.tokens_at).as_secs_f64();
        let tokens = (self.tokens + elapsed * rate).min(rate);
        let token_at = if tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - tokens) / rate)
        };
        Some(earliest.max(token_at))
    }

    /// Whether `addr` is refused because of its IP's strikes (banned IP or cool-down); proven
    /// endpoints never are.
    fn ip_refuses(&self, now: Duration, addr: &SocketAddr) -> bool {
        !self.proven.contains(addr)
            && self
                .strikes
                .get(&addr.ip())
                .is_some_and(|s| s.count >= IP_BAN_STRIKES || now < s.last + cooldown(s.count))
    }

    /// `addr` sent data that verified.
    pub fn prove(&mut self, addr: SocketAddr) {
        if self.proven.len() < MAX_CANDIDATES {
            self.proven.insert(addr);
        }
    }

    /// A dial failed.
    pub fn dial_failed(
        &mut self,
        now: Duration,
        addr: SocketAddr,
        error: &DialError,
        config: &Config,
    ) {
        self.connecting.remove(&addr);
        if error.is_unusable() {
            self.candidates.remove(&addr);
            self.shun(addr, Duration::MAX);
            return;
        }
        if error.is_protocol_error() {
            self.candidates.remove(&addr);
            self.shun(addr, now + MISBEHAVIOUR_PAUSE);
            return;
        }
        let Some(c) = self.candidates.get_mut(&addr) else {
            return;
        };
        c.failures += 1;
        if c.failures >= config.max_dial_failures {
            self.candidates.remove(&addr);
        } else {
            c.next_attempt = now + config.dial_backoff * 2u32.saturating_pow(c.failures - 1);
        }
    }

    /// Whether a handshaken peer may join, given bans, its IP's strikes and (for a peer that
    /// dialled us) the per-IP limit. `Ok(true)`: admitted on parole (an unproven endpoint of a
    /// struck IP).
    pub fn admit(
        &self,
        now: Duration,
        addr: SocketAddr,
        peer_id: &PeerId,
        outgoing: bool,
        config: &Config,
    ) -> Result<bool, Reason> {
        let proven = self.proven.contains(&addr);
        if self.banned.contains(&addr) || self.banned_ids.contains(peer_id) {
            return Err(Reason::Banned);
        }
        let struck = self.strikes.get(&addr.ip()).copied();
        if let (Some(s), false) = (struck, proven) {
            if s.count >= IP_BAN_STRIKES {
                return Err(Reason::Banned);
            }
            if now < s.last + cooldown(s.count) {
                return Err(Reason::Shunned);
            }
        }
        if self.is_shunned(now, &addr) {
            return Err(Reason::Shunned);
        }
        let incoming = self.incoming_per_ip.get(&addr.ip()).copied().unwrap_or(0);
        if !outgoing && incoming >= config.max_per_ip {
            return Err(Reason::TooManyPeers);
        }
        Ok(struck.is_some() && !proven)
    }

    /// A handshaken connection was refused or a dial was answered by an unusable peer: the
    /// dial (if any) is over, and the candidate waits according to `reason`.
    pub fn refused(&mut self, now: Duration, addr: SocketAddr, reason: &Reason) {
        self.connecting.remove(&addr);
        self.reschedule(now, addr, reason, false);
    }

    /// A peer was admitted; `outgoing` if we dialled it.
    pub fn connected(&mut self, addr: SocketAddr, outgoing: bool) {
        self.connecting.remove(&addr);
        *self.connected.entry(addr).or_insert(0) += 1;
        if !outgoing {
            *self.incoming_per_ip.entry(addr.ip()).or_insert(0) += 1;
        }
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.failures = 0;
        }
    }

    /// An admitted peer's connection ended (`outgoing` if we dialled it); `delivered` if it
    /// sent us any block.
    pub fn disconnected(
        &mut self,
        now: Duration,
        addr: SocketAddr,
        outgoing: bool,
        reason: &Reason,
        delivered: bool,
    ) {
        decrement(&mut self.connected, &addr);
        if !outgoing {
            decrement(&mut self.incoming_per_ip, &addr.ip());
        }
        self.reschedule(now, addr, reason, delivered);
    }

    fn reschedule(&mut self, now: Duration, addr: SocketAddr, reason: &Reason, delivered: bool) {
        if reason.is_misbehaviour() {
            self.candidates.remove(&addr);
            if *reason != Reason::Banned {
                self.shun(addr, now + MISBEHAVIOUR_PAUSE);
            }
            return;
        }
        let Some(c) = self.candidates.get_mut(&addr) else {
            return;
        };
        let wait = match reason {
            Reason::NotUseful | Reason::Squatting | Reason::Duplicate | Reason::Shunned => {
                USELESS_PAUSE
            }
            _ => {
                c.fruitless = if delivered { 0 } else { c.fruitless + 1 };
                (REDIAL_DELAY * 2u32.saturating_pow(c.fruitless)).min(USELESS_PAUSE)
            }
        };
        c.next_attempt = now + wait;
    }

    fn shun(&mut self, addr: SocketAddr, until: Duration) {
        if self.shunned.len() >= MAX_SHUNNED && !self.shunned.contains_key(&addr) {
            // Forget the one that would be forgiven soonest.
            if let Some(first) = self
                .shunned
                .iter()
                .min_by_key(|(_, u)| **u)
                .map(|(a, _)| *a)
            {
                self.shunned.remove(&first);
            }
        }
        self.shunned.insert(addr, until);
    }

    /// Bans an endpoint (and its peer id): a strike against its IP. True if it was not
    /// banned yet.
    pub fn ban(&mut self, now: Duration, addr: SocketAddr, peer_id: Option<PeerId>) -> bool {
        if let Some(id) = peer_id {
            self.banned_ids.insert(id);
        }
        if !self.banned.insert(addr) {
            return false;
        }
        self.candidates.remove(&addr);
        let s = self.strikes.entry(addr.ip()).or_insert(Strikes {
            count: 0,
            last: now,
        });
        s.count += 1;
        s.last = now;
        true
    }
}

/// How long unproven endpoints of an IP with `strikes` strikes are refused after the last.
fn cooldown(strikes: u32) -> Duration {
    STRIKE_COOLDOWN * 2u32.saturating_pow(strikes.saturating_sub(1))
}

fn decrement<K: Ord>(map: &mut BTreeMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
