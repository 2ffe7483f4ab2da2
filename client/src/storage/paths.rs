//! Reaching files below the download folder without following symbolic links.
//!
//! **Decision: no link below the download folder is ever followed.** The folder the user
//! names (`-o DIR`) is theirs and may itself be a link; everything below it is untrusted. A
//! link planted at `DIR/name`, `DIR/name/sub` or at a file's own path (by an earlier archive
//! extraction, another program, another user sharing the folder) would otherwise send our
//! writes anywhere the user can write (`~/.bashrc`), and make us hash and serve to peers
//! whatever it points at. So every folder below the root is examined with `symlink_metadata`
//! before it is used or created, files are opened with `O_NOFOLLOW`, and a link anywhere is
//! refused with [`StorageError::Symlink`] naming it. Examining files (stamps, lengths) treats
//! a link as a missing file: nothing behind it is ever trusted or counted.
//!
//! What this does not stop: a process that swaps a folder for a link between our check and
//! our open. Only someone writing into the folder while we run can try that; closing the
//! window would need `openat` on every component through raw descriptors.

use super::{Op, StorageError};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What the walk down to a file's folder found.
pub(super) enum Folders {
    /// Every folder exists and is a real folder. Lists the folders that gained an entry
    /// because we created a subfolder in them: their entries must be synced for it to last.
    Ready(Vec<PathBuf>),
    /// A folder does not exist (and we were not asked to create it).
    Missing,
}

/// Walks the folders of `relative` (every component but the last) below `root`, refusing a
/// link or a non-folder, and creating missing folders when `create` is set.
pub(super) fn folders(root: &Path, relative: &Path, create: bool) -> Result<Folders, StorageError> {
    let mut changed = Vec::new();
    let mut dir = root.to_path_buf();
    let Some(parent) = relative.parent() else {
        return Ok(Folders::Ready(changed));
    };
    for component in parent.components() {
        let above = dir.clone();
        dir.push(component);
        match fs::symlink_metadata(&dir) {
            Ok(meta) => is_folder(&dir, &meta)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                match fs::create_dir(&dir) {
                    Ok(()) => changed.push(above),
                    // Another thread (or program) made it meanwhile: examine what is there now.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        let meta = fs::symlink_metadata(&dir)
                            .map_err(|e| StorageError::io(Op::Stat, &dir, e))?;
                        is_folder(&dir, &meta)?;
                    }
                    Err(e) => return Err(StorageError::io(Op::CreateDir, &dir, e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Folders::Missing),
            Err(e) => return Err(StorageError::io(Op::Stat, &dir, e)),
        }
    }
    Ok(Folders::Ready(changed))
}

/// Accepts a real folder; refuses a link (never followed) or anything else.
fn is_folder(dir: &Path, meta: &Metadata) -> Result<(), StorageError> {
    if meta.file_type().is_symlink() {
        return Err(StorageError::Symlink {
            path: dir.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        let error = io::Error::from(io::ErrorKind::NotADirectory);
        return Err(StorageError::io(Op::Open, dir, error));
    }
    Ok(())
}

/// Opens `path` for reading (and writing if `write`), creating it if `create`, never following
/// a link at the path itself. A link there fails with `ELOOP`, which [`open_error`] names.
pub(super) fn open(path: &Path, write: bool, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .create(create)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The error for a failed [`open`]: [`StorageError::Symlink`] when a link is at `path`
/// (`O_NOFOLLOW` reports it as `ELOOP`), else the OS error.
pub(super) fn open_error(op: Op, path: &Path, error: io::Error) -> StorageError {
    let link = error.raw_os_error() == Some(libc::ELOOP)
        && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if link {
        StorageError::Symlink {
            path: path.to_path_buf(),
        }
    } else {
        StorageError::io(op, path, error)
    }
}

/// What is at `root/relative`, examined without following links: `None` when it (or a
/// folder on the way) is missing, [`StorageError::Symlink`] for a link on the way or there.
pub(super) fn existing(root: &Path, relative: &Path) -> Result<Option<Metadata>, StorageError> {
    if let Folders::Missing = folders(root, relative, false)? {
        return Ok(None);
    }
    let path = root.join(relative);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StorageError::Symlink { path }),
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(Op::Stat, &path, e)),
    }
}

/// The metadata of the regular file `root/relative`, or `None` when it is missing, is not a
/// regular file, or is reached through a link (which we never trust).
pub(super) fn regular_file(root: &Path, relative: &Path) -> Option<Metadata> {
    existing(root, relative)
        .ok()
        .flatten()
        .filter(Metadata::is_file)
}
