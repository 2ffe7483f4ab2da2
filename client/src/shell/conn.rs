//! One peer connection: the handshake, then one task that reads and writes the framed stream.
//!
//! Architecture Invariant: a connection's task, and so its socket, lives exactly as long as
//! the torrent's [`Link`] to it. Dropping the link (a disconnect, the torrent winding down)
//! ends the task at its next poll even if it is blocked writing to a peer that never reads,
//! and every write has a timeout, so no task or socket outlives its peer. What we queue for a
//! peer is bounded in bytes ([`MAX_QUEUED`]): a peer that does not read is dropped instead of
//! growing our memory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, Instrument};

use crate::engine::{Handshaken, PeerKey, Reason};
use crate::wire::{encode_piece_header, Decoder, Handshake, Message, Reserved, HANDSHAKE_LEN};
use crate::{InfoHash, PeerId};

pub use crate::engine::HandshakeError;

use super::limit::RateLimiter;
use super::Event;

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long one write to a peer may make no progress before the peer counts as gone: far
/// beyond any honest stall (TCP retransmission gives up after minutes, but a reader that has
/// not taken a byte for this long is not one we want to serve).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes queued for one peer and not yet written, past which the peer is dropped: twice the
/// engine's upload window (the most block data it queues for a peer), leaving room for the
/// small messages (requests, haves, rejects) and bounding what a peer that floods us with
/// requests and never reads can make us hold.
pub const MAX_QUEUED: usize = 2 * 1024 * 1024;

/// How much we read from a socket at a time: several blocks, so one read syscall serves many
/// messages on a fast link.
const READ_CHUNK: usize = 256 * 1024;

/// Below this much free buffer space, grow it before reading (a block message is 16 KiB + 13).
const BLOCK_SLACK: usize = 32 * 1024;

/// What every connection of a torrent shares.
#[derive(Clone)]
pub struct Context {
    pub info_hash: InfoHash,
    pub our_id: PeerId,
    /// Frames longer than the largest legal message for this torrent are refused.
    pub decoder: Decoder,
    /// The torrent task's event queue.
    pub events: mpsc::Sender<Event>,
    /// Source of connection keys, shared by dials and accepts.
    pub next_key: Arc<AtomicU64>,
    /// The torrent's download rate cap, if any.
    pub limit: Option<Arc<RateLimiter>>,
    /// The torrent's upload rate cap, if any (block payload only).
    pub up_limit: Option<Arc<RateLimiter>>,
}

impl Context {
    pub fn new_key(&self) -> PeerKey {
        PeerKey(self.next_key.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a successful handshake tells us about the peer.
pub struct Greeting {
    pub peer_id: PeerId,
    pub reserved: Reserved,
    /// Bytes that arrived after the handshake (the peer's first messages).
    pub leftover: BytesMut,
}

/// The torrent's end of a connection: messages go out through it, and dropping it ends the
/// connection (task and socket).
#[derive(Debug)]
pub struct Link {
    outbox: mpsc::UnboundedSender<Message>,
    /// Encoded bytes queued and not yet written, shared with the writer.
    queued: Arc<AtomicUsize>,
    /// Dropped with the link: the connection task sees its receiver fire and ends.
    _kill: oneshot::Sender<()>,
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The peer has [`MAX_QUEUED`] bytes unread: drop it.
    Full,
    /// The connection already ended; its [`Event::Closed`] is on the way with the reason.
    Gone,
}

impl Link {
    /// Queues `msg` for the peer.
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        let len = msg.encoded_len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED {
            return Err(SendError::Full);
        }
        self.outbox.send(msg).map_err(|_| SendError::Gone)
    }
}

/// Sends our handshake and reads theirs, refusing another torrent's info-hash and our own id.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    info_hash: InfoHash,
    our_id: PeerId,
) -> Result<Greeting, HandshakeError> {
    let work = async {
        let ours = Handshake {
            reserved: Reserved::ours(),
            info_hash,
            peer_id: our_id,
        };
        stream.write_all(&ours.encode()).await?;
        let mut buf = BytesMut::with_capacity(HANDSHAKE_LEN * 2);
        let theirs = loop {
            if let Some(h) = Handshake::decode(&buf)? {
                break h;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(HandshakeError::Closed);
            }
        };
        let _ = buf.split_to(HANDSHAKE_LEN);
        if theirs.info_hash != info_hash {
            return Err(HandshakeError::WrongInfoHash(theirs.info_hash));
        }
        if theirs.peer_id == our_id {
            return Err(HandshakeError::Ourselves);
        }
        Ok(Greeting {
            peer_id: theirs.peer_id,
            reserved: theirs.reserved,
            leftover: buf,
        })
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .unwrap_or(Err(HandshakeError::Timeout))
}

/// Hands a handshaken connection to the torrent ([`Event::Connected`], with its [`Link`]) and
/// starts its task; `outgoing` when we dialled it.
pub async fn start<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    addr: SocketAddr,
    greeting: Greeting,
    outgoing: bool,
    ctx: &Context,
) {
    let key = ctx.new_key();
    let (tx, rx) = mpsc::unbounded_channel();
    let (kill, killed) = oneshot::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let link = Link {
        outbox: tx,
        queued: Arc::clone(&queued),
        _kill: kill,
    };
    let hs = Handshaken {
        addr,
        peer_id: greeting.peer_id,
        fast: greeting.reserved.supports_fast(),
        extended: greeting.reserved.supports_extended(),
        outgoing,
    };
    if ctx
        .events
        .send(Event::Connected { key, hs, link })
        .await
        .is_err()
    {
        return;
    }
    let span = tracing::debug_span!("peer", peer = %addr);
    let decoder = ctx.decoder;
    let events = ctx.events.clone();
    let limit = ctx.limit.clone();
    let up = Uplink {
        key,
        events: ctx.events.clone(),
        limit: ctx.up_limit.clone(),
    };
    let (reader, writer) = tokio::io::split(stream);
    let task = async move {
        let closed = tokio::select! {
            biased;
            _ = killed => None,
            r = read_loop(reader, key, greeting.leftover, decoder, &events, limit.as_deref()) => r,
            r = write_loop(writer, rx, &queued, &up) => r,
        };
        if let Some(reason) = closed {
            debug!(%reason, "connection closed");
            let _ = events.send(Event::Closed { key, reason }).await;
        }
    };
    tokio::spawn(task.instrument(span));
}

/// Reads frames until an error; `None` means the torrent went away.
async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: R,
    key: PeerKey,
    mut buf: BytesMut,
    decoder: Decoder,
    events: &mpsc::Sender<Event>,
    limit: Option<&RateLimiter>,
) -> Option<Reason> {
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    if events.send(Event::Message { key, msg }).await.is_err() {
                        return None;
                    }
                }
                Ok(None) => break,
                Err(e) => return Some(Reason::Wire(e)),
            }
        }
        if buf.capacity() - buf.len() < BLOCK_SLACK {
            buf.reserve(READ_CHUNK);
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => return Some(Reason::Eof),
            Ok(n) => {
                if let Some(limit) = limit {
                    limit.consume(n).await;
                }
            }
            Err(e) => return Some(Reason::Io(e.kind())),
        }
    }
}

