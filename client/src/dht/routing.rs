//! The DHT routing table (BEP 5): buckets of [`K`] nodes by shared id prefix with our own id,
//! split only where our own id lies, with good, questionable and bad nodes and a small cache of
//! replacements per bucket. Time is passed in; nothing here reads a clock or sends a packet:
//! when a full bucket holds a questionable node, the caller is asked to ping it.
//!
//! Bucket `i` (for every bucket but the last) holds the nodes whose ids share exactly `i`
//! leading bits with ours; the last holds those sharing at least as many, and is the only one
//! that splits. So the table holds at most 160 buckets of [`K`] nodes, and knows the space
//! near our id in most detail, as lookups need.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::id::NodeId;

/// Nodes per bucket (BEP 5's K).
pub const K: usize = 8;

/// A node not heard from for this long is questionable (BEP 5: 15 minutes).
pub const QUESTIONABLE_AFTER: Duration = Duration::from_secs(15 * 60);

/// A node that failed to answer this many queries in a row is bad.
pub const MAX_FAILS: u32 = 2;

/// A bucket unchanged for this long is refreshed with a lookup of a random id in it.
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);

/// Replacement candidates kept per bucket.
const MAX_REPLACEMENTS: usize = K;

/// One known node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// When it last answered us, or queried us (`None`: never; only learned of).
    pub last_seen: Option<Duration>,
    /// Queries it failed to answer since it last did.
    pub fails: u32,
}

impl Entry {
    pub fn is_bad(&self) -> bool {
        self.fails >= MAX_FAILS
    }

    /// Answered within [`QUESTIONABLE_AFTER`] and not failing.
    pub fn is_good(&self, now: Duration) -> bool {
        self.fails == 0
            && self
                .last_seen
                .is_some_and(|at| now.saturating_sub(at) < QUESTIONABLE_AFTER)
    }
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    nodes: Vec<Entry>,
    replacements: VecDeque<Entry>,
    last_changed: Duration,
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// In the table (new, or refreshed).
    Added,
    /// The bucket is full of good nodes: kept as a replacement, if there was room.
    Cached,
    /// The bucket is full and holds this questionable node: ping it; if it fails
    /// ([`RoutingTable::failed`]), the newcomer takes its place.
    PingFirst(NodeId, SocketAddr),
    /// Refused: our own id, or a known id claimed from another address.
    Refused,
}

