//! Peer exchange (BEP 11): telling each peer that speaks `ut_pex` whom we are connected to, at
//! most once a minute, and learning peers from what they tell us, within caps.
//!
//! What we send a peer is the difference between the listen addresses of our other peers now
//! and what we last told it, at most [`MAX_PEX_PER_MESSAGE`] added and as many dropped. What we
//! accept is as bounded: one message per peer per [`PEX_MIN_GAP`] (faster ones are ignored),
//! the first [`MAX_PEX_PER_MESSAGE`] plausible addresses of it, into the same candidate list the
//! trackers feed (which has its own cap and eviction).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{Engine, PeerKey};
use crate::wire::{plausible_peer, Message, PexMessage, PEX_REACHABLE, PEX_SEED};

/// How often a peer hears from us (BEP 11: at most once a minute).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);

/// Messages from a peer closer together than this are ignored (a little under the minute, so
/// an honest peer's timer jitter is not punished).
pub const PEX_MIN_GAP: Duration = Duration::from_secs(45);

/// Added (and dropped) peers per message, both ways (BEP 11's limit).
pub const MAX_PEX_PER_MESSAGE: usize = 50;

/// A peer's PEX state.
#[derive(Debug, Clone, Default)]
pub struct PexState {
    /// The id the peer wants `ut_pex` messages sent with; `None`: it does not speak PEX.
    pub id: Option<u8>,
    /// When we next tell it about our peers.
    pub next_at: Duration,
    /// What we told it we are connected to.
    pub told: BTreeSet<SocketAddr>,
    /// When its last accepted message came.
    pub heard_at: Option<Duration>,
}

impl Engine {
    /// The address a peer accepts connections on, if we know it: the one we dialled, or its
    /// IP with the port from its extended handshake.
    fn listen_addr(&self, key: PeerKey) -> Option<SocketAddr> {
        let p = self.peers.get(&key)?;
        if p.outgoing {
            return Some(p.addr);
        }
        p.listen_port.map(|port| SocketAddr::new(p.addr.ip(), port))
    }

    /// Sends every PEX message that is due.
    pub(super) fn pex_tick(&mut self, now: Duration) {
        let due: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.pex.id.is_some() && p.pex.next_at <= now)
            .map(|(k, _)| *k)
            .collect();
        if due.is_empty() {
            return;
        }
        // Everyone we could name, with flags, in address order (deterministic).
        let mut known: Vec<(SocketAddr, u8, PeerKey)> = Vec::new();
        for (&key, p) in &self.peers {
            if let Some(addr) = self.listen_addr(key) {
                let mut flags = if p.outgoing { PEX_REACHABLE } else { 0 };
                if p.pieces.is_full() {
                    flags |= PEX_SEED;
                }
                known.push((addr, flags, key));
            }
        }
        known.sort();
        for key in due {
            self.send_pex(now, key, &known);
        }
    }

    fn send_pex(&mut self, now: Duration, key: PeerKey, known: &[(SocketAddr, u8, PeerKey)]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(id) = peer.pex.id else {
            return;
        };
        peer.pex.next_at = now + PEX_INTERVAL;
        let current: BTreeSet<SocketAddr> = known
            .iter()
            .filter(|(_, _, k)| *k != key)
            .map(|(a, _, _)| *a)
            .collect();
        let added: Vec<(SocketAddr, u8)> = known
            .iter()
            .filter(|(a, _, k)| *k != key && !peer.pex.told.contains(a))
            .take(MAX_PEX_PER_MESSAGE)
            .map(|(a, f, _)| (*a, *f))
            .collect();
        let dropped: Vec<SocketAddr> = peer
            .pex
            .told
            .difference(&current)
            .take(MAX_PEX_PER_MESSAGE)
            .copied()
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return;
        }
        for a in &dropped {
            peer.pex.told.remove(a);
        }
        peer.pex.told.extend(added.iter().map(|(a, _)| *a));
        let payload = PexMessage { added, dropped }.encode();
        self.send(now, key, Message::Extended { id, payload });
    }

    /// A `ut_pex` message: at most one per [`PEX_MIN_GAP`] counts, and at most
    /// [`MAX_PEX_PER_MESSAGE`] of its plausible addresses become candidates. Malformed ones
    /// are ignored: PEX is a hint, and the peer may still be a good source of data.
    pub(super) fn on_pex(&mut self, now: Duration, key: PeerKey, payload: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.pex.id.is_none() {
            return;
        }
        if peer
            .pex
            .heard_at
            .is_some_and(|at| now.saturating_sub(at) < PEX_MIN_GAP)
        {
            return;
        }
        let Ok(msg) = PexMessage::parse(payload) else {
            return;
        };
        peer.pex.heard_at = Some(now);
        let learned: Vec<SocketAddr> = msg
            .added
            .iter()
            .map(|(a, _)| *a)
            .filter(plausible_peer)
            .take(MAX_PEX_PER_MESSAGE)
            .collect();
        self.add_peers(now, learned);
    }

    /// When the next PEX message is due, if any peer speaks PEX.
    pub(super) fn pex_deadline(&self) -> Option<Duration> {
        self.peers
            .values()
            .filter(|p| p.pex.id.is_some())
            .map(|p| p.pex.next_at)
            .min()
    }
}