/// What the writer needs to report uploads.
struct Uplink {
    key: PeerKey,
    events: mpsc::Sender<Event>,
    /// The torrent's upload cap.
    limit: Option<Arc<RateLimiter>>,
}

/// Writes queued messages, coalescing whatever is queued into one vectored write, and
/// reports the block payload written ([`Event::Uploaded`]); `None` when the torrent dropped the
/// link (it closed the connection itself).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut outbox: mpsc::UnboundedReceiver<Message>,
    queued: &AtomicUsize,
    up: &Uplink,
) -> Option<Reason> {
    let mut batch = Batch::default();
    loop {
        let first = outbox.recv().await?;
        batch.push(&first);
        while batch.len < 256 * 1024 {
            match outbox.try_recv() {
                Ok(msg) => batch.push(&msg),
                Err(_) => break,
            }
        }
        let (len, payload) = batch.seal();
        if let (Some(limit), true) = (&up.limit, payload > 0) {
            limit.consume(payload as usize).await;
        }
        if let Err(reason) = write_all(&mut writer, &mut batch.parts).await {
            return Some(reason);
        }
        queued.fetch_sub(len, Ordering::Relaxed);
        if payload > 0 {
            let done = Event::Uploaded {
                key: up.key,
                bytes: payload,
            };
            up.events.send(done).await.ok()?;
        }
    }
}

/// Messages on their way to one write: small messages and block headers encoded together, a
/// block's data kept as the `Bytes` it came in (a slice of the read cache), never copied.
#[derive(Default)]
struct Batch {
    /// What goes out, in order.
    parts: VecDeque<Bytes>,
    /// Encoded bytes not yet split off into `parts`.
    small: BytesMut,
    /// Bytes in the batch.
    len: usize,
    /// Block payload bytes in the batch.
    payload: u64,
}

impl Batch {
    fn push(&mut self, msg: &Message) {
        self.len += msg.encoded_len();
        match msg {
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                encode_piece_header(*piece, *offset, len, &mut self.small);
                self.parts.push_back(self.small.split().freeze());
                self.parts.push_back(data.clone());
                self.payload += data.len() as u64;
            }
            _ => msg.encode(&mut self.small),
        }
    }

    /// Ends the batch: its length and block payload, the counts reset for the next one.
    fn seal(&mut self) -> (usize, u64) {
        if !self.small.is_empty() {
            self.parts.push_back(self.small.split().freeze());
        }
        (
            std::mem::take(&mut self.len),
            std::mem::take(&mut self.payload),
        )
    }
}

/// The most slices handed to one vectored write (Linux takes up to 1024).
const MAX_SLICES: usize = 64;

/// Writes all of `parts`, failing if any single write makes no progress for
/// [`WRITE_TIMEOUT`] (a slow reader is fine; one that stopped reading is not).
async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut W,
    parts: &mut VecDeque<Bytes>,
) -> Result<(), Reason> {
    while !parts.is_empty() {
        let slices: Vec<IoSlice<'_>> = parts
            .iter()
            .take(MAX_SLICES)
            .map(|b| IoSlice::new(b))
            .collect();
        let n = match tokio::time::timeout(WRITE_TIMEOUT, writer.write_vectored(&slices)).await {
            Ok(Ok(0)) => return Err(Reason::Io(std::io::ErrorKind::WriteZero)),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(Reason::Io(e.kind())),
            Err(_) => return Err(Reason::WriteTimeout),
        };
        drop(slices);
        let mut left = n;
        while let Some(front) = parts.front_mut() {
            if front.len() > left {
                front.advance(left);
                break;
            }
            left -= front.len();
            parts.pop_front();
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
