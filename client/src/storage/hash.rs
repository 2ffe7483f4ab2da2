//! Piece hashing over a [`Storage`]: one piece, the blocks of a piece (for smart-ban blame),
//! and the parallel check of existing data when a torrent starts.

use super::{Storage, StorageError};
use crate::bitfield::Bitfield;
use crate::geometry::{Geometry, BLOCK_LEN};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Reads `piece` into `buf` (resized to the piece's length). `Ok(false)` when its data is
/// absent.
fn read_piece(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<bool, StorageError> {
    let count = geometry.piece_count();
    if piece >= count {
        return Err(StorageError::NoSuchPiece { piece, count });
    }
    // Bounded by the piece length, which metainfo caps (`MAX_PIECE_LENGTH`).
    let len = geometry.piece_len(piece) as usize;
    buf.clear();
    buf.resize(len, 0);
    match storage.read(geometry.piece_offset(piece), buf) {
        Ok(()) => Ok(true),
        Err(e) if e.is_absent() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The SHA-1 of `piece` as stored, or `None` when its data is absent (not downloaded yet).
/// `buf` is reused between calls so hashing many pieces allocates one piece buffer.
pub fn hash_piece(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<[u8; 20]>, StorageError> {
    if !read_piece(storage, geometry, piece, buf)? {
        return Ok(None);
    }
    Ok(Some(Sha1::digest(buf.as_slice()).into()))
}

/// The SHA-1 of each [`BLOCK_LEN`] block of `piece` as stored (`None` when absent). After a
/// piece that once failed finally verifies, comparing these with the hashes of the blocks
/// each peer sent in the failed attempt shows which peer sent bad data (smart ban).
pub fn block_hashes(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    buf: &mut Vec<u8>,
) -> Result<Option<Vec<[u8; 20]>>, StorageError> {
    if !read_piece(storage, geometry, piece, buf)? {
        return Ok(None);
    }
    Ok(Some(hash_blocks(buf)))
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
/// stay busy however the present pieces are distributed; each thread owns one piece buffer.
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
