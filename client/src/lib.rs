//! bitswarm's BitTorrent client library: pure codecs, the sans-IO engine and its IO shell.

pub(crate) mod aligned;
pub mod bencode;
pub mod bitfield;
pub mod create;
pub mod dht;
pub mod engine;
pub mod geometry;
pub mod lpd;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod net;
pub mod shell;
pub mod storage;
pub mod tracker;
mod types;
pub mod wire;

pub use bitfield::Bitfield;
pub use geometry::{BlockRef, Geometry, BLOCK_LEN};
pub use magnet::Magnet;
pub use metainfo::Metainfo;
pub use types::{BadHex, InfoHash, PeerId};
