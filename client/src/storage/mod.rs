//! The disk side of a torrent: positioned reads and writes of its concatenated content,
//! piece hashing, the start-up check of existing data, and the resume file.
//!
//! Everything here is synchronous (`std::fs`); the async shell calls it from a blocking pool
//! (`tokio::task::spawn_blocking`), and the simulator may call it inline. That is why the
//! [`Storage`] trait requires `Send + Sync + 'static` and takes `&self`: one storage value is
//! shared by every peer task and hashing thread of a torrent, each doing its own positioned IO.
//!
//! Offsets are always offsets into the torrent's *content* (all files concatenated in order,
//! as pieces cut them); mapping them to files is [`Geometry::spans`]'s job, so no caller ever
//! computes a file offset.
//!
//! **Architecture Invariant:** a read either fills the whole buffer with bytes that were
//! written (or are padding zeros) or fails; missing data is [`StorageError::Absent`], never
//! zeros, so hashing can tell "not downloaded yet" from "downloaded and wrong".
//!
//! **Architecture Invariant:** nothing below the download folder is reached through a
//! symbolic link (`paths.rs`), no two torrent files are one file on disk (`names.rs`, and
//! inode checks in `file.rs`), and hashing holds at most [`HASH_CHUNK`] bytes per thread
//! whatever the piece length.
//!
//! [`Geometry::spans`]: crate::geometry::Geometry::spans

mod boot;
mod file;
mod handles;
mod hash;
mod memory;
mod names;
mod paths;
pub mod resume;

pub use boot::BootId;
pub use file::{FileStorage, DEFAULT_MAX_OPEN};
pub use hash::{
    block_hashes, check_pieces, hash_blocks, hash_piece, hash_piece_streaming, verify_pieces,
    PieceHash, HASH_CHUNK,
};
pub use memory::{MemoryStorage, MEMORY_PATH};
pub use resume::{FileStamp, Resume};

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a torrent's bytes live: real files ([`FileStorage`]) or memory ([`MemoryStorage`]).
pub trait Storage: Send + Sync + 'static {
    /// Writes `data` at byte `offset` of the torrent's concatenated content (may cross files).
    /// Bytes falling in BEP 47 padding files are dropped: padding is zeros by definition.
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError>;

    /// Fills `buf` from byte `offset` (may cross files). Data that was never written (a
    /// missing or short file) is [`StorageError::Absent`], so hashing can treat it as "piece
    /// absent" rather than as a failed piece.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;

    /// Makes every write since the last sync durable (fsync). The resume file may only record
    /// pieces written before a successful sync; see [`resume`]. Once a sync has failed, a
    /// storage that cannot know what the failure lost keeps failing ([`FileStorage`] does:
    /// [`StorageError::SyncFailedEarlier`]).
    fn sync(&self) -> Result<(), StorageError>;

    /// How many leading bytes of each file could be read, when that is cheap to know (one
    /// `stat` per file), or `None` when it is not. [`check_pieces`] uses it to skip, without
    /// reading, every piece that cannot be complete, so checking a fresh download costs nothing.
    fn available_lengths(&self) -> Option<Vec<u64>> {
        None
    }
}

/// The filesystem call that failed, named in [`StorageError::Io`] messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Create,
    CreateDir,
    Read,
    Write,
    SetLen,
    Stat,
    Sync,
    Rename,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Open => "open",
            Op::Create => "create",
            Op::CreateDir => "create folder",
            Op::Read => "read",
            Op::Write => "write",
            Op::SetLen => "set length of",
            Op::Stat => "stat",
            Op::Sync => "sync",
            Op::Rename => "rename",
        })
    }
}

