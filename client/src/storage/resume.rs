//! The resume file: which pieces were verified and durable when we last stopped, plus a stamp
//! of every file, so a restart trusts untouched data instead of re-hashing the whole torrent.
//!
//! **Where:** `<download folder>/.bitswarm/<info-hash hex>.resume` ([`resume_path`]). Beside
//! the data, so moving or deleting the folder moves or deletes the resume state with it, and
//! keyed by info-hash, so several torrents downloaded into one folder do not collide.
//! A torrent whose top-level name is `.bitswarm` (in any case or normal form) would share the
//! folder with us, so [`FileStorage::new`] refuses it (see `names.rs`); and like everything
//! below the download folder, a link in place of `.bitswarm` is never followed: saving fails,
//! and restoring ignores what is behind it.
//!
//! **Format:** a bencoded dictionary `{version: 2, info hash: 20 bytes, have: bitfield bytes,
//! files: [stamp...], unsynced in: boot id (optional)}`, where a stamp is `"missing"`,
//! `"pad"` or `[length, mtime seconds, mtime nanoseconds]`. Bencode because we already have a
//! strict decoder for it. Version 1 files (no `unsynced in`) are still read; a version 1
//! reader refuses version 2 files and checks everything, which is safe.
//!
//! **The protocol** (so that neither `kill -9` nor a power cut can make a restart trust bytes
//! that are not on disk), which [`save_verified`] carries out in one call:
//! 1. The caller puts in `have` only pieces that were verified *and* whose blocks were all
//!    written before step 2 started.
//! 2. [`Storage::sync`] the data files.
//! 3. Take [`stamps`] *after* the sync (so they describe the durable files), then [`save`].
//!
//! **Decision: the last save before exit does not wait for the data to reach the disk.**
//! Syncing a finished 1 GiB download takes 0.3-0.5 s, all of it spent waiting at exit, which
//! other clients do not do. [`save_written`] skips the sync and records the boot of the
//! machine instead ([`BootId`]): until the machine restarts, the page cache serves exactly
//! the bytes we wrote whether or not they reached the disk yet, so a restart in the same boot
//! trusts the file as usual (and marks the files for the next sync, so no later save claims
//! them durable before they are); a restart in another boot (after a crash or power cut)
//! trusts none of it and checks every piece. Saves during a run ([`save_verified`]) still
//! sync, so a crash of the machine costs at most what was written since the last one. The
//! price: a write-back that fails after we exit (a disk error) goes unnoticed until the next
//! run's first sync, which then fails and deletes the resume file (see below); until then
//! that run trusts the pieces, and a peer would catch a damaged one by its hash.
//!
//! **Decision: a failed sync deletes the resume file.** When step 2 fails, nothing is saved,
//! and the resume file already there is removed too. An older file claims only pieces that
//! were durable at its own save, and we never rewrite a verified piece, so in theory it could
//! stay. But a disk that failed an `fsync` may have dropped data we no longer know of, and
//! Linux may clear the error after reporting it once, so we prefer to vouch for nothing: the
//! next start re-hashes everything, which costs time, never correctness. `FileStorage` keeps
//! failing every later sync, so no later save in the same run can claim those pieces either.
//!
//! [`save`] is atomic (temporary file, fsync, rename, fsync of the folder): a crash leaves
//! either the old resume file or the new one, never a torn one. On start, [`restore`] trusts a
//! piece only if it is in `have` and every file it spans carries exactly the recorded stamp; a
//! file touched after the save (a write we did after it, or someone else's edit, truncation,
//! replacement) forces a re-check of the pieces it holds, and everything else is trusted.
//! Stamps use the file modification time, whose precision is the kernel's timestamp
//! granularity (a few milliseconds on many systems): an edit by another program within that
//! window of our save could go unnoticed. Our own later writes cannot hurt trusted pieces:
//! we never rewrite a verified piece, and pieces do not overlap.

use super::boot::BootId;
use super::{hash, paths, FileStorage, Op, Storage, StorageError};
use crate::bencode::{self, Node, Value};
use crate::bitfield::Bitfield;
use crate::geometry::Geometry;
use crate::InfoHash;
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The folder, inside the download folder, that holds resume files.
pub const RESUME_DIR: &str = ".bitswarm";

