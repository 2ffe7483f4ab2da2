//! The sans-IO download engine of one torrent: events in, actions out, time passed in.
//!
//! The IO shell feeds it what happened (a peer connected, a message arrived, a block was written,
//! a piece hashed, time passed) and drains [`Action`]s (send, connect, disconnect, write, verify)
//! with [`Engine::poll_action`]. It never touches a socket, a file or the clock, and draws every
//! random choice from one seeded RNG, so a run is a pure function of its inputs.

mod messages;
mod peer;
pub mod picker;
pub mod smartban;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, Geometry};
use crate::wire::Message;
use crate::PeerId;

pub use peer::{InFlight, Peer, Rate};
use picker::Picker;
use smartban::Blame;

/// The shell's name for one connection; never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u64);

/// Policy knobs, each with where its default comes from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections per torrent (Transmission and qBittorrent default to 50-100).
    pub max_peers: usize,
    /// Requests kept outstanding to a peer before its rate is known: enough to fill a
    /// 1 MB/s x 200 ms pipe (16 x 16 KiB = 256 KiB).
    pub min_queue: usize,
    /// Hard cap on outstanding requests per peer (libtorrent's default `reqq` is 500).
    pub max_queue: usize,
    /// The queue holds this much time's worth of the peer's measured rate (libtorrent uses 3 s).
    pub queue_time: Duration,
    /// No block for this long while requests are outstanding: the peer is snubbed and its
    /// requests go to others (libtorrent's default is 60 s; shorter recovers stalls faster).
    pub snub_timeout: Duration,
    /// A request unanswered for this long is given up and asked of someone else.
    pub request_timeout: Duration,
    /// Nothing heard for this long (not even a keep-alive, sent every 2 min): disconnect.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this long without sending anything (BEP 3 convention: 2 min).
    pub keepalive_interval: Duration,
    /// First retry delay after a failed dial; doubles with each failure.
    pub dial_backoff: Duration,
    /// Failed dials after which an address is forgotten.
    pub max_dial_failures: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_peers: 50,
            min_queue: 16,
            max_queue: 500,
            queue_time: Duration::from_secs(3),
            snub_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(120),
            dial_backoff: Duration::from_secs(5),
            max_dial_failures: 6,
        }
    }
}

/// Why the engine closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The peer broke the protocol; the text says how.
    Protocol(String),
    /// The peer sent corrupt data and is banned.
    Banned,
    /// Already connected to this peer (same peer id).
    Duplicate,
    /// Too many connections.
    TooManyPeers,
    /// Nothing heard from the peer for too long.
    Idle,
    /// Neither side has anything the other wants.
    NotUseful,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Protocol(why) => write!(f, "protocol error: {why}"),
            Reason::Banned => f.write_str("banned"),
            Reason::Duplicate => f.write_str("duplicate connection"),
            Reason::TooManyPeers => f.write_str("too many peers"),
            Reason::Idle => f.write_str("idle"),
            Reason::NotUseful => f.write_str("not useful"),
        }
    }
}

/// Something worth recording: logs in real runs, the trace in simulations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    PieceVerified(u32),
    PieceFailed(u32),
    Banned(SocketAddr),
    Choked(PeerKey),
    Unchoked(PeerKey),
    Snubbed(PeerKey),
    /// Every piece is verified and on disk.
    Complete,
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Dial this address and report [`Engine::peer_connected`] or [`Engine::connect_failed`].
    Connect(SocketAddr),
    /// Send a message to a peer.
    Send(PeerKey, Message),
    /// Close a connection; [`Engine::peer_closed`] is not needed afterwards.
    Disconnect(PeerKey, Reason),
    /// Write a block; report [`Engine::block_written`] or [`Engine::write_failed`].
    Write {
        block: BlockRef,
        data: Bytes,
    },
    /// Hash a piece from storage; report [`Engine::piece_checked`]. With `block_hashes`, also
    /// return the hash of each block (smart ban needs them for pieces that failed before).
    Verify {
        piece: u32,
        block_hashes: bool,
    },
    Notice(Notice),
}

