//! Framing: cutting a received byte stream into messages, with a bound on their size.

use bytes::{Buf, BytesMut};

use super::message::id;
use super::{Error, Message};
use crate::geometry::BLOCK_LEN;

/// The largest BEP 10 `extended` message we accept, counted from the extension id byte.
///
/// The biggest extension message we need is a BEP 9 metadata piece: a bencoded header of well
/// under 100 bytes followed by up to 16 KiB of metadata. 16 KiB + 1 KiB leaves room for that
/// header and for other extensions' messages (an extended handshake or a `ut_pex` message is a
/// few hundred bytes), while still refusing anything that only exists to make us buffer.
pub const MAX_EXTENDED_LEN: u32 = BLOCK_LEN + 1024;

/// The largest legal message body (id byte included, length prefix excluded) in a torrent of
/// `piece_count` pieces: the largest of a full `bitfield` (1 + ⌈pieces / 8⌉), a `piece` carrying
/// one [`BLOCK_LEN`] block (1 + 8 + 16 KiB, since we never request more) and an `extended`
/// message (1 + [`MAX_EXTENDED_LEN`]). Everything else is at most 13 bytes.
///
/// Before the piece count is known (a magnet link without metadata yet), pass an upper bound
/// on plausible piece counts, since a peer may send its bitfield first.
pub fn max_frame_len(piece_count: u32) -> u32 {
    let bitfield = 1 + piece_count.div_ceil(8);
    let piece = 1 + 8 + BLOCK_LEN;
    let extended = 1 + MAX_EXTENDED_LEN;
    bitfield.max(piece).max(extended)
}

/// A stateless stream decoder for peer messages, bounded by a maximum message length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    /// The largest length prefix accepted; larger ones are refused before any of the body is
    /// buffered, so a hostile peer cannot make us allocate gigabytes by announcing them.
    max_len: u32,
}

impl Decoder {
    /// A decoder refusing messages longer than `max_len` bytes (see [`max_frame_len`]).
    pub fn new(max_len: u32) -> Self {
        Decoder { max_len }
    }

    /// The limit this decoder enforces.
    pub fn max_len(&self) -> u32 {
        self.max_len
    }

    /// Takes one message off the front of `buf`.
    ///
    /// Returns `Ok(None)` while the message is incomplete, leaving `buf` as it was except for
    /// reserving room for the rest of the frame (never more than its message id allows). On success
    /// the frame is removed from `buf`; payloads share its memory. On error the stream cannot be
    /// resynchronised and the connection should be closed.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Message>, Error> {
        let Some(prefix) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix);
        if len > self.max_len {
            return Err(Error::TooLong {
                len,
                max: self.max_len,
            });
        }
        if len > 0 {
            // Wait for the id byte before reserving anything: it decides how long the frame
            // may legally be, so a `have` announcing 16 KiB is refused before its body is
            // buffered, not after.
            let Some(&id) = buf.get(4) else {
                return Ok(None);
            };
            match id_limit(id, self.max_len) {
                Some((message, max)) if len > max => {
                    return Err(Error::MessageTooLong { message, len, max })
                }
                Some(_) => {}
                // Unknown ids end the connection however long their frame: refusing them now
                // buffers nothing and gives the same error that parsing the frame would.
                None => return Err(Error::UnknownId(id)),
            }
        }
        // `len` is at most `max_len`, a u32, so the frame size fits a usize on every platform
        // we build for (usize is at least 32 bits); saturating keeps a 16-bit target honest.
        let body = usize::try_from(len).unwrap_or(usize::MAX);
        let frame = body.saturating_add(4);
        if buf.len() < frame {
            buf.reserve(frame - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        let body = buf.split_to(body).freeze();
        Message::from_frame(body).map(Some)
    }
}

/// The name and the largest legal frame body (id byte included) of message `id`, or `None`
/// for an id that [`Message::from_frame`] does not know. `max_len` is the decoder's limit,
/// the only bound on a `bitfield` (its legal length depends on the piece count, which the
/// decoder's limit already encodes through [`max_frame_len`]).
///
/// Fixed-size messages get exactly their size: a longer frame cannot parse, so its body is
/// never worth buffering. Shorter ones are tiny and left to [`Message::from_frame`], which
/// names the length it expected.
fn id_limit(message_id: u8, max_len: u32) -> Option<(&'static str, u32)> {
    Some(match message_id {
        id::CHOKE => ("choke", 1),
        id::UNCHOKE => ("unchoke", 1),
        id::INTERESTED => ("interested", 1),
        id::NOT_INTERESTED => ("not interested", 1),
        id::HAVE_ALL => ("have all", 1),
        id::HAVE_NONE => ("have none", 1),
        id::HAVE => ("have", 1 + 4),
        id::SUGGEST => ("suggest", 1 + 4),
        id::ALLOWED_FAST => ("allowed fast", 1 + 4),
        id::REQUEST => ("request", 1 + 12),
        id::CANCEL => ("cancel", 1 + 12),
        id::REJECT => ("reject", 1 + 12),
        id::PORT => ("port", 1 + 2),
        id::BITFIELD => ("bitfield", max_len),
        // We never request more than one block, so no honest peer sends more.
        id::PIECE => ("piece", 1 + 8 + BLOCK_LEN),
        id::EXTENDED => ("extended", 1 + MAX_EXTENDED_LEN),
        _ => return None,
    })
}