/// The format version written; others are refused (and trigger a full check) except
/// [`VERSION_SYNCED_ONLY`].
const VERSION: i64 = 2;

/// The first format, which had no `unsynced in`: everything it vouches for was synced.
const VERSION_SYNCED_ONLY: i64 = 1;

/// Resume files larger than this are refused unread: real ones hold a bitfield and ~30 bytes
/// per file, so even a torrent of 100 000 files stays far below it.
const MAX_RESUME_LEN: u64 = 64 * 1024 * 1024;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// What we knew about a torrent's data when we last stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The torrent this is for: a resume file never applies to other content.
    pub info_hash: InfoHash,
    /// Pieces verified and written before the data was last synced.
    pub have: Bitfield,
    /// The stamp of every file (in torrent order) taken right after that sync.
    pub files: Vec<FileStamp>,
    /// `None` if the data was synced before the stamps were taken; the boot in which it was
    /// written, if it was not (see [`save_written`]): then it holds only within that boot.
    pub unsynced_in: Option<BootId>,
}

/// What a file looked like on disk: enough to notice that it changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStamp {
    /// Not on disk (or not examinable). Nothing in a missing file is ever trusted.
    Missing,
    /// A BEP 47 padding file: never on disk, zeros by definition, always the same.
    Pad,
    /// A regular file.
    Present {
        /// Its size on disk: truncation or extension changes it.
        length_on_disk: u64,
        /// Its modification time in nanoseconds since the Unix epoch: any write changes it.
        mtime_ns: i128,
    },
}

impl FileStamp {
    /// The stamp of the file at `path` now. A symbolic link there is `Missing`: what it
    /// points at is never ours to trust.
    pub fn of(path: &Path) -> FileStamp {
        FileStamp::from_metadata(fs::symlink_metadata(path).ok())
    }

    /// The stamp of what `meta` describes: `Present` only for a regular file.
    fn from_metadata(meta: Option<Metadata>) -> FileStamp {
        match meta {
            Some(meta) if meta.is_file() => FileStamp::Present {
                length_on_disk: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * NANOS_PER_SEC + i128::from(meta.mtime_nsec()),
            },
            _ => FileStamp::Missing,
        }
    }
}

/// The current stamp of every file of `storage`, in torrent order. A file reached through a
/// symbolic link anywhere below the download folder stamps as `Missing`.
pub fn stamps(storage: &FileStorage) -> Vec<FileStamp> {
    (0..storage.file_count())
        .map(|i| match storage.is_pad(i) {
            true => FileStamp::Pad,
            false => FileStamp::from_metadata(storage.regular_file(i)),
        })
        .collect()
}

/// Records durably which pieces of `files` are verified, following the whole protocol of the
/// module docs: cut verified files that are longer than the torrent says (see `file.rs`),
/// sync the data, take the stamps after the sync, write `<root>/.bitswarm/<hash>.resume`
/// atomically. `have` must hold only pieces verified from data written before this call.
///
/// On a failed sync (this one or any earlier one of `files`), returns that error and leaves no
/// resume file for `info_hash` at all (see the module docs); any other error leaves the
/// previous resume file, which claims only data that was durable when it was saved. Either
/// way, an error means the pieces in `have` are not known to be durable.
pub fn save_verified(
    files: &FileStorage,
    info_hash: &InfoHash,
    have: &Bitfield,
) -> Result<(), StorageError> {
    save_in(files, info_hash, have, None)
}

/// Like [`save_verified`] but without waiting for the data to reach the disk: for the last
/// save before exit (see the module docs). The resume file then holds only within this boot
/// of the machine; where the system names no boot, this syncs like [`save_verified`]. Fails
/// without saving (and removes the resume file) if any earlier sync of `files` failed.
pub fn save_written(
    files: &FileStorage,
    info_hash: &InfoHash,
    have: &Bitfield,
) -> Result<(), StorageError> {
    save_in(files, info_hash, have, BootId::current())
}