/// Counters for the `--json` summary and tracker announces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Payload bytes received this run, wasted ones included.
    pub downloaded: u64,
    /// Payload bytes sent this run.
    pub uploaded: u64,
    /// Bytes thrown away: failed hashes, duplicates, blocks we did not ask for.
    pub wasted: u64,
    /// Peers banned this run.
    pub banned: u64,
}

/// The result of hashing a piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub piece: u32,
    pub ok: bool,
    /// Per-block hashes: always for a failure, and for a success when asked for.
    pub block_hashes: Option<Vec<[u8; 20]>>,
}

/// An address we may dial.
#[derive(Debug, Clone, Default)]
struct Candidate {
    failures: u32,
    next_attempt: Duration,
}

/// The download engine of one torrent.
pub struct Engine {
    config: Config,
    picker: Picker,
    rng: ChaCha8Rng,
    our_id: PeerId,
    peers: BTreeMap<PeerKey, Peer>,
    /// Per peer: how many pieces it has that we lack; interest is `> 0`.
    useful: BTreeMap<PeerKey, u32>,
    candidates: BTreeMap<SocketAddr, Candidate>,
    /// Dials under way.
    connecting: BTreeSet<SocketAddr>,
    banned: BTreeSet<SocketAddr>,
    banned_ids: BTreeSet<PeerId>,
    /// Addresses never worth dialling again: ourselves, or peers of another torrent.
    unusable: BTreeSet<SocketAddr>,
    /// Who sent each block of the pieces being hashed.
    verifying: BTreeMap<u32, Vec<Option<SocketAddr>>>,
    blame: Blame,
    actions: VecDeque<Action>,
    stats: Stats,
    completed: bool,
}

impl Engine {
    /// An engine for a torrent of `geometry`, already holding `have`, drawing randomness from
    /// `seed`.
    pub fn new(
        config: Config,
        geometry: Geometry,
        have: Bitfield,
        our_id: PeerId,
        seed: u64,
    ) -> Self {
        let completed = have.is_full();
        Engine {
            config,
            picker: Picker::new(geometry, have),
            rng: ChaCha8Rng::seed_from_u64(seed),
            our_id,
            peers: BTreeMap::new(),
            useful: BTreeMap::new(),
            candidates: BTreeMap::new(),
            connecting: BTreeSet::new(),
            banned: BTreeSet::new(),
            banned_ids: BTreeSet::new(),
            unusable: BTreeSet::new(),
            verifying: BTreeMap::new(),
            blame: Blame::default(),
            actions: VecDeque::new(),
            stats: Stats::default(),
            completed,
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }

    /// Bytes not yet verified.
    pub fn left(&self) -> u64 {
        self.picker.left()
    }

    pub fn is_complete(&self) -> bool {
        self.picker.is_complete()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    pub fn peer(&self, key: PeerKey) -> Option<&Peer> {
        self.peers.get(&key)
    }

    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(addr)
    }

    pub fn our_id(&self) -> PeerId {
        self.our_id
    }

    /// Learns addresses of peers (from a tracker, a magnet link, an incoming connection).
    pub fn add_peers(&mut self, now: Duration, addrs: impl IntoIterator<Item = SocketAddr>) {
        for addr in addrs {
            if self.banned.contains(&addr) || self.unusable.contains(&addr) {
                continue;
            }
            self.candidates.entry(addr).or_insert(Candidate {
                failures: 0,
                next_attempt: now,
            });
        }
        self.dial(now);
    }

    /// A dial we asked for failed.
    pub fn connect_failed(&mut self, now: Duration, addr: SocketAddr) {
        self.connecting.remove(&addr);
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.failures += 1;
            if c.failures >= self.config.max_dial_failures {
                self.candidates.remove(&addr);
            } else {
                let backoff = self.config.dial_backoff * 2u32.saturating_pow(c.failures - 1);
                c.next_attempt = now + backoff;
            }
        }
        self.dial(now);
    }

