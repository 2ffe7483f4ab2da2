//! Serving peers: their requests checked and queued, blocks read from storage within a window,
//! cancels and chokes honoured, what was written counted.
//!
//! Architecture Invariant: a peer's requests are served only while we unchoke it, only for
//! pieces we have verified, and at most `max_requests_in` wait; at most `upload_window` bytes
//! are being read for it or sit unwritten in its outbox, so a peer that requests a lot and
//! reads slowly costs a bounded amount of memory.

use std::time::Duration;

use bytes::Bytes;

use crate::geometry::{BlockRef, BLOCK_LEN};
use crate::wire::Message;

use super::{Action, Engine, PeerKey, Violation};

/// How much time's worth of a peer's measured upload rate we keep read or queued for it.
pub const UPLOAD_WINDOW_TIME: Duration = Duration::from_secs(1);

/// The smallest upload window: two blocks, so a new or slow peer's stream never runs dry
/// for want of a read, while a cancel still reaches every block behind those two (a slow or
/// capped peer takes seconds per block, and a block already handed to its socket cannot be
/// called back: an endgame duplicate the requester has cancelled arrives anyway).
pub const MIN_UPLOAD_WINDOW: u64 = 2 * BLOCK_LEN as u64;

impl Engine {
    /// A request from `key`: checked, then queued, refused (BEP 6 reject) or dropped.
    pub(super) fn on_request(
        &mut self,
        now: Duration,
        key: PeerKey,
        block: BlockRef,
    ) -> Result<(), Violation> {
        let geometry = self.picker.geometry();
        if !geometry.is_valid_block(block) || block.len > BLOCK_LEN || block.len == 0 {
            return Err(Violation::BadRequest(block));
        }
        let have = self.picker.have().get(block.piece);
        let max = self.config.max_requests_in;
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if peer.up.choking || !have {
            // Not now (BEP 3 drops it, BEP 6 says so), or not a piece we can serve.
            if peer.fast {
                self.send(now, key, Message::Reject(block));
            }
            return Ok(());
        }
        if peer.up.queued.contains(&block) || peer.up.reading.contains(&block) {
            return Ok(());
        }
        if peer.up.queue.len() >= max {
            return Err(Violation::RequestFlood { queued: max });
        }
        peer.up.queue.push_back(block);
        peer.up.queued.insert(block);
        self.pump_uploads(now, key);
        Ok(())
    }

    /// A cancel from `key`: the request is dropped wherever it is (BEP 6: answered with a
    /// reject, so every request gets exactly one answer).
    pub(super) fn on_cancel(&mut self, now: Duration, key: PeerKey, block: BlockRef) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let queued = peer.up.queued.remove(&block)
            && match peer.up.queue.iter().position(|b| *b == block) {
                Some(i) => peer.up.queue.remove(i).is_some(),
                None => false,
            };
        let reading = match peer.up.reading.iter().position(|b| *b == block) {
            Some(i) => {
                peer.up.reading.remove(i);
                peer.up.pending = peer.up.pending.saturating_sub(u64::from(block.len));
                true
            }
            None => false,
        };
        if (queued || reading) && peer.fast {
            self.send(now, key, Message::Reject(block));
        }
        self.pump_uploads(now, key);
    }

    /// Hands the peer's next requests to storage while its window has room. The window is
    /// what the peer takes in [`UPLOAD_WINDOW_TIME`] at its measured rate (at least
    /// [`MIN_UPLOAD_WINDOW`], at most `upload_window`): a fast peer's stream stays full, while
    /// for a slow or capped one requests wait in our queue, where a cancel still reaches them,
    /// instead of in its socket's queue, where it cannot.
    pub(super) fn pump_uploads(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        let by_rate = peer.up.rate.per_second(now) as f64 * UPLOAD_WINDOW_TIME.as_secs_f64();
        // The configured window is the hard cap, even below the floor.
        let window = (by_rate as u64)
            .max(MIN_UPLOAD_WINDOW)
            .min(self.config.upload_window);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        while peer.up.pending < window && !peer.up.choking {
            let Some(block) = peer.up.queue.pop_front() else {
                break;
            };
            peer.up.queued.remove(&block);
            peer.up.pending += u64::from(block.len);
            peer.up.reading.push(block);
            self.actions.push_back(Action::Read { key, block });
        }
    }

    /// A block handed out with [`Action::Read`] was read: it goes to the peer if it still
    /// wants it (not cancelled, not choked since).
    pub fn block_read(&mut self, now: Duration, key: PeerKey, block: BlockRef, data: Bytes) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(i) = peer.up.reading.iter().position(|b| *b == block) else {
            return;
        };
        peer.up.reading.remove(i);
        if data.len() != block.len as usize {
            peer.up.pending = peer.up.pending.saturating_sub(u64::from(block.len));
            return;
        }
        let msg = Message::Piece {
            piece: block.piece,
            offset: block.offset,
            data,
        };
        self.send(now, key, msg);
    }

    /// A read handed out with [`Action::Read`] failed: the peer is told no (BEP 6).
    pub fn read_failed(&mut self, now: Duration, key: PeerKey, block: BlockRef) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let Some(i) = peer.up.reading.iter().position(|b| *b == block) else {
            return;
        };
        peer.up.reading.remove(i);
        peer.up.pending = peer.up.pending.saturating_sub(u64::from(block.len));
        if peer.fast {
            self.send(now, key, Message::Reject(block));
        }
        self.pump_uploads(now, key);
    }

    /// `bytes` of block payload were written to `key`'s socket.
    pub fn uploaded(&mut self, now: Duration, key: PeerKey, bytes: u64) {
        self.stats.uploaded += bytes;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.up.pending = peer.up.pending.saturating_sub(bytes);
        peer.up.rate.add(now, bytes);
        self.pump_uploads(now, key);
    }

    /// Stops serving `key`: its queued requests are rejected (BEP 6) or dropped (BEP 3), and
    /// blocks being read for it are dropped when they come back.
    pub(super) fn choke_peer(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.up.choking {
            return;
        }
        peer.up.choking = true;
        peer.up.optimistic = false;
        peer.up.slot_lost_at = Some(now);
        let fast = peer.fast;
        let mut refused: Vec<BlockRef> = peer.up.queue.drain(..).collect();
        peer.up.queued.clear();
        refused.append(&mut peer.up.reading);
        peer.up.pending = 0;
        self.send(now, key, Message::Choke);
        if fast {
            for block in refused {
                self.send(now, key, Message::Reject(block));
            }
        }
    }

    /// Starts serving `key`.
    pub(super) fn unchoke_peer(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.up.choking {
            peer.up.choking = false;
            self.send(now, key, Message::Unchoke);
        }
    }
}
