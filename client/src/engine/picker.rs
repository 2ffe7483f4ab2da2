//! Which block to ask for next: piece states, rarest-first, partial pieces first, pieces kept
//! whole for peers on parole, and a bounded endgame.
//!
//! Architecture Invariant: every piece is in exactly one state: `have`, in `partials` (some blocks
//! open, requested or received), in `verifying` (all blocks written, hash pending) or missing.
//! A block is owned by the peers that have an outstanding request for it; an `Open` block has no
//! owner. Outside endgame a block has at most one owner; in endgame at most [`ENDGAME_OWNERS`],
//! and at most [`MAX_DUPLICATES`] extra owners exist over the whole torrent. A piece with an
//! exclusive owner (a peer on parole) gets blocks from that peer only, so its verdict is that
//! peer's alone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, Geometry, BLOCK_LEN};

use super::PeerKey;

mod endgame;
mod parole;
mod rarity;

use rarity::{Filter, Rarity};

/// How many peers may hold a request for the same block in endgame. Two finish the last blocks
/// fast without doubling the whole tail's traffic.
pub const ENDGAME_OWNERS: usize = 2;

/// Extra (duplicate) requests outstanding over the whole torrent in endgame. Each one that
/// loses its race is up to one wasted block, so this bounds the endgame's waste per round
/// trip however many fast peers go idle at once (the fault that made 48 fast seeders send
/// most of a 6 MiB torrent twice).
pub const MAX_DUPLICATES: usize = 8;

/// The state of one block of a piece being downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    /// Nobody is fetching it.
    Open,
    /// Requested from these peers (more than one only in endgame), first asked at `since`.
    Requested {
        owners: Vec<PeerKey>,
        since: Duration,
    },
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
    /// The peer on parole that fetches this piece alone, if any.
    owner: Option<PeerKey>,
    /// The owner took it over when it went on parole, with blocks already asked of it: its
    /// verdict is the owner's alone but does not clear it (see [`Sent::cleared_by`]).
    adopted: bool,
    /// Count of `Open` blocks, to skip pieces with nothing left to ask for.
    open: usize,
    /// Count of `Written` blocks; the piece is verified when it reaches the block count.
    written: usize,
}

/// Who sent a piece whose hash is pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The sender of each block.
    pub senders: Vec<Option<SocketAddr>>,
    /// It was fetched whole from one peer on parole: its verdict is that peer's alone.
    pub on_parole: bool,
    /// Fetched on parole and every block asked of the peer after it went on parole: passing,
    /// it takes the peer off parole.
    pub cleared_by: bool,
}

/// What happened to a block that arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accept {
    /// New data: write it. `cancel` lists other peers that also had it requested (endgame).
    Fresh { cancel: Vec<PeerKey> },
    /// We already have this block (endgame duplicate, or a piece done meanwhile): waste.
    Duplicate,
}

/// One peer's request for blocks; see [`Picker::pick`].
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub peer: PeerKey,
    /// The pieces it has.
    pub has: &'a Bitfield,
    /// With `Some`, only these pieces (a choked peer's allowed-fast set).
    pub only: Option<&'a BTreeSet<u32>>,
    /// Pieces it would not serve recently: never picked.
    pub refused: &'a BTreeMap<u32, Duration>,
    /// Pieces not to pick from it: it sent a bad copy, and a peer that did not has them.
    pub avoid: &'a BTreeSet<u32>,
    /// On parole: whole pieces to itself, one at a time.
    pub parole: bool,
    /// On parole, but nobody healthy is left to finish shared pieces: it may (so the
    /// download cannot stall with only suspects connected).
    pub may_share: bool,
    /// Blocks wanted at most.
    pub max: usize,
    pub now: Duration,
}

