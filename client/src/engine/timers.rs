//! Time-driven work: dialling, snub detection, request timeouts, keep-alives, idle peers.

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
        self.dial(now);
        self.fill_all(now);
    }

    fn tick_peer(&mut self, now: Duration, key: PeerKey) {
        let config = &self.config;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.refused
            .retain(|_, at| now.saturating_sub(*at) < super::peer::REFUSAL_TTL);
        if now.saturating_sub(peer.last_heard_at) >= config.idle_timeout {
            self.disconnect(key, Reason::Idle);
            return;
        }
        // Snubbed: requests outstanding but no block for a while. Its requests go to others.
        let waiting = !peer.in_flight.is_empty();
        if waiting && !peer.snubbed && now.saturating_sub(peer.last_block_at) >= config.snub_timeout
        {
            peer.snubbed = true;
            let given_up: Vec<BlockRef> = peer.in_flight.drain(..).map(|r| r.block).collect();
            // Its one remaining request slot goes to other pieces than those it sat on.
            for block in &given_up {
                peer.refused.insert(block.piece, now);
            }
            self.actions.push_back(Action::Notice(Notice::Snubbed(key)));
            for block in given_up {
                self.picker.release(key, block);
                self.send(now, key, Message::Cancel(block));
            }
        } else {
            // Individually stale requests (e.g. a peer that silently skips some).
            let timeout = config.request_timeout;
            let mut stale = Vec::new();
            peer.in_flight.retain(|r| {
                let old = now.saturating_sub(r.sent_at) >= timeout;
                if old {
                    stale.push(r.block);
                }
                !old
            });
            for block in &stale {
                peer.refused.insert(block.piece, now);
            }
            for block in stale {
                self.picker.release(key, block);
                self.send(now, key, Message::Cancel(block));
            }
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if now.saturating_sub(peer.last_sent_at) >= self.config.keepalive_interval {
            self.send(now, key, Message::KeepAlive);
        }
    }

    /// Dials candidates whose retry time has come, while there is room for more peers.
    pub(super) fn dial(&mut self, now: Duration) {
        if self.completed {
            return;
        }
        let mut room = self
            .config
            .max_peers
            .saturating_sub(self.peers.len() + self.connecting.len());
        if room == 0 {
            return;
        }
        let connected: Vec<_> = self.peers.values().map(|p| p.addr).collect();
        let due: Vec<_> = self
            .candidates
            .iter()
            .filter(|(addr, c)| {
                c.next_attempt <= now
                    && !self.connecting.contains(addr)
                    && !connected.contains(addr)
            })
            .map(|(addr, _)| *addr)
            .collect();
        for addr in due {
            if room == 0 {
                break;
            }
            room -= 1;
            self.connecting.insert(addr);
            self.actions.push_back(Action::Connect(addr));
        }
    }

    /// The earliest time at which [`Engine::tick`] has something to do, if any.
    pub fn next_timeout(&self) -> Option<Duration> {
        let c = &self.config;
        let mut next: Option<Duration> = None;
        let mut consider = |t: Duration| {
            next = Some(next.map_or(t, |n: Duration| n.min(t)));
        };
        for peer in self.peers.values() {
            consider(peer.last_heard_at + c.idle_timeout);
            consider(peer.last_sent_at + c.keepalive_interval);
            if let Some(oldest) = peer.in_flight.iter().map(|r| r.sent_at).min() {
                consider(oldest + c.request_timeout);
                if !peer.snubbed {
                    consider(peer.last_block_at + c.snub_timeout);
                }
            }
        }
        if !self.completed && self.peers.len() + self.connecting.len() < c.max_peers {
            let connected: Vec<_> = self.peers.values().map(|p| p.addr).collect();
            for (addr, cand) in &self.candidates {
                if !self.connecting.contains(addr) && !connected.contains(addr) {
                    consider(cand.next_attempt);
                }
            }
        }
        next
    }
}
