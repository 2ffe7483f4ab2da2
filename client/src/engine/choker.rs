//! The choker: whom we upload to. Sans-IO like the rest of the engine: time comes in, and its
//! decisions are choke and unchoke messages.
//!
//! Every `choke_interval` (10 s) it gives `upload_slots` (4) regular slots to interested peers:
//! - **while downloading**, to those that upload to us fastest (tit-for-tat), leaving out
//!   peers that snub us (no block for the snub timeout while we wait on them): reciprocity is
//!   what makes a swarm trade;
//! - **while seeding**, round-robin: the peers that have waited longest since their last slot
//!   go first, so every leecher gets its turn and one fast peer cannot monopolize the seed
//!   (libtorrent's default for seeds; ranking by our upload rate instead would feed the
//!   best-connected peers and starve the rest of the swarm of new pieces).
//!
//! One more slot, the **optimistic unchoke**, moves every `optimistic_interval` (30 s) to a
//! random choked, interested peer, newly connected peers weighted three to one: it is how a
//! newcomer with nothing to trade gets its first pieces, and how we find peers faster than
//! our current ones. A slot that frees up (a peer loses interest or leaves) is refilled at
//! once instead of at the next round.

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
        let regular = self.regular_slots(now);
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

    /// The peers that get a regular slot now, best first.
    fn regular_slots(&self, now: Duration) -> Vec<PeerKey> {
        let seeding = self.picker.is_complete();
        let mut ranked: Vec<(PeerKey, u64, Duration)> = self
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
                (*k, p.rate.per_second(now), turn)
            })
            .collect();
        if seeding {
            ranked.sort_by_key(|(k, _, turn)| (*turn, *k));
        } else {
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        ranked
            .into_iter()
            .take(self.config.upload_slots)
            .map(|(k, _, _)| k)
            .collect()
    }

    /// A random choked, interested peer outside `regular`, new peers weighted up.
    fn pick_optimistic(&mut self, now: Duration, regular: &[PeerKey]) -> Option<PeerKey> {
        let pool: Vec<(PeerKey, u32)> = self
            .peers
            .iter()
            .filter(|(k, p)| p.up.interested && !regular.contains(k))
            .map(|(k, p)| {
                let new = now.saturating_sub(p.connected_at) < NEW_PEER;
                (*k, if new { NEW_PEER_WEIGHT } else { 1 })
            })
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

    /// A peer became interested: unchoke it at once if a regular slot is free.
    pub(super) fn on_interested(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.up.interested {
            return;
        }
        peer.up.interested = true;
        let held = self
            .peers
            .values()
            .filter(|p| !p.up.choking && !p.up.optimistic)
            .count();
        if held < self.config.upload_slots {
            self.unchoke_peer(now, key);
        } else if !self.peers.values().any(|p| p.up.optimistic) {
            // Nobody holds the optimistic slot: this newcomer may.
            self.choker.next_optimistic = now;
            self.rechoke(now);
        }
    }

    /// A peer lost interest: its slot, if any, goes to someone else now.
    pub(super) fn on_not_interested(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.up.interested = false;
        if !peer.up.choking {
            self.choke_peer(now, key);
            self.rechoke(now);
        }
    }
}

#[cfg(test)]
#[path = "choker_tests.rs"]
mod tests;
