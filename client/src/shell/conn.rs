//! One peer connection: the handshake, then a reader and a writer task around the framed stream.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, Instrument};

use crate::engine::PeerKey;
use crate::wire::{self, Decoder, Handshake, Message, Reserved, HANDSHAKE_LEN};
use crate::{InfoHash, PeerId};

use super::limit::RateLimiter;
use super::Event;
use std::sync::Arc;

/// How long a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How much we read from a socket at a time: several blocks, so one read syscall serves many
/// messages on a fast link.
const READ_CHUNK: usize = 256 * 1024;

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake timed out")]
    Timeout,
    #[error("connection closed during the handshake")]
    Closed,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error: {0}")]
    Wire(#[from] wire::Error),
    #[error("protocol error: peer is on another torrent ({0})")]
    WrongInfoHash(InfoHash),
    #[error("connected to ourselves")]
    Ourselves,
}

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
    pub next_key: Arc<std::sync::atomic::AtomicU64>,
    /// The torrent's download rate cap, if any.
    pub limit: Option<Arc<RateLimiter>>,
}

/// What a successful handshake tells us about the peer.
pub struct Greeting {
    pub peer_id: PeerId,
    pub reserved: Reserved,
    /// Bytes that arrived after the handshake (the peer's first messages).
    pub leftover: BytesMut,
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

/// Hands a handshaken connection to the torrent ([`Event::Connected`]) and starts its tasks;
/// `outgoing` when we dialled it.
pub async fn start<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    key: PeerKey,
    addr: SocketAddr,
    greeting: Greeting,
    outgoing: bool,
    ctx: &Context,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let connected = Event::Connected {
        key,
        addr,
        peer_id: greeting.peer_id,
        fast: greeting.reserved.supports_fast(),
        outbox: tx,
        outgoing,
    };
    if ctx.events.send(connected).await.is_ok() {
        spawn(stream, key, addr, greeting.leftover, rx, ctx);
    }
}

/// Runs a handshaken connection until either side ends it: a reader task forwarding messages
/// to the torrent as [`Event::Message`], and a writer draining `outbox`. Reports
/// [`Event::Closed`] once, when the connection ends for any reason other than the torrent
/// dropping the outbox.
pub fn spawn<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    key: PeerKey,
    addr: SocketAddr,
    leftover: BytesMut,
    outbox: mpsc::UnboundedReceiver<Message>,
    ctx: &Context,
) {
    let span = tracing::debug_span!("peer", peer = %addr);
    let decoder = ctx.decoder;
    let events = ctx.events.clone();
    let limit = ctx.limit.clone();
    let (reader, writer) = tokio::io::split(stream);
    let task = async move {
        let closed = tokio::select! {
            biased;
            r = read_loop(reader, key, leftover, decoder, &events, limit.as_deref()) => r,
            r = write_loop(writer, outbox) => r,
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
) -> Option<String> {
    loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    if events.send(Event::Message { key, msg }).await.is_err() {
                        return None;
                    }
                }
                Ok(None) => break,
                Err(e) => return Some(format!("protocol error: {e}")),
            }
        }
        if buf.capacity() - buf.len() < BLOCK_SLACK {
            buf.reserve(READ_CHUNK);
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) => return Some("closed by peer".into()),
            Ok(n) => {
                if let Some(limit) = limit {
                    limit.consume(n).await;
                }
            }
            Err(e) => return Some(format!("read: {e}")),
        }
    }
}

/// Below this much free buffer space, grow it before reading (a block message is 16 KiB + 13).
const BLOCK_SLACK: usize = 32 * 1024;

/// Writes queued messages, coalescing whatever is queued into one write; `None` when the
/// torrent dropped the outbox (it closed the connection itself).
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut outbox: mpsc::UnboundedReceiver<Message>,
) -> Option<String> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let first = outbox.recv().await?;
        first.encode(&mut buf);
        while buf.len() < 256 * 1024 {
            match outbox.try_recv() {
                Ok(msg) => msg.encode(&mut buf),
                Err(_) => break,
            }
        }
        if let Err(e) = writer.write_all(&buf).await {
            return Some(format!("write: {e}"));
        }
        buf.clear();
    }
}
