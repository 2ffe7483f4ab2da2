//! bitswarm's BitTorrent client library: pure codecs, the sans-IO engine and its IO shell.

pub mod bencode;
pub mod geometry;
pub mod metainfo;
mod types;

pub use geometry::{BlockRef, Geometry, BLOCK_LEN};
pub use metainfo::Metainfo;
pub use types::{BadHex, InfoHash, PeerId};
