//! The choker: whom we upload to. Sans-IO like the rest of the engine: time comes in, and its
//! decisions are choke and unchoke messages.
//!
//! Every `choke_interval` (10 s) it gives `upload_slots` (4) regular slots to interested peers:
//! - **while downloading**, to those that upload to us fastest (tit-for-tat), leaving out
//!   peers that snub us (no block for the snub timeout while we wait on them): reciprocity is
//!   what makes a swarm trade. Equal rates (often zero: a trading partner with nothing new
//!   for us this minute) go to the peer that has given us more over the connection, so a
//!   free rider, which never gives anything, gets a regular slot only when no peer that
//!   reciprocates wants one;
//! - **while seeding**, round-robin: the peers that have waited longest since their last slot
//!   go first, so every leecher gets its turn and one fast peer cannot monopolize the seed
//!   (libtorrent's default for seeds; ranking by our upload rate instead would feed the
//!   best-connected peers and starve the rest of the swarm of new pieces).
//!
//! One more slot, the **optimistic unchoke**, moves every `optimistic_interval` (30 s) to a
//! random choked, interested peer: one we have never unchoked if there is one, else any, newly
//! connected peers weighted three to one. It is how a newcomer with nothing to trade gets its
//! first pieces, and how we find peers faster than our current ones. A slot that frees up (a peer loses interest or leaves) is refilled at
//! once, by the same ranking, instead of at the next round; the other slots stay as they are
//! until the round.

use std::time::Duration;

use rand::Rng;

use super::{Engine, PeerKey};

/// A peer connected this recently counts as new for the optimistic unchoke.
pub const NEW_PEER: Duration = Duration::from_secs(60);

/// How much likelier a new peer is to get the optimistic unchoke.
const NEW_PEER_WEIGHT: u32 = 3;

/// The choker's clock.
#[derive(Debug, Clone, Default)]
pub struct Choker {
    /// When the regular slots are next reconsidered.
    pub next_round: Duration,
    /// When the optimistic unchoke next moves.
    pub next_optimistic: Duration,
}

impl Engine {
    /// Reconsiders every upload slot now: regular slots by the policy of the module docs,
    /// the optimistic unchoke if its time has come or its holder no longer qualifies.
    pub(super) fn rechoke(&mut self, now: Duration) {
        self.choker.next_round = now + self.config.choke_interval;
        let regular = self.regular_slots(now, self.config.upload_slots);
        let holder = self
            .peers
            .iter()
            .find(|(k, p)| p.up.optimistic && p.up.interested && !regular.contains(k))
            .map(|(k, _)| *k);
        let optimistic = match holder {
            Some(k) if now < self.choker.next_optimistic => Some(k),
            _ => {
                self.choker.next_optimistic = now + self.config.optimistic_interval;
                self.pick_optimistic(now, &regular)
            }
        };
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let opt = optimistic == Some(key);
            if let Some(p) = self.peers.get_mut(&key) {
                p.up.optimistic = opt;
            }
            if regular.contains(&key) || opt {
                self.unchoke_peer(now, key);
                self.pump_uploads(now, key);
            } else {
                self.choke_peer(now, key);
            }
        }
    }

    /// The `count` interested peers that deserve a regular slot most, best first.
    fn regular_slots(&self, now: Duration, count: usize) -> Vec<PeerKey> {
        let seeding = self.picker.is_complete();
        let heard = self.listening.clock(now);
        let mut ranked: Vec<(PeerKey, (u64, u64), Duration)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.up.interested && (seeding || !p.snubbed))
            .map(|(k, p)| {
                // A slot holder's turn is now; a waiting peer's was when it lost its slot.
                let turn = if p.up.choking {
                    p.up.slot_lost_at.unwrap_or(Duration::ZERO)
                } else {
                    now
                };
                (*k, (p.rate.per_second(heard), p.received), turn)
            })
            .collect();
        if seeding {
            ranked.sort_by_key(|(k, _, turn)| (*turn, *k));
        } else {
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        ranked.into_iter().take(count).map(|(k, _, _)| k).collect()
    }

    /// A random choked, interested peer outside `regular`: one we have never unchoked if
    /// there is any (a newcomer gets the next rotation of every peer it joins, so its first
    /// pieces come within one rotation instead of after several lost draws), else any, new
    /// peers weighted up.
    fn pick_optimistic(&mut self, now: Duration, regular: &[PeerKey]) -> Option<PeerKey> {
        let pool: Vec<(PeerKey, bool, u32)> = self
            .peers
            .iter()
            .filter(|(k, p)| p.up.interested && !regular.contains(k))
            .map(|(k, p)| {
                let new = now.saturating_sub(p.connected_at) < NEW_PEER;
                let never = p.up.slot_lost_at.is_none() && p.up.choking;
                (*k, never, if new { NEW_PEER_WEIGHT } else { 1 })
            })
            .collect();
        let never_unchoked = pool.iter().any(|(_, never, _)| *never);
        let pool: Vec<(PeerKey, u32)> = pool
            .into_iter()
            .filter(|(_, never, _)| *never || !never_unchoked)
            .map(|(k, _, w)| (k, w))
            .collect();
        let total: u32 = pool.iter().map(|(_, w)| w).sum();
        if total == 0 {
            return None;
        }
        let mut draw = self.rng.gen_range(0..total);
        for (key, weight) in pool {
            if draw < weight {
                return Some(key);
            }
            draw -= weight;
        }
        None
    }

    /// A peer became interested: it may take a free slot at once.
    pub(super) fn on_interested(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.up.interested {
            return;
        }
        peer.up.interested = true;
        self.fill_slots(now);
    }

    /// A peer lost interest: its slot, if any, goes to someone else now.
    pub(super) fn on_not_interested(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.up.interested = false;
        if !peer.up.choking {
            self.choke_peer(now, key);
            self.fill_slots(now);
        }
    }

    /// Between rounds: gives free regular slots to the best-ranked waiting peers, and the
    /// optimistic slot, if nobody holds it, to a random one. Nobody who holds a slot loses it:
    /// reshuffling every slot whenever one peer's interest flips would choke and unchoke
    /// peers many times a round, and every choke throws away the requests it had queued.
    pub(super) fn fill_slots(&mut self, now: Duration) {
        let holders = |e: &Engine| {
            e.peers
                .values()
                .filter(|p| !p.up.choking && !p.up.optimistic)
                .count()
        };
        let free = self.config.upload_slots.saturating_sub(holders(self));
        if free > 0 {
            let waiting: Vec<PeerKey> = self
                .regular_slots(now, usize::MAX)
                .into_iter()
                .filter(|k| self.peers.get(k).is_some_and(|p| p.up.choking))
                .take(free)
                .collect();
            for key in waiting {
                self.unchoke_peer(now, key);
                self.pump_uploads(now, key);
            }
        }
        if !self.peers.values().any(|p| p.up.optimistic) {
            let regular: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| !p.up.choking)
                .map(|(k, _)| *k)
                .collect();
            if let Some(key) = self.pick_optimistic(now, &regular) {
                self.choker.next_optimistic = now + self.config.optimistic_interval;
                if let Some(p) = self.peers.get_mut(&key) {
                    p.up.optimistic = true;
                }
                self.unchoke_peer(now, key);
                self.pump_uploads(now, key);
            }
        }
    }
}

#[cfg(test)]
#[path = "choker_tests.rs"]
mod tests;
