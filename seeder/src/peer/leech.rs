//! The free rider's downloading half (`free_ride`): on every connection it behaves like a
//! leecher that has nothing to offer (interest, requests while unchoked), and its seeder's
//! connections share one [`Fetch`] so a block is asked of one peer at a time. It uploads
//! nothing: the serving half refuses every request, since it claims no piece.

use std::sync::Mutex;

use bitswarm_client::geometry::Geometry;
use bitswarm_client::wire::Message;
use bitswarm_client::{Bitfield, BlockRef};
use rand::Rng;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Conn, Ended};
use crate::event::EventKind;

/// Requests a free rider keeps outstanding per connection: enough to fill a simulated link,
/// well under any client's `reqq`.
pub const FREE_RIDE_PIPELINE: usize = 16;

/// Where each block stands for one free-riding seeder, shared by its connections.
#[derive(Debug)]
pub(crate) struct Fetch {
    geometry: Geometry,
    /// Per block (pieces in order, blocks in order within each): asked of some connection.
    asked: Vec<bool>,
    /// Per block: received.
    got: Vec<bool>,
    /// Blocks not yet received.
    missing: usize,
    /// Blocks before each piece's first, so a block's slot is `first[piece] + index`.
    first: Vec<usize>,
}

impl Fetch {
    pub fn new(geometry: &Geometry) -> Mutex<Fetch> {
        let mut first = Vec::with_capacity(geometry.piece_count() as usize);
        let mut total = 0usize;
        for piece in 0..geometry.piece_count() {
            first.push(total);
            total += geometry.block_count(piece) as usize;
        }
        Mutex::new(Fetch {
            geometry: geometry.clone(),
            asked: vec![false; total],
            got: vec![false; total],
            missing: total,
            first,
        })
    }

    fn slot(&self, block: BlockRef) -> Option<usize> {
        if !self.geometry.is_valid_block(block) {
            return None;
        }
        let index = block.offset / bitswarm_client::geometry::BLOCK_LEN;
        Some(self.first.get(block.piece as usize)? + index as usize)
    }

    /// Whether `piece` still has a block nobody was asked for.
    fn wants(&self, piece: u32) -> bool {
        let Some(&first) = self.first.get(piece as usize) else {
            return false;
        };
        let n = self.geometry.block_count(piece) as usize;
        (first..first + n).any(|s| !self.got[s] && !self.asked[s])
    }

    /// Gives up on `block` (rejected, choked, connection gone): another connection may ask.
    fn release(&mut self, block: BlockRef) {
        if let Some(s) = self.slot(block) {
            self.asked[s] = false;
        }
    }

    /// Records `block` as received; `false` if it was had already.
    fn receive(&mut self, block: BlockRef) -> bool {
        let Some(s) = self.slot(block) else {
            return false;
        };
        self.asked[s] = false;
        if self.got[s] {
            return false;
        }
        self.got[s] = true;
        self.missing -= 1;
        true
    }
}

/// One connection's view of the peer, for downloading from it.
#[derive(Debug, Default)]
pub(super) struct Leech {
    /// The pieces the peer has.
    remote: Option<Bitfield>,
    /// The peer unchoked us.
    unchoked: bool,
    /// We told the peer we are interested.
    interested: bool,
    /// Our requests the peer has not answered.
    asked: Vec<BlockRef>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Handles the messages a free rider cares about; `Ok(false)` for the others.
    pub(super) fn leech_on_message(&mut self, msg: &Message) -> Result<bool, Ended> {
        let Some(fetch) = &self.shared.fetch else {
            return Ok(false);
        };
        let count = self.shared.content.geometry().piece_count();
        let remote = self
            .leech
            .remote
            .get_or_insert_with(|| Bitfield::new(count));
        match msg {
            Message::Bitfield(bytes) => {
                *remote = Bitfield::from_bytes(bytes, count)
                    .map_err(|e| Ended::seeder(format!("bad bitfield: {e}")))?;
            }
            Message::HaveAll => *remote = Bitfield::full(count),
            Message::HaveNone => *remote = Bitfield::new(count),
            Message::Have(piece) if *piece < count => {
                remote.set(*piece, true);
            }
            Message::Have(piece) => return Err(Ended::seeder(format!("have {piece}"))),
            Message::Unchoke => self.leech.unchoked = true,
            Message::Choke => {
                self.leech.unchoked = false;
                self.leech_release();
            }
            Message::Reject(block) => {
                if let Some(at) = self.leech.asked.iter().position(|b| b == block) {
                    self.leech.asked.swap_remove(at);
                    if let Ok(mut f) = fetch.lock() {
                        f.release(*block);
                    }
                }
            }
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let block = BlockRef {
                    piece: *piece,
                    offset: *offset,
                    len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                };
                // Only answers to our own requests count; anything else is dropped.
                if let Some(at) = self.leech.asked.iter().position(|b| *b == block) {
                    self.leech.asked.swap_remove(at);
                    self.leech_received(block);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn leech_received(&mut self, block: BlockRef) {
        let Some(fetch) = &self.shared.fetch else {
            return;
        };
        let Ok(mut f) = fetch.lock() else {
            return;
        };
        if !f.receive(block) {
            return;
        }
        let complete = f.missing == 0;
        drop(f);
        let kind = EventKind::Received {
            piece: block.piece,
            offset: block.offset,
            len: block.len,
        };
        self.shared.emit(self.peer, kind);
        if complete {
            self.shared.emit(self.peer, EventKind::Complete);
        }
    }

    /// After the peer's messages: keeps our interest true and the pipeline full.
    pub(super) fn leech_step(&mut self) {
        let Some(fetch) = &self.shared.fetch else {
            return;
        };
        let Ok(mut f) = fetch.lock() else {
            return;
        };
        let Some(remote) = &self.leech.remote else {
            return;
        };
        let wanted: Vec<u32> = remote.iter_ones().filter(|&p| f.wants(p)).collect();
        let interested = !wanted.is_empty() || !self.leech.asked.is_empty();
        if interested != self.leech.interested {
            self.leech.interested = interested;
            let msg = if interested {
                Message::Interested
            } else {
                Message::NotInterested
            };
            msg.encode(&mut self.out);
        }
        if !self.leech.unchoked || wanted.is_empty() {
            return;
        }
        // A random wanted piece first, so free riders do not all chase the same pieces.
        let start = self.rng.gen_range(0..wanted.len());
        let order = wanted[start..].iter().chain(&wanted[..start]);
        for &piece in order {
            for index in 0..f.geometry.block_count(piece) {
                if self.leech.asked.len() >= FREE_RIDE_PIPELINE {
                    return;
                }
                let block = f.geometry.block(piece, index);
                let Some(s) = f.slot(block) else { continue };
                if f.got[s] || f.asked[s] {
                    continue;
                }
                f.asked[s] = true;
                self.leech.asked.push(block);
                Message::Request(block).encode(&mut self.out);
            }
        }
    }

    /// Hands this connection's outstanding requests back to the seeder's other connections.
    pub(super) fn leech_release(&mut self) {
        let Some(fetch) = &self.shared.fetch else {
            return;
        };
        if let Ok(mut f) = fetch.lock() {
            for block in self.leech.asked.drain(..) {
                f.release(block);
            }
        }
    }
}
