//! The endgame: once every block is requested, an idle peer may race a request another peer
//! is late with.
//!
//! A request is raced only when the race can win: it has waited at least [`ENDGAME_MIN_AGE`]
//! while we were reading from peers (the listening clock, `listening.rs`: a block held back in
//! our socket buffer because our own disk is behind is not late, and a copy of it would be
//! held back the same way), and the idle peer, at its measured rate, would deliver the block
//! in well under half the time its owner still needs for it (its place in the owner's queue
//! over the owner's rate; forever for a peer that has sent nothing or is snubbed). Racing a
//! request that is merely on its way from an equally slow peer only doubles the traffic: by
//! the time the copy arrives, the original is in the owner's socket, where a cancel no longer
//! reaches it. Each idle peer holds at most [`DUPLICATES_PER_PEER`] race at a time, and the
//! picker caps the races in flight (`picker::MAX_DUPLICATES`); the loser of each is cancelled.

use std::time::Duration;

use crate::geometry::{BlockRef, BLOCK_LEN};

use super::{Engine, PeerKey};

/// How long a request must have waited before it may be raced: several round trips on any
/// usable link (a swarm of fast peers finishes a whole small torrent in less).
pub const ENDGAME_MIN_AGE: Duration = Duration::from_millis(500);

/// Races one idle peer may hold at a time.
pub const DUPLICATES_PER_PEER: usize = 1;

impl Engine {
    /// Takes up to [`DUPLICATES_PER_PEER`] races for idle peer `key`, the longest-waiting
    /// requests first.
    pub(super) fn pick_duplicates(&mut self, now: Duration, key: PeerKey) -> Vec<BlockRef> {
        let mut chosen = Vec::new();
        for block in self.raceable(now, key) {
            if chosen.len() >= DUPLICATES_PER_PEER {
                break;
            }
            if self.picker.duplicate(block, key) {
                chosen.push(block);
            }
        }
        chosen
    }

    /// Requests other peers hold that `key` could win a race for, oldest first.
    fn raceable(&self, now: Duration, key: PeerKey) -> Vec<BlockRef> {
        let Some(me) = self.peers.get(&key) else {
            return Vec::new();
        };
        if !self.listening.is_listening() {
            return Vec::new();
        }
        let heard = self.listening.clock(now);
        let my_rate = me.rate.per_second(heard);
        // A peer with no rate yet gets the benefit of the doubt: one block in the minimum age.
        let my_time = if my_rate == 0 {
            ENDGAME_MIN_AGE
        } else {
            Duration::from_secs_f64(f64::from(BLOCK_LEN) / my_rate as f64)
        };
        let avoid = self.avoid_for(key, me);
        let mut found: Vec<(Duration, BlockRef)> = Vec::new();
        for (other, owner) in &self.peers {
            if *other == key {
                continue;
            }
            let rate = owner.rate.per_second(heard);
            for (place, r) in owner.in_flight.iter().enumerate() {
                let piece = r.block.piece;
                let allowed = me.pieces.get(piece)
                    && me.may_request(piece)
                    && !me.refused.contains_key(&piece)
                    && !avoid.contains(&piece);
                if !allowed || heard.saturating_sub(r.listened_at) < ENDGAME_MIN_AGE {
                    continue;
                }
                let remaining = if rate == 0 || owner.snubbed {
                    Duration::MAX
                } else {
                    let ahead = (place as f64 + 1.0) * f64::from(BLOCK_LEN);
                    Duration::from_secs_f64(ahead / rate as f64)
                };
                if remaining > my_time.saturating_mul(2) && self.picker.can_duplicate(r.block, key)
                {
                    found.push((r.listened_at, r.block));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, b)| b).collect()
    }

    /// Whether an idle peer could take a race now.
    pub(super) fn endgame_due(&self, now: Duration) -> bool {
        self.picker.in_endgame()
            && self
                .peers
                .iter()
                .any(|(k, p)| p.is_idle() && !self.raceable(now, *k).is_empty())
    }

    /// When the next request becomes old enough to race, if an idle peer could take it.
    pub(super) fn next_endgame_at(&self, now: Duration) -> Option<Duration> {
        if !self.picker.in_endgame() || !self.peers.values().any(|p| p.is_idle()) {
            return None;
        }
        // Each peer's requests are oldest first: its first one not yet old enough is found
        // by bisection, so this costs peers x log(requests), not every request, per event.
        // Not reading, no request ages: the next call after reading resumes answers.
        let heard = self.listening.clock(now);
        let due = self
            .peers
            .values()
            .filter_map(|p| {
                let young = p
                    .in_flight
                    .partition_point(|r| r.listened_at + ENDGAME_MIN_AGE <= heard);
                p.in_flight.get(young)
            })
            .map(|r| r.listened_at + ENDGAME_MIN_AGE)
            .min()?;
        self.listening.wall_time_of(now, due)
    }
}
