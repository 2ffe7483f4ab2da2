//! Piece hashing over a [`Storage`]: one piece, the blocks of a piece (for smart-ban blame),
//! and the parallel check of existing data when a torrent starts.

use super::{Storage, StorageError};
use crate::aligned::{self, ALIGN};
use crate::bitfield::Bitfield;
use crate::geometry::{Geometry, BLOCK_LEN};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many bytes hashing reads at a time, whatever the piece length (up to 128 MiB): each
/// hashing thread's buffer is this size, so sixteen threads checking 16 MiB pieces hold 4 MiB
/// rather than 256 MiB. Large enough that the syscall per read costs little next to hashing
/// the bytes it returns; a whole number of [`BLOCK_LEN`] blocks, so block hashes come from the
/// same pass.
pub const HASH_CHUNK: usize = 16 * BLOCK_LEN as usize;

// Chunks must hold whole blocks, or a block's hash would need bytes from two reads.
const _: () = assert!(HASH_CHUNK % BLOCK_LEN as usize == 0);

/// The hashes of one piece as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceHash {
    /// The SHA-1 of the whole piece: what the torrent lists in `pieces`.
    pub piece: [u8; 20],
    /// The SHA-1 of each [`BLOCK_LEN`] block (the last may be short), when asked for: after a
    /// failed piece, smart ban compares them with the hashes of what each peer sent.
    pub blocks: Option<Vec<[u8; 20]>>,
}

/// Hashes `piece` as stored, reading it [`HASH_CHUNK`] bytes at a time into a page-aligned
/// window of `buf`, which never holds more than that plus a page (a larger `buf` is shrunk),
/// so memory does not grow with the piece
/// length. With `want_blocks`, the hash of every [`BLOCK_LEN`] block comes from the same pass.
/// `None` when any of the piece's data is absent (not downloaded yet).
pub fn hash_piece_streaming(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    want_blocks: bool,
    buf: &mut Vec<u8>,
) -> Result<Option<PieceHash>, StorageError> {
    let count = geometry.piece_count();
    if piece >= count {
        return Err(StorageError::NoSuchPiece { piece, count });
    }
    // A chunk plus the room to start it on a page boundary (see `aligned`).
    buf.truncate(HASH_CHUNK + ALIGN);
    buf.shrink_to(HASH_CHUNK + ALIGN);
    let start = geometry.piece_offset(piece);
    let len = u64::from(geometry.piece_len(piece));
    let mut whole = Sha1::new();
    let mut blocks = want_blocks.then(|| Vec::with_capacity(geometry.block_count(piece) as usize));
    let mut done = 0;
    while done < len {
        // At most HASH_CHUNK, so the cast cannot truncate.
        let n = (len - done).min(HASH_CHUNK as u64) as usize;
        // Every byte is overwritten by the read, so stale contents need no clearing.
        let chunk = aligned::window(buf, n);
        match storage.read(start + done, chunk) {
            Ok(()) => {}
            Err(e) if e.is_absent() => return Ok(None),
            Err(e) => return Err(e),
        }
        whole.update(&*chunk);
        if let Some(blocks) = blocks.as_mut() {
            // Chunks start on block boundaries of the piece, so their blocks are its blocks.
            blocks.extend(hash_blocks(chunk));
        }
        done += n as u64;
    }
    Ok(Some(PieceHash {
        piece: whole.finalize().into(),
        blocks,
    }))
}

