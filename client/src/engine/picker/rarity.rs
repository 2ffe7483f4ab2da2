//! The pieces nobody has started, bucketed by how many peers have them, so that choosing the
//! rarest costs the same whatever the piece count.
//!
//! Architecture Invariant: a piece is a *candidate* (in exactly one bucket, the one of its
//! availability) exactly when it is missing, not partial and not verifying; the picker keeps
//! that by calling [`Rarity::insert`] and [`Rarity::remove`] on every such change. Every piece,
//! candidate or not, has its availability counted, so a piece a peer has sits in bucket 1 or
//! above: bucket 0 (pieces nobody connected has) is never scanned.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::bitfield::Bitfield;

/// Slot value of a piece that is not a candidate.
const NONE: u32 = u32::MAX;

/// Random draws tried for a random first piece before falling back to rarest-first.
const RANDOM_TRIES: usize = 16;

/// Availability counts and the candidate pieces bucketed by them.
#[derive(Debug, Clone)]
pub(super) struct Rarity {
    /// How many connected peers have each piece.
    availability: Vec<u32>,
    /// `buckets[a]`: the candidates that exactly `a` peers have, in no particular order.
    buckets: Vec<Vec<u32>>,
    /// Each candidate's index in its bucket; [`NONE`] for other pieces.
    slot: Vec<u32>,
    /// Candidates in all buckets.
    len: usize,
}

/// Which pieces a pick may take, beyond being a candidate.
pub(super) struct Filter<'a> {
    /// The peer's pieces.
    pub has: &'a Bitfield,
    /// With `Some`, only these (a choked peer's allowed-fast set).
    pub only: Option<&'a std::collections::BTreeSet<u32>>,
    /// Everything else the pick must respect (refused, avoided, `has`, `only`).
    pub allowed: &'a dyn Fn(u32) -> bool,
}

impl Rarity {
    /// No peer counted yet; `candidates` are the missing pieces.
    pub fn new(count: u32, candidates: impl Iterator<Item = u32>) -> Self {
        let mut rarity = Rarity {
            availability: vec![0; count as usize],
            buckets: vec![Vec::new()],
            slot: vec![NONE; count as usize],
            len: 0,
        };
        for piece in candidates {
            rarity.insert(piece);
        }
        rarity
    }

