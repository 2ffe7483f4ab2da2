//! Reading blocks for peers through a small cache of piece chunks.
//!
//! Peers ask for a piece's blocks in order, so a request reads the 128 KiB chunk around its
//! block once and the next seven requests are served from memory: one read syscall per chunk
//! instead of one per block. The cache holds at most [`CACHE_CHUNKS`] chunks (2 MiB), dropping
//! the least recently used, so seeding to many peers costs a fixed amount of memory.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

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
}

impl ReadCache {
    /// The bytes of `block`, from the cache or read from `storage` (with the chunk around it).
    pub fn read(
        &self,
        storage: &dyn Storage,
        geometry: &Geometry,
        block: BlockRef,
    ) -> Result<Bytes, StorageError> {
        if let Some(hit) = self.lookup(block) {
            return Ok(hit);
        }
        let piece_len = geometry.piece_len(block.piece);
        let start = block.offset - block.offset % CHUNK;
        let end = (start + CHUNK).min(piece_len);
        if block.offset + block.len > end {
            // Straddles two chunks (odd requests): read just the block.
            return read_range(storage, geometry, block.piece, block.offset, block.len);
        }
        let data = read_range(storage, geometry, block.piece, start, end - start)?;
        let from = (block.offset - start) as usize;
        let hit = data.slice(from..from + block.len as usize);
        self.insert(block.piece, start, data);
        Ok(hit)
    }

    fn lookup(&self, block: BlockRef) -> Option<Bytes> {
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

    fn insert(&self, piece: u32, start: u32, data: Bytes) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.clock += 1;
        let used = inner.clock;
        if inner.chunks.len() >= CACHE_CHUNKS {
            if let Some(oldest) = (0..inner.chunks.len()).min_by_key(|i| inner.chunks[*i].used) {
                inner.chunks.swap_remove(oldest);
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

/// Reads `len` bytes at `offset` of `piece`.
fn read_range(
    storage: &dyn Storage,
    geometry: &Geometry,
    piece: u32,
    offset: u32,
    len: u32,
) -> Result<Bytes, StorageError> {
    let mut buf = vec![0u8; len as usize];
    storage.read(geometry.piece_offset(piece) + u64::from(offset), &mut buf)?;
    Ok(Bytes::from(buf))
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
            }
        }
        let reads = storage.1.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(reads as u64, total / u64::from(CHUNK), "one read per chunk");
        let held = cache.inner.lock().unwrap().chunks.len();
        assert!(held <= CACHE_CHUNKS);
    }
}
