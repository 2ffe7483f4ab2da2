//! Time-driven work: snub detection, request timeouts, keep-alives, idle peers, squatters,
//! dialling, and the batched refill.

use std::time::Duration;

use crate::geometry::BlockRef;
use crate::wire::Message;

use super::{Action, Engine, Notice, PeerKey, Reason};

impl Engine {
    /// Time passed: run every deadline that is due. Call it at [`Engine::next_timeout`], or
    /// more often; it is idempotent.
    pub fn tick(&mut self, now: Duration) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.tick_peer(now, key);
        }
        self.swarm.expire(now);
        let full = self.peers.len() + self.swarm.connecting() >= self.config.max_peers;
        let waiting = self
            .swarm
            .next_dial_at(now, &self.config)
            .is_some_and(|t| t <= now);
        if full && waiting && !self.completed {
            self.evict_squatter(now, true);
        }
        if self.endgame_due(now) {
            self.refill_due = true;
        }
        self.pex_tick(now);
        self.dial(now);
        self.refill_if_due(now);
        if now >= self.choker.next_round && self.peers.values().any(|p| p.up.interested) {
            self.rechoke(now);
        }
    }

    fn tick_peer(&mut self, now: Duration, key: PeerKey) {
        let config = &self.config;
        // Peers are judged on the listening clock: time our own disk kept us from reading
        // what they sent does not count against them.
        let heard = self.listening.clock(now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.refused
            .retain(|_, at| now.saturating_sub(*at) < super::peer::REFUSAL_TTL);
        while peer
            .given_up
            .front()
            .is_some_and(|(_, at)| now.saturating_sub(*at) >= super::peer::GIVEN_UP_GRACE)
        {
            peer.given_up.pop_front();
        }
        if heard.saturating_sub(peer.last_heard) >= config.idle_timeout {
            self.disconnect(now, key, Reason::Idle);
            return;
        }
        // Snubbed: requests outstanding but no block for a while. Its requests go to others.
        let waiting = !peer.in_flight.is_empty();
        let given_up: Vec<BlockRef> = if waiting
            && !peer.snubbed
            && heard.saturating_sub(peer.last_block_heard) >= config.snub_timeout
        {
            peer.snubbed = true;
            self.actions.push_back(Action::Notice(Notice::Snubbed(key)));
            peer.in_flight.drain(..).map(|r| r.block).collect()
        } else {
            // Individually stale requests (e.g. a peer that silently skips some).
            let timeout = config.request_timeout;
            let mut stale = Vec::new();
            peer.in_flight.retain(|r| {
                let old = heard.saturating_sub(r.listened_at) >= timeout;
                if old {
                    stale.push(r.block);
                }
                !old
            });
            stale
        };
        if !given_up.is_empty() {
            // Its remaining request slot goes to other pieces than those it sat on.
            for block in &given_up {
                peer.refused.insert(block.piece, now);
                peer.give_up(*block, now);
            }
            let snubbed = peer.snubbed;
            for block in given_up {
                self.picker.release(key, block);
                self.send(now, key, Message::Cancel(block));
            }
            if snubbed {
                self.picker.release_exclusive(key);
            }
            self.refill_due = true;
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if now.saturating_sub(peer.last_sent_at) >= self.config.keepalive_interval {
            self.send(now, key, Message::KeepAlive);
        }
    }

    /// The earliest time at which [`Engine::tick`] has something to do, if any. `now` is the
    /// current time (deadlines depend on the dial rate, which refills with time).
    pub fn next_timeout(&self, now: Duration) -> Option<Duration> {
        let c = &self.config;
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| {
            next = Some(next.map_or(t, |n: Duration| n.min(t)));
        };
        // Deadlines on the listening clock, as wall times; none while not reading (the call
        // after reading resumes finds them).
        let heard = |t: Duration| self.listening.wall_time_of(now, t);
        for peer in self.peers.values() {
            consider(peer.last_sent_at + c.keepalive_interval);
            let oldest = peer.in_flight.first();
            let judged = [
                Some(peer.last_heard + c.idle_timeout),
                oldest.map(|r| r.listened_at + c.request_timeout),
                oldest
                    .filter(|_| !peer.snubbed)
                    .map(|_| peer.last_block_heard + c.snub_timeout),
            ];
            for t in judged.into_iter().flatten().filter_map(heard) {
                consider(t);
            }
        }
        if let Some(t) = self.next_refill_at() {
            consider(t);
        }
        if let Some(t) = self.pex_deadline() {
            consider(t);
        }
        if self.peers.values().any(|p| p.up.interested) {
            consider(self.choker.next_round);
        }
        if let Some(t) = self.next_endgame_at(now) {
            consider(t);
        }
        match self.next_dial_at(now) {
            Some(t) => consider(t),
            None if !self.completed && self.swarm.next_dial_at(now, c).is_some() => {
                // Full, with candidates waiting: wake when a peer becomes a squatter (on the
                // listening clock, so none while not reading).
                let soonest = self
                    .peers
                    .values()
                    .filter(|p| !p.interested && !p.snubbed)
                    .filter_map(|p| heard(p.useful_at() + c.squat_grace))
                    .filter(|t| *t > now)
                    .min();
                if let Some(t) = soonest {
                    consider(t);
                }
            }
            None => {}
        }
        next
    }
}