/// The routing table of one DHT node.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    pub fn new(own: NodeId) -> Self {
        RoutingTable {
            own,
            buckets: vec![Bucket::default()],
        }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    /// Nodes in the table (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn bucket_of(&self, id: &NodeId) -> usize {
        (self.own.common_prefix(id) as usize).min(self.buckets.len() - 1)
    }

    /// Learns of a node; `seen` when it answered or queried us just now (not when another
    /// node merely named it).
    pub fn insert(&mut self, now: Duration, id: NodeId, addr: SocketAddr, seen: bool) -> Inserted {
        if id == self.own {
            return Inserted::Refused;
        }
        loop {
            let i = self.bucket_of(&id);
            let count = self.buckets.len();
            let last = i == count - 1;
            let bucket = &mut self.buckets[i];
            if let Some(e) = bucket.nodes.iter_mut().find(|e| e.id == id) {
                if e.addr != addr {
                    // An id moving address is how a node is hijacked; the old one stays.
                    return Inserted::Refused;
                }
                if seen {
                    e.last_seen = Some(now);
                    e.fails = 0;
                    bucket.last_changed = now;
                }
                return Inserted::Added;
            }
            let entry = Entry {
                id,
                addr,
                last_seen: seen.then_some(now),
                fails: 0,
            };
            if bucket.nodes.len() < K {
                bucket.nodes.push(entry);
                bucket.last_changed = now;
                return Inserted::Added;
            }
            if let Some(bad) = bucket.nodes.iter_mut().find(|e| e.is_bad()) {
                *bad = entry;
                bucket.last_changed = now;
                return Inserted::Added;
            }
            if last && count < 160 {
                self.split();
                continue;
            }
            let questionable = bucket.nodes.iter().find(|e| !e.is_good(now)).copied();
            bucket.replacements.retain(|r| r.id != id);
            if bucket.replacements.len() >= MAX_REPLACEMENTS {
                bucket.replacements.pop_front();
            }
            bucket.replacements.push_back(entry);
            return match questionable {
                Some(q) => Inserted::PingFirst(q.id, q.addr),
                None => Inserted::Cached,
            };
        }
    }

    /// Splits the last bucket: the nodes sharing more of our prefix move to a new last one.
    fn split(&mut self) {
        let depth = self.buckets.len() - 1;
        let own = self.own;
        let Some(old) = self.buckets.last_mut() else {
            return;
        };
        let (stay, go): (Vec<Entry>, Vec<Entry>) = old
            .nodes
            .drain(..)
            .partition(|e| own.common_prefix(&e.id) as usize == depth);
        let (rstay, rgo): (VecDeque<Entry>, VecDeque<Entry>) = old
            .replacements
            .drain(..)
            .partition(|e| own.common_prefix(&e.id) as usize == depth);
        old.nodes = stay;
        old.replacements = rstay;
        let last_changed = old.last_changed;
        self.buckets.push(Bucket {
            nodes: go,
            replacements: rgo,
            last_changed,
        });
    }

    /// A query to `id` went unanswered; a bad node gives its place to the newest replacement.
    pub fn failed(&mut self, id: &NodeId) {
        let i = self.bucket_of(id);
        let bucket = &mut self.buckets[i];
        let Some(pos) = bucket.nodes.iter().position(|e| e.id == *id) else {
            return;
        };
        bucket.nodes[pos].fails += 1;
        if bucket.nodes[pos].is_bad() {
            if let Some(r) = bucket.replacements.pop_back() {
                bucket.nodes[pos] = r;
            }
        }
    }

    /// Up to `n` nodes closest to `target` by XOR distance, bad ones left out, closest first.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .buckets
            .iter()
            .flat_map(|b| b.nodes.iter())
            .filter(|e| !e.is_bad())
            .copied()
            .collect();
        all.sort_by_key(|e| e.id.distance(target));
        all.truncate(n);
        all
    }

    /// The buckets not changed for [`REFRESH_AFTER`], to refresh with a lookup of a random id
    /// in each; marks them refreshed now.
    pub fn due_for_refresh(&mut self, now: Duration) -> Vec<usize> {
        let mut due = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_sub(b.last_changed) >= REFRESH_AFTER {
                b.last_changed = now;
                due.push(i);
            }
        }
        due
    }

    /// An id in bucket `index`'s range, from `random` bytes: our prefix up to the bucket's
    /// depth, the next bit flipped (except in the last bucket), the rest random.
    pub fn id_in_bucket(&self, index: usize, random: [u8; 20]) -> NodeId {
        let depth = index.min(159);
        let mut id = random;
        for bit in 0..=depth {
            let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
            let own_bit = self.own.0[byte] & mask;
            let want = if bit == depth && index < self.buckets.len() - 1 {
                own_bit ^ mask
            } else if bit == depth {
                id[byte] & mask
            } else {
                own_bit
            };
            id[byte] = (id[byte] & !mask) | want;
        }
        NodeId(id)
    }

    /// The same nodes, as seen from a new id of ours (BEP 42 made us change it): each is
    /// placed again, keeping what we know of it; nodes that no longer fit are dropped.
    pub fn with_own_id(&self, own: NodeId) -> RoutingTable {
        let mut table = RoutingTable::new(own);
        for e in self.entries() {
            let seen_at = e.last_seen.unwrap_or_default();
            if table.insert(seen_at, e.id, e.addr, e.last_seen.is_some()) != Inserted::Added {
                continue;
            }
            let i = table.bucket_of(&e.id);
            if let Some(placed) = table.buckets[i].nodes.iter_mut().find(|n| n.id == e.id) {
                placed.fails = e.fails;
            }
        }
        table
    }

    /// Every node in the table, bucket by bucket (for persisting it).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }
}

#[cfg(test)]
mod tests;
