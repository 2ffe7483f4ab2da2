//! One connection of a synthetic seeder: the handshake, the opening messages, then one loop
//! that reads requests and writes blocks, following the seeder's [`Behaviour`].
//!
//! Everything happens in one task with a `biased` `select!`, so under the simulator a
//! connection's choices depend only on what arrived and when, never on task scheduling.
//! Writes happen outside the `select!`, so a block is never cut by a cancelled future; the
//! only deliberately cut blocks are those of `drop_after_blocks`.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::wire::{
    encode_piece_header, Decoder, Handshake, Message, Reserved, HANDSHAKE_LEN,
};
use bitswarm_client::{BlockRef, InfoHash, PeerId};
use bytes::{Buf, BytesMut};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::behaviour::{Behaviour, DropMode, LieMode, PiecePlan};
use crate::bucket::Bucket;
use crate::content::Content;
use crate::event::{EventKind, Events, SeederEvent};

/// How long a peer has to send its handshake (the client's own limit is the same).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Requests queued per connection before the peer counts as abusive and is dropped: 500 is
/// libtorrent's default `reqq`, and no honest client queues more than the peer allows.
pub const MAX_QUEUE: usize = 500;

/// A keep-alive goes out after this long without sending anything (the BEP 3 convention).
pub const KEEPALIVE: Duration = Duration::from_secs(120);

/// A peer silent for this long is dropped: more than two of its keep-alive intervals.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a stalled connection is held open before the seeder lets go of it, so a scenario
/// without a `leave_at_ms` does not keep dead connections forever.
pub const STALL_HOLD: Duration = Duration::from_secs(600);

/// Before a RST, how long the seeder waits without reading, so the peer's requests answering
/// the last whole block land unread (one round trip on loopback or in a simulated network).
pub const RST_LINGER: Duration = Duration::from_millis(200);

/// After sabotage (garbage, a wrong info-hash, a FIN mid-piece), how long the seeder waits for
/// the peer to hang up before closing itself. Waiting, rather than closing at once, makes the
/// peer's reaction to the sabotage what ends the connection.
pub const HANG_UP_WAIT: Duration = Duration::from_secs(10);

/// How many bytes of garbage `garbage_after_handshake` sends.
const GARBAGE_LEN: usize = 1024;

/// Free buffer space kept before each read: a request is 17 bytes, so this fits many.
const READ_SLACK: usize = 4096;

/// Reserved handshake bits with only BEP 6 (byte 7, bit 0x04): the seeder speaks no BEP 10.
const FAST_ONLY: Reserved = Reserved([0, 0, 0, 0, 0, 0, 0, 0x04]);

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
    /// `behaviour.corrupt_pieces` as a set.
    pub corrupt_pieces: BTreeSet<u32>,
    /// `behaviour.allowed_fast` as a set.
    pub allowed_fast: BTreeSet<u32>,
    /// The seeder's peer id.
    pub peer_id: PeerId,
    /// The upload cap, if any.
    pub bucket: Option<Bucket>,
    /// The listening port, naming the seeder in events.
    pub port: u16,
    /// Where events go.
    pub events: Option<Events>,
    /// Payload bytes sent, for announces.
    pub uploaded: AtomicU64,
    /// Frames longer than any legal message of this torrent are refused.
    pub decoder: Decoder,
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
pub(crate) async fn run<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>, seed: u64)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    shared.emit(peer, EventKind::Connected);
    let mut farewell = Farewell {
        shared: Arc::clone(&shared),
        peer,
        reason: None,
    };
    let mut conn = Conn {
        stream,
        peer,
        shared,
        rng: ChaCha8Rng::seed_from_u64(seed),
        buf: BytesMut::with_capacity(READ_SLACK),
        out: BytesMut::new(),
        fast: false,
        choked: true,
        flap_at: None,
        queue: VecDeque::new(),
        blocks: 0,
        last_heard: Instant::now(),
        last_sent: Instant::now(),
    };
    farewell.reason = Some(conn.run().await);
}

/// One connection's state.
struct Conn<S> {
    stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// Corruption decisions and garbage bytes.
    rng: ChaCha8Rng,
    /// Received bytes not yet decoded.
    buf: BytesMut,
    /// Messages to write at the end of this turn of the loop.
    out: BytesMut,
    /// Both sides speak BEP 6.
    fast: bool,
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
}

