//! Peer messages after the handshake: their values, their wire ids and their encoding.
//!
//! Every message is a 4-byte big-endian length, then (unless the length is 0, a keep-alive) a
//! one-byte id and a payload. Payloads are [`Bytes`], so a decoded `piece` shares the receive
//! buffer instead of copying 16 KiB per block.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::Error;
use crate::geometry::BlockRef;

/// Message ids: BEP 3 (0–9), BEP 6 (13–17) and BEP 10 (20).
pub mod id {
    /// `choke`, BEP 3.
    pub const CHOKE: u8 = 0;
    /// `unchoke`, BEP 3.
    pub const UNCHOKE: u8 = 1;
    /// `interested`, BEP 3.
    pub const INTERESTED: u8 = 2;
    /// `not interested`, BEP 3.
    pub const NOT_INTERESTED: u8 = 3;
    /// `have`, BEP 3.
    pub const HAVE: u8 = 4;
    /// `bitfield`, BEP 3.
    pub const BITFIELD: u8 = 5;
    /// `request`, BEP 3.
    pub const REQUEST: u8 = 6;
    /// `piece`, BEP 3.
    pub const PIECE: u8 = 7;
    /// `cancel`, BEP 3.
    pub const CANCEL: u8 = 8;
    /// `port`, BEP 3 (DHT port, BEP 5).
    pub const PORT: u8 = 9;
    /// `suggest`, BEP 6.
    pub const SUGGEST: u8 = 13;
    /// `have all`, BEP 6.
    pub const HAVE_ALL: u8 = 14;
    /// `have none`, BEP 6.
    pub const HAVE_NONE: u8 = 15;
    /// `reject`, BEP 6.
    pub const REJECT: u8 = 16;
    /// `allowed fast`, BEP 6.
    pub const ALLOWED_FAST: u8 = 17;
    /// `extended`, BEP 10.
    pub const EXTENDED: u8 = 20;
}

/// The header of a `piece` message after the id: piece index and offset, 4 bytes each.
const PIECE_HEADER: usize = 8;

/// One peer message.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A zero-length frame that keeps an idle connection open.
    KeepAlive,
    /// The sender will not serve our requests.
    Choke,
    /// The sender will serve our requests.
    Unchoke,
    /// The sender wants pieces we have.
    Interested,
    /// The sender wants nothing from us.
    NotInterested,
    /// The sender has verified this piece.
    Have(u32),
    /// The pieces the sender has, raw; checked against the piece count by
    /// [`crate::Bitfield::from_bytes`], since only the torrent knows that count.
    Bitfield(Bytes),
    /// Asks for one block.
    Request(BlockRef),
    /// One block of data.
    Piece {
        /// The piece index.
        piece: u32,
        /// The offset of the block inside the piece.
        offset: u32,
        /// The block's bytes, sharing the receive buffer.
        data: Bytes,
    },
    /// Withdraws an earlier request.
    Cancel(BlockRef),
    /// The sender's DHT port (BEP 5).
    Port(u16),
    /// BEP 6: the sender suggests we download this piece (it is cheap for it to serve).
    Suggest(u32),
    /// BEP 6: the sender has every piece, in place of a full bitfield.
    HaveAll,
    /// BEP 6: the sender has no piece, in place of an empty bitfield.
    HaveNone,
    /// BEP 6: the sender will not serve this request; the block can be asked of someone else.
    Reject(BlockRef),
    /// BEP 6: the sender will serve this piece even while choking us.
    AllowedFast(u32),
    /// BEP 10: an extension message, interpreted by the extension the id was negotiated for
    /// (0 is the extended handshake).
    Extended {
        /// The extension's message id, as negotiated in the extended handshake.
        id: u8,
        /// The extension's payload.
        payload: Bytes,
    },
}

