//! Smart ban: blame for pieces that fail their hash, by block, and the decision to ban.
//!
//! When a piece fails, the hash of every block of the bad copy is kept with its sender. When the
//! piece later verifies, each kept block whose hash differs from the good copy's proves its
//! sender sent corrupt data. A piece whose every block came from one peer also counts against
//! that peer, since at least one of its blocks was bad (and the later proof for that piece does
//! not count it twice). A peer is banned once it has at least [`MIN_BAD`] bad marks and more
//! than one per [`BAN_RATIO`] good blocks: a peer that corrupts on purpose goes after its
//! second bad block, while one that flips a rare bit keeps serving.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Good blocks that outweigh one bad one.
pub const BAN_RATIO: u64 = 50;

/// Bad marks needed for a ban: one bad block can be an accident of a flaky disk or link.
pub const MIN_BAD: u64 = 2;

/// A sender's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reputation {
    /// Blocks in pieces that verified.
    pub good: u64,
    /// Blocks proven corrupt, plus pieces this peer alone sent that failed.
    pub bad: u64,
}

/// Failed copies awaiting a good one, and every sender's reputation.
#[derive(Debug, Clone, Default)]
pub struct Blame {
    /// Per failed piece: (block index, sender, hash of the bad block).
    failed: BTreeMap<u32, Vec<(usize, SocketAddr, [u8; 20])>>,
    reputation: BTreeMap<SocketAddr, Reputation>,
    /// (piece, sender) pairs already counted as bad because the sender alone sent a failed copy
    /// of the piece; the proof when the piece verifies does not count them again.
    counted: std::collections::BTreeSet<(u32, SocketAddr)>,
}

impl Blame {
    /// Whether verifying `piece` should also return block hashes (it failed before).
    pub fn wants_block_hashes(&self, piece: u32) -> bool {
        self.failed.contains_key(&piece)
    }

    pub fn reputation(&self, addr: &SocketAddr) -> Reputation {
        self.reputation.get(addr).copied().unwrap_or_default()
    }

    /// A piece failed. `senders[i]` sent block `i`, whose hash in the bad copy is
    /// `block_hashes[i]`. Returns the peers that now deserve a ban.
    pub fn piece_failed(
        &mut self,
        piece: u32,
        senders: &[Option<SocketAddr>],
        block_hashes: &[[u8; 20]],
    ) -> Vec<SocketAddr> {
        let entry = self.failed.entry(piece).or_default();
        for (i, (sender, hash)) in senders.iter().zip(block_hashes).enumerate() {
            if let Some(addr) = sender {
                entry.push((i, *addr, *hash));
            }
        }
        let mut distinct: Vec<SocketAddr> = senders.iter().flatten().copied().collect();
        distinct.sort();
        distinct.dedup();
        if let [only] = distinct.as_slice() {
            if self.counted.insert((piece, *only)) {
                self.reputation.entry(*only).or_default().bad += 1;
            }
            return self.judge(&[*only]);
        }
        Vec::new()
    }

    /// A piece verified with these block hashes. Returns the peers proven to have sent bad blocks
    /// of it earlier that now deserve a ban.
    pub fn piece_passed(
        &mut self,
        piece: u32,
        senders: &[Option<SocketAddr>],
        block_hashes: Option<&[[u8; 20]]>,
    ) -> Vec<SocketAddr> {
        for addr in senders.iter().flatten() {
            self.reputation.entry(*addr).or_default().good += 1;
        }
        let (Some(copies), Some(good)) = (self.failed.remove(&piece), block_hashes) else {
            return Vec::new();
        };
        let mut proven: Vec<SocketAddr> = Vec::new();
        for (i, addr, hash) in copies {
            if good.get(i).is_some_and(|g| *g != hash) {
                proven.push(addr);
            }
        }
        proven.sort();
        proven.dedup();
        for addr in &proven {
            // One bad mark per failed copy of the piece; a sole sender was marked already.
            if !self.counted.remove(&(piece, *addr)) {
                self.reputation.entry(*addr).or_default().bad += 1;
            }
        }
        self.counted.retain(|(p, _)| *p != piece);
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
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn blames_the_block_that_differs_once_the_piece_verifies() {
        let mut b = Blame::default();
        let senders = [Some(addr(1)), Some(addr(2)), Some(addr(1))];
        let bad = [[1; 20], [9; 20], [3; 20]];
        assert!(b.piece_failed(7, &senders, &bad).is_empty());
        assert!(b.wants_block_hashes(7));
        let good = [[1; 20], [2; 20], [3; 20]];
        let again = [Some(addr(3)), Some(addr(3)), Some(addr(3))];
        assert!(
            b.piece_passed(7, &again, Some(&good)).is_empty(),
            "one bad block is no ban"
        );
        assert_eq!(b.reputation(&addr(2)).bad, 1);
        assert_eq!(b.reputation(&addr(1)).bad, 0);
        assert!(!b.wants_block_hashes(7));
        // A second proven bad block bans it.
        b.piece_failed(8, &senders, &bad);
        assert_eq!(b.piece_passed(8, &again, Some(&good)), vec![addr(2)]);
    }

    #[test]
    fn sole_sender_of_a_failed_piece_is_blamed_once_per_piece() {
        let mut b = Blame::default();
        let senders = [Some(addr(4)), Some(addr(4))];
        assert!(b.piece_failed(1, &senders, &[[0; 20]; 2]).is_empty());
        // The proof for the same piece does not count again...
        let others = [Some(addr(9)), Some(addr(9))];
        assert!(b.piece_passed(1, &others, Some(&[[1; 20]; 2])).is_empty());
        assert_eq!(b.reputation(&addr(4)).bad, 1);
        // ...but a second failed piece does.
        assert_eq!(b.piece_failed(2, &senders, &[[0; 20]; 2]), vec![addr(4)]);
    }

    #[test]
    fn a_rare_bad_block_among_many_good_ones_is_tolerated() {
        let mut b = Blame::default();
        let one = [Some(addr(5))];
        for p in 0..BAN_RATIO as u32 + 1 {
            b.piece_passed(p, &one, None);
        }
        let senders = [Some(addr(5)), Some(addr(6))];
        b.piece_failed(100, &senders, &[[1; 20], [2; 20]]);
        let banned = b.piece_passed(100, &senders, Some(&[[7; 20], [2; 20]]));
        assert!(banned.is_empty(), "{banned:?}");
        assert_eq!(b.reputation(&addr(5)).bad, 1);
    }
}