/// What woke the loop.
enum Wake {
    Read(std::io::Result<usize>),
    Flap,
    Send,
    KeepAlive,
    Idle,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Runs the connection; the result is why it ended.
    async fn run(&mut self) -> String {
        match timeout(HANDSHAKE_TIMEOUT, self.handshake()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return reason,
            Err(_) => return "handshake timed out".into(),
        }
        let b = &self.shared.behaviour;
        if b.wrong_info_hash {
            return self.hang_up("sent a wrong info-hash").await;
        }
        if b.garbage_after_handshake {
            let mut garbage = vec![0u8; GARBAGE_LEN];
            self.rng.fill(garbage.as_mut_slice());
            self.out.extend_from_slice(&garbage);
            return self.hang_up("sent garbage").await;
        }
        if b.oversized_message {
            // A 2 GiB `piece` message, of which only the start ever comes.
            self.out.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
            self.out.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 0]);
            return self.hang_up("sent an oversized message").await;
        }
        self.greet();
        if let Err(reason) = self.flush().await {
            return reason;
        }
        self.serve().await
    }

    /// Reads the peer's handshake, checks its info-hash and answers (with the wrong
    /// info-hash if so scripted).
    async fn handshake(&mut self) -> Result<(), String> {
        let theirs = loop {
            match Handshake::decode(&self.buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {}
                Err(e) => return Err(format!("bad handshake: {e}")),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err("closed during the handshake".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        self.buf.advance(HANDSHAKE_LEN.min(self.buf.len()));
        if theirs.info_hash != self.shared.info_hash {
            return Err(format!("peer wants another torrent ({})", theirs.info_hash));
        }
        let b = &self.shared.behaviour;
        self.fast = b.fast && theirs.reserved.supports_fast();
        let info_hash = if b.wrong_info_hash {
            InfoHash(self.shared.info_hash.0.map(|byte| !byte))
        } else {
            self.shared.info_hash
        };
        let ours = Handshake {
            reserved: if b.fast {
                FAST_ONLY
            } else {
                Reserved::default()
            },
            info_hash,
            peer_id: self.shared.peer_id,
        };
        self.out.extend_from_slice(&ours.encode());
        self.flush().await
    }

    /// Queues the opening messages: what we have, then our allowed-fast pieces.
    fn greet(&mut self) {
        let claimed = &self.shared.plan.claimed;
        let first = if self.fast && claimed.is_full() {
            Some(Message::HaveAll)
        } else if self.fast && claimed.is_empty() {
            Some(Message::HaveNone)
        } else if !claimed.is_empty() {
            Some(Message::Bitfield(claimed.as_bytes().to_vec().into()))
        } else {
            // Without BEP 6 an empty bitfield may simply be left out.
            None
        };
        if let Some(msg) = first {
            msg.encode(&mut self.out);
        }
        if self.fast {
            for &piece in &self.shared.allowed_fast {
                Message::AllowedFast(piece).encode(&mut self.out);
            }
        }
    }

    /// The main loop, until the connection ends.
    async fn serve(&mut self) -> String {
        let drop_after = self.shared.behaviour.drop_after_blocks;
        let drop_mode = self.shared.behaviour.drop_mode;
        let stall_after = self.shared.behaviour.stall_after_blocks;
        loop {
            if stall_after.is_some_and(|n| self.blocks >= n) {
                self.shared.emit(self.peer, EventKind::Stalled);
                sleep(STALL_HOLD).await;
                return "stalled".into();
            }
            let drop_due = drop_after.is_some_and(|n| self.blocks >= n);
            // A RST needs unread data: stop reading from the last whole block on.
            let reading = match (drop_after, drop_mode) {
                (Some(n), DropMode::Rst) => self.blocks.saturating_add(1) < n,
                _ => true,
            };
            if drop_mode == DropMode::Rst && (drop_due || (!reading && self.queue.is_empty())) {
                return self.reset().await;
            }
            if drop_mode == DropMode::Fin && drop_due && !self.queue.is_empty() {
                return self.finish().await;
            }
            let wake = self.wait(reading).await;
            let step = match wake {
                Wake::Read(Ok(0)) => Err("closed by peer".to_string()),
                Wake::Read(Ok(_)) => {
                    self.last_heard = Instant::now();
                    self.on_bytes()
                }
                Wake::Read(Err(e)) => Err(format!("read: {e}")),
                Wake::Flap => {
                    self.flap();
                    Ok(())
                }
                Wake::Send => {
                    self.send_block();
                    Ok(())
                }
                Wake::KeepAlive => {
                    Message::KeepAlive.encode(&mut self.out);
                    Ok(())
                }
                Wake::Idle => Err("idle".to_string()),
            };
            if let Err(reason) = step {
                return reason;
            }
            if let Err(reason) = self.flush().await {
                return reason;
            }
        }
    }

    /// Waits for the next thing to do. Reading comes first, so cancels and chokes are seen
    /// before the next block goes out.
    async fn wait(&mut self, reading: bool) -> Wake {
        if self.buf.capacity() - self.buf.len() < READ_SLACK {
            self.buf.reserve(READ_SLACK);
        }
        let now = Instant::now();
        let far = now + Duration::from_secs(86_400);
        let send_at = match (&self.shared.bucket, self.queue.is_empty()) {
            (_, true) => None,
            (Some(bucket), false) => Some(bucket.ready_at()),
            (None, false) => Some(now),
        };
        let flap_at = self.flap_at;
        let keepalive_at = self.last_sent + KEEPALIVE;
        let idle_at = self.last_heard + IDLE_TIMEOUT;
        tokio::select! {
            biased;
            r = self.stream.read_buf(&mut self.buf), if reading => Wake::Read(r),
            () = sleep_until(flap_at.unwrap_or(far)), if flap_at.is_some() => Wake::Flap,
            () = sleep_until(send_at.unwrap_or(far)), if send_at.is_some() => Wake::Send,
            () = sleep_until(keepalive_at) => Wake::KeepAlive,
            () = sleep_until(idle_at), if reading => Wake::Idle,
        }
    }

    /// Decodes and handles every whole message received.
    fn on_bytes(&mut self) -> Result<(), String> {
        loop {
            match self.shared.decoder.decode(&mut self.buf) {
                Ok(Some(msg)) => self.on_message(msg)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("protocol: {e}")),
            }
        }
    }

    fn on_message(&mut self, msg: Message) -> Result<(), String> {
        match msg {
            Message::Interested => {
                let b = &self.shared.behaviour;
                if self.choked && !b.never_unchoke && self.flap_at.is_none() {
                    if let Some(period) = b.choke_flap() {
                        self.flap_at = Some(Instant::now() + period);
                    }
                    self.unchoke();
                }
            }
            Message::Request(block) => self.on_request(block)?,
            Message::Cancel(block) => {
                if let Some(at) = self.queue.iter().position(|b| *b == block) {
                    self.queue.remove(at);
                    // BEP 6: every request gets exactly one answer, a cancelled one a reject.
                    if self.fast {
                        self.reject(block);
                    }
                }
            }
            // A seeder wants nothing: the peer's pieces, interest and choking do not matter,
            // and extension messages (BEP 10) are not negotiated, so they are ignored.
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, block: BlockRef) -> Result<(), String> {
        if !self.shared.content.geometry().is_valid_block(block) {
            return Err(format!("invalid request {block:?}"));
        }
        if self.queue.len() >= MAX_QUEUE {
            return Err(format!("more than {MAX_QUEUE} requests queued"));
        }
        if self.queue.contains(&block) {
            return Ok(());
        }
        let piece = block.piece;
        let plan = &self.shared.plan;
        // Serve it, or refuse: a lie as scripted, anything else the peer should not have
        // asked for (a piece we never claimed, or while choked) with a reject.
        let serve = plan.serves(piece)
            && (!self.choked || (self.fast && self.shared.allowed_fast.contains(&piece)));
        if serve {
            self.queue.push_back(block);
            return Ok(());
        }
        let refuse = !plan.lies.get(piece) || self.shared.behaviour.lie_mode == LieMode::Reject;
        // Refused requests are rejected where BEP 6 allows; a lie in `ignore` mode is silent.
        if refuse && self.fast {
            self.reject(block);
        }
        Ok(())
    }

    fn reject(&mut self, block: BlockRef) {
        Message::Reject(block).encode(&mut self.out);
        let kind = EventKind::Rejected {
            piece: block.piece,
            offset: block.offset,
        };
        self.shared.emit(self.peer, kind);
    }

    fn unchoke(&mut self) {
        self.choked = false;
        Message::Unchoke.encode(&mut self.out);
        self.shared.emit(self.peer, EventKind::Unchoked);
    }

    /// Chokes the peer. With BEP 6 the queued requests are rejected (except allowed-fast
    /// ones, which stay served); without it a choke discards them silently (BEP 3).
    fn choke(&mut self) {
        self.choked = true;
        Message::Choke.encode(&mut self.out);
        self.shared.emit(self.peer, EventKind::Choked);
        let queued: Vec<BlockRef> = self.queue.drain(..).collect();
        for block in queued {
            if self.fast && self.shared.allowed_fast.contains(&block.piece) {
                self.queue.push_back(block);
            } else if self.fast {
                self.reject(block);
            }
        }
    }

    /// One step of `choke_flap_ms`.
    fn flap(&mut self) {
        if self.choked {
            self.unchoke();
        } else {
            self.choke();
        }
        if let (Some(at), Some(period)) = (self.flap_at, self.shared.behaviour.choke_flap()) {
            self.flap_at = Some(at + period);
        }
    }

    /// Appends the `piece` message for the oldest queued request, corrupted if so scripted.
    fn send_block(&mut self) {
        let Some(block) = self.queue.pop_front() else {
            return;
        };
        let len = block.len as usize;
        encode_piece_header(block.piece, block.offset, block.len, &mut self.out);
        let start = self.out.len();
        self.out.resize(start + len, 0);
        let geometry = self.shared.content.geometry();
        let offset = geometry.piece_offset(block.piece) + u64::from(block.offset);
        let data = self.out.get_mut(start..).unwrap_or_default();
        self.shared.content.read(offset, data);
        let rate = self.shared.behaviour.corrupt_rate;
        // `gen::<f64>()` is in [0, 1): a rate of 0 never corrupts, 1 always does.
        let corrupted =
            self.shared.corrupt_pieces.contains(&block.piece) || self.rng.gen::<f64>() < rate;
        if corrupted {
            let at = self.rng.gen_range(0..len.max(1));
            if let Some(byte) = data.get_mut(at) {
                *byte ^= 0xff;
            }
        }
        if let Some(bucket) = &self.shared.bucket {
            bucket.take(len + 13);
        }
        self.blocks = self.blocks.saturating_add(1);
        self.shared
            .uploaded
            .fetch_add(block.len.into(), Ordering::Relaxed);
        let kind = EventKind::Served {
            piece: block.piece,
            offset: block.offset,
            corrupted,
        };
        self.shared.emit(self.peer, kind);
    }

    /// Appends the header and the first half of the oldest queued request's block.
    fn cut_block(&mut self) {
        let Some(block) = self.queue.pop_front() else {
            return;
        };
        encode_piece_header(block.piece, block.offset, block.len, &mut self.out);
        let start = self.out.len();
        self.out.resize(start + block.len as usize / 2, 0);
        let geometry = self.shared.content.geometry();
        let offset = geometry.piece_offset(block.piece) + u64::from(block.offset);
        let data = self.out.get_mut(start..).unwrap_or_default();
        self.shared.content.read(offset, data);
    }

    /// `drop_mode = "fin"`: half a block, then a clean close; the peer's reaction ends it.
    async fn finish(&mut self) -> String {
        self.cut_block();
        if let Err(reason) = self.flush().await {
            return reason;
        }
        self.shared
            .emit(self.peer, EventKind::Dropped(DropMode::Fin));
        let _ = self.stream.shutdown().await;
        self.drain(HANG_UP_WAIT).await;
        "dropped mid-piece (fin)".into()
    }

    /// `drop_mode = "rst"`: wait without reading, half a block, then close with data unread.
    async fn reset(&mut self) -> String {
        sleep(RST_LINGER).await;
        self.cut_block();
        if let Err(reason) = self.flush().await {
            return reason;
        }
        self.shared
            .emit(self.peer, EventKind::Dropped(DropMode::Rst));
        // Returning drops the stream with the peer's requests unread: a reset.
        "dropped mid-piece (rst)".into()
    }

    /// Sends what is queued, then waits (reading and discarding) for the peer to hang up.
    async fn hang_up(&mut self, what: &str) -> String {
        if let Err(reason) = self.flush().await {
            return reason;
        }
        self.drain(HANG_UP_WAIT).await;
        what.into()
    }

    /// Reads and discards until end-of-stream, an error, or `limit`.
    async fn drain(&mut self, limit: Duration) {
        let work = async {
            let mut sink = [0u8; 4096];
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = timeout(limit, work).await;
    }

    /// Writes the queued messages.
    async fn flush(&mut self) -> Result<(), String> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.stream.write_all(&self.out).await {
            return Err(format!("write: {e}"));
        }
        self.out.clear();
        self.last_sent = Instant::now();
        Ok(())
    }
}
