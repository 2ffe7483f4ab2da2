//! bitswarm's BitTorrent client library: pure codecs, the sans-IO engine and its IO shell.

pub mod bencode;
pub mod bitfield;
pub mod geometry;
pub mod magnet;
pub mod tracker;
mod types;
pub mod wire;

pub use bitfield::Bitfield;
pub use magnet::Magnet;
pub use types::{BadHex, InfoHash, PeerId};
