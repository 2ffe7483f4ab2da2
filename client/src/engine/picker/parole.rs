//! The picker's side of smart ban: pieces kept whole for a peer on parole, and the blocks of a
//! suspect or banned peer taken back.

use std::net::SocketAddr;

use rand_chacha::ChaCha8Rng;

use crate::geometry::BlockRef;

use super::{Ask, BlockState, PeerKey, Picker};

impl Picker {
    /// For a peer on parole: the rest of its own piece; else a started piece nobody has sent
    /// anything for yet, or a new one, which becomes its own. Only when that gives nothing
    /// and no healthy peer is left (`ask.may_share`) does it help with shared pieces, so the
    /// download cannot deadlock with every peer under suspicion.
    pub(super) fn pick_on_parole(
        &mut self,
        ask: &Ask<'_>,
        allowed: &dyn Fn(u32) -> bool,
        rng: &mut ChaCha8Rng,
        out: &mut Vec<BlockRef>,
    ) {
        let mine = Some(ask.peer);
        let own: Vec<(u32, usize)> = self
            .partials
            .iter()
            .filter(|(_, part)| part.owner == mine)
            .map(|(p, part)| (*p, part.open))
            .collect();
        if !own.is_empty() {
            // Its own pieces first, and no new one while it has one: each verdict comes before
            // more of its data.
            for (piece, _) in own.into_iter().filter(|(_, open)| *open > 0) {
                self.take_open(piece, ask, out);
                if out.len() >= ask.max {
                    break;
                }
            }
            return;
        }
        let untouched = self
            .partials
            .iter()
            .find(|(p, part)| {
                part.owner.is_none() && part.open == part.blocks.len() && allowed(**p)
            })
            .map(|(p, _)| *p);
        let piece = untouched.or_else(|| self.start_new(ask, allowed, rng));
        if let Some(piece) = piece {
            if let Some(part) = self.partials.get_mut(&piece) {
                part.owner = mine;
                part.adopted = false;
            }
            self.take_open(piece, ask, out);
        } else if ask.may_share {
            self.pick_started(ask, allowed, out);
        }
    }

    /// `peer` no longer fetches its exclusive pieces alone (it left, was snubbed, or came off
    /// parole): others may finish them.
    pub fn release_exclusive(&mut self, peer: PeerKey) {
        for part in self.partials.values_mut() {
            if part.owner == Some(peer) {
                part.owner = None;
                part.adopted = false;
            }
        }
    }

    /// Reopens every block of an unfinished piece that `from` sent and that is on disk (a
    /// banned peer's data is presumed bad): those blocks are fetched again from others instead
    /// of failing their pieces. Blocks whose write is still pending are left, so a block is
    /// never written twice at once. Returns the bytes discarded.
    pub fn discard_from(&mut self, from: SocketAddr) -> u64 {
        let mut bytes = 0;
        for (&piece, part) in self.partials.iter_mut() {
            for i in 0..part.blocks.len() {
                if part.senders[i] == Some(from) && part.blocks[i] == BlockState::Written {
                    part.blocks[i] = BlockState::Open;
                    part.senders[i] = None;
                    part.open += 1;
                    part.written -= 1;
                    bytes += u64::from(self.geometry.block(piece, i as u32).len);
                }
            }
        }
        bytes
    }

    /// A peer goes on parole. Pieces that only it has been asked for or sent blocks of become
    /// its own (their verdict will be its alone); in pieces others share, its requests are
    /// released (returned, for the caller to cancel) and the blocks it sent on disk reopened,
    /// so a corrupter stops spoiling others' pieces at once. Returns the released requests
    /// and the bytes discarded.
    pub fn parole(&mut self, peer: PeerKey, from: SocketAddr) -> (Vec<BlockRef>, u64) {
        let mut released = Vec::new();
        let mut discarded = 0;
        for (&piece, part) in self.partials.iter_mut() {
            if part.owner.is_some() {
                continue;
            }
            let mut involved = false;
            let mut others = false;
            for (state, sender) in part.blocks.iter().zip(&part.senders) {
                match state {
                    BlockState::Open => {}
                    BlockState::Requested { owners, .. } => {
                        involved |= owners.contains(&peer);
                        others |= owners.iter().any(|o| *o != peer);
                    }
                    BlockState::Received | BlockState::Written => {
                        involved |= *sender == Some(from);
                        others |= *sender != Some(from);
                    }
                }
            }
            if !involved {
                continue;
            }
            if !others {
                part.owner = Some(peer);
                part.adopted = true;
                continue;
            }
            for i in 0..part.blocks.len() {
                let block = self.geometry.block(piece, i as u32);
                match &mut part.blocks[i] {
                    BlockState::Requested { owners, .. } if owners.contains(&peer) => {
                        owners.retain(|o| *o != peer);
                        if owners.is_empty() {
                            part.blocks[i] = BlockState::Open;
                            part.open += 1;
                        } else {
                            self.duplicates -= 1;
                        }
                        released.push(block);
                    }
                    BlockState::Written if part.senders[i] == Some(from) => {
                        part.blocks[i] = BlockState::Open;
                        part.senders[i] = None;
                        part.open += 1;
                        part.written -= 1;
                        discarded += u64::from(block.len);
                    }
                    _ => {}
                }
            }
        }
        (released, discarded)
    }
}