    /// Candidates in all buckets.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn contains(&self, piece: u32) -> bool {
        self.slot.get(piece as usize).is_some_and(|s| *s != NONE)
    }

    /// Makes `piece` a candidate (no-op if it is one or out of range).
    pub fn insert(&mut self, piece: u32) {
        let Some(&avail) = self.availability.get(piece as usize) else {
            return;
        };
        if self.contains(piece) {
            return;
        }
        self.push(piece, avail);
        self.len += 1;
    }

    /// `piece` is no longer a candidate (started, or ours); no-op if it was not one.
    pub fn remove(&mut self, piece: u32) {
        if !self.contains(piece) {
            return;
        }
        self.take(piece);
        self.len -= 1;
    }

    /// One more connected peer has `piece`.
    pub fn increment(&mut self, piece: u32) {
        self.shift(piece, true);
    }

    /// One peer fewer has `piece`.
    pub fn decrement(&mut self, piece: u32) {
        self.shift(piece, false);
    }

    /// Moves `piece`'s count one up or down, and a candidate to its new bucket, in O(1).
    fn shift(&mut self, piece: u32, up: bool) {
        let Some(&avail) = self.availability.get(piece as usize) else {
            return;
        };
        let new = if up {
            avail.saturating_add(1)
        } else if avail > 0 {
            avail - 1
        } else {
            return;
        };
        let candidate = self.contains(piece);
        if candidate {
            self.take(piece);
        }
        self.availability[piece as usize] = new;
        if candidate {
            self.push(piece, new);
        }
    }

    /// A candidate the filter allows: uniformly random ones first when `random` (tried a
    /// bounded number of times), else from the lowest non-empty bucket that has an allowed
    /// piece, starting the scan of that bucket at a random place so ties fall at random.
    /// Costs O(buckets) plus the pieces skipped, never a pass over every piece unless the
    /// peer has almost nothing we need, in which case its own few pieces are scanned instead.
    pub fn choose(&self, filter: &Filter<'_>, random: bool, rng: &mut ChaCha8Rng) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        if let Some(only) = filter.only {
            return self.rarest_of(only.iter().copied(), filter, rng);
        }
        if random {
            if let Some(piece) = self.random(filter, rng) {
                return Some(piece);
            }
        }
        // A peer with few pieces: its own pieces are the shorter list to look through.
        if (filter.has.count_ones() as usize) < self.len / 8 {
            return self.rarest_of(filter.has.iter_ones(), filter, rng);
        }
        for bucket in self.buckets.iter().skip(1) {
            if bucket.is_empty() {
                continue;
            }
            let start = rng.gen_range(0..bucket.len());
            let found = (0..bucket.len())
                .map(|i| bucket[(start + i) % bucket.len()])
                .find(|p| (filter.allowed)(*p));
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The rarest allowed candidate among `pieces`, ties broken at random (reservoir sampling).
    fn rarest_of(
        &self,
        pieces: impl Iterator<Item = u32>,
        filter: &Filter<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Option<u32> {
        let mut best = None;
        let mut best_avail = u32::MAX;
        let mut ties = 0u32;
        for piece in pieces {
            if !self.contains(piece) || !(filter.allowed)(piece) {
                continue;
            }
            let avail = self.availability[piece as usize];
            if avail < best_avail {
                (best, best_avail, ties) = (Some(piece), avail, 1);
            } else if avail == best_avail {
                ties += 1;
                if rng.gen_range(0..ties) == 0 {
                    best = Some(piece);
                }
            }
        }
        best
    }

    /// A uniformly random candidate the filter allows, if one of a few draws finds it.
    fn random(&self, filter: &Filter<'_>, rng: &mut ChaCha8Rng) -> Option<u32> {
        for _ in 0..RANDOM_TRIES {
            let mut index = rng.gen_range(0..self.len);
            for bucket in &self.buckets {
                if index < bucket.len() {
                    let piece = bucket[index];
                    if (filter.allowed)(piece) {
                        return Some(piece);
                    }
                    break;
                }
                index -= bucket.len();
            }
        }
        None
    }

    /// Appends `piece` to bucket `avail`, growing the bucket list as needed.
    fn push(&mut self, piece: u32, avail: u32) {
        let avail = avail as usize;
        if self.buckets.len() <= avail {
            self.buckets.resize_with(avail + 1, Vec::new);
        }
        let bucket = &mut self.buckets[avail];
        self.slot[piece as usize] = bucket.len() as u32;
        bucket.push(piece);
    }

    /// Takes `piece` (a candidate) out of its bucket in O(1); the bucket's last piece takes
    /// its place.
    fn take(&mut self, piece: u32) {
        let avail = self.availability[piece as usize] as usize;
        let slot = self.slot[piece as usize] as usize;
        // A candidate sits in the bucket of its current availability (`shift` takes it out
        // before changing the count).
        let bucket = &mut self.buckets[avail];
        bucket.swap_remove(slot);
        if let Some(&moved) = bucket.get(slot) {
            self.slot[moved as usize] = slot as u32;
        }
        self.slot[piece as usize] = NONE;
    }

    #[cfg(test)]
    pub fn availability(&self, piece: u32) -> u32 {
        self.availability[piece as usize]
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::{Filter, Rarity};
    use crate::bitfield::Bitfield;

    fn pick(r: &Rarity, has: &Bitfield, rng: &mut ChaCha8Rng) -> Option<u32> {
        let allowed = |p: u32| has.get(p);
        let filter = Filter {
            has,
            only: None,
            allowed: &allowed,
        };
        r.choose(&filter, false, rng)
    }

    #[test]
    fn the_rarest_candidate_a_peer_has_is_chosen_and_moves_with_its_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut r = Rarity::new(4, 0..4);
        let all = Bitfield::full(4);
        for p in 0..4 {
            r.increment(p);
            r.increment(p);
        }
        r.decrement(2);
        assert_eq!(pick(&r, &all, &mut rng), Some(2));
        r.remove(2);
        assert_eq!(r.len(), 3);
        r.increment(0);
        r.increment(1);
        assert_eq!(pick(&r, &all, &mut rng), Some(3));
        // Pieces nobody has are never chosen; a failed piece comes back where its count says.
        r.remove(3);
        r.insert(2);
        assert_eq!(r.availability(2), 1);
        assert_eq!(pick(&r, &all, &mut rng), Some(2));
        let none = Bitfield::new(4);
        assert_eq!(pick(&r, &none, &mut rng), None);
    }

    /// Random operations against a plain model: membership, counts and the rarity of every
    /// choice agree with a scan over all pieces.
    #[test]
    fn agrees_with_a_full_scan_under_random_operations() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let count = 200;
        let mut r = Rarity::new(count, 0..count);
        let mut avail = vec![0u32; count as usize];
        let mut member = vec![true; count as usize];
        for _ in 0..20_000 {
            let p = rng.gen_range(0..count);
            match rng.gen_range(0..5) {
                0 | 1 => {
                    r.increment(p);
                    avail[p as usize] += 1;
                }
                2 => {
                    r.decrement(p);
                    avail[p as usize] = avail[p as usize].saturating_sub(1);
                }
                3 => {
                    r.remove(p);
                    member[p as usize] = false;
                }
                _ => {
                    r.insert(p);
                    member[p as usize] = true;
                }
            }
            let mut has = Bitfield::new(count);
            for q in 0..count {
                if avail[q as usize] > 0 && rng.gen_bool(0.5) {
                    has.set(q, true);
                }
            }
            let best = (0..count)
                .filter(|q| member[*q as usize] && has.get(*q))
                .map(|q| avail[q as usize])
                .min();
            let got = pick(&r, &has, &mut rng);
            assert_eq!(got.map(|q| avail[q as usize]), best);
            assert!(got.is_none_or(|q| member[q as usize] && has.get(q)));
            assert_eq!(r.len(), member.iter().filter(|m| **m).count());
        }
    }
}