    /// A dialled address is never worth dialling again: it turned out to be ourselves (our own
    /// peer id came back) or a peer of another torrent (wrong info-hash).
    pub fn unusable(&mut self, now: Duration, addr: SocketAddr) {
        self.connecting.remove(&addr);
        self.candidates.remove(&addr);
        self.unusable.insert(addr);
        self.dial(now);
    }

    /// A connection finished its handshake (we dialled `addr`, or it dialled us from `addr`).
    /// `fast` says whether both sides support BEP 6.
    pub fn peer_connected(
        &mut self,
        now: Duration,
        key: PeerKey,
        addr: SocketAddr,
        peer_id: PeerId,
        fast: bool,
    ) {
        self.connecting.remove(&addr);
        if let Some(c) = self.candidates.get_mut(&addr) {
            c.failures = 0;
        }
        let reason = if self.banned.contains(&addr) || self.banned_ids.contains(&peer_id) {
            Some(Reason::Banned)
        } else if self.peers.values().any(|p| p.peer_id == peer_id) {
            Some(Reason::Duplicate)
        } else if self.peers.len() >= self.config.max_peers {
            Some(Reason::TooManyPeers)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.actions.push_back(Action::Disconnect(key, reason));
            return;
        }
        let count = self.picker.geometry().piece_count();
        self.peers
            .insert(key, Peer::new(addr, peer_id, fast, count, now));
        self.useful.insert(key, 0);
        // Our pieces first (BEP 3: the bitfield must be the first message after the handshake).
        let have = self.picker.have();
        let first = if fast && have.is_full() {
            Message::HaveAll
        } else if fast && have.count_ones() == 0 {
            Message::HaveNone
        } else if have.count_ones() > 0 {
            Message::Bitfield(Bytes::copy_from_slice(have.as_bytes()))
        } else {
            // Without the fast extension an empty bitfield may simply be left out.
            return;
        };
        self.send(now, key, first);
    }

    /// A connection ended (the peer closed it, or IO failed).
    pub fn peer_closed(&mut self, now: Duration, key: PeerKey) {
        self.forget_peer(key);
        self.dial(now);
        self.fill_all(now);
    }

    /// Removes every trace of a peer: its requests go back to the picker.
    fn forget_peer(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        self.useful.remove(&key);
        for r in &peer.in_flight {
            self.picker.release(key, r.block);
        }
        self.picker.remove_availability(&peer.pieces);
    }

    /// Closes a connection from our side.
    fn disconnect(&mut self, key: PeerKey, reason: Reason) {
        if self.peers.contains_key(&key) {
            self.forget_peer(key);
            self.actions.push_back(Action::Disconnect(key, reason));
        }
    }

    fn send(&mut self, now: Duration, key: PeerKey, msg: Message) {
        if let Some(p) = self.peers.get_mut(&key) {
            p.last_sent_at = now;
        }
        self.actions.push_back(Action::Send(key, msg));
    }

    fn notice(&mut self, n: Notice) {
        self.actions.push_back(Action::Notice(n));
    }

    /// A block handed out with [`Action::Write`] is on disk.
    pub fn block_written(&mut self, _now: Duration, block: BlockRef) {
        if let Some(senders) = self.picker.written(block) {
            let block_hashes = self.blame.wants_block_hashes(block.piece);
            self.verifying.insert(block.piece, senders);
            self.actions.push_back(Action::Verify {
                piece: block.piece,
                block_hashes,
            });
        }
    }

    /// A block could not be written; it will be fetched again. The shell decides whether the
    /// error is fatal (a full disk stops the torrent).
    pub fn write_failed(&mut self, now: Duration, block: BlockRef) {
        self.picker.write_failed(block);
        self.fill_all(now);
    }

    /// A piece handed out with [`Action::Verify`] was hashed.
    pub fn piece_checked(&mut self, now: Duration, result: Checked) {
        let piece = result.piece;
        if !self.picker.is_verifying(piece) {
            return;
        }
        let senders = self.verifying.remove(&piece).unwrap_or_default();
        let hashes = result.block_hashes.as_deref();
        let to_ban = if result.ok {
            self.picker.verified(piece);
            self.notice(Notice::PieceVerified(piece));
            self.on_piece_verified(now, piece);
            self.blame.piece_passed(piece, &senders, hashes)
        } else {
            self.picker.failed(piece);
            self.stats.wasted += u64::from(self.picker.geometry().piece_len(piece));
            self.notice(Notice::PieceFailed(piece));
            self.blame
                .piece_failed(piece, &senders, hashes.unwrap_or(&[]))
        };
        for addr in to_ban {
            self.ban(addr);
        }
        self.fill_all(now);
    }