/// [`save_verified`] if `boot` is `None`, else a save that vouches for `have` within `boot`
/// without syncing.
pub(super) fn save_in(
    files: &FileStorage,
    info_hash: &InfoHash,
    have: &Bitfield,
    boot: Option<BootId>,
) -> Result<(), StorageError> {
    let path = resume_path(files.root(), info_hash);
    files.trim_verified(have)?;
    let synced = match boot {
        None => files.sync(),
        Some(_) => files.failed_sync(),
    };
    if let Err(error) = synced {
        discard(files.root(), &path);
        return Err(error);
    }
    let resume = Resume {
        info_hash: *info_hash,
        have: have.clone(),
        files: stamps(files),
        unsynced_in: boot,
    };
    // The resume folder is below the download folder, so a link there is refused like any.
    resume_folder(files.root(), true)?;
    save(&path, &resume)
}

/// Removes the resume file at `path` after a failed sync, and makes the removal durable. A
/// failure to do so is logged: the caller is already returning the sync error, and the file
/// left behind claims only pieces that were durable when it was saved.
fn discard(root: &Path, path: &Path) {
    // Through a link the file would not be ours: there is nothing of ours to remove.
    if !matches!(resume_folder(root, false), Ok(paths::Folders::Ready(_))) {
        return;
    }
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(error) => {
            let path = path.display();
            tracing::warn!(%path, %error, "cannot remove the resume file after a failed sync");
            return;
        }
    }
    let dir = root.join(RESUME_DIR);
    if let Err(error) = File::open(&dir).and_then(|d| d.sync_all()) {
        let dir = dir.display();
        tracing::warn!(%dir, %error, "cannot sync the resume folder after removing its file");
    }
}

/// Where the resume file of `info_hash` lives for a download folder `root`.
pub fn resume_path(root: &Path, info_hash: &InfoHash) -> PathBuf {
    root.join(RESUME_DIR)
        .join(format!("{}.resume", info_hash.to_hex()))
}

/// Examines (and with `create`, makes) `root`'s resume folder without following a link. The
/// walk checks the folders of a file's path, so it is given a file inside the folder.
fn resume_folder(root: &Path, create: bool) -> Result<paths::Folders, StorageError> {
    paths::folders(root, &Path::new(RESUME_DIR).join("x.resume"), create)
}

/// Writes `resume` to `path` atomically and durably (see the module docs), creating its folder.
pub fn save(path: &Path, resume: &Resume) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| StorageError::io(Op::CreateDir, &dir, e))?;
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    // Never through a link planted at the temporary name: it could point anywhere.
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| paths::open_error(Op::Create, &tmp, e))?;
    file.write_all(&encode(resume))
        .map_err(|e| StorageError::io(Op::Write, &tmp, e))?;
    file.sync_all()
        .map_err(|e| StorageError::io(Op::Sync, &tmp, e))?;
    drop(file);
    fs::rename(&tmp, path).map_err(|e| StorageError::io(Op::Rename, &tmp, e))?;
    // The rename is only durable once the folder's entry is.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(Op::Sync, &dir, e))
}

