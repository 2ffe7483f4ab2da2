//! [`FileStorage`]: a torrent's content as real files below a download folder, written and
//! read with positioned IO through a bounded cache of open handles.
//!
//! **Layout.** File `i` lives at `root/<Info::file_path(i)>`: `root/name` for a single-file
//! torrent, `root/name/a/b` for a multi-file one, which is what `download -o DIR` and
//! `seed <TORRENT> <DIR>` promise. [`FileStorage::new`] refuses a torrent two of whose files
//! would be one file on some filesystem, or whose name is our resume folder's (`names.rs`),
//! and nothing below `root` is reached through a symbolic link (`paths.rs`).
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
//! **Decision: an existing file is never shortened before its pieces are verified.** A file
//! already on disk may be longer than the torrent says: an older or newer release of the same
//! name, or the user's own file. Opening it for writing only ever *extends* a shorter file
//! (sparse, which leaves its bytes as they are); reads and writes stay within the torrent
//! length, so a longer file's tail is untouched while we download. Only once every piece of
//! that file is verified, and so the file is known to be the torrent's, does
//! [`FileStorage::trim_verified`] (run by [`save_verified`]) cut the tail, so a finished
//! download is byte for byte the torrent's content. Zero-length files have no piece to
//! verify, so an existing file in their place is never cut.
//!
//! **Decision: one file on disk is one torrent file.** Besides the name check, every file we
//! open or find by [`FileStorage::prepare`] is recorded by (device, inode); a second torrent
//! file leading to a recorded inode (a hard link, or a filesystem folding names in a way the
//! name check does not foresee) is refused before anything is written through it.
//!
//! **Decision: a failed sync is never forgotten.** After `fsync` fails, Linux may drop the
//! dirty pages that failed to reach the disk and clear the error, so a retry succeeds without
//! the data being there (the PostgreSQL "fsyncgate" lesson). So once a sync fails, every
//! later [`Storage::sync`] fails too ([`StorageError::SyncFailedEarlier`]): nothing written
//! before the failure is ever again claimed durable by this storage; the next start re-hashes.
//!
//! **Handles.** At most `max_open` files are open at once (LRU, evicting the least recently
//! used by a logical clock, so the policy does not depend on hashing). The cache's mutex is
//! held only to look up or insert an `Arc<File>`, never across the read or write syscall;
//! a handle evicted while another thread is mid-syscall on it closes when that thread is done,
//! so the true count of open files can briefly exceed `max_open` by the number of in-flight
//! operations.
//!
//! [`save_verified`]: super::resume::save_verified

use super::handles::Handles;
use super::paths::{self, Folders};
use super::{check_range, names, Alias, Op, Storage, StorageError};
use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::metainfo::Info;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How many file handles a torrent keeps open by default: enough that multi-file torrents of
/// a few dozen files never reopen, far below the usual 1024 descriptor limit even with many
/// torrents and peers.
pub const DEFAULT_MAX_OPEN: usize = 64;

/// Files fsynced at once by [`Storage::sync`].
const SYNC_THREADS: usize = 4;

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
    /// The torrent file each (device, inode) we opened or found belongs to, so two torrent
    /// files leading to one file on disk are refused (see the module docs).
    identities: Mutex<BTreeMap<(u64, u64), usize>>,
    /// The first file or folder whose sync failed: once set, every sync fails.
    sync_failed: Mutex<Option<PathBuf>>,
}

/// One torrent file as storage sees it.
struct Slot {
    /// The file's checked path relative to `root`: only plain names.
    relative: PathBuf,
    /// `root` joined with `relative`.
    path: PathBuf,
    /// The file's torrent length, which `set_len` gives it on creation.
    length: u64,
    /// BEP 47 padding: never on disk, reads as zeros.
    pad: bool,
}

/// Files and folders changed since the last sync, in order: the lowest-numbered file that
/// fails is the one a failed sync reports, whichever thread's fsync ended first.
#[derive(Default)]
struct Dirty {
    /// Files written into.
    files: BTreeSet<usize>,
    /// Folders in which we created files or folders: their entries must be synced for the new
    /// ones to survive a power cut.
    dirs: BTreeSet<PathBuf>,
}

