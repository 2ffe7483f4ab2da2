//! The sans-IO engine of one torrent: events in, actions out, time passed in.
//!
//! The IO shell feeds it what happened (a peer connected, a message arrived, a block was written,
//! a piece hashed, time passed) and drains [`Action`]s (send, connect, disconnect, write, verify)
//! with [`Engine::poll_action`]. It never touches a socket, a file or the clock, and draws every
//! random choice from one seeded RNG, so a run is a pure function of its inputs.
//!
//! Modules: [`picker`] (piece and block states), [`smartban`] (blame and parole), `swarm`
//! (candidates, dialling, bans), `connections` (admitting and closing peers), `messages`
//! (each wire message), `requests` (filling request queues), `verdicts` (writes, hashes,
//! bans), `timers` (everything driven by time).

mod choker;
mod close;
mod config;
mod connections;
mod endgame;
mod listening;
mod messages;
pub mod own;
mod peer;
mod pex;
pub mod picker;
mod requests;
pub mod smartban;
mod swarm;
mod timers;
mod upload;
mod verdicts;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::bitfield::Bitfield;
use crate::geometry::{BlockRef, Geometry};
use crate::wire::Message;

pub use close::{DialError, HandshakeError, Reason, Violation};
pub use config::Config;
pub use connections::CLIENT_NAME;
pub use peer::{Handshaken, InFlight, Peer, Rate};
use picker::Picker;
use smartban::Blame;
use swarm::Swarm;

/// The shell's name for one connection; never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey(pub u64);

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
    /// Dial this address and report [`Engine::peer_connected`] or [`Engine::dial_failed`].
    Connect(SocketAddr),
    /// Send a message to a peer.
    Send(PeerKey, Message),
    /// Close a connection now (both directions, socket included); [`Engine::peer_closed`]
    /// must not follow.
    Disconnect(PeerKey, Reason),
    /// Write a block; report [`Engine::block_written`] or [`Engine::write_failed`].
    Write {
        block: BlockRef,
        data: Bytes,
    },
    /// Read a block from storage for a peer; report [`Engine::block_read`] or
    /// [`Engine::read_failed`]. The block is served when its data comes back; the shell
    /// reports the payload bytes written with [`Engine::uploaded`].
    Read {
        key: PeerKey,
        block: BlockRef,
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
    /// Bytes thrown away: failed hashes, duplicates, blocks we did not ask for, blocks of
    /// banned peers.
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

/// The download engine of one torrent.
///
/// # Driving it
///
/// Inputs, each with the current time (`now`, any monotonic clock starting anywhere):
/// - [`Engine::add_peers`]: addresses to dial (trackers, `--peer`, a magnet's `x.pe`).
/// - [`Engine::peer_connected`] after a handshake (ours or theirs), [`Engine::dial_failed`]
///   when a [`Action::Connect`] did not get that far.
/// - [`Engine::message`] for every message of an admitted peer, in arrival order.
/// - [`Engine::peer_closed`] when a connection ended by itself (never after the engine's own
///   [`Action::Disconnect`]).
/// - [`Engine::block_written`] / [`Engine::write_failed`] answering [`Action::Write`], and
///   [`Engine::piece_checked`] answering [`Action::Verify`].
/// - [`Engine::tick`] at (or after) [`Engine::next_timeout`].
///
/// Outputs: after every input, drain [`Engine::poll_action`] until `None` and carry the
/// actions out in order (a `Send` after a `Disconnect` of the same peer is never produced).
/// Then sleep until the next input or [`Engine::next_timeout`], whichever comes first. A
/// shell that is flooded with inputs must still call `tick` once the deadline has passed:
/// timeouts (idle, snub, requests) only fire from `tick`.
///
/// Every action names the input that must answer it, and the engine tolerates answers for
/// peers or pieces it has since forgotten.
pub struct Engine {
    config: Config,
    picker: Picker,
    rng: ChaCha8Rng,
    peers: BTreeMap<PeerKey, Peer>,
    swarm: Swarm,
    blame: Blame,
    actions: VecDeque<Action>,
    stats: Stats,
    completed: bool,
    /// Whom we upload to, and when that is next reconsidered.
    choker: choker::Choker,
    /// Blocks were released (a reject, a choke, a peer gone): top up every peer's queue at
    /// the next tick, at most once per [`requests::REFILL_GAP`], so a flood of cheap messages
    /// cannot make each one cost a pass over every peer and piece.
    refill_due: bool,
    last_refill: Duration,
    /// The info dictionary, served to peers that ask for it (BEP 9).
    metadata: Option<bytes::Bytes>,
    /// The port we accept connections on, told to peers (BEP 10 `p`) so that those we dialled
    /// from an ephemeral port can name us to others (PEX).
    listen_port: Option<u16>,
    /// Time during which the shell read peer input: the clock every peer is judged on
    /// (request ages, snub, request and idle timeouts, download rates).
    listening: listening::Listening,
}

impl Engine {
    /// An engine for a torrent of `geometry`, already holding `have`, drawing randomness from
    /// `seed`.
    pub fn new(config: Config, geometry: Geometry, have: Bitfield, seed: u64) -> Self {
        let completed = have.is_full();
        Engine {
            swarm: Swarm::new(&config),
            config,
            picker: Picker::new(geometry, have),
            rng: ChaCha8Rng::seed_from_u64(seed),
            peers: BTreeMap::new(),
            blame: Blame::default(),
            actions: VecDeque::new(),
            stats: Stats::default(),
            completed,
            choker: choker::Choker::default(),
            refill_due: false,
            last_refill: Duration::ZERO,
            metadata: None,
            listen_port: None,
            listening: listening::Listening::default(),
        }
    }

    /// The port we listen on, for our extended handshake.
    pub fn set_listen_port(&mut self, port: u16) {
        self.listen_port = (port != 0).then_some(port);
    }

    /// Whether the shell reads what peers send from `now` on: it stops while its own disk
    /// is behind. Time not reading does not count against peers (request ages in the endgame,
    /// snub, request and idle timeouts, download rates): a block waiting in our socket buffer
    /// is not late. Repeating the same value changes nothing.
    pub fn set_listening(&mut self, now: Duration, listening: bool) {
        self.listening.set(now, listening);
    }

    /// Where we listen: addresses never dialled, whoever names them.
    pub fn set_own_addresses(&mut self, own: own::OwnAddrs) {
        self.swarm.set_own(own);
    }

    /// Serves `info` (the torrent's info dictionary, exactly as hashed) to peers that ask for
    /// it with BEP 9; peers connected from now on are told its size.
    pub fn serve_metadata(&mut self, info: bytes::Bytes) {
        self.metadata = Some(info);
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
        self.swarm.is_banned(addr)
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
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod pex_tests;
#[cfg(test)]
mod tests;
