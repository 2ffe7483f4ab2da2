//! One connection of a synthetic seeder: the handshake, the opening messages, then one loop
//! that reads requests and writes blocks, following the seeder's [`Behaviour`].
//!
//! Everything happens in one task with a `biased` `select!`, so under the simulator a
//! connection's choices depend only on what arrived and when, never on task scheduling.
//! Writes happen outside the `select!`, so a block is never cut by a cancelled future; the
//! only deliberately cut blocks are those of `drop_after_blocks`.
//!
//! The parts: `opening` (handshake, bitfield), `serving` (the loop, its timers, writing and
//! trickling), `requests` (what the peer's messages do), `blocks` (every `piece` message the
//! seeder writes: served, shifted, corrupted, pushed, cut), `ending` (deliberate ends) and
//! `flood` (the peer that never reads).

mod blocks;
mod ending;
mod flood;
mod leech;
mod metadata;
mod opening;
mod requests;
mod serving;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::shell::limit::RateLimiter;
use bitswarm_client::wire::Decoder;
use bitswarm_client::{BlockRef, InfoHash, PeerId};
use bytes::BytesMut;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout, Instant};

use crate::behaviour::{Behaviour, PiecePlan};
use crate::content::Content;
use crate::event::{EventKind, Events, SeederEvent};
use crate::rejoin::Book;
pub(crate) use leech::Fetch;
pub use leech::FREE_RIDE_PIPELINE;
pub(crate) use metadata::Served;

/// How long a peer has to send its handshake (the client's own limit is the same).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Requests queued per connection before the peer counts as abusive and is dropped: 500 is
/// libtorrent's default `reqq`, and no honest client queues more than the peer allows.
pub const MAX_QUEUE: usize = 500;

/// A keep-alive goes out after this long without sending anything (the BEP 3 convention),
/// unless `keepalive_ms` says otherwise.
pub const KEEPALIVE: Duration = Duration::from_secs(120);

/// A peer silent for this long is dropped: more than two of its keep-alive intervals.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a stalled (or flooding, never-reading) connection is held open before the seeder
/// lets go of it, so a scenario without a `leave_at_ms` does not keep dead connections
/// forever.
pub const STALL_HOLD: Duration = Duration::from_secs(600);

/// Before a RST, how long the seeder waits without reading, so the peer's requests answering
/// the last whole block land unread (one round trip on loopback or in a simulated network).
pub const RST_LINGER: Duration = Duration::from_millis(200);

/// After sabotage (garbage, a wrong info-hash, a FIN mid-piece), how long the seeder waits for
/// the peer to hang up before closing itself. Waiting, rather than closing at once, makes the
/// peer's reaction to the sabotage what ends the connection.
pub const HANG_UP_WAIT: Duration = Duration::from_secs(10);

/// How often a `request_flood` connection writes a keep-alive. It never reads, so a failed
/// write is its only way to learn that the peer has gone; a second keeps that news prompt.
pub const FLOOD_PROBE: Duration = Duration::from_secs(1);

/// What every connection of one seeder shares.
pub(crate) struct Shared {
    /// The bytes served.
    pub content: Arc<Content>,
    /// The torrent's info-hash.
    pub info_hash: InfoHash,
    /// The seeder's script.
    pub behaviour: Behaviour,
    /// Which pieces it claims and which it really serves.
    pub plan: PiecePlan,
    /// With `behaviour.corrupt_every` N: the served block numbers `k` with `k % N` equal to
    /// this are corrupted.
    pub corrupt_phase: u64,
    /// Blocks served over all connections, numbering them for `corrupt_every`.
    pub served: AtomicU64,
    /// `behaviour.corrupt_pieces` as a set.
    pub corrupt_pieces: BTreeSet<u32>,
    /// `behaviour.allowed_fast` as a set.
    pub allowed_fast: BTreeSet<u32>,
    /// The seeder's own peer id: what it announces with and answers accepted connections
    /// with. Rejoins use fresh ones.
    pub peer_id: PeerId,
    /// The upload cap (`behaviour.rate`), if any, shared by all its connections.
    pub bucket: Option<RateLimiter>,
    /// The listening port, naming the seeder in events.
    pub port: u16,
    /// Where events go.
    pub events: Option<Events>,
    /// Payload bytes sent, for announces.
    pub uploaded: AtomicU64,
    /// Frames longer than any legal message of this torrent are refused.
    pub decoder: Decoder,
    /// Where the swarm's peers listen, for `rejoin_after_ms`.
    pub book: Book,
    /// What a free rider (`free_ride`) has fetched and asked for, over all its connections.
    pub fetch: Option<std::sync::Mutex<Fetch>>,
    /// The info dictionary it offers over BEP 9, if `serve_metadata`.
    pub metadata: Option<Served>,
}

impl Shared {
    pub fn emit(&self, peer: SocketAddr, kind: EventKind) {
        if let Some(events) = &self.events {
            events(SeederEvent {
                port: self.port,
                peer,
                kind,
            });
        }
    }
}

/// How a connection ended; the text goes into the `Disconnected` event.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The peer closed or reset it, or it broke under us: what makes a rejoining seeder come
    /// back.
    ByPeer(String),
    /// The seeder ended it: its script, a protocol error, a timeout.
    BySeeder(String),
}

impl Ended {
    fn seeder(reason: impl Into<String>) -> Ended {
        Ended::BySeeder(reason.into())
    }

