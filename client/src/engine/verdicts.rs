//! What storage tells the engine (a block written, a piece hashed) and the verdicts that follow:
//! `have` to everyone, blame, parole and bans.

use std::net::SocketAddr;
use std::time::Duration;

use crate::geometry::BlockRef;
use crate::wire::Message;

use super::{Action, Checked, Engine, Notice, PeerKey, Reason};

impl Engine {
    /// A block handed out with [`Action::Write`] is on disk.
    pub fn block_written(&mut self, _now: Duration, block: BlockRef) {
        if self.picker.written(block) {
            let block_hashes = self.blame.wants_block_hashes(block.piece);
            self.actions.push_back(Action::Verify {
                piece: block.piece,
                block_hashes,
            });
        }
    }

    /// A block could not be written; it will be fetched again. The shell decides whether the
    /// error is fatal (a full disk stops the torrent).
    pub fn write_failed(&mut self, _now: Duration, block: BlockRef) {
        self.picker.write_failed(block);
        self.refill_due = true;
    }

    /// A piece handed out with [`Action::Verify`] was hashed.
    pub fn piece_checked(&mut self, now: Duration, result: Checked) {
        let piece = result.piece;
        let Some(sent) = self.picker.take_senders(piece) else {
            return;
        };
        let senders = sent.senders;
        let hashes = result.block_hashes.as_deref();
        let to_ban = if result.ok {
            self.picker.verified(piece);
            self.notice(Notice::PieceVerified(piece));
            let banned = self
                .blame
                .piece_passed(piece, &senders, hashes, sent.cleared_by);
            for addr in senders.iter().flatten() {
                self.swarm.prove(*addr);
            }
            self.update_parole(now);
            self.on_piece_verified(now, piece);
            banned
        } else {
            self.picker.failed(piece);
            self.stats.wasted += u64::from(self.picker.geometry().piece_len(piece));
            self.notice(Notice::PieceFailed(piece));
            let banned =
                self.blame
                    .piece_failed(piece, &senders, hashes.unwrap_or(&[]), sent.on_parole);
            self.taint(piece, &senders);
            self.update_parole(now);
            banned
        };
        for addr in to_ban {
            self.ban(now, addr);
        }
        self.refill_due = true;
    }

    /// Marks `piece` as tainted for every connected sender of its failed copy.
    fn taint(&mut self, piece: u32, senders: &[Option<SocketAddr>]) {
        for peer in self.peers.values_mut() {
            if senders.contains(&Some(peer.addr)) {
                peer.tainted.insert(piece);
            }
        }
    }

    /// Brings each peer's parole flag in line with smart ban's verdicts. A peer going on
    /// parole keeps the pieces it alone is fetching (now its own), and loses its requests and
    /// written blocks in pieces others share (see [`super::picker::Picker::parole`]). A peer
    /// leaving parole gives up the exclusivity of its pieces.
    fn update_parole(&mut self, now: Duration) {
        let mut changed = Vec::new();
        for (key, peer) in self.peers.iter_mut() {
            let on = self.blame.on_parole(&peer.addr);
            if peer.parole != on {
                changed.push((*key, peer.addr, on));
            }
            peer.parole = on;
        }
        for (key, addr, on) in changed {
            if !on {
                self.picker.release_exclusive(key);
                continue;
            }
            let (released, discarded) = self.picker.parole(key, addr);
            self.stats.wasted += discarded;
            if let Some(peer) = self.peers.get_mut(&key) {
                for block in &released {
                    if peer.take_request(*block) {
                        peer.give_up(*block, now);
                    }
                }
            }
            for block in released {
                self.send(now, key, Message::Cancel(block));
            }
        }
    }

    fn on_piece_verified(&mut self, now: Duration, piece: u32) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            peer.tainted.remove(&piece);
            if peer.pieces.get(piece) {
                peer.wanted = peer.wanted.saturating_sub(1);
            } else {
                self.send(now, key, Message::Have(piece));
            }
            self.update_interest(now, key);
        }
        if self.picker.is_complete() && !self.completed {
            self.completed = true;
            self.notice(Notice::Complete);
            // Seeds have nothing for us and want nothing from us.
            let seeds: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| p.is_seed())
                .map(|(k, _)| *k)
                .collect();
            for key in seeds {
                self.disconnect(now, key, Reason::NotUseful);
            }
        }
    }

    /// Bans an address: disconnects it, never talks to it (or its peer ids) again, and
    /// refetches from others the blocks it sent into pieces not yet verified.
    pub(super) fn ban(&mut self, now: Duration, addr: SocketAddr) {
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr == addr)
            .map(|(k, _)| *k)
            .collect();
        let mut newly = false;
        for key in &keys {
            let id = self.peers.get(key).map(|p| p.peer_id);
            newly |= self.swarm.ban(now, addr, id);
        }
        if keys.is_empty() {
            newly = self.swarm.ban(now, addr, None);
        }
        if !newly {
            return;
        }
        self.stats.banned += 1;
        self.notice(Notice::Banned(addr));
        for key in keys {
            self.disconnect(now, key, Reason::Banned);
        }
        self.stats.wasted += self.picker.discard_from(addr);
        self.refill_due = true;
    }
}
