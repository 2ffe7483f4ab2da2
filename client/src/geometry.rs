//! Piece, block and file-span arithmetic: the one place that knows the last piece is short,
//! that blocks tile pieces, and which byte runs of which files a piece covers.
//!
//! A torrent's content is the concatenation of its files in order, cut into pieces of
//! `piece_length` bytes (the last one shorter). Peers exchange pieces in blocks of
//! [`BLOCK_LEN`]; storage writes file runs. Keeping the arithmetic here, behind a validated
//! type, means no other module divides by a piece length or guesses the last piece's size.
//!
//! **Invariant:** a `Geometry` always has `0 < piece_length <= u32::MAX`, a total length that
//! fits in `u64` and a piece count that fits in `u32`, so piece and block lengths are `u32`
//! and `piece * piece_length` never overflows. Queries with out-of-range indices answer
//! "nothing" (length 0, empty iterators) rather than panicking, because indices often come
//! straight from peers.

use std::ops::Range;

/// The size of the blocks we request: 16 KiB, the de-facto size every client uses (BEP 3
/// notes that implementations close connections asking for more).
pub const BLOCK_LEN: u32 = 16 * 1024;

/// The largest request we serve to a peer: eight blocks. BEP 3 says 16 KiB is the norm; we are
/// lenient towards clients that ask for more, while bounding the buffer one request can make
/// us read from disk.
pub const MAX_REQUEST_LEN: u32 = 8 * BLOCK_LEN;

/// A run of bytes within one piece: what `request`, `piece` and `cancel` messages name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRef {
    /// Index of the piece.
    pub piece: u32,
    /// Byte offset of the block within the piece.
    pub offset: u32,
    /// Number of bytes; [`BLOCK_LEN`] except for the last block of the last piece.
    pub len: u32,
}

/// A run of bytes within one file: how storage turns a torrent byte range into positioned
/// reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in the torrent's file list.
    pub file: usize,
    /// Where the run starts inside that file.
    pub file_offset: u64,
    /// Number of bytes in the run (never 0).
    pub len: u64,
}

/// Why a layout cannot be a torrent geometry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("piece length must be positive")]
    ZeroPieceLength,
    #[error("piece length {0} does not fit in 32 bits")]
    PieceLengthTooLarge(u64),
    #[error("total length overflows 64 bits at file {0}")]
    TotalOverflow(usize),
    #[error("{0} pieces do not fit in 32-bit piece indices")]
    TooManyPieces(u64),
}

/// The validated layout of a torrent's content: piece length, pieces, and where files sit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Nominal piece size; every piece but the last has exactly this many bytes.
    piece_length: u64,
    /// Sum of all file lengths.
    total_length: u64,
    /// `ceil(total_length / piece_length)`; 0 for empty content.
    piece_count: u32,
    /// Start of each file in the concatenated content; non-decreasing.
    starts: Vec<u64>,
    /// One past the end of each file; `ends[i] == starts[i + 1]`, so binary search over it
    /// finds the file holding a byte.
    ends: Vec<u64>,
}

/// Narrows a value the invariants guarantee fits in `u32` (a piece or block length, a piece
/// index below `piece_count`). Saturates instead of panicking should that ever be wrong.
fn narrow(x: u64) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

impl Geometry {
    /// Validates a layout: `piece_length` in `1..=u32::MAX`, a total that fits in `u64`, and
    /// at most `u32::MAX` pieces.
    pub fn new(piece_length: u64, file_lengths: &[u64]) -> Result<Geometry, GeometryError> {
        if piece_length == 0 {
            return Err(GeometryError::ZeroPieceLength);
        }
        if piece_length > u64::from(u32::MAX) {
            return Err(GeometryError::PieceLengthTooLarge(piece_length));
        }
        let mut starts = Vec::with_capacity(file_lengths.len());
        let mut ends = Vec::with_capacity(file_lengths.len());
        let mut total: u64 = 0;
        for (i, &len) in file_lengths.iter().enumerate() {
            let end = total
                .checked_add(len)
                .ok_or(GeometryError::TotalOverflow(i))?;
            starts.push(total);
            ends.push(end);
            total = end;
        }
        let count = total.div_ceil(piece_length);
        let piece_count = u32::try_from(count).map_err(|_| GeometryError::TooManyPieces(count))?;
        Ok(Geometry {
            piece_length,
            total_length: total,
            piece_count,
            starts,
            ends,
        })
    }

