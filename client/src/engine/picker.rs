//! Which block to ask for next: piece states, rarest-first, partial pieces first, endgame.
//!
//! Architecture Invariant: every piece is in exactly one state: `have`, in `partials` (some blocks
//! open, requested or received), in `verifying` (all blocks written, hash pending) or missing.
//! A block is owned by the peers that have an outstanding request for it; an `Open` block has no
//! owner. Outside endgame a block has at most one owner.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, Geometry, BLOCK_LEN};

use super::PeerKey;

/// How many peers may hold a request for the same block in endgame. Two finish the last blocks
/// fast without doubling the whole tail's traffic.
pub const ENDGAME_OWNERS: usize = 2;

/// The state of one block of a piece being downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    /// Nobody is fetching it.
    Open,
    /// Requested from these peers (more than one only in endgame).
    Requested(Vec<PeerKey>),
    /// Data accepted and handed to storage; the write is not confirmed yet.
    Received,
    /// On disk.
    Written,
}

/// A piece with at least one block in flight or done.
#[derive(Debug, Clone)]
pub struct Partial {
    pub blocks: Vec<BlockState>,
    /// Who sent each block, for blame when the piece fails its hash.
    pub senders: Vec<Option<SocketAddr>>,
    /// Count of `Open` blocks, to skip pieces with nothing left to ask for.
    open: usize,
    /// Count of `Written` blocks; the piece is verified when it reaches the block count.
    written: usize,
}

/// What happened to a block that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// New data: write it. `cancel` lists other peers that also had it requested (endgame).
    Fresh { cancel: Vec<PeerKey> },
    /// We already have this block (endgame duplicate, or a piece done meanwhile): waste.
    Duplicate,
}

/// Piece and block bookkeeping for one torrent.
#[derive(Debug, Clone)]
pub struct Picker {
    geometry: Geometry,
    have: Bitfield,
    /// How many connected peers have each piece.
    availability: Vec<u32>,
    partials: BTreeMap<u32, Partial>,
    verifying: BTreeSet<u32>,
    /// Bytes not yet verified, kept current so status queries are O(1).
    left: u64,
}

impl Picker {
    /// A picker for `geometry` that already has the pieces in `have`.
    pub fn new(geometry: Geometry, have: Bitfield) -> Self {
        let count = geometry.piece_count() as usize;
        let done: u64 = have
            .iter_ones()
            .map(|p| u64::from(geometry.piece_len(p)))
            .sum();
        let left = geometry.total_length() - done;
        Picker {
            left,
            geometry,
            have,
            availability: vec![0; count],
            partials: BTreeMap::new(),
            verifying: BTreeSet::new(),
        }
    }

    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    /// Bytes still missing (not verified).
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Missing pieces that nobody has started.
    fn unstarted(&self) -> usize {
        let missing = (self.have.len() - self.have.count_ones()) as usize;
        missing - self.partials.len() - self.verifying.len()
    }

    /// How many pieces `theirs` has that we lack.
    pub fn useful_count(&self, theirs: &Bitfield) -> u32 {
        theirs.iter_ones().filter(|p| !self.have.get(*p)).count() as u32
    }

    pub fn add_availability(&mut self, theirs: &Bitfield) {
        for p in theirs.iter_ones() {
            if let Some(a) = self.availability.get_mut(p as usize) {
                *a += 1;
            }
        }
    }

    pub fn remove_availability(&mut self, theirs: &Bitfield) {
        for p in theirs.iter_ones() {
            if let Some(a) = self.availability.get_mut(p as usize) {
                *a = a.saturating_sub(1);
            }
        }
    }

    pub fn add_have(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }

    /// True when no block is left that nobody is fetching: every missing piece is partial or
    /// verifying, and no partial has an open block.
    pub fn in_endgame(&self) -> bool {
        self.unstarted() == 0 && self.partials.values().all(|p| p.open == 0)
    }

