//! Fetching a torrent's info dictionary from peers (BEP 9), sans-IO like the engine: peers,
//! messages and the time come in; requests to send and peers to drop come out.
//!
//! Pieces are spread over every peer that offers the metadata (a few requests each), a request
//! that goes unanswered is handed to another peer, and the assembled dictionary counts only if
//! its SHA-1 is the magnet's info-hash. Peers that claim different sizes are kept apart: we
//! assemble the size most usable peers claim, and another once nobody is left for it. After a failed
//! assembly from several peers the next one comes from a single peer at a time, so the peer that
//! lied is found and dropped; a peer whose own copy fails is dropped at once. Memory is bounded
//! by [`MAX_METADATA_SIZE`] for the dictionary and by the peer count for the rest.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::engine::PeerKey;
use crate::wire::{ExtendedHandshake, MetadataMessage, METADATA_PIECE_LEN};
use crate::InfoHash;

pub use crate::wire::MAX_METADATA_SIZE;

/// Requests outstanding to one peer at a time: a multi-piece dictionary is spread over several
/// peers, and no honest peer's own limit on queued metadata requests is exceeded.
pub const MAX_OUTSTANDING: usize = 2;

/// A request unanswered for this long goes to another peer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer that let this many requests time out, or rejected this many, is no longer asked.
pub const MAX_STRIKES: u32 = 3;

/// Why a peer was dropped while fetching metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("{0}")]
    Malformed(crate::wire::MetadataError),
    #[error("sent metadata piece {0}, which we did not ask it for")]
    Unrequested(u32),
    #[error("sent a piece of {sent}-byte metadata after claiming {claimed} bytes")]
    SizeMismatch { claimed: u32, sent: u32 },
    #[error("its metadata does not match the info-hash")]
    BadMetadata,
}

/// What the fetch wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to the peer as extended message `ext_id` (the id the peer assigned).
    Send {
        key: PeerKey,
        ext_id: u8,
        msg: MetadataMessage,
    },
    /// Close the connection: the peer sent something that cannot be right.
    Drop { key: PeerKey, fault: Fault },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Missing,
    Requested { from: PeerKey, at: Duration },
    Have { from: PeerKey },
}

#[derive(Debug)]
struct Peer {
    /// The id the peer wants its `ut_metadata` messages sent with.
    ext_id: u8,
    /// The `metadata_size` it claimed.
    size: u32,
    /// Pieces asked of it and not answered yet.
    outstanding: usize,
    /// Timeouts and rejects; at [`MAX_STRIKES`] it is no longer asked.
    strikes: u32,
    /// It was part of a failed assembly with others; tried alone after the unsuspected.
    suspect: bool,
    /// Pieces it was asked for and that went to another peer after a timeout: a late answer
    /// to one of these is not a fault.
    given_away: BTreeSet<u32>,
}

/// The metadata being assembled, of one claimed size.
#[derive(Debug)]
struct Assembly {
    size: u32,
    pieces: Vec<Piece>,
    buf: Vec<u8>,
    /// Set after an assembly from several peers failed: every piece from this one peer.
    single: Option<PeerKey>,
}

/// The state of one metadata fetch.
#[derive(Debug)]
pub struct Fetch {
    info_hash: InfoHash,
    peers: BTreeMap<PeerKey, Peer>,
    current: Option<Assembly>,
    /// Set after an assembly from several peers failed: assemble from one peer at a time.
    one_at_a_time: bool,
    actions: VecDeque<Action>,
    done: Option<Bytes>,
}

impl Fetch {
    pub fn new(info_hash: InfoHash) -> Self {
        Fetch {
            info_hash,
            peers: BTreeMap::new(),
            current: None,
            one_at_a_time: false,
            actions: VecDeque::new(),
            done: None,
        }
    }

    /// The next thing to do, in order.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The verified info dictionary, once assembled (its SHA-1 is the info-hash).
    pub fn done(&self) -> Option<&Bytes> {
        self.done.as_ref()
    }

    /// Peers that offer the metadata and are still asked.
    pub fn useful_peers(&self) -> usize {
        self.peers.values().filter(|p| p.usable()).count()
    }

    /// A peer's extended handshake arrived; it helps if it offers `ut_metadata` with a size.
    pub fn peer_joined(&mut self, now: Duration, key: PeerKey, hs: &ExtendedHandshake) {
        let (Some(ext_id), Some(size)) = (hs.id("ut_metadata"), hs.metadata_size) else {
            return;
        };
        if self.done.is_some() || self.peers.contains_key(&key) {
            return;
        }
        let peer = Peer {
            ext_id,
            size,
            outstanding: 0,
            strikes: 0,
            suspect: false,
            given_away: BTreeSet::new(),
        };
        self.peers.insert(key, peer);
        let outvoted = self
            .current
            .as_ref()
            .is_some_and(|a| a.single.is_none() && self.votes(size) > self.votes(a.size));
        if outvoted {
            // More peers now claim another size: the one we assemble is likely a lie.
            self.drop_assembly();
        }
        self.fill(now);
    }

