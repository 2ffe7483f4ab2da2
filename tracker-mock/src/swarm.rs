//! The tracker's memory: who is in each torrent's swarm, with no sockets and no clock (time is
//! passed in as the duration since the tracker started), so it is tested on its own.
//!
//! **Invariant:** one entry per peer id and one per address: a peer that comes back with a new
//! peer id from the same `ip:port` (a restarted client) replaces its old entry, so no address is
//! ever handed out twice or to itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_client::tracker::{AnnounceRequest, Event, ScrapeStats};
use bitswarm_client::{InfoHash, PeerId};

/// Every torrent the tracker has heard of.
#[derive(Debug, Default)]
pub(crate) struct Swarms {
    /// Torrents by info-hash; a `BTreeMap` so listings (a scrape of everything) come out in a
    /// fixed order.
    torrents: BTreeMap<InfoHash, Torrent>,
}

/// One torrent's swarm.
#[derive(Debug, Default)]
struct Torrent {
    /// The peers, by peer id: a client's id is how it is recognised across announces.
    peers: BTreeMap<PeerId, Entry>,
    /// `completed` events seen, the scrape's `downloaded` count. It outlives the peers that sent
    /// them, as on real trackers.
    completed: u32,
}

/// What the tracker knows about one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Where other peers can reach it: the announce's source IP with its `port` parameter.
    pub(crate) addr: SocketAddr,
    /// Bytes it still misses; 0 makes it a seeder.
    pub(crate) left: u64,
    /// When it last announced, to forget it after the peer timeout.
    pub(crate) seen_at: Duration,
}

/// Seeders and leechers of a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    /// Peers with `left == 0`.
    pub(crate) complete: u32,
    /// Peers still downloading.
    pub(crate) incomplete: u32,
}

impl Swarms {
    /// Records `req` from a peer reachable at `addr` at time `now`, after forgetting peers not
    /// seen within `timeout`. `stopped` removes the peer; `completed` is counted (once per
    /// event: clients send it once).
    pub(crate) fn announce(
        &mut self,
        now: Duration,
        timeout: Duration,
        addr: SocketAddr,
        req: &AnnounceRequest,
    ) {
        let torrent = self.torrents.entry(req.info_hash).or_default();
        torrent
            .peers
            .retain(|_, entry| is_live(entry, now, timeout));
        if req.event == Event::Stopped {
            torrent.peers.remove(&req.peer_id);
        } else {
            torrent
                .peers
                .retain(|id, entry| *id == req.peer_id || entry.addr != addr);
            let entry = Entry {
                addr,
                left: req.left,
                seen_at: now,
            };
            torrent.peers.insert(req.peer_id, entry);
            if req.event == Event::Completed {
                torrent.completed = torrent.completed.saturating_add(1);
            }
        }
        if torrent.peers.is_empty() && torrent.completed == 0 {
            self.torrents.remove(&req.info_hash);
        }
    }

    /// Up to `limit` peers of `hash` for the peer `me` at `addr`: live ones, other than itself,
    /// reachable (port not 0), and of the family `only` allows, **sorted by address** and cut
    /// to `limit`. Sorted rather than shuffled so traces read plainly and replay exactly; the
    /// cost is that in a swarm larger than `limit` the highest addresses are never handed out.
    pub(crate) fn peers(
        &self,
        hash: &InfoHash,
        me: (&PeerId, SocketAddr),
        only: Family,
        now: Duration,
        timeout: Duration,
        limit: usize,
    ) -> Vec<SocketAddr> {
        let Some(torrent) = self.torrents.get(hash) else {
            return Vec::new();
        };
        let mut peers: Vec<SocketAddr> = torrent
            .peers
            .iter()
            .filter(|(id, entry)| *id != me.0 && entry.addr != me.1)
            .map(|(_, entry)| entry)
            .filter(|entry| is_live(entry, now, timeout) && entry.addr.port() != 0)
            .map(|entry| entry.addr)
            .filter(|addr| only.allows(addr))
            .collect();
        peers.sort_unstable();
        peers.truncate(limit);
        peers
    }

    /// Seeders and leechers of `hash` that are live at `now`.
    pub(crate) fn counts(&self, hash: &InfoHash, now: Duration, timeout: Duration) -> Counts {
        let mut counts = Counts::default();
        for entry in self.live(hash, now, timeout) {
            let count = if entry.left == 0 {
                &mut counts.complete
            } else {
                &mut counts.incomplete
            };
            *count = count.saturating_add(1);
        }
        counts
    }

    /// What a scrape reports for `hash`: zeros for a torrent never heard of.
    pub(crate) fn stats(&self, hash: &InfoHash, now: Duration, timeout: Duration) -> ScrapeStats {
        let counts = self.counts(hash, now, timeout);
        ScrapeStats {
            complete: counts.complete,
            downloaded: self.torrents.get(hash).map_or(0, |t| t.completed),
            incomplete: counts.incomplete,
        }
    }

    /// Every torrent heard of, in info-hash order (a scrape without info-hashes).
    pub(crate) fn hashes(&self) -> Vec<InfoHash> {
        self.torrents.keys().copied().collect()
    }

    /// The live peers of `hash` with what they still miss, sorted by address.
    pub(crate) fn list(
        &self,
        hash: &InfoHash,
        now: Duration,
        timeout: Duration,
    ) -> Vec<(SocketAddr, u64)> {
        let mut list: Vec<_> = self
            .live(hash, now, timeout)
            .map(|entry| (entry.addr, entry.left))
            .collect();
        list.sort_unstable();
        list
    }

    fn live(
        &self,
        hash: &InfoHash,
        now: Duration,
        timeout: Duration,
    ) -> impl Iterator<Item = &Entry> {
        self.torrents
            .get(hash)
            .into_iter()
            .flat_map(|torrent| torrent.peers.values())
            .filter(move |entry| is_live(entry, now, timeout))
    }
}

/// Which address family a peer list may hold: a UDP answer can only carry the family the client
/// asked from (BEP 15), an HTTP answer carries both (BEP 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// IPv4 and IPv6.
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    pub(crate) fn allows(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// Whether `entry` announced within `timeout` of `now`.
fn is_live(entry: &Entry, now: Duration, timeout: Duration) -> bool {
    now.saturating_sub(entry.seen_at) < timeout
}

#[cfg(test)]
mod tests;
