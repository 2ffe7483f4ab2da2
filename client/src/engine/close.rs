//! Why connections end and dials fail: one typed vocabulary from the connection task through
//! the engine to the observer, so policy (who is dialled again, who is blamed) and the
//! simulator's checks match on variants instead of message text.

use std::io;

use crate::bitfield;
use crate::wire;
use crate::InfoHash;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    // What the connection task saw.
    /// The peer closed the stream.
    Eof,
    /// Reading or writing the socket failed.
    Io(io::ErrorKind),
    /// The byte stream is not valid peer-wire framing (a bad length prefix or message).
    Wire(wire::Error),
    /// The peer does not read what we send: our queue for it passed its byte limit.
    SendQueueFull,
    /// A write to the peer made no progress for the write timeout.
    WriteTimeout,

    // What the engine decided.
    /// A message that is well-formed but breaks the protocol where it came.
    Protocol(Violation),
    /// The peer sent corrupt data (smart ban), or its address or id is banned.
    Banned,
    /// Its address recently misbehaved, or its IP has banned endpoints and is cooling down.
    Shunned,
    /// Already connected to this peer (same peer id).
    Duplicate,
    /// No room: every connection slot (or this IP's share of them) is taken.
    TooManyPeers,
    /// Nothing heard from the peer for the idle timeout.
    Idle,
    /// Neither side has anything the other wants (both seeds, say).
    NotUseful,
    /// Held a slot without being useful while a better candidate was waiting.
    Squatting,
}

impl Reason {
    /// Whether the peer did something wrong: such peers are not dialled again (or only after
    /// a long pause), so a hostile swarm cannot turn us into a connection storm.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            Reason::Wire(_)
                | Reason::Protocol(_)
                | Reason::Banned
                | Reason::SendQueueFull
                | Reason::WriteTimeout
        )
    }

    /// Whether the peer broke the wire protocol itself (a bad frame or message in context).
    pub fn is_protocol_error(&self) -> bool {
        matches!(self, Reason::Wire(_) | Reason::Protocol(_))
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Eof => f.write_str("closed by peer"),
            Reason::Io(kind) => write!(f, "io: {kind}"),
            Reason::Wire(e) => write!(f, "protocol error: {e}"),
            Reason::SendQueueFull => f.write_str("peer does not read: send queue full"),
            Reason::WriteTimeout => f.write_str("peer does not read: write timed out"),
            Reason::Protocol(v) => write!(f, "protocol error: {v}"),
            Reason::Banned => f.write_str("banned"),
            Reason::Shunned => f.write_str("shunned after misbehaviour"),
            Reason::Duplicate => f.write_str("duplicate connection"),
            Reason::TooManyPeers => f.write_str("too many peers"),
            Reason::Idle => f.write_str("idle"),
            Reason::NotUseful => f.write_str("not useful"),
            Reason::Squatting => f.write_str("useless while others wait"),
        }
    }
}

/// A well-formed message that breaks the protocol where it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A `bitfield`, `have all` or `have none` after other messages (BEP 3, BEP 6).
    LatePieceList(&'static str),
    /// A BEP 6 message from a peer that did not negotiate the fast extension.
    NotNegotiated(&'static str),
    /// A bitfield of the wrong length or with spare bits set.
    BadBitfield(bitfield::Error),
    /// A `have` for a piece the torrent does not have.
    HaveOutOfRange { piece: u32, count: u32 },
    /// Kept sending blocks we never asked it for.
    Unrequested { bytes: u64 },
    /// A request outside the torrent or longer than a block.
    BadRequest(crate::geometry::BlockRef),
    /// More requests queued than we advertise (`reqq`).
    RequestFlood { queued: usize },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::LatePieceList(msg) => write!(f, "{msg} after other messages"),
            Violation::NotNegotiated(msg) => write!(f, "{msg} without the fast extension"),
            Violation::BadBitfield(e) => write!(f, "{e}"),
            Violation::HaveOutOfRange { piece, count } => {
                write!(f, "have {piece} out of range ({count} pieces)")
            }
            Violation::Unrequested { bytes } => {
                write!(f, "{bytes} bytes of blocks nobody asked for")
            }
            Violation::BadRequest(b) => write!(
                f,
                "request for {} bytes at {} of piece {}, not a block of this torrent",
                b.len, b.offset, b.piece
            ),
            Violation::RequestFlood { queued } => {
                write!(f, "more than {queued} requests queued")
            }
        }
    }
}

/// Why a dial did not produce a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The TCP connect failed (refused, unreachable, out of descriptors).
    Connect(io::ErrorKind),
    /// The TCP connect took longer than the connect timeout.
    ConnectTimeout,
    /// The connection was made but the handshake failed.
    Handshake(HandshakeError),
}

impl DialError {
    /// The address is never worth dialling again: it is us, or a peer of another torrent.
    pub fn is_unusable(&self) -> bool {
        matches!(
            self,
            DialError::Handshake(HandshakeError::Ourselves | HandshakeError::WrongInfoHash(_))
        )
    }

    /// The peer answered with bytes that are not a valid handshake for our torrent.
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            DialError::Handshake(HandshakeError::Wire(_) | HandshakeError::WrongInfoHash(_))
        )
    }
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DialError::Connect(kind) => write!(f, "connect: {kind}"),
            DialError::ConnectTimeout => f.write_str("connect timed out"),
            DialError::Handshake(e) => write!(f, "{e}"),
        }
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("handshake timed out")]
    Timeout,
    #[error("connection closed during the handshake")]
    Closed,
    #[error("io: {0}")]
    Io(io::ErrorKind),
    #[error("protocol error: {0}")]
    Wire(#[from] wire::Error),
    #[error("protocol error: peer is on another torrent ({0})")]
    WrongInfoHash(InfoHash),
    #[error("connected to ourselves")]
    Ourselves,
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        HandshakeError::Io(e.kind())
    }
}
