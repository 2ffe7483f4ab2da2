//! The engine's reaction to each peer wire message.

use std::time::Duration;

use bytes::Bytes;

use crate::bencode;
use crate::bitfield::Bitfield;
use crate::geometry::BlockRef;
use crate::wire::Message;

use super::picker::Accept;
use super::{Action, Engine, Notice, PeerKey, Reason};

/// The BEP 10 extension message id of the extended handshake.
const EXTENDED_HANDSHAKE: u8 = 0;

impl Engine {
    /// A message arrived from `key`.
    pub fn message(&mut self, now: Duration, key: PeerKey, msg: Message) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.last_heard_at = now;
        let first = !peer.pieces_known;
        let fast = peer.fast;
        // Extension handshakes and the like may come before the bitfield (libtorrent sends
        // its BEP 10 handshake first); only piece announcements settle what the peer has.
        if matches!(
            msg,
            Message::Bitfield(_) | Message::HaveAll | Message::HaveNone | Message::Have(_)
        ) {
            peer.pieces_known = true;
        }
        let result = match msg {
            Message::KeepAlive | Message::Port(_) | Message::Suggest(_) => Ok(()),
            Message::Choke => {
                self.on_choke(now, key);
                Ok(())
            }
            Message::Unchoke => {
                if let Some(p) = self.peers.get_mut(&key) {
                    if p.choking_us {
                        p.choking_us = false;
                        self.notice(Notice::Unchoked(key));
                    }
                }
                self.fill_requests(now, key);
                Ok(())
            }
            // We do not upload yet: interest is noted by the peer, not acted on.
            Message::Interested | Message::NotInterested => Ok(()),
            Message::Have(piece) => self.on_have(now, key, piece),
            Message::Bitfield(bytes) if first => self.on_bitfield(now, key, &bytes),
            Message::HaveAll if first && fast => {
                let count = self.picker.geometry().piece_count();
                self.set_pieces(now, key, Bitfield::full(count));
                Ok(())
            }
            Message::HaveNone if first && fast => Ok(()),
            Message::Bitfield(_) | Message::HaveAll | Message::HaveNone => Err(format!(
                "{} after other messages or without the fast extension",
                msg.name()
            )),
            Message::Request(block) => {
                // Requests while we choke them are dropped (BEP 3) or rejected (BEP 6).
                if fast {
                    self.send(now, key, Message::Reject(block));
                }
                Ok(())
            }
            Message::Cancel(_) => Ok(()),
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_block(now, key, piece, offset, data),
            Message::Reject(block) if fast => {
                self.on_reject(now, key, block);
                Ok(())
            }
            Message::AllowedFast(piece) if fast => {
                if piece < self.picker.geometry().piece_count() {
                    if let Some(p) = self.peers.get_mut(&key) {
                        p.allowed_fast.insert(piece);
                    }
                    self.fill_requests(now, key);
                }
                Ok(())
            }
            Message::Reject(_) | Message::AllowedFast(_) => {
                Err(format!("{} without the fast extension", msg.name()))
            }
            Message::Extended { id, payload } => {
                if id == EXTENDED_HANDSHAKE {
                    self.on_extended_handshake(key, &payload);
                }
                Ok(())
            }
        };
        if let Err(why) = result {
            self.disconnect(key, Reason::Protocol(why));
        }
    }

    fn on_choke(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if !peer.choking_us {
            peer.choking_us = true;
            self.actions.push_back(Action::Notice(Notice::Choked(key)));
        }
        // Without BEP 6 a choke discards every pending request. With it, the peer rejects
        // each one it will not serve, except those for allowed-fast pieces it may still send.
        if !peer.fast {
            let dropped: Vec<BlockRef> = peer.in_flight.drain(..).map(|r| r.block).collect();
            for block in dropped {
                self.picker.release(key, block);
            }
        }
        self.fill_all(now);
    }

    fn on_have(&mut self, now: Duration, key: PeerKey, piece: u32) -> Result<(), String> {
        let count = self.picker.geometry().piece_count();
        if piece >= count {
            return Err(format!("have {piece} out of range ({count} pieces)"));
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if peer.pieces.get(piece) {
            return Ok(());
        }
        peer.pieces.set(piece, true);
        self.picker.add_have(piece);
        if !self.picker.have().get(piece) {
            if let Some(u) = self.useful.get_mut(&key) {
                *u += 1;
            }
        }
        self.update_interest(now, key);
        self.fill_requests(now, key);
        Ok(())
    }

    fn on_bitfield(&mut self, now: Duration, key: PeerKey, bytes: &Bytes) -> Result<(), String> {
        let count = self.picker.geometry().piece_count();
        let pieces = Bitfield::from_bytes(bytes, count).map_err(|e| e.to_string())?;
        self.set_pieces(now, key, pieces);
        Ok(())
    }

    fn set_pieces(&mut self, now: Duration, key: PeerKey, pieces: Bitfield) {
        let useful = self.picker.useful_count(&pieces);
        self.picker.add_availability(&pieces);
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.pieces = pieces;
        }
        self.useful.insert(key, useful);
        let both_seeds =
            self.picker.is_complete() && self.peers.get(&key).is_some_and(|p| p.is_seed());
        if both_seeds {
            self.disconnect(key, Reason::NotUseful);
            return;
        }
        self.update_interest(now, key);
        self.fill_requests(now, key);
    }

    fn on_reject(&mut self, now: Duration, key: PeerKey, block: BlockRef) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.take_request(block) {
            self.picker.release(key, block);
            // A reject for an allowed-fast piece means the peer no longer honours it. Any other
            // reject while unchoked means it will not serve that piece: do not ask again.
            if !peer.allowed_fast.remove(&block.piece) && !peer.choking_us {
                peer.refused.insert(block.piece, now);
            }
        }
        self.fill_all(now);
    }

    fn on_block(
        &mut self,
        now: Duration,
        key: PeerKey,
        piece: u32,
        offset: u32,
        data: Bytes,
    ) -> Result<(), String> {
        let len = data.len() as u64;
        self.stats.downloaded += len;
        let block = BlockRef {
            piece,
            offset,
            len: data.len() as u32,
        };
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if !peer.take_request(block) {
            // Not something we asked this peer for (or a request we gave up on): waste, unless
            // the picker still needs exactly this block from an earlier snub.
            let geometry = self.picker.geometry();
            let exact = geometry.is_valid_block(block)
                && offset % crate::geometry::BLOCK_LEN == 0
                && geometry.block(piece, offset / crate::geometry::BLOCK_LEN) == block;
            let addr = peer.addr;
            if exact && matches!(self.picker.receive(key, addr, block), Accept::Fresh { .. }) {
                self.actions.push_back(Action::Write { block, data });
            } else {
                self.stats.wasted += len;
            }
            return Ok(());
        }
        peer.rate.add(now, len);
        peer.last_block_at = now;
        if peer.snubbed {
            peer.snubbed = false;
        }
        let addr = peer.addr;
        match self.picker.receive(key, addr, block) {
            Accept::Fresh { cancel } => {
                self.actions.push_back(Action::Write { block, data });
                for other in cancel {
                    if let Some(p) = self.peers.get_mut(&other) {
                        if p.take_request(block) {
                            self.send(now, other, Message::Cancel(block));
                        }
                    }
                }
            }
            Accept::Duplicate => self.stats.wasted += len,
        }
        self.fill_requests(now, key);
        Ok(())
    }

    /// Reads `reqq` from the BEP 10 handshake: the most requests the peer will queue.
    fn on_extended_handshake(&mut self, key: PeerKey, payload: &[u8]) {
        let Ok(node) = bencode::decode(payload) else {
            return;
        };
        let reqq = node
            .get("reqq")
            .and_then(|n| n.as_int())
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r > 0);
        if let (Some(peer), Some(r)) = (self.peers.get_mut(&key), reqq) {
            peer.reqq = Some(r);
        }
    }
}