/// Piece and block bookkeeping for one torrent.
#[derive(Debug, Clone)]
pub struct Picker {
    geometry: Geometry,
    have: Bitfield,
    /// Availability of every piece, and the unstarted missing pieces bucketed by it.
    rarity: Rarity,
    partials: BTreeMap<u32, Partial>,
    /// Pieces whose blocks are all written, awaiting their hash.
    verifying: BTreeMap<u32, Sent>,
    /// Extra owners of requested blocks (endgame duplicates) outstanding.
    duplicates: usize,
    /// Bytes not yet verified, kept current so status queries are O(1).
    left: u64,
}

impl Picker {
    /// A picker for `geometry` that already has the pieces in `have`.
    pub fn new(geometry: Geometry, have: Bitfield) -> Self {
        let count = geometry.piece_count();
        let done: u64 = have
            .iter_ones()
            .map(|p| u64::from(geometry.piece_len(p)))
            .sum();
        let left = geometry.total_length() - done;
        let rarity = Rarity::new(count, (0..count).filter(|p| !have.get(*p)));
        Picker {
            left,
            geometry,
            have,
            rarity,
            partials: BTreeMap::new(),
            verifying: BTreeMap::new(),
            duplicates: 0,
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
        self.rarity.len()
    }

    /// How many pieces `theirs` has that we lack.
    pub fn useful_count(&self, theirs: &Bitfield) -> u32 {
        theirs.iter_ones().filter(|p| !self.have.get(*p)).count() as u32
    }

    pub fn add_availability(&mut self, theirs: &Bitfield) {
        for p in theirs.iter_ones() {
            self.rarity.increment(p);
        }
    }

    pub fn remove_availability(&mut self, theirs: &Bitfield) {
        for p in theirs.iter_ones() {
            self.rarity.decrement(p);
        }
    }

    pub fn add_have(&mut self, piece: u32) {
        self.rarity.increment(piece);
    }

    /// True when no block is left that nobody is fetching: every missing piece is partial or
    /// verifying, and no partial has an open block.
    pub fn in_endgame(&self) -> bool {
        self.unstarted() == 0 && self.partials.values().all(|p| p.open == 0)
    }

    /// Picks up to `ask.max` blocks for `ask.peer`: open blocks of started pieces (most
    /// complete first), then new pieces (a random one while we have nothing, then rarest
    /// first). Endgame duplicates are the engine's (see [`Picker::duplicate`]). A peer on parole gets blocks only of its own exclusive piece, one at a time
    /// (see [`Picker::pick_on_parole`]).
    pub fn pick(&mut self, ask: &Ask<'_>, rng: &mut ChaCha8Rng) -> Vec<BlockRef> {
        let mut out = Vec::new();
        if ask.max == 0 {
            return out;
        }
        let allowed = |p: u32| {
            ask.has.get(p)
                && ask.only.is_none_or(|set| set.contains(&p))
                && !ask.refused.contains_key(&p)
                && !ask.avoid.contains(&p)
        };
        if ask.parole {
            self.pick_on_parole(ask, &allowed, rng, &mut out);
            return out;
        }
        self.pick_started(ask, &allowed, &mut out);
        while out.len() < ask.max {
            let Some(piece) = self.start_new(ask, &allowed, rng) else {
                break;
            };
            self.take_open(piece, ask, &mut out);
        }
        out
    }

    /// Open blocks of started, non-exclusive pieces, most complete first.
    fn pick_started(
        &mut self,
        ask: &Ask<'_>,
        allowed: &dyn Fn(u32) -> bool,
        out: &mut Vec<BlockRef>,
    ) {
        let mut started: Vec<(usize, u32)> = self
            .partials
            .iter()
            .filter(|(p, part)| part.open > 0 && part.owner.is_none() && allowed(**p))
            .map(|(p, part)| (part.blocks.len() - part.open, *p))
            .collect();
        started.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, piece) in started {
            self.take_open(piece, ask, out);
            if out.len() >= ask.max {
                return;
            }
        }
    }

