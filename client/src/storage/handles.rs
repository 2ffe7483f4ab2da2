//! The bounded cache of open file handles behind [`FileStorage`](super::FileStorage): which
//! torrent files are open, and which one to close when another must open.

use super::file::{Access, DEFAULT_MAX_OPEN};
use std::fs::File;
use std::sync::Arc;

/// The bounded cache of open files: a short vector scanned linearly (it holds at most a few
/// dozen entries), evicting the entry with the oldest `last_used` tick.
pub(super) struct Handles {
    /// The bound (at least 1).
    max_open: usize,
    /// A logical clock, bumped on every lookup, that orders uses without a wall clock.
    clock: u64,
    /// The cached handles, at most `max_open`.
    open: Vec<Handle>,
}

/// One cached file handle.
struct Handle {
    /// Index of the torrent file.
    file: usize,
    /// Whether it was opened for writing (which also allows reading).
    writable: bool,
    /// The clock value of its last use.
    last_used: u64,
    /// Shared so a user can keep it across the syscall after the cache lock is released.
    fd: Arc<File>,
}

impl Handles {
    pub(super) fn new(max_open: usize) -> Handles {
        Handles {
            max_open,
            clock: 0,
            open: Vec::with_capacity(max_open.min(DEFAULT_MAX_OPEN)),
        }
    }

    /// The files whose handles are cached, in increasing order, for tests of the policy.
    #[cfg(test)]
    pub(super) fn files(&self) -> Vec<usize> {
        let mut files: Vec<usize> = self.open.iter().map(|h| h.file).collect();
        files.sort_unstable();
        files
    }

    /// A cached handle for `file` allowing `access`, marked as just used.
    pub(super) fn get(&mut self, file: usize, access: Access) -> Option<Arc<File>> {
        self.clock += 1;
        let clock = self.clock;
        let handle = self
            .open
            .iter_mut()
            .find(|h| h.file == file && (h.writable || access == Access::Read))?;
        handle.last_used = clock;
        Some(Arc::clone(&handle.fd))
    }

    /// Caches a freshly opened handle. Returns the handle to use and one to drop after the
    /// lock is released: an evicted one, a read-only one replaced by a writable one, or the
    /// fresh one itself when another thread cached an equally good handle meanwhile.
    pub(super) fn insert(
        &mut self,
        file: usize,
        access: Access,
        fd: Arc<File>,
    ) -> (Arc<File>, Option<Arc<File>>) {
        self.clock += 1;
        let clock = self.clock;
        let writable = access == Access::Write;
        if let Some(handle) = self.open.iter_mut().find(|h| h.file == file) {
            handle.last_used = clock;
            if handle.writable || !writable {
                return (Arc::clone(&handle.fd), Some(fd));
            }
            handle.writable = true;
            let old = std::mem::replace(&mut handle.fd, Arc::clone(&fd));
            return (fd, Some(old));
        }
        let mut evicted = None;
        if self.open.len() >= self.max_open {
            let oldest = self
                .open
                .iter()
                .enumerate()
                .min_by_key(|(_, h)| h.last_used)
                .map(|(i, _)| i);
            if let Some(i) = oldest {
                evicted = Some(self.open.swap_remove(i).fd);
            }
        }
        self.open.push(Handle {
            file,
            writable,
            last_used: clock,
            fd: Arc::clone(&fd),
        });
        (fd, evicted)
    }

    /// Forgets every cached handle (they close once their last user is done): when the
    /// process runs out of descriptors, ours are the ones we can give back.
    pub(super) fn close_all(&mut self) -> Vec<Arc<File>> {
        self.open.drain(..).map(|h| h.fd).collect()
    }
}
