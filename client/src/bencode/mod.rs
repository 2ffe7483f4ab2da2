//! Bencode (BEP 3): a strict decoder that keeps byte spans, and a canonical encoder.
//!
//! Decoding borrows from the input and records where every value sits, so callers such as
//! [`crate::metainfo`] can hash the exact bytes of a sub-value (the info-hash is the SHA-1 of
//! the raw `info` dictionary, not of a re-encoding). Decoding accepts dictionaries whose keys are
//! out of order, because real torrents have them, but encoding is always canonical: keys sorted
//! as raw bytes, integers without leading zeros.

mod decode;
mod encode;
mod value;

pub use decode::{decode, decode_prefix, DecodeError, ErrorKind, MAX_DEPTH};
pub use encode::{encode, encode_into};
pub use value::{Kind, Node, Value};

#[cfg(test)]
mod tests;
