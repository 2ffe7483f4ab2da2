//! bitswarm's BitTorrent client library: pure codecs, the sans-IO engine and its IO shell.

pub mod bencode;
pub mod tracker;
mod types;

pub use types::{BadHex, InfoHash, PeerId};
