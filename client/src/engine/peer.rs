//! What the engine knows about one connected peer: choke state, pieces, requests, rates.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::bitfield::Bitfield;
use crate::geometry::BlockRef;
use crate::PeerId;

/// How long a piece a peer refused stays off its list.
pub const REFUSAL_TTL: Duration = Duration::from_secs(60);

/// How long the rate estimator averages over.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// How long a rate must have been measured before it sizes a request queue by itself.
pub const RATE_KNOWN_AFTER: Duration = Duration::from_secs(2);

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

    /// Whether the window has covered enough time (`RATE_KNOWN_AFTER` since the oldest live
    /// second with data) for [`Rate::per_second`] to say more than the first burst.
    pub fn is_known(&self, now: Duration) -> bool {
        let sec = now.as_secs();
        self.buckets
            .iter()
            .find(|(s, _)| s + RATE_WINDOW.as_secs() > sec)
            .is_some_and(|(s, _)| now.saturating_sub(Duration::from_secs(*s)) >= RATE_KNOWN_AFTER)
    }
}

/// A request we sent and have not seen answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub block: BlockRef,
    /// When it was sent, on the engine's listening clock (`listening.rs`): its age for the
    /// endgame and the request timeout.
    pub listened_at: Duration,
}

/// Requests we gave up on (cancelled, timed out, dropped by a choke) and still accept an
/// answer to, at most this many per peer: as many as the largest queue we keep.
pub const MAX_GIVEN_UP: usize = 500;

/// How long a given-up request may still be answered without the block counting as
/// unrequested: a cancel can cross a block already on the wire, and a slow peer may still be
/// working through requests we stopped waiting for.
pub const GIVEN_UP_GRACE: Duration = Duration::from_secs(120);

/// One connected peer, from the engine's point of view.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The address we dialled, or the remote address of an incoming connection.
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    /// Whether the peer speaks BEP 6 (have-all/none, reject, allowed-fast).
    pub fast: bool,
    /// We dialled it (it counts against no incoming share).
    pub outgoing: bool,
    /// The pieces the peer has.
    pub pieces: Bitfield,
    /// How many of `pieces` we lack: we are interested while it is positive.
    pub wanted: u32,
    /// True once a bitfield, have-all, have-none or have arrived, after which another piece
    /// list is a protocol error.
    pub pieces_known: bool,
    /// The peer refuses our requests (initially true, BEP 3).
    pub choking_us: bool,
    /// We told the peer we want something it has.
    pub interested: bool,
    /// Pieces we may request even while choked (BEP 6 allowed-fast).
    pub allowed_fast: BTreeSet<u32>,
    /// Our outstanding requests to this peer, oldest first.
    pub in_flight: Vec<InFlight>,
    /// Requests we gave up on, with when, oldest first; see [`GIVEN_UP_GRACE`].
    pub given_up: VecDeque<(BlockRef, Duration)>,
    /// Bytes of blocks it sent that we never asked it for (nor gave up on).
    pub unrequested: u64,
    /// The peer's advertised request queue limit (BEP 10 `reqq`), if any.
    pub reqq: Option<u32>,
    /// The BEP 10 handshake arrived; later ones are ignored, so a peer cannot make us parse
    /// one over and over.
    pub extended_seen: bool,
    /// The id the peer wants `ut_metadata` messages sent with, if it takes them.
    pub ut_metadata: Option<u8>,
    /// The port it listens on, from its extended handshake (`p`).
    pub listen_port: Option<u16>,
    /// Peer exchange with it (BEP 11).
    pub pex: super::pex::PexState,
    /// Payload bytes received from this peer, for the request queue depth, the endgame and
    /// the choker; measured on the listening clock (`listening.rs`), so time our own disk
    /// kept us from reading does not lower it.
    pub rate: Rate,
    /// Payload bytes of our requests it answered, over the whole connection: the choker's
    /// tie-break, so a peer that has ever given us data ranks above one that never has.
    pub received: u64,
    /// When the connection was admitted, for the choker's new-peer weight.
    pub connected_at: Duration,
    /// The same on the engine's listening clock (`listening.rs`), for the squatting grace.
    pub connected_heard: Duration,
    /// The last time a requested block arrived (or when requests started), on the listening
    /// clock, for snub detection, the squatting grace and the eviction order: time our own
    /// disk kept us from reading does not count against the peer.
    pub last_block_heard: Duration,
    /// When anything last arrived, on the listening clock, for the idle timeout.
    pub last_heard: Duration,
    /// The last time we sent anything, for keep-alives.
    pub last_sent_at: Duration,
    /// No block for `snub_timeout` while requests were outstanding: keep one request at most,
    /// no endgame duplicates, and its slot goes to a waiting candidate.
    /// Requests were sent while its rate was unknown (the deep start-up queue): once the
    /// rate is known, the excess is shed, once (see `Engine::fill_requests`).
    pub queued_blind: bool,
    pub snubbed: bool,
    /// It sent part of a failed piece: whole pieces to itself, one at a time (smart ban).
    pub parole: bool,
    /// It sent at least one block we asked for (a redial after it closes is worth it).
    pub delivered: bool,
    /// Pieces the peer rejected or never answered for, with when: not asked of it again for
    /// [`REFUSAL_TTL`], even though its bitfield claims them (a peer that lies would otherwise
    /// be asked at network speed forever, and one that was only busy gets another chance).
    pub refused: BTreeMap<u32, Duration>,
    /// Pieces it sent a copy of that failed: not asked of it again while another peer has them.
    pub tainted: BTreeSet<u32>,
    /// The upload side of the connection.
    pub up: Upload,
}