    fn on_piece_verified(&mut self, now: Duration, piece: u32) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(peer) = self.peers.get(&key) else {
                continue;
            };
            let had = peer.pieces.get(piece);
            if had {
                if let Some(u) = self.useful.get_mut(&key) {
                    *u = u.saturating_sub(1);
                }
            } else {
                self.send(now, key, Message::Have(piece));
            }
            self.update_interest(now, key);
        }
        if self.picker.is_complete() && !self.completed {
            self.completed = true;
            self.notice(Notice::Complete);
            // Seeds have nothing for us and want nothing from us.
            let seeds: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| p.is_seed())
                .map(|(k, _)| *k)
                .collect();
            for key in seeds {
                self.disconnect(key, Reason::NotUseful);
            }
        }
    }

    /// Bans an address: disconnects it and never talks to it again.
    fn ban(&mut self, addr: SocketAddr) {
        if !self.banned.insert(addr) {
            return;
        }
        self.stats.banned += 1;
        self.candidates.remove(&addr);
        self.notice(Notice::Banned(addr));
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.addr == addr)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(p) = self.peers.get(&key) {
                self.banned_ids.insert(p.peer_id);
            }
            self.disconnect(key, Reason::Banned);
        }
    }

    /// Sends interested / not interested when that changed.
    fn update_interest(&mut self, now: Duration, key: PeerKey) {
        let wants = !self.picker.is_complete() && self.useful.get(&key).copied().unwrap_or(0) > 0;
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.interested != wants {
            peer.interested = wants;
            let msg = if wants {
                Message::Interested
            } else {
                Message::NotInterested
            };
            self.send(now, key, msg);
        }
    }

    /// Tops up every peer's request queue.
    fn fill_all(&mut self, now: Duration) {
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.fill_requests(now, key);
        }
    }

    /// Tops up one peer's request queue to its desired depth.
    fn fill_requests(&mut self, now: Duration, key: PeerKey) {
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if !peer.interested || self.picker.is_complete() {
            return;
        }
        if peer.choking_us && peer.allowed_fast.is_empty() {
            return;
        }
        let want = self.queue_depth(peer, now);
        if peer.in_flight.len() >= want {
            return;
        }
        let room = want - peer.in_flight.len();
        let only = peer.choking_us.then_some(&peer.allowed_fast);
        let blocks = self.picker.pick(
            key,
            &peer.pieces,
            only,
            &peer.refused,
            peer.in_flight.is_empty(),
            room,
            &mut self.rng,
        );
        if blocks.is_empty() {
            return;
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.in_flight.is_empty() {
            // The snub clock starts when there is something to wait for.
            peer.last_block_at = now;
        }
        for block in &blocks {
            peer.in_flight.push(InFlight {
                block: *block,
                sent_at: now,
            });
        }
        for block in blocks {
            self.send(now, key, Message::Request(block));
        }
    }

    /// How many requests to keep outstanding: the measured rate times `queue_time`, within
    /// `[min_queue, min(max_queue, reqq)]`; one for a snubbed peer.
    fn queue_depth(&self, peer: &Peer, now: Duration) -> usize {
        if peer.snubbed {
            return 1;
        }
        let rate = peer.rate.per_second(now);
        let by_rate = (rate as f64 * self.config.queue_time.as_secs_f64()
            / f64::from(crate::geometry::BLOCK_LEN)) as usize;
        let cap = peer
            .reqq
            .map_or(self.config.max_queue, |r| {
                (r as usize).min(self.config.max_queue)
            })
            .max(1);
        by_rate.clamp(self.config.min_queue.min(cap), cap)
    }
}

#[cfg(test)]
mod tests;
