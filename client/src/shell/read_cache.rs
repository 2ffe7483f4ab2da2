//! Reading blocks for peers through a small cache of piece chunks.
//!
//! Peers ask for a piece's blocks in order, so a request reads the 128 KiB chunk around its
//! block once and the next seven requests are served from memory: one read syscall per chunk
//! instead of one per block. The cache holds at most [`CACHE_CHUNKS`] chunks (2 MiB), dropping
//! the least recently used, so seeding to many peers costs a fixed amount of memory.

use std::sync::{Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

use crate::aligned::{self, ALIGN};
use crate::geometry::{BlockRef, Geometry, BLOCK_LEN};
use crate::storage::{Storage, StorageError};

/// Bytes read at once: eight blocks.
pub const CHUNK: u32 = 8 * BLOCK_LEN;

/// Chunks kept.
pub const CACHE_CHUNKS: usize = 16;

/// One cached chunk: `data` is bytes `[start, start + data.len())` of `piece`.
struct Chunk {
    piece: u32,
    start: u32,
    data: Bytes,
    /// A logical clock value of its last use.
    used: u64,
}

/// Recently read chunks, shared by the disk threads.
#[derive(Default)]
pub struct ReadCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    chunks: Vec<Chunk>,
    clock: u64,
    /// Buffers of evicted chunks no block refers to any more, for the next reads: a fresh
    /// 128 KiB buffer costs a zeroing pass and, from the allocator, page faults, which at
    /// hundreds of MiB/s is a tenth of the seeder's CPU.
    spare: Vec<BytesMut>,
}

impl ReadCache {
    /// The bytes of `block`, from the cache or read from `storage` (with the chunk around it).
    pub fn read(
        &self,
        storage: &dyn Storage,
        geometry: &Geometry,
        block: BlockRef,
    ) -> Result<Bytes, StorageError> {
        if let Some(hit) = self.cached(block) {
            return Ok(hit);
        }
        let piece_len = geometry.piece_len(block.piece);
        let start = block.offset - block.offset % CHUNK;
        let end = (start + CHUNK).min(piece_len);
        if block.offset + block.len > end {
            // Straddles two chunks (odd requests): read just the block.
            let buf = BytesMut::zeroed(block.len as usize);
            return read_range(storage, geometry, block.piece, block.offset, buf);
        }
        let buf = self.buffer((end - start) as usize);
        let data = read_range(storage, geometry, block.piece, start, buf)?;
        let from = (block.offset - start) as usize;
        let hit = data.slice(from..from + block.len as usize);
        self.insert(block.piece, start, data);
        Ok(hit)
    }

    /// The bytes of `block` if a cached chunk holds them.
    pub fn cached(&self, block: BlockRef) -> Option<Bytes> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let clock = inner.clock;
        let chunk = inner.chunks.iter_mut().find(|c| {
            c.piece == block.piece
                && c.start <= block.offset
                && (block.offset + block.len) as usize <= c.start as usize + c.data.len()
        })?;
        chunk.used = clock;
        let from = (block.offset - chunk.start) as usize;
        Some(chunk.data.slice(from..from + block.len as usize))
    }

    /// A buffer of `len` bytes: a spare one if there is one (its old bytes are about to be
    /// overwritten by the read), else a new one.
    fn buffer(&self, len: usize) -> BytesMut {
        let spare = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.spare.pop()
        };
        match spare {
            // Within its capacity a resize keeps the buffer where it is, so still aligned.
            Some(mut buf) if buf.capacity() >= len && buf.as_ptr().align_offset(ALIGN) == 0 => {
                buf.resize(len, 0);
                buf
            }
            _ => aligned::zeroed_bytes(len),
        }
    }

    fn insert(&self, piece: u32, start: u32, data: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let used = inner.clock;
        if inner.chunks.len() >= CACHE_CHUNKS {
            if let Some(oldest) = (0..inner.chunks.len()).min_by_key(|i| inner.chunks[*i].used) {
                let evicted = inner.chunks.swap_remove(oldest);
                // Blocks of it still on their way to peers keep it alive; then it is freed.
                if let Ok(buf) = evicted.data.try_into_mut() {
                    if inner.spare.len() < CACHE_CHUNKS {
                        inner.spare.push(buf);
                    }
                }
            }
        }
        inner.chunks.push(Chunk {
            piece,
            start,
            data,
            used,
        });
    }
}

/// Fills `buf` with the bytes at `offset` of `piece`.
fn read_range(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    offset: u32,
    mut buf: BytesMut,
) -> Result<Bytes, StorageError> {
    storage.read(geometry.piece_offset(piece) + u64::from(offset), &mut buf)?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    /// Counts reads, to see the cache at work.
    struct Counting(MemoryStorage, std::sync::atomic::AtomicUsize);

    impl Storage for Counting {
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
            self.0.write(offset, data)
        }
        fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.0.read(offset, buf)
        }
        fn sync(&self) -> Result<(), StorageError> {
            Ok(())
        }
    }

    #[test]
    fn blocks_of_a_chunk_cost_one_read_and_memory_stays_bounded() {
        let piece = 4 * CHUNK;
        let total = u64::from(piece) * 8;
        let content: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let storage = Counting(
            MemoryStorage::with_content(&content),
            std::sync::atomic::AtomicUsize::new(0),
        );
        let geometry = Geometry::new(u64::from(piece), &[total]).unwrap();
        let cache = ReadCache::default();
        for p in 0..8 {
            for b in 0..geometry.block_count(p) {
                let block = geometry.block(p, b);
                let got = cache.read(&storage, &geometry, block).unwrap();
                let at = (geometry.piece_offset(p) + u64::from(block.offset)) as usize;
                assert_eq!(&got[..], &content[at..at + block.len as usize]);
                // Every chunk, new or reused, was read into a page-aligned buffer.
                if block.offset % CHUNK == 0 {
                    assert_eq!(got.as_ptr().align_offset(ALIGN), 0, "piece {p} block {b}");
                }
            }
        }
        let reads = storage.1.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(reads as u64, total / u64::from(CHUNK), "one read per chunk");
        let held = cache.inner.lock().unwrap().chunks.len();
        assert!(held <= CACHE_CHUNKS);
    }

    #[test]
    fn reused_buffers_never_change_a_block_still_in_flight() {
        let piece = 4 * CHUNK;
        let total = u64::from(piece) * 8;
        let content: Vec<u8> = (0..total).map(|i| (i % 241) as u8).collect();
        let storage = MemoryStorage::with_content(&content);
        let geometry = Geometry::new(u64::from(piece), &[total]).unwrap();
        let cache = ReadCache::default();
        // A block a slow peer has not been sent yet: its chunk must never be reused.
        let held = cache
            .read(&storage, &geometry, geometry.block(0, 0))
            .unwrap();
        for round in 0..3 {
            for p in 0..8 {
                for b in 0..geometry.block_count(p) {
                    let block = geometry.block(p, b);
                    let got = cache.read(&storage, &geometry, block).unwrap();
                    let at = (geometry.piece_offset(p) + u64::from(block.offset)) as usize;
                    assert_eq!(&got[..], &content[at..at + block.len as usize], "{round}");
                }
            }
        }
        assert_eq!(&held[..], &content[..BLOCK_LEN as usize]);
        let spare = cache.inner.lock().unwrap().spare.len();
        assert!(
            spare > 0 && spare <= CACHE_CHUNKS,
            "evicted chunks are reused: {spare}"
        );
    }
}
