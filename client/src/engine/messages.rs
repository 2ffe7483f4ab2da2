//! The engine's reaction to each peer wire message.
//!
//! Cheap messages stay cheap: a choke, an unchoke, a reject or a have touches one peer; blocks
//! they release are handed out by the next refill (see `requests`), never by a pass over
//! every peer per message.

use std::time::Duration;

use bytes::Bytes;

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, BLOCK_LEN};
use crate::wire::{
    metadata_piece_len, ExtendedHandshake, Message, MetadataMessage, METADATA_PIECE_LEN,
    OUR_UT_METADATA_ID, OUR_UT_PEX_ID,
};

use super::picker::Accept;
use super::{Action, Engine, Notice, PeerKey, Reason, Violation};

/// The BEP 10 extension message id of the extended handshake.
const EXTENDED_HANDSHAKE: u8 = 0;

/// Bytes of blocks nobody asked for that a peer may send before it is disconnected. Every
/// request we gave up on (cancelled, timed out, lost to a choke) stays answerable for
/// [`super::peer::GIVEN_UP_GRACE`], so an honest peer sends nothing that lands here but a rare
/// straggler: two blocks forgive that, and a pusher is gone after its third block, before its
/// pushes can answer many of our own requests by coincidence (each of those fails a piece).
pub const MAX_UNREQUESTED: u64 = 2 * BLOCK_LEN as u64;