impl Message {
    /// The message's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have(_) => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece { .. } => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest(_) => "suggest",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::Reject(_) => "reject",
            Message::AllowedFast(_) => "allowed fast",
            Message::Extended { .. } => "extended",
        }
    }

    /// The wire id; `None` for keep-alive, which has none.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest(_) => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::Reject(_) => id::REJECT,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
        })
    }

    /// The payload length (after the id byte).
    fn payload_len(&self) -> usize {
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have(_) | Message::Suggest(_) | Message::AllowedFast(_) => 4,
            Message::Port(_) => 2,
            Message::Request(_) | Message::Cancel(_) | Message::Reject(_) => 12,
            Message::Bitfield(bits) => bits.len(),
            Message::Piece { data, .. } => PIECE_HEADER.saturating_add(data.len()),
            Message::Extended { payload, .. } => payload.len().saturating_add(1),
        }
    }

    /// The number of bytes [`Message::encode`] writes, length prefix included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::KeepAlive => 4,
            _ => self.payload_len().saturating_add(5),
        }
    }

    /// Appends the framed message to `out`.
    ///
    /// Payloads must fit a 32-bit length; ours are bounded by [`super::max_frame_len`], far
    /// below. A larger one is written with a saturated length prefix, which any peer refuses as
    /// too long, rather than panicking or silently desynchronising the stream.
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        let Some(id) = self.id() else {
            out.put_u32(0);
            return;
        };
        if let Message::Piece {
            piece,
            offset,
            data,
        } = self
        {
            let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
            encode_piece_header(*piece, *offset, len, out);
            out.put_slice(data);
            return;
        }
        out.put_u32(length_prefix(self.payload_len()));
        out.put_u8(id);
        match self {
            Message::Have(n) | Message::Suggest(n) | Message::AllowedFast(n) => out.put_u32(*n),
            Message::Bitfield(bits) => out.put_slice(bits),
            Message::Request(block) | Message::Cancel(block) | Message::Reject(block) => {
                out.put_u32(block.piece);
                out.put_u32(block.offset);
                out.put_u32(block.len);
            }
            Message::Port(port) => out.put_u16(*port),
            Message::Extended { id, payload } => {
                out.put_u8(*id);
                out.put_slice(payload);
            }
            _ => {}
        }
    }

    /// Parses one frame's body: everything after the 4-byte length prefix. An empty body is a
    /// keep-alive. Payload bytes are shared with `frame`, not copied.
    pub fn from_frame(frame: Bytes) -> Result<Message, Error> {
        let Some(&id) = frame.first() else {
            return Ok(Message::KeepAlive);
        };
        // Cannot panic: the frame holds at least the id byte.
        let payload = frame.slice(1..);
        let message = match id {
            id::CHOKE => empty(payload, Message::Choke)?,
            id::UNCHOKE => empty(payload, Message::Unchoke)?,
            id::INTERESTED => empty(payload, Message::Interested)?,
            id::NOT_INTERESTED => empty(payload, Message::NotInterested)?,
            id::HAVE_ALL => empty(payload, Message::HaveAll)?,
            id::HAVE_NONE => empty(payload, Message::HaveNone)?,
            id::HAVE => Message::Have(index("have", &payload)?),
            id::SUGGEST => Message::Suggest(index("suggest", &payload)?),
            id::ALLOWED_FAST => Message::AllowedFast(index("allowed fast", &payload)?),
            id::REQUEST => Message::Request(block("request", &payload)?),
            id::CANCEL => Message::Cancel(block("cancel", &payload)?),
            id::REJECT => Message::Reject(block("reject", &payload)?),
            id::PORT => {
                let bytes = exact::<2>("port", &payload)?;
                Message::Port(u16::from_be_bytes(bytes))
            }
            id::BITFIELD => Message::Bitfield(payload),
            id::PIECE => {
                let Some((header, _)) = payload.split_first_chunk::<PIECE_HEADER>() else {
                    return Err(Error::TooShort {
                        message: "piece",
                        len: payload.len(),
                        min: PIECE_HEADER,
                    });
                };
                let [piece, offset] = words(header);
                Message::Piece {
                    piece,
                    offset,
                    // Cannot panic: the payload holds the whole header.
                    data: payload.slice(PIECE_HEADER..),
                }
            }
            id::EXTENDED => {
                let Some(&id) = payload.first() else {
                    return Err(Error::TooShort {
                        message: "extended",
                        len: 0,
                        min: 1,
                    });
                };
                Message::Extended {
                    id,
                    // Cannot panic: the payload holds the extension id byte.
                    payload: payload.slice(1..),
                }
            }
            other => return Err(Error::UnknownId(other)),
        };
        Ok(message)
    }
}