    fn peer(reason: impl Into<String>) -> Ended {
        Ended::ByPeer(reason.into())
    }
}

/// What the seeder learns when a connection task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The remote address the connection (or the failed rejoin) was with.
    pub peer: SocketAddr,
    /// The peer hung up, or a rejoin attempt failed: a rejoining seeder tries (again).
    pub rejoin: bool,
}

/// Reports the end of a connection exactly once, also when the task is aborted (the seeder
/// left), so every `Connected` event has its `Disconnected`.
struct Farewell {
    shared: Arc<Shared>,
    peer: SocketAddr,
    reason: Option<String>,
}

impl Drop for Farewell {
    fn drop(&mut self) {
        let reason = self.reason.take().unwrap_or_else(|| "seeder left".into());
        self.shared.emit(self.peer, EventKind::Disconnected(reason));
    }
}

/// Serves one accepted connection until it ends.
pub(crate) async fn accepted<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    seed: u64,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let peer_id = shared.peer_id;
    run(stream, peer, shared, peer_id, false, seed).await
}

/// Serves a connection the seeder dialled (a rejoin) as `peer_id`: its handshake goes first,
/// then everything is as on an accepted connection.
pub(crate) async fn dialled<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    peer_id: PeerId,
    seed: u64,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    run(stream, peer, shared, peer_id, true, seed).await
}

async fn run<S>(
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    peer_id: PeerId,
    dialled: bool,
    seed: u64,
) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.emit(peer, EventKind::Connected);
    let mut farewell = Farewell {
        shared: Arc::clone(&shared),
        peer,
        reason: None,
    };
    let mut conn = Conn::new(stream, peer, shared, peer_id, dialled, seed);
    let ended = conn.run().await;
    conn.leech_release();
    let (rejoin, reason) = match ended {
        Ended::ByPeer(reason) => (true, reason),
        Ended::BySeeder(reason) => (false, reason),
    };
    farewell.reason = Some(reason);
    Outcome { peer, rejoin }
}

/// One connection's state.
struct Conn<S> {
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// The id this connection's handshake carries.
    peer_id: PeerId,
    /// The seeder dialled (a rejoin), so its handshake goes first.
    dialled: bool,
    /// Corruption decisions and garbage bytes.
    rng: ChaCha8Rng,
    /// Received bytes not yet decoded.
    buf: BytesMut,
    /// Messages to write: at the end of this turn of the loop, or a byte at a time when
    /// trickling.
    out: BytesMut,
    /// Both sides speak BEP 6.
    fast: bool,
    /// Both sides speak BEP 10 (only a seeder serving metadata offers it).
    extended: bool,
    /// The id the peer wants `ut_metadata` messages sent with.
    their_ut_metadata: Option<u8>,
    /// We choke the peer (BEP 3: every connection starts choked).
    choked: bool,
    /// When the next flap of `choke_flap_ms` is due, once flapping has started.
    flap_at: Option<Instant>,
    /// Requests we will answer with data, oldest first. Requests we will not serve are never
    /// queued: they are rejected or ignored on arrival (and at a choke).
    queue: VecDeque<BlockRef>,
    /// Whole blocks sent on this connection.
    blocks: u32,
    last_heard: Instant,
    last_sent: Instant,
    /// The pause between bytes, once the handshake is done, if `trickle_ms`: the handshake
    /// itself always goes out whole.
    trickle: Option<Duration>,
    /// When the next trickled byte may go.
    trickle_at: Instant,
    /// When the next unrequested block is due, if `unrequested_blocks_ms`.
    push_at: Option<Instant>,
    /// The piece whose first block is pushed next.
    push_piece: u32,
    /// What a free rider knows of the peer and has asked of it.
    leech: leech::Leech,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(
        stream: S,
        peer: SocketAddr,
        shared: Arc<Shared>,
        peer_id: PeerId,
        dialled: bool,
        seed: u64,
    ) -> Self {
        let now = Instant::now();
        Conn {
            stream,
            peer,
            shared,
            peer_id,
            dialled,
            rng: ChaCha8Rng::seed_from_u64(seed),
            buf: BytesMut::with_capacity(serving::READ_SLACK),
            out: BytesMut::new(),
            fast: false,
            extended: false,
            their_ut_metadata: None,
            choked: true,
            flap_at: None,
            queue: VecDeque::new(),
            blocks: 0,
            last_heard: now,
            last_sent: now,
            trickle: None,
            trickle_at: now,
            push_at: None,
            push_piece: 0,
            leech: leech::Leech::default(),
        }
    }

    /// Runs the connection; the result is how and why it ended.
    async fn run(&mut self) -> Ended {
        match timeout(HANDSHAKE_TIMEOUT, self.handshake()).await {
            Ok(Ok(())) => {}
            Ok(Err(ended)) => return ended,
            Err(_) => return Ended::seeder("handshake timed out"),
        }
        if let Some(ended) = self.sabotage().await {
            return ended;
        }
        self.trickle = self.shared.behaviour.trickle();
        self.greet();
        if let Some(count) = self.shared.behaviour.request_flood {
            return self.flood(count).await;
        }
        if let Some(period) = self.shared.behaviour.unrequested_blocks() {
            self.push_at = Some(Instant::now() + period);
        }
        // Trickled opening messages go out from the loop, which keeps reading meanwhile.
        if self.trickle.is_none() {
            if let Err(ended) = self.flush().await {
                return ended;
            }
        }
        self.serve().await
    }
}
