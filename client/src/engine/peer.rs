//! What the engine knows about one connected peer: choke state, pieces, requests, rates.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use crate::bitfield::Bitfield;
use crate::geometry::BlockRef;
use crate::PeerId;

/// How long a piece a peer refused stays off its list.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);

/// How long the rate estimator averages over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// A download rate measured over a sliding window of one-second buckets.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// (second, bytes received in that second), oldest first, at most `RATE_WINDOW` of them.
    buckets: Vec<(u64, u64)>,
}

impl Rate {
    pub fn add(&mut self, now: Duration, bytes: u64) {
        let sec = now.as_secs();
        match self.buckets.last_mut() {
            Some((s, b)) if *s == sec => *b += bytes,
            _ => self.buckets.push((sec, bytes)),
        }
        self.buckets
            .retain(|(s, _)| s + RATE_WINDOW.as_secs() > sec);
    }

    /// Bytes per second over the window (the current, partial second included).
    pub fn per_second(&self, now: Duration) -> u64 {
        let sec = now.as_secs();
        let live = |s: u64| s + RATE_WINDOW.as_secs() > sec;
        let sum: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| live(*s))
            .map(|(_, b)| b)
            .sum();
        let first = self
            .buckets
            .iter()
            .find(|(s, _)| live(*s))
            .map_or(sec, |(s, _)| *s);
        // Average over the seconds actually covered so a fresh peer's rate is not diluted.
        let span = now.saturating_sub(Duration::from_secs(first)).as_secs_f64();
        (sum as f64 / span.max(1.0)) as u64
    }
}

/// A request we sent and have not seen answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub block: BlockRef,
    pub sent_at: Duration,
}

/// One connected peer, from the engine's point of view.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The address we dialled, or the remote address of an incoming connection.
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    /// Whether the peer speaks BEP 6 (have-all/none, reject, allowed-fast).
    pub fast: bool,
    /// The pieces the peer has.
    pub pieces: Bitfield,
    /// True once a bitfield, have-all or have-none arrived (or any other message: then it
    /// implicitly had nothing), after which another bitfield is a protocol error.
    pub pieces_known: bool,
    /// The peer refuses our requests (initially true, BEP 3).
    pub choking_us: bool,
    /// We told the peer we want something it has.
    pub interested: bool,
    /// Pieces we may request even while choked (BEP 6 allowed-fast).
    pub allowed_fast: BTreeSet<u32>,
    /// Our outstanding requests to this peer, oldest first.
    pub in_flight: Vec<InFlight>,
    /// The peer's advertised request queue limit (BEP 10 `reqq`), if any.
    pub reqq: Option<u32>,
    /// Payload bytes received from this peer, for the request queue depth.
    pub rate: Rate,
    pub connected_at: Duration,
    /// The last time a requested block arrived (or when requests started), for snub detection.
    pub last_block_at: Duration,
    /// The last time anything arrived, for the idle timeout.
    pub last_heard_at: Duration,
    /// The last time we sent anything, for keep-alives.
    pub last_sent_at: Duration,
    /// No block for `SNUB_TIMEOUT` while requests were outstanding: keep one request at most.
    pub snubbed: bool,
    /// Blocks this peer sent that were part of pieces that verified.
    pub good_blocks: u64,
    /// Pieces the peer rejected or never answered for, with when: not asked of it again for
    /// [`REFUSAL_TTL`], even though its bitfield claims them (a peer that lies would otherwise
    /// be asked at network speed forever, and one that was only busy gets another chance).
    pub refused: BTreeMap<u32, Duration>,
}

impl Peer {
    pub fn new(addr: SocketAddr, peer_id: PeerId, fast: bool, pieces: u32, now: Duration) -> Self {
        Peer {
            addr,
            peer_id,
            fast,
            pieces: Bitfield::new(pieces),
            pieces_known: false,
            choking_us: true,
            interested: false,
            allowed_fast: BTreeSet::new(),
            in_flight: Vec::new(),
            reqq: None,
            rate: Rate::default(),
            connected_at: now,
            last_block_at: now,
            last_heard_at: now,
            last_sent_at: now,
            snubbed: false,
            good_blocks: 0,
            refused: BTreeMap::new(),
        }
    }

    /// Whether we may send a request for a block of `piece` now.
    pub fn may_request(&self, piece: u32) -> bool {
        !self.choking_us || self.allowed_fast.contains(&piece)
    }

    /// Removes the outstanding request for `block`; true if there was one.
    pub fn take_request(&mut self, block: BlockRef) -> bool {
        match self.in_flight.iter().position(|r| r.block == block) {
            Some(i) => {
                self.in_flight.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether the peer is a seed (has every piece).
    pub fn is_seed(&self) -> bool {
        self.pieces.is_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_averages_over_covered_seconds() {
        let mut r = Rate::default();
        r.add(Duration::from_millis(100), 1000);
        assert_eq!(r.per_second(Duration::from_millis(500)), 1000);
        r.add(Duration::from_millis(1500), 1000);
        assert_eq!(r.per_second(Duration::from_millis(2000)), 1000);
        // Ten seconds later the window has moved past both buckets.
        assert_eq!(r.per_second(Duration::from_secs(12)), 0);
    }
}