    /// A layout with no files and no pieces: the fallback when a caller's fields turn out
    /// not to be a valid layout after all.
    pub(crate) fn empty() -> Geometry {
        Geometry {
            piece_length: u64::from(BLOCK_LEN),
            total_length: 0,
            piece_count: 0,
            starts: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Nominal piece size in bytes.
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Total content size in bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Size of `piece`: `piece_length`, except the last piece which holds what is left;
    /// 0 for a piece past the end.
    pub fn piece_len(&self, piece: u32) -> u32 {
        if piece >= self.piece_count {
            return 0;
        }
        let start = self.piece_offset(piece);
        narrow(self.piece_length.min(self.total_length - start))
    }

    /// Where `piece` starts in the concatenated content (for a piece past the end: where it
    /// would start).
    pub fn piece_offset(&self, piece: u32) -> u64 {
        // Both factors are below 2^32, so the product fits in u64.
        u64::from(piece) * self.piece_length
    }

    /// Number of blocks in `piece` (0 for a piece past the end).
    pub fn block_count(&self, piece: u32) -> u32 {
        self.piece_len(piece).div_ceil(BLOCK_LEN)
    }

    /// Block `index` of `piece`: [`BLOCK_LEN`] bytes, or what is left at the end of the piece.
    /// Out-of-range indices give a block of length 0.
    pub fn block(&self, piece: u32, index: u32) -> BlockRef {
        let piece_len = self.piece_len(piece);
        let (offset, len) = match index.checked_mul(BLOCK_LEN) {
            Some(offset) if offset < piece_len => (offset, BLOCK_LEN.min(piece_len - offset)),
            Some(offset) => (offset, 0),
            None => (u32::MAX, 0),
        };
        BlockRef { piece, offset, len }
    }

    /// The blocks of `piece` in order; together they tile it exactly.
    pub fn blocks(&self, piece: u32) -> impl Iterator<Item = BlockRef> + '_ {
        (0..self.block_count(piece)).map(move |i| self.block(piece, i))
    }

    /// Whether a peer's request is one we may serve: an existing piece, a non-empty length of
    /// at most [`MAX_REQUEST_LEN`], and lying entirely within the piece. Offsets need not be
    /// multiples of [`BLOCK_LEN`]; BEP 3 does not require it.
    pub fn is_valid_block(&self, b: BlockRef) -> bool {
        b.piece < self.piece_count
            && b.len > 0
            && b.len <= MAX_REQUEST_LEN
            && b.offset
                .checked_add(b.len)
                .is_some_and(|end| end <= self.piece_len(b.piece))
    }

    /// The file runs covering the content bytes `offset..offset + len`, in order, skipping
    /// zero-length files. Bytes past the end of the content belong to no file and are dropped.
    pub fn spans(&self, offset: u64, len: u64) -> impl Iterator<Item = FileSpan> + '_ {
        let end = offset.saturating_add(len).min(self.total_length);
        // The first file that ends after `offset` holds its byte (zero-length files before or
        // at `offset` end at or before it, so they are passed over).
        let file = self.ends.partition_point(|&e| e <= offset);
        Spans {
            geometry: self,
            file,
            pos: offset,
            end,
        }
    }

    /// The file runs covering `piece`, in order.
    pub fn piece_spans(&self, piece: u32) -> impl Iterator<Item = FileSpan> + '_ {
        self.spans(self.piece_offset(piece), u64::from(self.piece_len(piece)))
    }

    /// Number of files.
    pub fn file_count(&self) -> usize {
        self.starts.len()
    }

    /// Length of file `i` (0 past the end).
    pub fn file_length(&self, i: usize) -> u64 {
        match (self.starts.get(i), self.ends.get(i)) {
            (Some(start), Some(end)) => end - start,
            _ => 0,
        }
    }

    /// Where file `i` starts in the concatenated content (the total length past the end).
    pub fn file_offset(&self, i: usize) -> u64 {
        self.starts.get(i).copied().unwrap_or(self.total_length)
    }

    /// The pieces holding at least one byte of `file`: what must be verified before the file
    /// is complete. Empty for zero-length files and indices past the end.
    pub fn file_pieces(&self, file: usize) -> Range<u32> {
        match (self.starts.get(file), self.ends.get(file)) {
            (Some(&start), Some(&end)) if end > start => {
                let first = narrow(start / self.piece_length);
                let last = narrow((end - 1) / self.piece_length);
                first..last.saturating_add(1)
            }
            _ => 0..0,
        }
    }
}

/// Iterator behind [`Geometry::spans`].
struct Spans<'g> {
    geometry: &'g Geometry,
    /// The next file to consider.
    file: usize,
    /// The next content byte to place.
    pos: u64,
    /// One past the last content byte wanted (already clamped to the total length).
    end: u64,
}

impl Iterator for Spans<'_> {
    type Item = FileSpan;

    fn next(&mut self) -> Option<FileSpan> {
        while self.pos < self.end {
            let file = self.file;
            let start = *self.geometry.starts.get(file)?;
            let file_end = *self.geometry.ends.get(file)?;
            self.file += 1;
            if file_end <= self.pos {
                // A zero-length file sitting at `pos`.
                continue;
            }
            let run_end = file_end.min(self.end);
            let span = FileSpan {
                file,
                file_offset: self.pos - start,
                len: run_end - self.pos,
            };
            self.pos = run_end;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
mod tests;
