//! [`FileStorage`]: a torrent's content as real files below a download folder, written and
//! read with positioned IO through a bounded cache of open handles.
//!
//! **Layout.** File `i` lives at `root/<Info::file_path(i)>`: `root/name` for a single-file
//! torrent, `root/name/a/b` for a multi-file one, which is what `download -o DIR` and
//! `seed <TORRENT> <DIR>` promise.
//!
//! **Decision: files are created lazily.** [`FileStorage::new`] touches nothing on disk.
//! A file (and its folders) is created on the first write into it and immediately sized with
//! `set_len` to its torrent length: sparse, no blocks allocated, so a 10 GiB torrent does not
//! write 10 GiB of zeros and the filesystem can report it absent until data arrives. Lazy
//! creation keeps an unstarted or seed-only run from littering the folder, and leaves missing
//! files missing, which is what lets the start-up check skip them without reading.
//! Zero-length files hold no piece, so no write ever creates them: [`FileStorage::prepare`]
//! does, once a download starts. BEP 47 padding files are never created: writes into their
//! ranges are dropped and reads of them give zeros.
//!
//! **Handles.** At most `max_open` files are open at once (LRU, evicting the least recently
//! used by a logical clock, so the policy does not depend on hashing). The cache's mutex is
//! held only to look up or insert an `Arc<File>`, never across the read or write syscall;
//! a handle evicted while another thread is mid-syscall on it closes when that thread is done,
//! so the true count of open files can briefly exceed `max_open` by the number of in-flight
//! operations.

use super::{check_range, Op, Storage, StorageError};
use crate::geometry::Geometry;
use crate::metainfo::Info;
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How many file handles a torrent keeps open by default: enough that multi-file torrents of
/// a few dozen files never reopen, far below the usual 1024 descriptor limit even with many
/// torrents and peers.
pub const DEFAULT_MAX_OPEN: usize = 64;

/// Real files below a download folder; see the module docs for the layout and policies.
pub struct FileStorage {
    /// The download folder (`-o DIR`); every file path is below it.
    root: PathBuf,
    /// One entry per torrent file, in content order.
    slots: Vec<Slot>,
    /// Maps content offsets to file runs.
    geometry: Geometry,
    /// The open-handle cache.
    handles: Mutex<Handles>,
    /// What [`Storage::sync`] must flush.
    dirty: Mutex<Dirty>,
}

/// One torrent file as storage sees it.
struct Slot {
    /// `root` joined with the file's checked relative path.
    path: PathBuf,
    /// The file's torrent length, which `set_len` gives it on creation.
    length: u64,
    /// BEP 47 padding: never on disk, reads as zeros.
    pad: bool,
}

/// Files and folders changed since the last sync. Ordered sets keep the sync order (and so
/// which error is reported first) deterministic.
#[derive(Default)]
struct Dirty {
    /// Files written into.
    files: BTreeSet<usize>,
    /// Folders in which we created files: their entries must be synced for the new files to
    /// survive a power cut.
    dirs: BTreeSet<PathBuf>,
}