/// What a handle must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
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
    /// least one). Checks every path (unsafe, aliasing and reserved names are refused) but
    /// touches nothing on disk.
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
                path: root.join(&relative),
                relative,
                length: file.length,
                pad: file.pad,
            });
        }
        names::check(info)?;
        Ok(FileStorage {
            root: root.to_path_buf(),
            slots,
            geometry: info.geometry(),
            handles: Mutex::new(Handles::new(max_open.max(1))),
            dirty: Mutex::new(Dirty::default()),
            identities: Mutex::new(BTreeMap::new()),
            sync_failed: Mutex::new(None),
        })
    }

    /// Examines every file before a download starts: refuses a symbolic link at any file or
    /// folder of the torrent and two torrent files that are one file on disk, and creates the
    /// zero-length files (and their folders), which no write would ever create. Call once,
    /// before the start-up check. Existing files are left exactly as they are.
    pub fn prepare(&self) -> Result<(), StorageError> {
        for (index, slot) in self.slots.iter().enumerate().filter(|(_, s)| !s.pad) {
            match paths::existing(&self.root, &slot.relative)? {
                Some(meta) if meta.is_file() => self.register(index, &meta)?,
                Some(_) => {}
                None if slot.length == 0 => drop(self.open(index, Access::Write)?),
                None => {}
            }
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

    /// Whether file `i` exists on disk as a regular file reached without links (false for
    /// padding files).
    pub fn file_exists(&self, i: usize) -> bool {
        self.regular_file(i).is_some()
    }

    /// The metadata of file `i` if it is a regular file reached without any link (`None`
    /// for padding files, missing files and anything behind a link).
    pub(super) fn regular_file(&self, i: usize) -> Option<Metadata> {
        let slot = self.slots.get(i).filter(|s| !s.pad)?;
        paths::regular_file(&self.root, &slot.relative)
    }

    /// Cuts the bytes past its torrent length off every file all of whose pieces are in
    /// `have` (see the module docs for why only then). The cut is recorded for the next sync.
    pub(super) fn trim_verified(&self, have: &Bitfield) -> Result<(), StorageError> {
        for (index, slot) in self.slots.iter().enumerate().filter(|(_, s)| !s.pad) {
            let mut pieces = self.geometry.file_pieces(index);
            if pieces.is_empty() || !pieces.all(|p| have.get(p)) {
                continue;
            }
            let longer = self
                .regular_file(index)
                .is_some_and(|m| m.len() > slot.length);
            if !longer {
                continue;
            }
            let file = self.handle(index, Access::Write)?;
            file.set_len(slot.length)
                .map_err(|e| StorageError::io(Op::SetLen, &slot.path, e))?;
            lock(&self.dirty).files.insert(index);
            tracing::info!(path = %slot.path.display(), "cut what followed the torrent's data");
        }
        Ok(())
    }

    /// A handle to file `index` allowing `access`, from the cache or freshly opened. The cache
    /// lock is never held while opening.
    fn handle(&self, index: usize, access: Access) -> Result<Arc<File>, StorageError> {
        if let Some(file) = lock(&self.handles).get(index, access) {
            return Ok(file);
        }
        let opened = match self.open(index, access) {
            Err(e) if out_of_descriptors(&e) => {
                // Give back every descriptor we cache, then try once more.
                let closed = lock(&self.handles).close_all();
                drop(closed);
                self.open(index, access)?
            }
            other => other?,
        };
        let (file, unused) = lock(&self.handles).insert(index, access, Arc::new(opened));
        // Closing a file can block; it happens here, after the lock is released.
        drop(unused);
        Ok(file)
    }

    /// Opens file `index`. Reading never creates anything; writing creates the file and its
    /// folders if needed and extends a short file to its torrent length (never shortens one).
    fn open(&self, index: usize, access: Access) -> Result<File, StorageError> {
        let Some(slot) = self.slots.get(index) else {
            return Err(StorageError::OutOfRange {
                offset: self.geometry.file_offset(index),
                len: 0,
                total: self.geometry.total_length(),
            });
        };
        let file = match access {
            Access::Read => self.open_read(slot)?,
            Access::Write => self.open_write(slot)?,
        };
        let meta = file
            .metadata()
            .map_err(|e| StorageError::io(Op::Stat, &slot.path, e))?;
        // Something that is not a regular file (a device already at that path) has no
        // length to set and no inode another torrent file could share by our doing.
        if meta.is_file() {
            self.register(index, &meta)?;
            if access == Access::Write && meta.len() < slot.length {
                file.set_len(slot.length)
                    .map_err(|e| StorageError::io(Op::SetLen, &slot.path, e))?;
            }
        }
        Ok(file)
    }

    /// Opens an existing file read-only; missing (it or a folder) is [`StorageError::Absent`].
    fn open_read(&self, slot: &Slot) -> Result<File, StorageError> {
        let absent = || StorageError::Absent {
            path: slot.path.clone(),
            offset: 0,
        };
        if let Folders::Missing = paths::folders(&self.root, &slot.relative, false)? {
            return Err(absent());
        }
        paths::open(&slot.path, false, false).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => absent(),
            _ => paths::open_error(Op::Open, &slot.path, e),
        })
    }

    /// Opens a file for writing, creating it and its folders if needed, and records the
    /// folders whose entries changed for the next sync.
    fn open_write(&self, slot: &Slot) -> Result<File, StorageError> {
        if let Folders::Ready(changed) = paths::folders(&self.root, &slot.relative, true)? {
            lock(&self.dirty).dirs.extend(changed);
        }
        match paths::open(&slot.path, true, false) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = paths::open(&slot.path, true, true)
                    .map_err(|e| paths::open_error(Op::Create, &slot.path, e))?;
                let dir = slot.path.parent().unwrap_or(&self.root).to_path_buf();
                lock(&self.dirty).dirs.insert(dir);
                Ok(file)
            }
            Err(e) => Err(paths::open_error(Op::Open, &slot.path, e)),
        }
    }

    /// Records that file `index` is the file on disk described by `meta`; refuses it if
    /// another torrent file already is.
    fn register(&self, index: usize, meta: &Metadata) -> Result<(), StorageError> {
        let id = (meta.dev(), meta.ino());
        let known = lock(&self.identities).get(&id).copied();
        if let Some(other) = known.filter(|&other| other != index) {
            // The record may be stale (that file deleted since and its inode number reused):
            // it counts only if the other path still leads to this inode.
            let same = self
                .regular_file(other)
                .is_some_and(|m| (m.dev(), m.ino()) == id);
            if same {
                let path = |i: usize| self.file_path(i).unwrap_or(&self.root).to_path_buf();
                return Err(StorageError::Aliased {
                    first: path(other.min(index)),
                    second: path(other.max(index)),
                    why: Alias::SameFile,
                });
            }
        }
        lock(&self.identities).insert(id, index);
        Ok(())
    }

    /// The files whose handles are cached, in increasing order, for tests of the policy.
    /// An error if a sync of this storage ever failed (see the module docs): what was written
    /// before it must not be vouched for, synced or not.
    pub(super) fn failed_sync(&self) -> Result<(), StorageError> {
        match lock(&self.sync_failed).clone() {
            Some(path) => Err(StorageError::SyncFailedEarlier { path }),
            None => Ok(()),
        }
    }

    /// Marks every file on disk, and the folders on its path, for the next sync: for data an
    /// earlier run wrote without syncing (see `resume`), which this one must not claim durable
    /// before it is.
    pub(super) fn mark_unsynced(&self) {
        let present: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.regular_file(i).is_some())
            .collect();
        let mut dirty = lock(&self.dirty);
        for index in present {
            dirty.files.insert(index);
            let mut folder = self.slots[index].path.parent();
            while let Some(dir) = folder.filter(|d| d.starts_with(&self.root)) {
                dirty.dirs.insert(dir.to_path_buf());
                folder = dir.parent();
            }
        }
    }

    #[cfg(test)]
    pub(super) fn dirty_files(&self) -> Vec<usize> {
        lock(&self.dirty).files.iter().copied().collect()
    }

    #[cfg(test)]
    pub(super) fn cached_files(&self) -> Vec<usize> {
        lock(&self.handles).files()
    }
}