    /// Starts a missing piece nobody has started that the peer has (a random one while we
    /// have nothing to trade, then the rarest); `None` if there is none.
    fn start_new(
        &mut self,
        ask: &Ask<'_>,
        allowed: &dyn Fn(u32) -> bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<u32> {
        let random_first = self.have.count_ones() == 0 && self.partials.is_empty();
        let filter = Filter {
            has: ask.has,
            only: ask.only,
            allowed,
        };
        let piece = self.rarity.choose(&filter, random_first, rng)?;
        self.rarity.remove(piece);
        let blocks = self.geometry.block_count(piece) as usize;
        self.partials.insert(
            piece,
            Partial {
                blocks: vec![BlockState::Open; blocks],
                senders: vec![None; blocks],
                owner: None,
                adopted: false,
                open: blocks,
                written: 0,
            },
        );
        Some(piece)
    }

    fn take_open(&mut self, piece: u32, ask: &Ask<'_>, out: &mut Vec<BlockRef>) {
        let Some(part) = self.partials.get_mut(&piece) else {
            return;
        };
        for (i, state) in part.blocks.iter_mut().enumerate() {
            if out.len() >= ask.max || part.open == 0 {
                break;
            }
            if *state == BlockState::Open {
                *state = BlockState::Requested {
                    owners: vec![ask.peer],
                    since: ask.now,
                };
                part.open -= 1;
                out.push(self.geometry.block(piece, i as u32));
            }
        }
    }

    /// `peer` will not deliver `block` (rejected, timed out, choked, gone): drop its ownership.
    pub fn release(&mut self, peer: PeerKey, block: BlockRef) {
        let Some(part) = self.partials.get_mut(&block.piece) else {
            return;
        };
        let i = (block.offset / BLOCK_LEN) as usize;
        if let Some(BlockState::Requested { owners, .. }) = part.blocks.get_mut(i) {
            let before = owners.len();
            owners.retain(|o| *o != peer);
            if owners.len() < before && !owners.is_empty() {
                self.duplicates -= 1;
            }
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
            Some(BlockState::Requested { owners, .. }) => {
                let cancel: Vec<PeerKey> = owners.iter().copied().filter(|o| *o != peer).collect();
                self.duplicates -= owners.len() - 1;
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

    /// A received block is on disk. True when that completes the piece, which then moves to
    /// `verifying` (see [`Picker::take_senders`]).
    pub fn written(&mut self, block: BlockRef) -> bool {
        let Some(part) = self.partials.get_mut(&block.piece) else {
            return false;
        };
        let i = (block.offset / BLOCK_LEN) as usize;
        if part.blocks.get(i) != Some(&BlockState::Received) {
            return false;
        }
        part.blocks[i] = BlockState::Written;
        part.written += 1;
        if part.written < part.blocks.len() {
            return false;
        }
        match self.partials.remove(&block.piece) {
            Some(done) => {
                let sent = Sent {
                    senders: done.senders,
                    on_parole: done.owner.is_some(),
                    cleared_by: done.owner.is_some() && !done.adopted,
                };
                self.verifying.insert(block.piece, sent);
                true
            }
            None => false,
        }
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

    /// Who sent each block of a piece whose hash is pending, ending its verification.
    pub fn take_senders(&mut self, piece: u32) -> Option<Sent> {
        self.verifying.remove(&piece)
    }

    /// The piece's hash matched: it is ours.
    pub fn verified(&mut self, piece: u32) {
        self.verifying.remove(&piece);
        self.rarity.remove(piece);
        if !self.have.get(piece) && self.have.set(piece, true) {
            self.left -= u64::from(self.geometry.piece_len(piece));
        }
    }

    /// The piece's hash did not match: everything is fetched again.
    pub fn failed(&mut self, piece: u32) {
        self.verifying.remove(&piece);
        if !self.have.get(piece) && !self.partials.contains_key(&piece) {
            self.rarity.insert(piece);
        }
    }

    pub fn is_verifying(&self, piece: u32) -> bool {
        self.verifying.contains_key(&piece)
    }

    /// Pieces currently partially downloaded (for tests and status).
    pub fn partial_count(&self) -> usize {
        self.partials.len()
    }
}

#[cfg(test)]
#[path = "picker_tests.rs"]
mod tests;