/// What a handle must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves its data
/// consistent (no panics mid-update), so a panic elsewhere must not wedge storage.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileStorage {
    /// Storage for `info`'s files below `root`, keeping at most `max_open` handles open (at
    /// least one). Checks every path but touches nothing on disk.
    pub fn new(root: &Path, info: &Info, max_open: usize) -> Result<FileStorage, StorageError> {
        let mut slots = Vec::with_capacity(info.files.len());
        for (i, file) in info.files.iter().enumerate() {
            let relative = info.file_path(i);
            // Defence in depth: only plain names below root, no `..`, no root, no prefix.
            let mut parts = relative.components();
            let plain =
                parts.clone().next().is_some() && parts.all(|c| matches!(c, Component::Normal(_)));
            if !plain {
                return Err(StorageError::UnsafePath {
                    file: i,
                    path: relative,
                });
            }
            slots.push(Slot {
                path: root.join(relative),
                length: file.length,
                pad: file.pad,
            });
        }
        Ok(FileStorage {
            root: root.to_path_buf(),
            slots,
            geometry: info.geometry(),
            handles: Mutex::new(Handles::new(max_open.max(1))),
            dirty: Mutex::new(Dirty::default()),
        })
    }

    /// Creates the zero-length files (and their folders), which no write would ever create.
    /// Call once when a download starts. Existing files are left as they are.
    pub fn prepare(&self) -> Result<(), StorageError> {
        for slot in self.slots.iter().filter(|s| s.length == 0 && !s.pad) {
            if slot.path.is_file() {
                continue;
            }
            let dir = create_parent(&slot.path)?;
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&slot.path)
                .map_err(|e| StorageError::io(Op::Create, &slot.path, e))?;
            lock(&self.dirty).dirs.insert(dir);
        }
        Ok(())
    }

    /// The download folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout this storage maps offsets through.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Number of files in the torrent (padding files included).
    pub fn file_count(&self) -> usize {
        self.slots.len()
    }

    /// Where file `i` lives on disk (`None` past the end). Padding files have a path too, but
    /// nothing is ever there.
    pub fn file_path(&self, i: usize) -> Option<&Path> {
        self.slots.get(i).map(|s| s.path.as_path())
    }

    /// Whether file `i` is a BEP 47 padding file.
    pub fn is_pad(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|s| s.pad)
    }

    /// Whether file `i` exists on disk as a regular file (false for padding files).
    pub fn file_exists(&self, i: usize) -> bool {
        self.slots
            .get(i)
            .is_some_and(|s| !s.pad && s.path.is_file())
    }

    /// A handle to file `index` allowing `access`, from the cache or freshly opened. The cache
    /// lock is never held while opening.
    fn handle(&self, index: usize, access: Access) -> Result<Arc<File>, StorageError> {
        if let Some(file) = lock(&self.handles).get(index, access) {
            return Ok(file);
        }
        let opened = Arc::new(self.open(index, access)?);
        let (file, unused) = lock(&self.handles).insert(index, access, opened);
        // Closing a file can block; it happens here, after the lock is released.
        drop(unused);
        Ok(file)
    }

    /// Opens file `index`. Reading never creates anything; writing creates the file and its
    /// folders if needed and gives it its torrent length.
    fn open(&self, index: usize, access: Access) -> Result<File, StorageError> {
        let Some(slot) = self.slots.get(index) else {
            return Err(StorageError::OutOfRange {
                offset: self.geometry.file_offset(index),
                len: 0,
                total: self.geometry.total_length(),
            });
        };
        let path = &slot.path;
        if access == Access::Read {
            return File::open(path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StorageError::Absent {
                    path: path.clone(),
                    offset: 0,
                },
                _ => StorageError::io(Op::Open, path, e),
            });
        }
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dir = create_parent(path)?;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| StorageError::io(Op::Create, path, e))?;
                lock(&self.dirty).dirs.insert(dir);
                file
            }
            Err(e) => return Err(StorageError::io(Op::Open, path, e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| StorageError::io(Op::Stat, path, e))?;
        // Sparse extension (or cutting bytes that cannot belong to the torrent): the file is
        // the torrent's, and only a download opens it for writing. Something that is not a
        // regular file (a device the user linked there) has no length to set.
        if meta.is_file() && meta.len() != slot.length {
            file.set_len(slot.length)
                .map_err(|e| StorageError::io(Op::SetLen, path, e))?;
        }
        Ok(file)
    }

    /// The files whose handles are cached, in increasing order, for tests of the policy.
    #[cfg(test)]
    pub(super) fn cached_files(&self) -> Vec<usize> {
        let mut files: Vec<usize> = lock(&self.handles).open.iter().map(|h| h.file).collect();
        files.sort_unstable();
        files
    }
}

impl FileStorage {
    /// fsyncs file `index` through any cached handle (fsync flushes the file, whichever
    /// descriptor asks), else through a fresh read-only one. Never creates the file: if it
    /// vanished since it was written, that write is lost and the sync must say so.
    fn sync_file(&self, index: usize) -> Result<(), StorageError> {
        let path = self.file_path(index).unwrap_or(&self.root);
        let cached = lock(&self.handles).get(index, Access::Read);
        let file = match cached {
            Some(file) => file,
            None => Arc::new(File::open(path).map_err(|e| StorageError::io(Op::Sync, path, e))?),
        };
        file.sync_all()
            .map_err(|e| StorageError::io(Op::Sync, path, e))
    }
}

