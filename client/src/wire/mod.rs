//! The peer wire protocol: the handshake and the length-prefixed messages that follow it.
//!
//! Covers BEP 3 (the core messages), BEP 6 (the fast extension: `suggest`, `have all`,
//! `have none`, `reject`, `allowed fast`), the BEP 10 envelope (`extended`, whose payload is
//! interpreted elsewhere) and the BEP 10 extended handshake. Everything here is a pure codec:
//! bytes in, values out, with `Ok(None)` meaning "need more bytes". A decoding error means the peer broke the protocol (or is not a
//! BitTorrent peer at all); the stream is then out of step and the connection should be closed.

mod codec;
mod extended;
mod handshake;
mod message;
mod metadata;
mod pex;

pub use codec::{max_frame_len, Decoder, MAX_EXTENDED_LEN};
pub use extended::{
    ExtendedHandshake, MAX_CLIENT_LEN, MAX_EXTENSIONS, MAX_EXTENSION_NAME_LEN, MAX_HANDSHAKE_LEN,
    MAX_METADATA_SIZE,
};
pub use handshake::{Handshake, Reserved, HANDSHAKE_LEN, PROTOCOL};
pub use message::{encode_piece_header, id, Message};
pub use metadata::{
    metadata_piece_len, MetadataError, MetadataMessage, MAX_METADATA_PIECES, METADATA_PIECE_LEN,
    OUR_UT_METADATA_ID,
};
pub use pex::{
    plausible_peer, PexError, PexMessage, MAX_PEX_ENTRIES, OUR_UT_PEX_ID, PEX_REACHABLE, PEX_SEED,
};

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
    /// A length prefix announces more than the largest legal message of its id, found as soon
    /// as the id byte arrives and before the body is buffered.
    #[error("{message} message length {len} exceeds its limit of {max} bytes")]
    MessageTooLong {
        /// The message's name, e.g. `"have"`.
        message: &'static str,
        /// The announced length (excluding the 4-byte prefix, including the id byte).
        len: u32,
        /// The largest legal length of that message.
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
    /// A BEP 10 extended handshake larger than any we parse.
    #[error("extended handshake is {len} bytes, over the limit of {max}")]
    ExtendedHandshakeTooLong {
        /// The payload's length.
        len: usize,
        /// [`MAX_HANDSHAKE_LEN`].
        max: usize,
    },
    /// A BEP 10 extended handshake that is not valid bencode.
    #[error("extended handshake: {0}")]
    ExtendedHandshakeBencode(crate::bencode::DecodeError),
    /// A BEP 10 extended handshake that is valid bencode but not a dictionary.
    #[error("extended handshake is a {0}, not a dictionary")]
    ExtendedHandshakeNotDict(&'static str),
}

#[cfg(test)]
mod tests;