/// Appends the 13-byte framing of a `piece` message carrying `data_len` bytes, so a sender can
/// follow it with the block straight from storage (or a vectored write) without first copying
/// the block into a message. `data_len` is at most [`crate::geometry::BLOCK_LEN`] in practice;
/// one too large for a 32-bit frame gets a saturated prefix that peers refuse.
pub fn encode_piece_header(piece: u32, offset: u32, data_len: u32, out: &mut BytesMut) {
    out.reserve(4 + 1 + PIECE_HEADER);
    out.put_u32(data_len.saturating_add(1 + PIECE_HEADER as u32));
    out.put_u8(id::PIECE);
    out.put_u32(piece);
    out.put_u32(offset);
}

/// The length prefix for a payload of `payload_len` bytes plus the id byte, saturated at
/// `u32::MAX` (see [`Message::encode`]).
fn length_prefix(payload_len: usize) -> u32 {
    u32::try_from(payload_len)
        .ok()
        .and_then(|n| n.checked_add(1))
        .unwrap_or(u32::MAX)
}

/// Accepts `message` only if its payload is empty.
fn empty(payload: Bytes, message: Message) -> Result<Message, Error> {
    if payload.is_empty() {
        Ok(message)
    } else {
        Err(Error::BadLength {
            message: message.name(),
            len: payload.len(),
            expected: 0,
        })
    }
}

/// The payload as exactly `N` bytes.
fn exact<const N: usize>(message: &'static str, payload: &[u8]) -> Result<[u8; N], Error> {
    <[u8; N]>::try_from(payload).map_err(|_| Error::BadLength {
        message,
        len: payload.len(),
        expected: N,
    })
}

/// A payload that is one big-endian piece index.
fn index(message: &'static str, payload: &[u8]) -> Result<u32, Error> {
    exact::<4>(message, payload).map(u32::from_be_bytes)
}

/// A payload that is a block reference: piece, offset, length.
fn block(message: &'static str, payload: &[u8]) -> Result<BlockRef, Error> {
    let [piece, offset, len] = words(&exact::<12>(message, payload)?);
    Ok(BlockRef { piece, offset, len })
}

/// Reads `N` consecutive big-endian `u32`s; the callers pass exactly `4 * N` bytes.
fn words<const N: usize>(bytes: &[u8]) -> [u32; N] {
    let mut out = [0; N];
    for (word, chunk) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        if let Ok(four) = <[u8; 4]>::try_from(chunk) {
            *word = u32::from_be_bytes(four);
        }
    }
    out
}

impl fmt::Debug for Message {
    /// Payloads are summarised by length: a `piece` would otherwise print 16 KiB into a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Have(n) => write!(f, "Have({n})"),
            Message::Suggest(n) => write!(f, "Suggest({n})"),
            Message::AllowedFast(n) => write!(f, "AllowedFast({n})"),
            Message::Port(p) => write!(f, "Port({p})"),
            Message::Request(b) => write!(f, "Request({b:?})"),
            Message::Cancel(b) => write!(f, "Cancel({b:?})"),
            Message::Reject(b) => write!(f, "Reject({b:?})"),
            Message::Bitfield(bits) => write!(f, "Bitfield({} bytes)", bits.len()),
            Message::Piece {
                piece,
                offset,
                data,
            } => write!(
                f,
                "Piece {{ piece: {piece}, offset: {offset}, len: {} }}",
                data.len()
            ),
            Message::Extended { id, payload } => {
                write!(f, "Extended {{ id: {id}, len: {} }}", payload.len())
            }
            Message::KeepAlive => f.write_str("KeepAlive"),
            Message::Choke => f.write_str("Choke"),
            Message::Unchoke => f.write_str("Unchoke"),
            Message::Interested => f.write_str("Interested"),
            Message::NotInterested => f.write_str("NotInterested"),
            Message::HaveAll => f.write_str("HaveAll"),
            Message::HaveNone => f.write_str("HaveNone"),
        }
    }
}