/// Creates the folder holding `path` and returns it.
fn create_parent(path: &Path) -> Result<PathBuf, StorageError> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| StorageError::io(Op::CreateDir, &dir, e))?;
    Ok(dir)
}

/// Splits `len` bytes off the front of `rest`; `None` if it is shorter (which the range check
/// before every span walk rules out).
fn split(rest: &[u8], len: u64) -> Option<(&[u8], &[u8])> {
    rest.split_at_checked(usize::try_from(len).ok()?)
}

/// Mutable [`split`].
fn split_mut(rest: &mut [u8], len: u64) -> Option<(&mut [u8], &mut [u8])> {
    rest.split_at_mut_checked(usize::try_from(len).ok()?)
}

impl Storage for FileStorage {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let total = self.geometry.total_length();
        let len = check_range(offset, data.len(), total)?;
        let mut rest = data;
        for span in self.geometry.spans(offset, len) {
            let (chunk, tail) =
                split(rest, span.len).ok_or(StorageError::OutOfRange { offset, len, total })?;
            rest = tail;
            let Some(slot) = self.slots.get(span.file) else {
                continue;
            };
            if slot.pad {
                continue;
            }
            let file = self.handle(span.file, Access::Write)?;
            file.write_all_at(chunk, span.file_offset)
                .map_err(|error| StorageError::Io {
                    op: Op::Write,
                    path: slot.path.clone(),
                    offset: Some(span.file_offset),
                    error,
                })?;
            lock(&self.dirty).files.insert(span.file);
        }
        Ok(())
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let total = self.geometry.total_length();
        let len = check_range(offset, buf.len(), total)?;
        let mut rest = buf;
        for span in self.geometry.spans(offset, len) {
            let (chunk, tail) =
                split_mut(rest, span.len).ok_or(StorageError::OutOfRange { offset, len, total })?;
            rest = tail;
            let Some(slot) = self.slots.get(span.file) else {
                continue;
            };
            if slot.pad {
                chunk.fill(0);
                continue;
            }
            let absent = || StorageError::Absent {
                path: slot.path.clone(),
                offset: span.file_offset,
            };
            let file = self.handle(span.file, Access::Read).map_err(|e| match e {
                StorageError::Absent { .. } => absent(),
                e => e,
            })?;
            file.read_exact_at(chunk, span.file_offset)
                .map_err(|error| match error.kind() {
                    io::ErrorKind::UnexpectedEof => absent(),
                    _ => StorageError::Io {
                        op: Op::Read,
                        path: slot.path.clone(),
                        offset: Some(span.file_offset),
                        error,
                    },
                })?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        let Dirty { files, dirs } = std::mem::take(&mut *lock(&self.dirty));
        let mut pending = files.into_iter();
        while let Some(index) = pending.next() {
            let result = self.sync_file(index);
            if let Err(e) = result {
                // Whatever was not synced stays dirty, so the next sync retries it.
                let mut dirty = lock(&self.dirty);
                dirty.files.insert(index);
                dirty.files.extend(pending);
                dirty.dirs.extend(dirs);
                return Err(e);
            }
        }
        for dir in &dirs {
            let result = File::open(dir).and_then(|d| d.sync_all());
            if let Err(e) = result {
                lock(&self.dirty).dirs.extend(dirs.iter().cloned());
                return Err(StorageError::io(Op::Sync, dir, e));
            }
        }
        Ok(())
    }

    fn available_lengths(&self) -> Option<Vec<u64>> {
        let lengths = self
            .slots
            .iter()
            .map(|slot| {
                if slot.pad {
                    // Padding reads as zeros whatever is on disk.
                    return slot.length;
                }
                match fs::metadata(&slot.path) {
                    Ok(meta) if meta.is_file() => meta.len(),
                    _ => 0,
                }
            })
            .collect();
        Some(lengths)
    }
}

/// The bounded cache of open files: a short vector scanned linearly (it holds at most a few
/// dozen entries), evicting the entry with the oldest `last_used` tick.
struct Handles {
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
    fn new(max_open: usize) -> Handles {
        Handles {
            max_open,
            clock: 0,
            open: Vec::with_capacity(max_open.min(DEFAULT_MAX_OPEN)),
        }
    }

    /// A cached handle for `file` allowing `access`, marked as just used.
    fn get(&mut self, file: usize, access: Access) -> Option<Arc<File>> {
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
    fn insert(
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
}
