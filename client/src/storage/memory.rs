//! [`MemoryStorage`]: a torrent's content held sparsely in memory, for tests and the
//! simulator, honest about what was never written.

use super::{check_range, Op, Storage, StorageError};
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// The path named in errors from memory storage, which has no files.
pub const MEMORY_PATH: &str = "<memory>";

/// Content is stored in chunks of this many bytes, allocated on first write: the block size,
/// so a torrent downloaded block by block allocates exactly what it received.
const CHUNK: u64 = 16 * 1024;

/// Content in memory. Reads of bytes never written are [`StorageError::Absent`], exactly like
/// a missing file, so code tested against it behaves the same on disk. Padding files are not
/// special here: their zeros are simply written like any other data (or read as absent).
pub struct MemoryStorage {
    /// The content's total length; writes and reads past it are refused.
    total_length: u64,
    /// Everything mutable, behind one lock: memory operations are too short to contend.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Chunk index to its `CHUNK` bytes.
    chunks: BTreeMap<u64, Vec<u8>>,
    /// Which bytes were written: disjoint, non-touching `start -> end` ranges.
    written: BTreeMap<u64, u64>,
    /// When set, writes fail as if the disk were full, so the simulator can exercise that.
    full: bool,
}

impl MemoryStorage {
    /// Empty storage for content of `total_length` bytes.
    pub fn new(total_length: u64) -> MemoryStorage {
        MemoryStorage {
            total_length,
            state: Mutex::new(State::default()),
        }
    }

    /// Storage holding `content` in full, as a seeder has it.
    pub fn with_content(content: &[u8]) -> MemoryStorage {
        let storage = MemoryStorage::new(u64::try_from(content.len()).unwrap_or(u64::MAX));
        {
            let mut state = storage.lock();
            state.copy_in(0, content);
            state.mark_written(0, storage.total_length);
        }
        storage
    }

    /// Makes later writes fail with [`io::ErrorKind::StorageFull`] (or succeed again).
    pub fn set_full(&self, full: bool) {
        self.lock().full = full;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Critical sections never panic midway, so a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Copies `data` into the chunks from `offset`, allocating chunks as needed.
    fn copy_in(&mut self, offset: u64, data: &[u8]) {
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (index, within) = (pos / CHUNK, (pos % CHUNK) as usize);
            let n = rest.len().min(CHUNK as usize - within);
            let chunk = self
                .chunks
                .entry(index)
                .or_insert_with(|| vec![0; CHUNK as usize]);
            let (head, tail) = rest.split_at(n);
            if let Some(dst) = chunk.get_mut(within..within + n) {
                dst.copy_from_slice(head);
            }
            rest = tail;
            pos += n as u64;
        }
    }

    /// Copies from the chunks at `offset` into `buf`; `false` if a chunk is missing.
    fn copy_out(&self, offset: u64, buf: &mut [u8]) -> bool {
        let mut pos = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            let (index, within) = (pos / CHUNK, (pos % CHUNK) as usize);
            let n = rest.len().min(CHUNK as usize - within);
            let Some(src) = self
                .chunks
                .get(&index)
                .and_then(|c| c.get(within..within + n))
            else {
                return false;
            };
            let (head, tail) = rest.split_at_mut(n);
            head.copy_from_slice(src);
            rest = tail;
            pos += n as u64;
        }
        true
    }

    /// Records `start..end` as written, merging it with the ranges it overlaps or touches.
    fn mark_written(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        // Ranges are disjoint and sorted, so their ends are sorted too: walking back from the
        // last range starting at or before `end`, they merge while they reach `start`.
        let merged: Vec<(u64, u64)> = self
            .written
            .range(..=end)
            .rev()
            .take_while(|(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in merged {
            self.written.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.written.insert(lo, hi);
    }

    /// Whether every byte of `start..end` was written.
    fn is_written(&self, start: u64, end: u64) -> bool {
        start >= end
            || self
                .written
                .range(..=start)
                .next_back()
                .is_some_and(|(_, &e)| e >= end)
    }
}

impl Storage for MemoryStorage {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let len = check_range(offset, data.len(), self.total_length)?;
        let mut state = self.lock();
        if state.full {
            return Err(StorageError::Io {
                op: Op::Write,
                path: PathBuf::from(MEMORY_PATH),
                offset: Some(offset),
                error: io::Error::from(io::ErrorKind::StorageFull),
            });
        }
        state.copy_in(offset, data);
        state.mark_written(offset, offset + len);
        Ok(())
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let len = check_range(offset, buf.len(), self.total_length)?;
        let state = self.lock();
        if state.is_written(offset, offset + len) && state.copy_out(offset, buf) {
            return Ok(());
        }
        Err(StorageError::Absent {
            path: PathBuf::from(MEMORY_PATH),
            offset,
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }
}