impl Engine {
    /// A message arrived from `key`.
    pub fn message(&mut self, now: Duration, key: PeerKey, msg: Message) {
        let heard = self.listening.clock(now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.last_heard = heard;
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
                self.on_unchoke(now, key);
                Ok(())
            }
            Message::Interested => {
                self.on_interested(now, key);
                Ok(())
            }
            Message::NotInterested => {
                self.on_not_interested(now, key);
                Ok(())
            }
            Message::Have(piece) => self.on_have(now, key, piece),
            Message::Bitfield(bytes) if first => self.on_bitfield(now, key, &bytes),
            Message::HaveAll if first && fast => {
                let count = self.picker.geometry().piece_count();
                self.set_pieces(now, key, Bitfield::full(count));
                Ok(())
            }
            Message::HaveNone if first && fast => Ok(()),
            Message::Bitfield(_) => Err(Violation::LatePieceList(msg.name())),
            Message::HaveAll | Message::HaveNone if !first => {
                Err(Violation::LatePieceList(msg.name()))
            }
            Message::HaveAll | Message::HaveNone => Err(Violation::NotNegotiated(msg.name())),
            Message::Request(block) => self.on_request(now, key, block),
            Message::Cancel(block) => {
                self.on_cancel(now, key, block);
                Ok(())
            }
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
                Err(Violation::NotNegotiated(msg.name()))
            }
            Message::Extended { id, payload } => {
                if id == EXTENDED_HANDSHAKE {
                    self.on_extended_handshake(now, key, &payload);
                } else if id == OUR_UT_METADATA_ID {
                    self.on_metadata_message(now, key, &payload);
                } else if id == OUR_UT_PEX_ID {
                    self.on_pex(now, key, &payload);
                }
                Ok(())
            }
        };
        if let Err(why) = result {
            self.disconnect(now, key, Reason::Protocol(why));
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
        // Without BEP 6 a choke discards every pending request (though blocks already on the
        // wire may still come). With it, the peer rejects each one it will not serve, except
        // those for allowed-fast pieces it may still send, so nothing is released here.
        if !peer.fast && !peer.in_flight.is_empty() {
            let dropped: Vec<BlockRef> = peer.in_flight.drain(..).map(|r| r.block).collect();
            for block in &dropped {
                peer.give_up(*block, now);
            }
            for block in dropped {
                self.picker.release(key, block);
            }
            self.refill_due = true;
        }
    }

    fn on_unchoke(&mut self, now: Duration, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            if p.choking_us {
                p.choking_us = false;
                self.notice(Notice::Unchoked(key));
            }
        }
        self.fill_requests(now, key);
    }

    fn on_have(&mut self, now: Duration, key: PeerKey, piece: u32) -> Result<(), Violation> {
        let count = self.picker.geometry().piece_count();
        if piece >= count {
            return Err(Violation::HaveOutOfRange { piece, count });
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if peer.pieces.get(piece) {
            return Ok(());
        }
        peer.pieces.set(piece, true);
        if !self.picker.have().get(piece) {
            peer.wanted += 1;
        }
        self.picker.add_have(piece);
        self.update_interest(now, key);
        self.fill_requests(now, key);
        Ok(())
    }

    fn on_bitfield(&mut self, now: Duration, key: PeerKey, bytes: &Bytes) -> Result<(), Violation> {
        let count = self.picker.geometry().piece_count();
        let pieces = Bitfield::from_bytes(bytes, count).map_err(Violation::BadBitfield)?;
        self.set_pieces(now, key, pieces);
        Ok(())
    }

    fn set_pieces(&mut self, now: Duration, key: PeerKey, pieces: Bitfield) {
        let wanted = self.picker.useful_count(&pieces);
        self.picker.add_availability(&pieces);
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.pieces = pieces;
        peer.wanted = wanted;
        if self.picker.is_complete() && peer.is_seed() {
            self.disconnect(now, key, Reason::NotUseful);
            return;
        }
        self.update_interest(now, key);
        self.fill_requests(now, key);
    }

    fn on_reject(&mut self, now: Duration, key: PeerKey, block: BlockRef) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        // BEP 6 has a peer answer each cancel with the block or a reject, in order. A reject
        // for a block we cancelled and have asked of it again since answers the cancel: taken
        // as the new request's, it would drop a request the peer is serving, and the block
        // asked of others would then come twice.
        let asked_again = peer.in_flight.iter().any(|r| r.block == block);
        if asked_again && peer.take_cancelled(block) {
            return;
        }
        if !peer.take_request(block) {
            return;
        }
        // A reject for an allowed-fast piece means the peer no longer honours it. Any other
        // reject while unchoked means it will not serve that piece: do not ask again.
        if !peer.allowed_fast.remove(&block.piece) && !peer.choking_us {
            peer.refused.insert(block.piece, now);
        }
        let parole = peer.parole;
        self.picker.release(key, block);
        if parole {
            // It will not finish its exclusive piece: let others.
            self.picker.release_exclusive(key);
        }
        self.refill_due = true;
    }

    fn on_block(
        &mut self,
        now: Duration,
        key: PeerKey,
        piece: u32,
        offset: u32,
        data: Bytes,
    ) -> Result<(), Violation> {
        let len = data.len() as u64;
        self.stats.downloaded += len;
        let block = BlockRef {
            piece,
            offset,
            len: data.len() as u32,
        };
        let heard = self.listening.clock(now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if peer.take_request(block) {
            peer.rate.add(heard, len);
            peer.received += len;
            peer.last_block_heard = heard;
            peer.snubbed = false;
            peer.delivered = true;
            self.accept_block(now, key, block, data);
            self.fill_requests(now, key);
            return Ok(());
        }
        if peer.take_given_up(block, now) {
            // The answer to a request we gave up on: used if still needed, else waste that is
            // nobody's fault. Not from a peer on parole: its data goes into its own pieces only.
            if peer.parole {
                self.stats.wasted += len;
            } else {
                self.accept_block(now, key, block, data);
            }
            return Ok(());
        }
        // Nobody asked for this: waste charged to the sender, never written.
        self.stats.wasted += len;
        peer.unrequested += len;
        if peer.unrequested > MAX_UNREQUESTED {
            return Err(Violation::Unrequested {
                bytes: peer.unrequested,
            });
        }
        Ok(())
    }

    /// A requested block arrived: write it, and cancel the other requests for it.
    fn accept_block(&mut self, now: Duration, key: PeerKey, block: BlockRef, data: Bytes) {
        let Some(addr) = self.peers.get(&key).map(|p| p.addr) else {
            return;
        };
        match self.picker.receive(key, addr, block) {
            Accept::Fresh { cancel } => {
                self.actions.push_back(Action::Write { block, data });
                for other in cancel {
                    if let Some(p) = self.peers.get_mut(&other) {
                        if p.take_request(block) {
                            p.give_up(block, now);
                            self.send(now, other, Message::Cancel(block));
                        }
                    }
                }
            }
            Accept::Duplicate => self.stats.wasted += block.len as u64,
        }
    }

    /// Reads the BEP 10 handshake, once per peer: later ones are ignored, so a peer cannot
    /// make us parse a large dictionary over and over. `reqq` caps our queue to it.
    fn on_extended_handshake(&mut self, now: Duration, key: PeerKey, payload: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if std::mem::replace(&mut peer.extended_seen, true) {
            return;
        }
        if let Ok(hs) = ExtendedHandshake::parse(payload) {
            peer.reqq = hs.reqq;
            peer.ut_metadata = hs.id("ut_metadata");
            peer.listen_port = hs.port;
            peer.pex.id = hs.id("ut_pex");
            // The first message goes out at the next tick: it is what a newcomer that found
            // one peer needs to find the rest.
            peer.pex.next_at = now;
        }
    }

    /// A BEP 9 message: a request is answered with the piece of our info dictionary, or a
    /// reject when we have none or no such piece. We never ask, so data and rejects are
    /// dropped; so is anything malformed (it costs one parse, and the peer stays useful).
    fn on_metadata_message(&mut self, now: Duration, key: PeerKey, payload: &Bytes) {
        let Some(ext_id) = self.peers.get(&key).and_then(|p| p.ut_metadata) else {
            return;
        };
        let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(payload) else {
            return;
        };
        let data = self.metadata.as_ref().and_then(|info| {
            let total = u32::try_from(info.len()).ok()?;
            let len = metadata_piece_len(total, piece)?;
            let start = piece as usize * METADATA_PIECE_LEN as usize;
            let data = info.slice(start..start + len as usize);
            Some(MetadataMessage::Data {
                piece,
                total_size: total,
                data,
            })
        });
        let answer = data.unwrap_or(MetadataMessage::Reject { piece });
        let payload = answer.encode();
        self.send(
            now,
            key,
            Message::Extended {
                id: ext_id,
                payload,
            },
        );
    }
}