/// The SHA-1 of `piece` as stored, or `None` when its data is absent (not downloaded yet).
/// Reads through `buf` in [`HASH_CHUNK`] chunks (see [`hash_piece_streaming`]); reusing `buf`
/// between calls means hashing many pieces allocates once.
pub fn hash_piece(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<[u8; 20]>, StorageError> {
    let hashed = hash_piece_streaming(storage, geometry, piece, false, buf)?;
    Ok(hashed.map(|h| h.piece))
}

/// The SHA-1 of each [`BLOCK_LEN`] block of `piece` as stored (`None` when absent), read
/// through `buf` in [`HASH_CHUNK`] chunks. After a piece that once failed finally verifies,
/// comparing these with the hashes of the blocks each peer sent in the failed attempt shows
/// which peer sent bad data (smart ban).
pub fn block_hashes(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<Vec<[u8; 20]>>, StorageError> {
    let hashed = hash_piece_streaming(storage, geometry, piece, true, buf)?;
    Ok(hashed.map(|h| h.blocks.unwrap_or_default()))
}

/// The SHA-1 of each [`BLOCK_LEN`] block of piece data held in memory (the last block may be
/// short), in the same shape as [`block_hashes`].
pub fn hash_blocks(piece_data: &[u8]) -> Vec<[u8; 20]> {
    piece_data
        .chunks(BLOCK_LEN as usize)
        .map(|block| Sha1::digest(block).into())
        .collect()
}

/// Verifies every piece against `hashes` and returns the pieces whose stored data matches:
/// the start-up check of a download folder. See [`verify_pieces`].
pub fn check_pieces(
    storage: &dyn Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    threads: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Bitfield {
    let all = Bitfield::full(geometry.piece_count());
    verify_pieces(storage, geometry, hashes, &all, threads, progress)
}

/// Verifies the pieces set in `which` against `hashes` on `threads` threads (at least one)
/// and returns those whose stored data matches.
///
/// Pieces that cannot be complete because a file they span is missing or too short (per
/// [`Storage::available_lengths`]) are skipped without reading, so checking a fresh download
/// reads nothing. The rest are handed out one at a time through a shared counter, so threads
/// stay busy however the present pieces are distributed; each thread owns one buffer of
/// [`HASH_CHUNK`] bytes, whatever the piece length.
/// A read error other than absence is logged and leaves the piece unverified: it will be
/// downloaded again, which is the safe outcome.
///
/// `progress` is called once for every piece of `which`, from worker threads and in no
/// particular order, after that piece is decided; callers count calls to show progress.
pub fn verify_pieces(
    storage: &dyn Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    which: &Bitfield,
    threads: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Bitfield {
    let count = geometry.piece_count();
    let lengths = storage.available_lengths();
    let mut candidates = Vec::new();
    for piece in which.iter_ones().filter(|&p| p < count) {
        let plausible = hashes.get(piece as usize).is_some()
            && lengths.as_ref().is_none_or(|l| fits(geometry, l, piece));
        if plausible {
            candidates.push(piece);
        } else {
            progress(piece);
        }
    }

    let mut have = Bitfield::new(count);
    if candidates.is_empty() {
        return have;
    }
    let next = AtomicUsize::new(0);
    let workers = threads.clamp(1, candidates.len());
    let found: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| worker(storage, geometry, hashes, &candidates, &next, progress))
            })
            .collect();
        handles
            .into_iter()
            // A worker only panics if `progress` does; that panic is the caller's to see.
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    for piece in found.into_iter().flatten() {
        have.set(piece, true);
    }
    have
}

/// One checking thread: takes candidates from the shared counter until none are left and
/// returns the pieces that verified.
fn worker(
    storage: &dyn Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    candidates: &[u32],
    next: &AtomicUsize,
    progress: &(dyn Fn(u32) + Sync),
) -> Vec<u32> {
    let mut buf = Vec::new();
    let mut verified = Vec::new();
    while let Some(&piece) = candidates.get(next.fetch_add(1, Ordering::Relaxed)) {
        match hash_piece(storage, geometry, piece, &mut buf) {
            Ok(Some(hash)) if hashes.get(piece as usize) == Some(&hash) => verified.push(piece),
            Ok(_) => {}
            Err(error) => tracing::warn!(piece, %error, "cannot check piece"),
        }
        progress(piece);
    }
    verified
}

/// Whether every file run of `piece` lies within the bytes available on disk.
fn fits(geometry: &Geometry, lengths: &[u64], piece: u32) -> bool {
    geometry.piece_spans(piece).all(|span| {
        let end = span.file_offset.checked_add(span.len);
        matches!((lengths.get(span.file), end), (Some(&have), Some(end)) if end <= have)
    })
}