    /// How many usable peers claim metadata of `size` bytes.
    fn votes(&self, size: u32) -> usize {
        self.peers
            .values()
            .filter(|p| p.usable() && p.size == size)
            .count()
    }

    /// Forgets the current assembly; answers still on their way are then late, not faults.
    fn drop_assembly(&mut self) {
        let Some(a) = self.current.take() else {
            return;
        };
        for (i, p) in a.pieces.iter().enumerate() {
            if let Piece::Requested { from, .. } = *p {
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.outstanding = peer.outstanding.saturating_sub(1);
                    peer.given_away.insert(i as u32);
                }
            }
        }
    }

    /// The peer is gone; what it was asked for goes to others.
    pub fn peer_left(&mut self, now: Duration, key: PeerKey) {
        if self.peers.remove(&key).is_none() {
            return;
        }
        if let Some(a) = &mut self.current {
            if a.single == Some(key) {
                // Its pieces cannot be checked against anyone else's: start again.
                self.drop_assembly();
            } else {
                for p in &mut a.pieces {
                    if matches!(*p, Piece::Requested { from, .. } if from == key) {
                        *p = Piece::Missing;
                    }
                }
            }
        }
        self.fill(now);
    }

    /// A `ut_metadata` message from a peer (already parsed; a parse error is the caller's
    /// [`Fault::Malformed`] to act on with [`Fetch::fault`]).
    pub fn message(&mut self, now: Duration, key: PeerKey, msg: MetadataMessage) {
        match msg {
            MetadataMessage::Request { piece } => {
                // We have nothing to give yet; a peer that asks still gets an answer.
                if let Some(p) = self.peers.get(&key) {
                    let ext_id = p.ext_id;
                    let msg = MetadataMessage::Reject { piece };
                    self.actions.push_back(Action::Send { key, ext_id, msg });
                }
            }
            MetadataMessage::Reject { piece } => {
                if self.release(key, piece) {
                    self.strike(key);
                }
                self.fill(now);
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => self.data(now, key, piece, total_size, &data),
        }
    }

    /// Drops `key` for `fault` (also what the shell calls for a malformed message).
    pub fn fault(&mut self, now: Duration, key: PeerKey, fault: Fault) {
        self.actions.push_back(Action::Drop { key, fault });
        self.peer_left(now, key);
    }

    /// Hands requests that went unanswered for [`REQUEST_TIMEOUT`] to other peers.
    pub fn tick(&mut self, now: Duration) {
        let mut late = Vec::new();
        if let Some(a) = &self.current {
            for (i, p) in a.pieces.iter().enumerate() {
                if let Piece::Requested { from, at } = *p {
                    if now.saturating_sub(at) >= REQUEST_TIMEOUT {
                        late.push((from, i as u32));
                    }
                }
            }
        }
        for (from, piece) in late {
            if self.release(from, piece) {
                self.strike(from);
                if let Some(p) = self.peers.get_mut(&from) {
                    p.given_away.insert(piece);
                }
            }
        }
        self.fill(now);
    }

    /// When [`Fetch::tick`] next has something to do, if anything is outstanding.
    pub fn next_deadline(&self) -> Option<Duration> {
        let a = self.current.as_ref()?;
        a.pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::Requested { at, .. } => Some(at + REQUEST_TIMEOUT),
                _ => None,
            })
            .min()
    }

    /// Marks `piece` missing again if `key` was asked for it; `true` if it was.
    fn release(&mut self, key: PeerKey, piece: u32) -> bool {
        let Some(a) = &mut self.current else {
            return false;
        };
        let Some(p) = a.pieces.get_mut(piece as usize) else {
            return false;
        };
        if !matches!(*p, Piece::Requested { from, .. } if from == key) {
            return false;
        }
        *p = Piece::Missing;
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.outstanding = peer.outstanding.saturating_sub(1);
        }
        true
    }

    fn strike(&mut self, key: PeerKey) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.strikes += 1;
        }
    }

    fn data(&mut self, now: Duration, key: PeerKey, piece: u32, total_size: u32, data: &[u8]) {
        let Some(peer) = self.peers.get_mut(&key) else {
            // Not a peer we asked anything (or already dropped or done): nothing to check.
            return;
        };
        if peer.size != total_size {
            let fault = Fault::SizeMismatch {
                claimed: peer.size,
                sent: total_size,
            };
            return self.fault(now, key, fault);
        }
        if peer.given_away.remove(&piece) {
            // A late answer to a request that went to another peer: harmless, and unused.
            return;
        }
        if !self.release(key, piece) {
            return self.fault(now, key, Fault::Unrequested(piece));
        }
        let Some(a) = &mut self.current else {
            return;
        };
        // `release` found the piece requested in this assembly, whose size is the peer's, so
        // the codec's length check makes the range exact; checked anyway.
        let start = piece as usize * METADATA_PIECE_LEN as usize;
        let Some(dest) = a.buf.get_mut(start..start + data.len()) else {
            return self.fault(now, key, Fault::Unrequested(piece));
        };
        dest.copy_from_slice(data);
        a.pieces[piece as usize] = Piece::Have { from: key };
        if a.pieces.iter().all(|p| matches!(p, Piece::Have { .. })) {
            self.assembled(now);
        } else {
            self.fill(now);
        }
    }

    /// Every piece is in: keep the dictionary if its hash is right, else find who lied.
    fn assembled(&mut self, now: Duration) {
        let Some(a) = self.current.take() else {
            return;
        };
        let hash: [u8; 20] = Sha1::digest(&a.buf).into();
        if hash == self.info_hash.0 {
            self.done = Some(Bytes::from(a.buf));
            self.peers.clear();
            return;
        }
        let senders: BTreeSet<PeerKey> = a
            .pieces
            .iter()
            .filter_map(|p| match *p {
                Piece::Have { from } => Some(from),
                _ => None,
            })
            .collect();
        if senders.len() == 1 {
            for key in senders {
                self.fault(now, key, Fault::BadMetadata);
            }
        } else {
            // Someone lied and we cannot tell who: from now on, one peer per assembly.
            self.one_at_a_time = true;
            for key in senders {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.suspect = true;
                }
            }
        }
        self.fill(now);
    }

    /// Starts an assembly if none is running, then hands missing pieces to peers.
    fn fill(&mut self, now: Duration) {
        // Each round either fills or drops an assembly nobody can finish; a new one always
        // has a usable peer, so two rounds suffice. The bound is only a guard.
        for _ in 0..4 {
            if self.done.is_some() {
                return;
            }
            if self.current.is_none() {
                self.current = self.start_assembly();
            }
            let Some(a) = &mut self.current else {
                return;
            };
            let askable: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(k, p)| {
                    p.size == a.size && p.usable() && a.single.is_none_or(|s| s == **k)
                })
                .map(|(k, _)| *k)
                .collect();
            if askable.is_empty() {
                self.drop_assembly();
                continue;
            }
            request_missing(a, &askable, &mut self.peers, &mut self.actions, now);
            return;
        }
    }

    /// A new assembly of the size most usable peers claim (ties: the smallest size), from one
    /// peer (the unsuspected first) if assemblies from several have failed.
    fn start_assembly(&self) -> Option<Assembly> {
        let mut votes: BTreeMap<u32, usize> = BTreeMap::new();
        for p in self.peers.values().filter(|p| p.usable()) {
            *votes.entry(p.size).or_default() += 1;
        }
        let (&size, _) = votes
            .iter()
            .max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)))?;
        let single = if self.one_at_a_time {
            let (key, _) = self
                .peers
                .iter()
                .filter(|(_, p)| p.size == size && p.usable())
                .min_by_key(|(k, p)| (p.suspect, **k))?;
            Some(*key)
        } else {
            None
        };
        Some(Assembly {
            size,
            pieces: vec![Piece::Missing; size.div_ceil(METADATA_PIECE_LEN) as usize],
            buf: vec![0; size as usize],
            single,
        })
    }
}

