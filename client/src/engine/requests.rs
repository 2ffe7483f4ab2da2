//! Keeping request queues full: interest, queue depth by measured rate, and the batched refill
//! that hands out released blocks.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::geometry::{BlockRef, BLOCK_LEN};
use crate::wire::Message;

use super::peer::RATE_KNOWN_AFTER;
use super::picker::Ask;
use super::{Engine, InFlight, Peer, PeerKey};

/// The least time between two passes over every peer's queue. Blocks released by a reject,
/// a choke or a departed peer wait at most this long for a new owner, and a peer flooding us
/// with such messages costs at most one pass per gap.
pub const REFILL_GAP: Duration = Duration::from_millis(10);

/// The fewest requests kept outstanding to a peer whose rate is known: two, so one is on the
/// wire while the next is served.
pub const MIN_KNOWN_QUEUE: usize = 2;

impl Engine {
    /// Sends interested / not interested when that changed.
    pub(super) fn update_interest(&mut self, now: Duration, key: PeerKey) {
        let complete = self.picker.is_complete();
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let wants = !complete && peer.wanted > 0;
        if peer.interested != wants {
            peer.interested = wants;
            let msg = if wants {
                Message::Interested
            } else {
                Message::NotInterested
            };
            self.send(now, key, msg);
        }
    }

    /// Runs the refill if one is due and the gap since the last has passed.
    pub(super) fn refill_if_due(&mut self, now: Duration) {
        if self.refill_due && now >= self.last_refill + REFILL_GAP {
            self.refill_due = false;
            self.last_refill = now;
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for key in keys {
                self.fill_requests(now, key);
            }
        }
    }

    /// When the pending refill may run, if one is due.
    pub(super) fn next_refill_at(&self) -> Option<Duration> {
        self.refill_due.then_some(self.last_refill + REFILL_GAP)
    }

    /// Tops up one peer's request queue to its desired depth.
    pub(super) fn fill_requests(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if !peer.interested || self.picker.is_complete() {
            return;
        }
        if peer.choking_us && peer.allowed_fast.is_empty() {
            return;
        }
        let want = self.queue_depth(peer, now);
        let known = peer.rate.is_known(self.listening.clock(now));
        if self.shed_if_filled_blind(now, key, want) {
            return;
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if peer.in_flight.len() >= want {
            return;
        }
        let avoid = self.avoid_for(key, peer);
        let idle = peer.is_idle();
        let ask = Ask {
            peer: key,
            has: &peer.pieces,
            only: peer.choking_us.then_some(&peer.allowed_fast),
            refused: &peer.refused,
            avoid: &avoid,
            parole: peer.parole,
            may_share: peer.parole && !self.healthy_peer_wants_pieces(),
            max: want - peer.in_flight.len(),
            now,
        };
        let mut blocks = self.picker.pick(&ask, &mut self.rng);
        if blocks.is_empty() && idle && self.picker.in_endgame() {
            blocks = self.pick_duplicates(now, key);
        }
        if blocks.is_empty() {
            return;
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let listened_at = self.listening.clock(now);
        if peer.in_flight.is_empty() {
            // The snub clock starts when there is something to wait for.
            peer.last_block_heard = listened_at;
        }
        peer.queued_blind |= !known;
        for block in &blocks {
            peer.in_flight.push(InFlight {
                block: *block,
                listened_at,
            });
        }
        for block in blocks {
            self.send(now, key, Message::Request(block));
        }
    }

    /// Once its rate is known, a peer filled blind (the deep start-up queue) sheds what its
    /// rate says it would take over three times `queue_time` to send, once; not a peer on
    /// parole, whose cap is about verdicts. True when it shed.
    ///
    /// Only a peer that has held these requests as long as a rate takes to be known is judged
    /// by them: a rate can become known on data from before them (an earlier unchoke, then a
    /// long choke, reads slow), and cancelling requests sent milliseconds ago only crosses the
    /// blocks already on their way, which the refill then asks of the same peer again.
    fn shed_if_filled_blind(&mut self, now: Duration, key: PeerKey, want: usize) -> bool {
        let heard = self.listening.clock(now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return false;
        };
        if !peer.queued_blind || !peer.rate.is_known(heard) {
            return false;
        }
        if peer.parole || peer.in_flight.len() <= want.saturating_mul(3) + 2 {
            peer.queued_blind = false;
            return false;
        }
        let oldest = peer.in_flight.first().map_or(heard, |r| r.listened_at);
        if heard.saturating_sub(oldest) < RATE_KNOWN_AFTER {
            return false;
        }
        peer.queued_blind = false;
        self.shed_requests(now, key, want);
        true
    }

    /// Cancels a peer's newest requests beyond `want`: it turned out slower than its start-up
    /// queue assumed (a seeder that a whole swarm shares), and what it would send last is
    /// better asked of others now. A block already on the wire is still accepted.
    fn shed_requests(&mut self, now: Duration, key: PeerKey, want: usize) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let shed: Vec<BlockRef> = peer
            .in_flight
            .drain(want.min(peer.in_flight.len())..)
            .map(|r| r.block)
            .collect();
        for block in &shed {
            peer.give_up(*block, now);
        }
        for block in shed {
            self.picker.release(key, block);
            self.send(now, key, Message::Cancel(block));
        }
        self.refill_due = true;
    }

    /// Pieces `peer` sent a bad copy of that another connected peer, with a clean record for
    /// them, could send instead (usually none: the sets are small and short-lived).
    pub(super) fn avoid_for(&self, key: PeerKey, peer: &Peer) -> BTreeSet<u32> {
        peer.tainted
            .iter()
            .copied()
            .filter(|p| {
                self.peers
                    .iter()
                    .any(|(k, o)| *k != key && o.pieces.get(*p) && !o.tainted.contains(p))
            })
            .collect()
    }

    /// Whether a peer that is neither on parole nor snubbed could fetch pieces.
    fn healthy_peer_wants_pieces(&self) -> bool {
        self.peers
            .values()
            .any(|p| !p.parole && !p.snubbed && p.interested)
    }

    /// How many requests to keep outstanding: the measured rate times `queue_time`, within
    /// `[min_queue, min(max_queue, reqq)]` until the rate is known and from
    /// [`MIN_KNOWN_QUEUE`] after; one for a snubbed peer, and one piece's blocks
    /// for a peer on parole (its next verdict comes before more of its data).
    fn queue_depth(&self, peer: &Peer, now: Duration) -> usize {
        if peer.snubbed {
            return 1;
        }
        let heard = self.listening.clock(now);
        let rate = peer.rate.per_second(heard);
        let by_rate =
            (rate as f64 * self.config.queue_time.as_secs_f64() / f64::from(BLOCK_LEN)) as usize;
        let mut cap = peer
            .reqq
            .map_or(self.config.max_queue, |r| {
                (r as usize).min(self.config.max_queue)
            })
            .max(1);
        if peer.parole {
            let piece_blocks = self.picker.geometry().block_count(0) as usize;
            cap = cap.min(piece_blocks.max(1));
        }
        // The deep start-up queue only until the rate is known: a slow peer (a seeder shared
        // by a whole swarm) must not hold many blocks that faster peers could send sooner.
        let floor = if peer.rate.is_known(heard) {
            MIN_KNOWN_QUEUE
        } else {
            self.config.min_queue
        };
        by_rate.clamp(floor.min(cap), cap)
    }
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