impl FileStorage {
    /// fsyncs everything dirty. On failure, whatever failed stays dirty (so the next sync
    /// tries it again), and the error comes with the path of the lowest-numbered file that
    /// failed (or the folder).
    fn sync_dirty(&self) -> Result<(), (PathBuf, StorageError)> {
        let Dirty { files, dirs } = std::mem::take(&mut *lock(&self.dirty));
        let files: Vec<usize> = files.into_iter().collect();
        let failed = self.sync_files(&files);
        lock(&self.dirty)
            .files
            .extend(failed.iter().map(|(index, _)| *index));
        if let Some((index, e)) = failed.into_iter().min_by_key(|(index, _)| *index) {
            lock(&self.dirty).dirs.extend(dirs);
            let path = self.file_path(index).unwrap_or(&self.root).to_path_buf();
            return Err((path, e));
        }
        for dir in &dirs {
            let result = File::open(dir).and_then(|d| d.sync_all());
            if let Err(e) = result {
                lock(&self.dirty).dirs.extend(dirs.iter().cloned());
                return Err((dir.clone(), StorageError::io(Op::Sync, dir, e)));
            }
        }
        Ok(())
    }

    /// fsyncs `files`, several at once: one after another, each file's write-back started only
    /// when the previous one was done (20 files took 0.8 s at the end of a 1 GiB download where
    /// one file of the same size took 0.3 s). Returns the files that failed, with their errors.
    fn sync_files(&self, files: &[usize]) -> Vec<(usize, StorageError)> {
        let threads = files.len().min(SYNC_THREADS);
        if threads <= 1 {
            // One file (the common case): no thread to start.
            return files
                .iter()
                .filter_map(|&i| self.sync_file(i).err().map(|e| (i, e)))
                .collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some(&index) =
                        files.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                    {
                        if let Err(e) = self.sync_file(index) {
                            lock(&failed).push((index, e));
                        }
                    }
                });
            }
        });
        failed
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// fsyncs file `index` through any cached handle (fsync flushes the file, whichever
    /// descriptor asks), else through a fresh read-only one. Never creates the file: if it
    /// vanished since it was written (or a link took its place), that write is lost and the
    /// sync must say so.
    fn sync_file(&self, index: usize) -> Result<(), StorageError> {
        let Some(slot) = self.slots.get(index) else {
            return Ok(());
        };
        let path = &slot.path;
        let cached = lock(&self.handles).get(index, Access::Read);
        let file = match cached {
            Some(file) => file,
            None => {
                if let Folders::Missing = paths::folders(&self.root, &slot.relative, false)? {
                    let error = io::Error::from(io::ErrorKind::NotFound);
                    return Err(StorageError::io(Op::Sync, path, error));
                }
                let file = paths::open(path, false, false)
                    .map_err(|e| paths::open_error(Op::Sync, path, e))?;
                Arc::new(file)
            }
        };
        file.sync_all()
            .map_err(|e| StorageError::io(Op::Sync, path, e))
    }
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
        if let Err((path, error)) = self.sync_dirty() {
            lock(&self.sync_failed).get_or_insert(path);
            return Err(error);
        }
        // Everything dirty synced, but data written before an earlier failure may have been
        // dropped without a trace (see the module docs): never claim it durable.
        self.failed_sync()
    }

    fn available_lengths(&self) -> Option<Vec<u64>> {
        let lengths = self
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| match slot.pad {
                // Padding reads as zeros whatever is on disk.
                true => slot.length,
                false => self.regular_file(i).map_or(0, |meta| meta.len()),
            })
            .collect();
        Some(lengths)
    }
}

/// Whether `e` says the process (EMFILE) or the system (ENFILE) has no descriptor left.
fn out_of_descriptors(e: &StorageError) -> bool {
    matches!(e, StorageError::Io { error, .. }
        if matches!(error.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)))
}
