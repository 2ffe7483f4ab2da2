//! Smart ban: blame for pieces that fail their hash, by block, parole, and the decision to ban.
//!
//! When a piece fails, the hash of every block of the bad copy is kept with its sender, and
//! every sender goes on **parole**: until a piece it sent alone verifies, it gets whole pieces
//! to itself, one at a time (the picker keeps them exclusive), so its next verdict is its
//! own. A piece whose every block came from one peer counts against that peer at once, each
//! failed copy again (a peer that sends the same bad piece over and over is not forgiven
//! because it is the same piece). When a piece later verifies, each kept block whose hash
//! differs from the good copy's proves its sender sent corrupt data, a bad mark per block (a sole sender already
//! counted for that copy is not counted twice).
//!
//! A peer is banned once it has at least [`MIN_BAD`] bad marks and more than one per
//! [`BAN_RATIO`] good blocks, judged when the evidence is clean: a block proven bad against a
//! good copy, or a piece it fetched alone *on parole* failing. A piece it happened to send
//! alone before any suspicion adds a mark but decides nothing, so two rare bit flips in the
//! first moments of a download (when few good blocks outweigh them) do not ban an honest
//! peer, while a deliberate corrupter goes within its first failed pieces on parole.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;

/// Good blocks that outweigh one bad one.
pub const BAN_RATIO: u64 = 50;

/// Bad marks needed for a ban: one bad block can be an accident of a flaky disk or link, and
/// a peer whose error rate is tiny can still flip two blocks early, before enough good blocks
/// outweigh them (seen in seed sweeps of `everyone-corrupts-sometimes` at one flip in 250).
pub const MIN_BAD: u64 = 3;

/// Failed copies kept per piece until it verifies: enough to blame the senders of the last few
/// attempts, bounded so a piece that keeps failing cannot grow memory.
pub const MAX_COPIES: usize = 4;

/// A sender's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Blocks in pieces that verified.
    pub good: u64,
    /// Blocks proven corrupt, plus failed copies this peer alone sent.
    pub bad: u64,
}

/// One failed copy of a piece.
#[derive(Debug, Clone)]
struct Copy {
    /// (block index, sender, hash of the block in this copy).
    blocks: Vec<(usize, SocketAddr, [u8; 20])>,
    /// The only sender, already marked bad for this copy.
    sole: Option<SocketAddr>,
}

/// Failed copies awaiting a good one, every sender's reputation, and who is on parole.
#[derive(Debug, Clone, Default)]
pub struct Blame {
    failed: BTreeMap<u32, VecDeque<Copy>>,
    reputation: BTreeMap<SocketAddr, Reputation>,
    parole: BTreeSet<SocketAddr>,
}

impl Blame {
    /// Whether verifying `piece` should also return block hashes (it failed before).
    pub fn wants_block_hashes(&self, piece: u32) -> bool {
        self.failed.contains_key(&piece)
    }

    pub fn reputation(&self, addr: &SocketAddr) -> Reputation {
        self.reputation.get(addr).copied().unwrap_or_default()
    }

    /// Whether `addr` sent part of a failed piece and has not since cleared itself.
    pub fn on_parole(&self, addr: &SocketAddr) -> bool {
        self.parole.contains(addr)
    }

    /// A piece failed. `senders[i]` sent block `i`, whose hash in the bad copy is
    /// `block_hashes[i]`; `on_parole` when the piece was fetched whole from a peer on parole.
    /// Puts every sender on parole; returns the peers that now deserve a ban.
    pub fn piece_failed(
        &mut self,
        piece: u32,
        senders: &[Option<SocketAddr>],
        block_hashes: &[[u8; 20]],
        on_parole: bool,
    ) -> Vec<SocketAddr> {
        let mut distinct: Vec<SocketAddr> = senders.iter().flatten().copied().collect();
        distinct.sort();
        distinct.dedup();
        self.parole.extend(distinct.iter().copied());
        let sole = match distinct.as_slice() {
            [only] => Some(*only),
            _ => None,
        };
        let blocks = senders
            .iter()
            .zip(block_hashes)
            .enumerate()
            .filter_map(|(i, (s, h))| s.map(|addr| (i, addr, *h)))
            .collect();
        let copies = self.failed.entry(piece).or_default();
        if copies.len() >= MAX_COPIES {
            copies.pop_front();
        }
        copies.push_back(Copy { blocks, sole });
        match sole {
            Some(only) => {
                self.reputation.entry(only).or_default().bad += 1;
                if on_parole {
                    self.judge(&[only])
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        }
    }

    /// A piece verified with these block hashes (present when it had failed before). Counts
    /// good blocks, takes a sole sender off parole when the piece was `fetched_on_parole` (every
    /// block asked of it while on parole: a piece of its pipeline from before the suspicion
    /// clears nothing, else a peer whose old pieces pass and fail in turn would flap on and off
    /// parole, its blocks in shared pieces discarded at each turn), and returns the peers
    /// proven to have sent bad blocks of it earlier that now deserve a ban.
    pub fn piece_passed(
        &mut self,
        piece: u32,
        senders: &[Option<SocketAddr>],
        block_hashes: Option<&[[u8; 20]]>,
        fetched_on_parole: bool,
    ) -> Vec<SocketAddr> {
        for addr in senders.iter().flatten() {
            self.reputation.entry(*addr).or_default().good += 1;
        }
        let mut distinct: Vec<SocketAddr> = senders.iter().flatten().copied().collect();
        distinct.sort();
        distinct.dedup();
        if let ([only], true) = (distinct.as_slice(), fetched_on_parole) {
            self.parole.remove(only);
        }
        let copies = self.failed.remove(&piece).unwrap_or_default();
        let Some(good) = block_hashes else {
            return Vec::new();
        };
        let mut proven: Vec<SocketAddr> = Vec::new();
        for copy in copies {
            // One bad mark per block proven bad (as good blocks are counted per block); a
            // sole sender already has one for this copy, from when it failed.
            let mut liars: BTreeMap<SocketAddr, u64> = BTreeMap::new();
            for (_, addr, _) in copy
                .blocks
                .iter()
                .filter(|(i, _, hash)| good.get(*i).is_some_and(|g| g != hash))
            {
                *liars.entry(*addr).or_default() += 1;
            }
            for (addr, bad) in liars {
                let already = u64::from(copy.sole == Some(addr));
                self.reputation.entry(addr).or_default().bad += bad - already;
                proven.push(addr);
            }
        }
        proven.sort();
        proven.dedup();
        self.judge(&proven)
    }

    fn judge(&self, addrs: &[SocketAddr]) -> Vec<SocketAddr> {
        addrs
            .iter()
            .filter(|a| {
                let r = self.reputation(a);
                r.bad >= MIN_BAD && r.bad * BAN_RATIO > r.good
            })
            .copied()
            .collect()
    }
}

#[cfg(test)]
#[path = "smartban_tests.rs"]
mod tests;