    /// Picks up to `max` blocks for `peer`, which has the pieces in `theirs`. With `only` set
    /// (a choked peer's allowed-fast set), picks only from those pieces; pieces in `refused`
    /// (the peer would not serve them) are never picked. Endgame duplicates are handed out only
    /// with `duplicates`: the engine allows them to a peer with nothing else in flight, so a
    /// big pipeline does not turn the whole tail of a download into double traffic.
    #[allow(clippy::too_many_arguments)]
    pub fn pick(
        &mut self,
        peer: PeerKey,
        theirs: &Bitfield,
        only: Option<&BTreeSet<u32>>,
        refused: &BTreeMap<u32, Duration>,
        duplicates: bool,
        max: usize,
        rng: &mut ChaCha8Rng,
    ) -> Vec<BlockRef> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        let allowed = |p: u32| {
            theirs.get(p) && only.is_none_or(|set| set.contains(&p)) && !refused.contains_key(&p)
        };
        // 1. Finish what is started: open blocks of partial pieces, most complete first.
        let mut started: Vec<(usize, u32)> = self
            .partials
            .iter()
            .filter(|(p, part)| part.open > 0 && allowed(**p))
            .map(|(p, part)| (part.blocks.len() - part.open, *p))
            .collect();
        started.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, piece) in started {
            self.take_open(piece, peer, max, &mut out);
            if out.len() >= max {
                return out;
            }
        }
        // 2. Start new pieces: a random one while we have nothing to trade, then rarest first.
        while out.len() < max && self.unstarted() > 0 {
            let random_first = self.have.count_ones() == 0 && self.partials.is_empty();
            let Some(piece) = self.choose_new(&allowed, random_first, rng) else {
                break;
            };
            let blocks = self.geometry.block_count(piece) as usize;
            self.partials.insert(
                piece,
                Partial {
                    blocks: vec![BlockState::Open; blocks],
                    senders: vec![None; blocks],
                    open: blocks,
                    written: 0,
                },
            );
            self.take_open(piece, peer, max, &mut out);
        }
        // 3. Endgame: nothing is open anywhere; duplicate requests for blocks others hold.
        if duplicates && out.len() < max && self.in_endgame() {
            self.pick_endgame(peer, &allowed, max, &mut out);
        }
        out
    }

    fn take_open(&mut self, piece: u32, peer: PeerKey, max: usize, out: &mut Vec<BlockRef>) {
        let Some(part) = self.partials.get_mut(&piece) else {
            return;
        };
        for (i, state) in part.blocks.iter_mut().enumerate() {
            if out.len() >= max || part.open == 0 {
                break;
            }
            if *state == BlockState::Open {
                *state = BlockState::Requested(vec![peer]);
                part.open -= 1;
                out.push(self.geometry.block(piece, i as u32));
            }
        }
    }

    /// A missing piece nobody has started that the peer has: uniformly random, or the rarest
    /// with ties broken at random (reservoir sampling keeps it one pass).
    fn choose_new(
        &self,
        allowed: &dyn Fn(u32) -> bool,
        random: bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<u32> {
        let mut best: Option<u32> = None;
        let mut best_avail = u32::MAX;
        let mut ties = 0u32;
        for piece in 0..self.geometry.piece_count() {
            if self.have.get(piece)
                || self.partials.contains_key(&piece)
                || self.verifying.contains(&piece)
                || !allowed(piece)
            {
                continue;
            }
            let avail = if random {
                0
            } else {
                self.availability[piece as usize]
            };
            if avail < best_avail {
                best_avail = avail;
                best = Some(piece);
                ties = 1;
            } else if avail == best_avail {
                ties += 1;
                if rng.gen_range(0..ties) == 0 {
                    best = Some(piece);
                }
            }
        }
        best
    }

    fn pick_endgame(
        &mut self,
        peer: PeerKey,
        allowed: &dyn Fn(u32) -> bool,
        max: usize,
        out: &mut Vec<BlockRef>,
    ) {
        for (&piece, part) in self.partials.iter_mut() {
            if !allowed(piece) {
                continue;
            }
            for (i, state) in part.blocks.iter_mut().enumerate() {
                if out.len() >= max {
                    return;
                }
                if let BlockState::Requested(owners) = state {
                    if owners.len() < ENDGAME_OWNERS && !owners.contains(&peer) {
                        owners.push(peer);
                        out.push(self.geometry.block(piece, i as u32));
                    }
                }
            }
        }
    }

    /// `peer` will not deliver `block` (rejected, timed out, choked, gone): drop its ownership.
    pub fn release(&mut self, peer: PeerKey, block: BlockRef) {
        let Some(part) = self.partials.get_mut(&block.piece) else {
            return;
        };
        let i = (block.offset / BLOCK_LEN) as usize;
        if let Some(BlockState::Requested(owners)) = part.blocks.get_mut(i) {
            owners.retain(|o| *o != peer);
            if owners.is_empty() {
                part.blocks[i] = BlockState::Open;
                part.open += 1;
            }
        }
    }

    /// A block arrived from `peer`.
    pub fn receive(&mut self, peer: PeerKey, from: SocketAddr, block: BlockRef) -> Accept {
        let Some(part) = self.partials.get_mut(&block.piece) else {
            return Accept::Duplicate;
        };
        let i = (block.offset / BLOCK_LEN) as usize;
        match part.blocks.get(i) {
            Some(BlockState::Requested(owners)) => {
                let cancel = owners.iter().copied().filter(|o| *o != peer).collect();
                part.blocks[i] = BlockState::Received;
                part.senders[i] = Some(from);
                Accept::Fresh { cancel }
            }
            Some(BlockState::Open) => {
                // Its request was given up (e.g. snubbed) but the data came after all: use it.
                part.blocks[i] = BlockState::Received;
                part.senders[i] = Some(from);
                part.open -= 1;
                Accept::Fresh { cancel: Vec::new() }
            }
            _ => Accept::Duplicate,
        }
    }

    /// A received block is on disk. When that completes the piece, moves it to `verifying` and
    /// returns who sent each block (for blame should the hash fail).
    pub fn written(&mut self, block: BlockRef) -> Option<Vec<Option<SocketAddr>>> {
        let part = self.partials.get_mut(&block.piece)?;
        let i = (block.offset / BLOCK_LEN) as usize;
        if part.blocks.get(i) != Some(&BlockState::Received) {
            return None;
        }
        part.blocks[i] = BlockState::Written;
        part.written += 1;
        if part.written < part.blocks.len() {
            return None;
        }
        let done = self.partials.remove(&block.piece)?;
        self.verifying.insert(block.piece);
        Some(done.senders)
    }

    /// A block's write failed: it must be fetched again.
    pub fn write_failed(&mut self, block: BlockRef) {
        if let Some(part) = self.partials.get_mut(&block.piece) {
            let i = (block.offset / BLOCK_LEN) as usize;
            if part.blocks.get(i) == Some(&BlockState::Received) {
                part.blocks[i] = BlockState::Open;
                part.senders[i] = None;
                part.open += 1;
            }
        }
    }

    /// The piece's hash matched: it is ours.
    pub fn verified(&mut self, piece: u32) {
        self.verifying.remove(&piece);
        if !self.have.get(piece) && self.have.set(piece, true) {
            self.left -= u64::from(self.geometry.piece_len(piece));
        }
    }

    /// The piece's hash did not match: everything is fetched again.
    pub fn failed(&mut self, piece: u32) {
        self.verifying.remove(&piece);
    }

    pub fn is_verifying(&self, piece: u32) -> bool {
        self.verifying.contains(&piece)
    }

    /// Pieces currently partially downloaded (for tests and status).
    pub fn partial_count(&self) -> usize {
        self.partials.len()
    }
}

#[cfg(test)]
#[path = "picker_tests.rs"]
mod tests;
