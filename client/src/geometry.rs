//! Torrent geometry: how pieces are cut into the blocks that peers request from each other.

/// The size of one requested block: 16 KiB, the de facto standard since BEP 3's era. Clients
/// such as libtorrent and Transmission refuse requests for larger blocks, so we never ask for more.
pub const BLOCK_LEN: u32 = 16 * 1024;

/// One block of one piece, as named by `request`, `cancel` and `reject` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRef {
    /// Zero-based index of the piece the block belongs to.
    pub piece: u32,
    /// Byte offset of the block inside its piece.
    pub offset: u32,
    /// Length of the block in bytes (at most [`BLOCK_LEN`]; shorter at the end of the torrent).
    pub len: u32,
}