/// Why a storage operation failed. Every message is one line naming the file and operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A filesystem call failed. The OS error is part of the message (and not also exposed as
    /// `source()`, which would print it twice in `{:#}` chains); [`StorageError::kind`] gives
    /// its [`io::ErrorKind`].
    #[error("{op} {}{}: {error}", path.display(), At(*offset))]
    Io {
        /// What we were doing.
        op: Op,
        /// The file or folder it was done to.
        path: PathBuf,
        /// The byte offset within that file, for reads and writes.
        offset: Option<u64>,
        /// The OS error.
        error: io::Error,
    },
    /// The bytes asked for were never written: the file is missing or shorter than the read.
    /// Not a failure of the disk; hashing turns it into "piece absent".
    #[error("read {} at {offset}: data absent", path.display())]
    Absent {
        /// The file that is missing or short ([`MEMORY_PATH`] for memory storage).
        path: PathBuf,
        /// Where the read started within that file.
        offset: u64,
    },
    /// A file's path would not stay below the download folder. Metainfo already refuses such
    /// torrents; this is the second line of defence.
    #[error("unsafe path {} for file {file}: it must stay below the download folder", path.display())]
    UnsafePath {
        /// The index of the file in the torrent.
        file: usize,
        /// The relative path that was refused.
        path: PathBuf,
    },
    /// A read or write ran past the end of the content: a caller bug, never silently clipped.
    #[error("range at {offset} of {len} bytes runs past the end of the content ({total} bytes)")]
    OutOfRange {
        /// Start of the range in the content.
        offset: u64,
        /// Its length.
        len: u64,
        /// The content's total length.
        total: u64,
    },
    /// A piece index past the last piece.
    #[error("piece {piece} does not exist ({count} pieces)")]
    NoSuchPiece {
        /// The index asked for.
        piece: u32,
        /// The torrent's piece count.
        count: u32,
    },
    /// A resume file that cannot be used: corrupt, or for another torrent. The caller logs it
    /// and falls back to a full check.
    #[error("resume file {}: {reason}", path.display())]
    BadResume {
        /// The resume file.
        path: PathBuf,
        /// What is wrong with it (field name and value).
        reason: String,
    },
    /// A symbolic link below the download folder, where a file or folder of the torrent (or
    /// the resume folder) should be. Never followed: it could lead anywhere.
    #[error("{} is a symbolic link: links below the download folder are never followed", path.display())]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Two files of the torrent would be one file on disk, so writing one would overwrite
    /// the other's (possibly verified) pieces.
    #[error("torrent files {} and {} would clash on disk: {why}", first.display(), second.display())]
    Aliased {
        /// One file's path (relative to the download folder for name clashes).
        first: PathBuf,
        /// The other's.
        second: PathBuf,
        /// How they clash.
        why: Alias,
    },
    /// The torrent's top-level name is the folder that holds our resume files.
    #[error(
        "torrent name {name} is reserved: the download folder's {} folder holds resume files",
        resume::RESUME_DIR
    )]
    ReservedName {
        /// The name, as the torrent spells it.
        name: String,
    },
    /// A sync failed earlier. The kernel may have dropped the data that failed to reach the
    /// disk and cleared the error, so no later sync can vouch for data written before it:
    /// only re-hashing on the next start can.
    #[error("sync {} failed earlier: data written before it may be lost", path.display())]
    SyncFailedEarlier {
        /// The file or folder whose sync failed first.
        path: PathBuf,
    },
}

/// How two files of a torrent clash on disk ([`StorageError::Aliased`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alias {
    /// Their paths differ only in letter case or Unicode normal form.
    Name,
    /// The first file's path is, but for case or normal form, a folder of the second's.
    Folder,
    /// Both paths lead to one file on disk (same device and inode: a hard link, or a
    /// filesystem folding names in a way [`Alias::Name`] does not foresee).
    SameFile,
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Alias::Name => "their paths differ only in letter case or Unicode normal form",
            Alias::Folder => {
                "the first is a folder of the second but for letter case or Unicode normal form"
            }
            Alias::SameFile => "both paths lead to the same file (same device and inode)",
        })
    }
}

impl StorageError {
    /// The [`io::ErrorKind`] behind this error, so callers can tell a full disk
    /// (`StorageFull`) or a permission problem from the rest.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            StorageError::Io { error, .. } => error.kind(),
            StorageError::Absent { .. } => io::ErrorKind::NotFound,
            StorageError::UnsafePath { .. }
            | StorageError::OutOfRange { .. }
            | StorageError::NoSuchPiece { .. }
            | StorageError::Symlink { .. }
            | StorageError::Aliased { .. }
            | StorageError::ReservedName { .. } => io::ErrorKind::InvalidInput,
            StorageError::BadResume { .. } => io::ErrorKind::InvalidData,
            StorageError::SyncFailedEarlier { .. } => io::ErrorKind::Other,
        }
    }

    /// Whether this is [`StorageError::Absent`]: data not there yet, as opposed to a failure.
    pub fn is_absent(&self) -> bool {
        matches!(self, StorageError::Absent { .. })
    }

    /// An [`StorageError::Io`] without an offset.
    pub(crate) fn io(op: Op, path: impl Into<PathBuf>, error: io::Error) -> StorageError {
        StorageError::Io {
            op,
            path: path.into(),
            offset: None,
            error,
        }
    }
}

/// Formats an optional offset as ` at N`, for [`StorageError::Io`] messages.
struct At(Option<u64>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(offset) => write!(f, " at {offset}"),
            None => Ok(()),
        }
    }
}

/// Checks that `offset..offset + len` lies within content of `total` bytes and returns `len`
/// as a `u64`.
fn check_range(offset: u64, len: usize, total: u64) -> Result<u64, StorageError> {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    match offset.checked_add(len) {
        Some(end) if end <= total => Ok(len),
        _ => Err(StorageError::OutOfRange { offset, len, total }),
    }
}

#[cfg(test)]
mod tests;