/// What we do for a peer: choking, its requests, what we sent it.
#[derive(Debug, Clone)]
pub struct Upload {
    /// We refuse its requests (initially true, BEP 3).
    pub choking: bool,
    /// It wants something we have.
    pub interested: bool,
    /// Its requests we will serve, oldest first, at most `max_requests_in`.
    pub queue: VecDeque<BlockRef>,
    /// The same requests as `queue`, for the duplicate check: with a `reqq` of 2000 a linear
    /// search per request was 8% of a fast seeder's CPU.
    pub queued: BTreeSet<BlockRef>,
    /// Blocks handed to storage for it whose data has not come back yet.
    pub reading: Vec<BlockRef>,
    /// Block bytes being read for it or queued to its socket and not yet written: the window
    /// that keeps its stream busy without letting a slow reader make us hold much.
    pub pending: u64,
    /// Payload bytes written to it, for the seeding choker and the status line.
    pub rate: Rate,
    /// When it last lost an upload slot (`None`: never had one): the seeding choker's round
    /// robin serves the peer that has waited longest first.
    pub slot_lost_at: Option<Duration>,
    /// It holds the optimistic unchoke.
    pub optimistic: bool,
}

impl Default for Upload {
    fn default() -> Self {
        Upload {
            choking: true,
            interested: false,
            queue: VecDeque::new(),
            queued: BTreeSet::new(),
            reading: Vec::new(),
            pending: 0,
            rate: Rate::default(),
            slot_lost_at: None,
            optimistic: false,
        }
    }
}

/// What the handshake told us about a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshaken {
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    /// Both sides speak BEP 6.
    pub fast: bool,
    /// The peer speaks BEP 10 (it gets our extended handshake, with our `reqq`).
    pub extended: bool,
    /// We dialled it.
    pub outgoing: bool,
}

impl Peer {
    /// A peer admitted at `now`, `heard` on the listening clock.
    pub fn new(hs: Handshaken, pieces: u32, parole: bool, now: Duration, heard: Duration) -> Self {
        Peer {
            addr: hs.addr,
            peer_id: hs.peer_id,
            fast: hs.fast,
            outgoing: hs.outgoing,
            pieces: Bitfield::new(pieces),
            wanted: 0,
            pieces_known: false,
            choking_us: true,
            interested: false,
            allowed_fast: BTreeSet::new(),
            in_flight: Vec::new(),
            given_up: VecDeque::new(),
            unrequested: 0,
            reqq: None,
            extended_seen: false,
            ut_metadata: None,
            listen_port: None,
            pex: super::pex::PexState::default(),
            rate: Rate::default(),
            received: 0,
            connected_at: now,
            connected_heard: heard,
            last_block_heard: heard,
            last_heard: heard,
            last_sent_at: now,
            queued_blind: false,
            snubbed: false,
            parole,
            delivered: false,
            refused: BTreeMap::new(),
            tainted: BTreeSet::new(),
            up: Upload::default(),
        }
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

    /// Remembers that we gave up on `block` (its answer may still come).
    pub fn give_up(&mut self, block: BlockRef, now: Duration) {
        if self.given_up.len() >= MAX_GIVEN_UP {
            self.given_up.pop_front();
        }
        self.given_up.push_back((block, now));
    }

    /// Removes `block` from the given-up requests; true if it was there and still in grace.
    pub fn take_given_up(&mut self, block: BlockRef, now: Duration) -> bool {
        self.remove_given_up(block)
            .is_some_and(|at| now.saturating_sub(at) < GIVEN_UP_GRACE)
    }

    /// Removes `block` from the given-up requests, whatever its age; true if it was there.
    pub fn take_cancelled(&mut self, block: BlockRef) -> bool {
        self.remove_given_up(block).is_some()
    }

    /// Removes `block` from the given-up requests; when it was given up, if it was there.
    fn remove_given_up(&mut self, block: BlockRef) -> Option<Duration> {
        let i = self.given_up.iter().position(|(b, _)| *b == block)?;
        self.given_up.remove(i).map(|(_, at)| at)
    }

    /// Whether we may send a request for a block of `piece` now.
    pub fn may_request(&self, piece: u32) -> bool {
        !self.choking_us || self.allowed_fast.contains(&piece)
    }

    /// Whether it could take an endgame race: it serves us (interested, unchoked), has
    /// nothing in flight, and is neither snubbed (it would sit on it) nor on parole (its
    /// pieces must stay its own).
    pub fn is_idle(&self) -> bool {
        self.interested
            && !self.choking_us
            && self.in_flight.is_empty()
            && !self.snubbed
            && !self.parole
    }

    /// Whether the peer is a seed (has every piece).
    pub fn is_seed(&self) -> bool {
        self.pieces.is_full()
    }

    /// Whether it holds a slot without being useful: snubbed, or nothing we want (and no
    /// block from it) for `grace` of listening time (`heard` is the listening clock now: a
    /// spell of not reading its messages, haves included, is not held against it).
    pub fn is_squatting(&self, heard: Duration, grace: Duration) -> bool {
        self.snubbed || (!self.interested && heard.saturating_sub(self.useful_at()) >= grace)
    }

    /// On the listening clock: when it last gave us a block, or connected.
    pub fn useful_at(&self) -> Duration {
        self.connected_heard.max(self.last_block_heard)
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