impl Peer {
    fn usable(&self) -> bool {
        self.strikes < MAX_STRIKES
    }
}

/// Asks for every missing piece of `a`, each of the peer in `askable` with room that has the
/// fewest strikes, then the fewest requests outstanding (ties to the lowest key, so runs
/// replay), until no peer has room.
fn request_missing(
    a: &mut Assembly,
    askable: &[PeerKey],
    peers: &mut BTreeMap<PeerKey, Peer>,
    actions: &mut VecDeque<Action>,
    now: Duration,
) {
    for (i, piece) in a.pieces.iter_mut().enumerate() {
        if *piece != Piece::Missing {
            continue;
        }
        let best = askable
            .iter()
            .filter_map(|k| peers.get(k))
            .zip(askable)
            .filter(|(p, _)| p.outstanding < MAX_OUTSTANDING)
            .map(|(p, k)| (p.strikes, p.outstanding, *k))
            .min();
        let Some((_, _, key)) = best else {
            return;
        };
        let Some(peer) = peers.get_mut(&key) else {
            return;
        };
        peer.outstanding += 1;
        *piece = Piece::Requested { from: key, at: now };
        let msg = MetadataMessage::Request { piece: i as u32 };
        let ext_id = peer.ext_id;
        actions.push_back(Action::Send { key, ext_id, msg });
    }
}

#[cfg(test)]
mod tests;
