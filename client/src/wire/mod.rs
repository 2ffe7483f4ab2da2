//! The peer wire protocol: the handshake and the length-prefixed messages that follow it.
//!
//! Covers BEP 3 (the core messages), BEP 6 (the fast extension: `suggest`, `have all`,
//! `have none`, `reject`, `allowed fast`) and the BEP 10 envelope (`extended`, whose payload is
//! interpreted elsewhere). Everything here is a pure codec: bytes in, values out, with `Ok(None)`
//! meaning "need more bytes". A decoding error means the peer broke the protocol (or is not a
//! BitTorrent peer at all); the stream is then out of step and the connection should be closed.

mod codec;
mod handshake;
mod message;

pub use codec::{max_frame_len, Decoder, MAX_EXTENDED_LEN};
pub use handshake::{Handshake, Reserved, HANDSHAKE_LEN, PROTOCOL};
pub use message::{encode_piece_header, id, Message};

/// Why bytes from a peer were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The first handshake byte (the protocol string length) is not 19.
    #[error("handshake protocol string length is {0}, expected 19")]
    BadProtocolLength(u8),
    /// The handshake's protocol string is not `BitTorrent protocol`.
    #[error("handshake protocol string is \"{0}\", expected \"BitTorrent protocol\"")]
    BadProtocol(String),
    /// A length prefix announces a message larger than anything legal for this torrent.
    #[error("message length {len} exceeds the limit of {max} bytes")]
    TooLong {
        /// The announced length (excluding the 4-byte prefix).
        len: u32,
        /// The decoder's limit.
        max: u32,
    },
    /// A message id that neither BEP 3, BEP 6 nor BEP 10 defines.
    #[error("unknown message id {0}")]
    UnknownId(u8),
    /// A fixed-size message whose payload has the wrong length.
    #[error("{message} message payload is {len} bytes, expected {expected}")]
    BadLength {
        /// The message's name, e.g. `"request"`.
        message: &'static str,
        /// The payload length received (after the id byte).
        len: usize,
        /// The payload length the message must have.
        expected: usize,
    },
    /// A variable-size message whose payload is shorter than its fixed header.
    #[error("{message} message payload is {len} bytes, shorter than its {min}-byte header")]
    TooShort {
        /// The message's name, e.g. `"piece"`.
        message: &'static str,
        /// The payload length received (after the id byte).
        len: usize,
        /// The length of the fixed header the payload must at least hold.
        min: usize,
    },
}

#[cfg(test)]
mod tests;