/// Reads the resume file at `path`: `None` if there is none; an error if it is corrupt, of
/// another version, or for another torrent or piece count. Either way the caller then falls
/// back to a full check (after logging the error).
pub fn load(
    path: &Path,
    info_hash: &InfoHash,
    piece_count: u32,
) -> Result<Option<Resume>, StorageError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(paths::open_error(Op::Open, path, e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_RESUME_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| StorageError::io(Op::Read, path, e))?;
    let bad = |reason: String| StorageError::BadResume {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() as u64 > MAX_RESUME_LEN {
        return Err(bad(format!("larger than {MAX_RESUME_LEN} bytes")));
    }
    decode(&bytes, info_hash, piece_count)
        .map(Some)
        .map_err(bad)
}

/// The pieces that can be trusted without reading them: those in `resume.have` all of whose
/// files (padding aside) are present with exactly the stamp recorded. Nothing is trusted if
/// the resume does not match the layout (piece or file count).
pub fn trusted_pieces(resume: &Resume, current: &[FileStamp], geometry: &Geometry) -> Bitfield {
    let unchanged = unchanged_files(resume, current, geometry);
    let mut trusted = Bitfield::new(geometry.piece_count());
    let Some(unchanged) = unchanged else {
        return trusted;
    };
    for piece in resume.have.iter_ones() {
        let ok = geometry
            .piece_spans(piece)
            .all(|s| unchanged.get(s.file).copied().unwrap_or(false));
        if ok {
            trusted.set(piece, true);
        }
    }
    trusted
}

/// The pieces worth verifying on start: those with a byte in a file whose stamp changed
/// (they may have been completed after the save, or damaged since). Pieces only in unchanged
/// files are as the resume says: trusted if in `have`, else still incomplete. Every piece if
/// the resume does not match the layout.
pub fn changed_pieces(resume: &Resume, current: &[FileStamp], geometry: &Geometry) -> Bitfield {
    let count = geometry.piece_count();
    let Some(unchanged) = unchanged_files(resume, current, geometry) else {
        return Bitfield::full(count);
    };
    let mut changed = Bitfield::new(count);
    for (file, same) in unchanged.iter().enumerate() {
        if !same {
            for piece in geometry.file_pieces(file) {
                changed.set(piece, true);
            }
        }
    }
    changed
}

/// Per file, whether it is unchanged and usable (`Missing` never is); `None` if the resume
/// does not fit the layout.
fn unchanged_files(
    resume: &Resume,
    current: &[FileStamp],
    geometry: &Geometry,
) -> Option<Vec<bool>> {
    let fits = resume.have.len() == geometry.piece_count()
        && resume.files.len() == current.len()
        && current.len() == geometry.file_count();
    fits.then(|| {
        resume
            .files
            .iter()
            .zip(current)
            .map(|(then, now)| then == now && *now != FileStamp::Missing)
            .collect()
    })
}

/// The start-up sequence of a torrent: load the resume file, trust what it vouches for, verify
/// the pieces of changed files, and fall back to checking everything when there is no usable
/// resume file (a bad one is logged, and so is one saved unsynced in an earlier boot). Returns
/// the pieces we have.
pub fn restore(
    storage: &FileStorage,
    info_hash: &InfoHash,
    hashes: &[[u8; 20]],
    threads: usize,
    progress: &(dyn Fn(u32) + Sync),
) -> Bitfield {
    let boot = BootId::current();
    restore_in(storage, info_hash, hashes, threads, progress, boot.as_ref())
}

/// [`restore`] as run in boot `boot` (`None`: unknown, so no unsynced save holds).
pub(super) fn restore_in(
    storage: &FileStorage,
    info_hash: &InfoHash,
    hashes: &[[u8; 20]],
    threads: usize,
    progress: &(dyn Fn(u32) + Sync),
    boot: Option<&BootId>,
) -> Bitfield {
    let geometry = storage.geometry();
    let path = resume_path(storage.root(), info_hash);
    // A link in place of the resume folder could lead to a resume file that is not ours.
    let folder = resume_folder(storage.root(), false);
    let loaded = folder.and_then(|_| load(&path, info_hash, geometry.piece_count()));
    let resume = match loaded {
        Ok(resume) => resume,
        Err(error) => {
            tracing::warn!(%error, "ignoring resume file, checking all pieces");
            None
        }
    };
    let resume = resume.filter(|r| match &r.unsynced_in {
        Some(then) if Some(then) != boot => {
            tracing::warn!("the machine restarted since the resume file was saved without a sync of the data: checking all pieces");
            false
        }
        _ => true,
    });
    let Some(resume) = resume else {
        return hash::check_pieces(storage, geometry, hashes, threads, progress);
    };
    if resume.unsynced_in.is_some() {
        // Trusted, but perhaps only in the page cache: the next sync must flush it.
        storage.mark_unsynced();
    }
    let current = stamps(storage);
    let mut have = trusted_pieces(&resume, &current, geometry);
    let suspect = changed_pieces(&resume, &current, geometry);
    let verified = hash::verify_pieces(storage, geometry, hashes, &suspect, threads, progress);
    for piece in verified.iter_ones() {
        have.set(piece, true);
    }
    have
}

/// Splits nanoseconds since the epoch into whole seconds and the remainder, for bencode's
/// 64-bit integers.
fn split_ns(ns: i128) -> (i64, i64) {
    let secs = i64::try_from(ns.div_euclid(NANOS_PER_SEC)).unwrap_or(i64::MAX);
    let nanos = i64::try_from(ns.rem_euclid(NANOS_PER_SEC)).unwrap_or(0);
    (secs, nanos)
}

fn encode(resume: &Resume) -> Vec<u8> {
    let files = resume
        .files
        .iter()
        .map(|stamp| match *stamp {
            FileStamp::Missing => Value::bytes("missing"),
            FileStamp::Pad => Value::bytes("pad"),
            FileStamp::Present {
                length_on_disk,
                mtime_ns,
            } => {
                let (secs, nanos) = split_ns(mtime_ns);
                // A length beyond i64 cannot exist on disk; saturating just makes it unequal.
                let len = i64::try_from(length_on_disk).unwrap_or(i64::MAX);
                Value::List(vec![Value::Int(len), Value::Int(secs), Value::Int(nanos)])
            }
        })
        .collect();
    let mut dict = Value::dict();
    dict.insert("version", Value::Int(VERSION));
    dict.insert("info hash", Value::bytes(resume.info_hash.0));
    dict.insert("have", Value::bytes(resume.have.as_bytes()));
    dict.insert("files", Value::List(files));
    if let Some(boot) = &resume.unsynced_in {
        dict.insert("unsynced in", Value::bytes(boot.as_bytes()));
    }
    bencode::encode(&dict)
}

/// Parses a resume file, checking it belongs to `info_hash` with `piece_count` pieces; the
/// error is a reason naming the field.
fn decode(bytes: &[u8], info_hash: &InfoHash, piece_count: u32) -> Result<Resume, String> {
    let root = bencode::decode(bytes).map_err(|e| e.to_string())?;
    let field = |key: &str| root.get(key).ok_or_else(|| format!("missing field {key}"));
    let version = field("version")?.as_int();
    if version != Some(VERSION) && version != Some(VERSION_SYNCED_ONLY) {
        return Err(format!("unsupported version {version:?}"));
    }
    let hash = field("info hash")?.as_bytes().unwrap_or_default();
    if hash != info_hash.0 {
        return Err(format!(
            "info hash {} does not match {info_hash}",
            hex::encode(hash)
        ));
    }
    let have_bytes = field("have")?
        .as_bytes()
        .ok_or("field have is not a string")?;
    let have = Bitfield::from_bytes(have_bytes, piece_count).map_err(|e| format!("have: {e}"))?;
    let files = field("files")?
        .as_list()
        .ok_or("field files is not a list")?
        .iter()
        .enumerate()
        .map(|(i, node)| stamp(node).ok_or_else(|| format!("files[{i}] is not a file stamp")))
        .collect::<Result<Vec<_>, _>>()?;
    let unsynced_in = match root.get("unsynced in") {
        None => None,
        Some(_) if version == Some(VERSION_SYNCED_ONLY) => {
            return Err("field unsynced in in a version 1 file".into())
        }
        Some(node) => Some(
            node.as_bytes()
                .and_then(BootId::from_bytes)
                .ok_or("field unsynced in is not a boot id")?,
        ),
    };
    Ok(Resume {
        info_hash: *info_hash,
        have,
        files,
        unsynced_in,
    })
}

/// One file stamp, as [`encode`] writes it.
fn stamp(node: &Node<'_>) -> Option<FileStamp> {
    match node.as_bytes() {
        Some(b"missing") => return Some(FileStamp::Missing),
        Some(b"pad") => return Some(FileStamp::Pad),
        Some(_) => return None,
        None => {}
    }
    let [len, secs, nanos] = node.as_list()? else {
        return None;
    };
    let length_on_disk = u64::try_from(len.as_int()?).ok()?;
    let nanos = nanos.as_int().filter(|n| (0..1_000_000_000).contains(n))?;
    let mtime_ns = i128::from(secs.as_int()?) * NANOS_PER_SEC + i128::from(nanos);
    Some(FileStamp::Present {
        length_on_disk,
        mtime_ns,
    })
}
