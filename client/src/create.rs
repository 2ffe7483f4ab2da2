//! Making a v1 .torrent from a file or a directory: layout, piece length and parallel hashing.
//!
//! Files of a directory are taken in byte order of their relative paths, so the same tree always
//! gives the same torrent. Hashing splits the pieces into one contiguous run per core; each thread
//! reads its run with positioned reads into one piece-sized buffer, so memory stays at one piece
//! per thread whatever the size of the content.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha1::{Digest, Sha1};

use crate::bencode::{self, Value};

/// The smallest piece length chosen automatically (one 16 KiB block per piece).
pub const MIN_AUTO_PIECE_LENGTH: u64 = 16 * 1024;
/// The largest piece length chosen automatically; larger pieces make verification failures costly.
pub const MAX_AUTO_PIECE_LENGTH: u64 = 16 * 1024 * 1024;
/// The automatic piece length aims at no more than this many pieces (and, above the minimum
/// length, at more than half of it), which keeps the `pieces` string near 20-40 KB.
pub const TARGET_MAX_PIECES: u64 = 2000;

/// Why a torrent could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} has a name that is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error("{0} contains no files")]
    NoFiles(PathBuf),
    #[error("nothing to hash: the content is 0 bytes long")]
    Empty,
    #[error("piece length {0} must be a power of two of at least 16 KiB")]
    BadPieceLength(u64),
    #[error("{path} changed size while it was being hashed")]
    Changed { path: PathBuf },
}

/// What goes into the torrent besides the content.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Tracker tiers (BEP 12); the first url of the first tier is also `announce`.
    pub trackers: Vec<Vec<String>>,
    /// Piece length in bytes; `None` picks one with [`auto_piece_length`].
    pub piece_length: Option<u64>,
    /// BEP 27 private flag.
    pub private: bool,
    /// BEP 19 web seeds (`url-list`).
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch; the caller decides (the library never reads the clock).
    pub creation_date: Option<i64>,
}

/// One file of the content, as it will appear in the torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it is on disk.
    pub disk_path: PathBuf,
    /// Its path components inside the torrent (empty for a single-file torrent).
    pub components: Vec<String>,
    pub length: u64,
}

/// The content of a torrent-to-be: its name and its files in torrent order.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    /// True when `path` was a directory (the torrent gets a `files` list).
    pub multi_file: bool,
    pub files: Vec<SourceFile>,
}

impl Layout {
    /// Scans `path`: one file, or every regular file below a directory in sorted path order,
    /// empty ones included. Symbolic links are followed.
    pub fn scan(path: &Path) -> Result<Layout, CreateError> {
        let io = |source| CreateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let name = utf8_name(path)?;
        if meta.is_file() {
            return Ok(Layout {
                name,
                multi_file: false,
                files: vec![SourceFile {
                    disk_path: path.to_path_buf(),
                    components: Vec::new(),
                    length: meta.len(),
                }],
            });
        }
        let mut files = Vec::new();
        walk(path, &mut Vec::new(), &mut files)?;
        if files.is_empty() {
            return Err(CreateError::NoFiles(path.to_path_buf()));
        }
        files.sort_by(|a, b| a.components.cmp(&b.components));
        Ok(Layout {
            name,
            multi_file: true,
            files,
        })
    }

    /// Total bytes of content.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }
}

fn utf8_name(path: &Path) -> Result<String, CreateError> {
    let canonical = path.canonicalize().map_err(|source| CreateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    match canonical.file_name() {
        Some(n) => n
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| CreateError::NotUtf8(path.to_path_buf())),
        None => Err(CreateError::NoFiles(path.to_path_buf())),
    }
}

fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<SourceFile>,
) -> Result<(), CreateError> {
    let io = |source| CreateError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry
            .file_name()
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| CreateError::NotUtf8(path.clone()))?;
        let meta = std::fs::metadata(&path).map_err(|source| CreateError::Io {
            path: path.clone(),
            source,
        })?;
        prefix.push(name);
        if meta.is_dir() {
            walk(&path, prefix, out)?;
        } else if meta.is_file() {
            out.push(SourceFile {
                disk_path: path,
                components: prefix.clone(),
                length: meta.len(),
            });
        }
        prefix.pop();
    }
    Ok(())
}

/// A power of two between 16 KiB and 16 MiB giving at most [`TARGET_MAX_PIECES`] pieces.
pub fn auto_piece_length(total: u64) -> u64 {
    let wanted = total.div_ceil(TARGET_MAX_PIECES).max(1);
    wanted
        .checked_next_power_of_two()
        .unwrap_or(MAX_AUTO_PIECE_LENGTH)
        .clamp(MIN_AUTO_PIECE_LENGTH, MAX_AUTO_PIECE_LENGTH)
}

/// Hashes `layout` and returns the encoded .torrent. `progress` is called with the number of
/// bytes just hashed, from several threads at once.
pub fn create(
    layout: &Layout,
    opts: &CreateOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<u8>, CreateError> {
    let total = layout.total_length();
    if total == 0 {
        return Err(CreateError::Empty);
    }
    let piece_length = match opts.piece_length {
        Some(p) if p < MIN_AUTO_PIECE_LENGTH || !p.is_power_of_two() || p > u32::MAX as u64 => {
            return Err(CreateError::BadPieceLength(p))
        }
        Some(p) => p,
        None => auto_piece_length(total),
    };
    let pieces = hash_pieces(layout, piece_length, progress)?;

    let mut info = Value::dict();
    info.insert("name", Value::bytes(&layout.name));
    info.insert("piece length", Value::Int(piece_length as i64));
    info.insert("pieces", Value::Bytes(pieces));
    if opts.private {
        info.insert("private", Value::Int(1));
    }
    if layout.multi_file {
        let files = layout
            .files
            .iter()
            .map(|f| {
                let mut d = Value::dict();
                d.insert("length", Value::Int(f.length as i64));
                d.insert(
                    "path",
                    Value::List(f.components.iter().map(Value::bytes).collect()),
                );
                d
            })
            .collect();
        info.insert("files", Value::List(files));
    } else {
        info.insert("length", Value::Int(total as i64));
    }

    let mut top = Value::dict();
    let tiers: Vec<&Vec<String>> = opts.trackers.iter().filter(|t| !t.is_empty()).collect();
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        top.insert("announce", Value::bytes(first));
    }
    if tiers.len() > 1 || tiers.first().is_some_and(|t| t.len() > 1) {
        let list = tiers
            .iter()
            .map(|t| Value::List(t.iter().map(Value::bytes).collect()))
            .collect();
        top.insert("announce-list", Value::List(list));
    }
    if let Some(c) = &opts.comment {
        top.insert("comment", Value::bytes(c));
    }
    if let Some(c) = &opts.created_by {
        top.insert("created by", Value::bytes(c));
    }
    if let Some(d) = opts.creation_date {
        top.insert("creation date", Value::Int(d));
    }
    match opts.web_seeds.as_slice() {
        [] => {}
        [one] => top.insert("url-list", Value::bytes(one)),
        many => top.insert(
            "url-list",
            Value::List(many.iter().map(Value::bytes).collect()),
        ),
    }
    top.insert("info", info);
    Ok(bencode::encode(&top))
}

/// The concatenated SHA-1 digests of every piece, computed on all cores.
fn hash_pieces(
    layout: &Layout,
    piece_length: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<u8>, CreateError> {
    let total = layout.total_length();
    let piece_count = total.div_ceil(piece_length);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
        .min(piece_count)
        .max(1);
    let per_thread = piece_count.div_ceil(threads);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<Vec<u8>, CreateError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = t * per_thread;
                let end = ((t + 1) * per_thread).min(piece_count);
                let failed = &failed;
                s.spawn(move || {
                    let r = hash_run(layout, piece_length, start..end, progress, failed);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut pieces = Vec::with_capacity(piece_count as usize * 20);
    for r in results {
        pieces.extend_from_slice(&r?);
    }
    Ok(pieces)
}

/// Hashes pieces `run` and returns their digests. Stops early when another thread failed.
fn hash_run(
    layout: &Layout,
    piece_length: u64,
    run: std::ops::Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
    failed: &AtomicBool,
) -> Result<Vec<u8>, CreateError> {
    let total = layout.total_length();
    let mut reader = Reader::new(layout);
    let mut storage = Vec::new();
    let buf = crate::aligned::window(&mut storage, piece_length as usize);
    let mut out = Vec::with_capacity((run.end - run.start) as usize * 20);
    for piece in run {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        let offset = piece * piece_length;
        let len = piece_length.min(total - offset) as usize;
        reader.read_exact_at(offset, &mut buf[..len])?;
        out.extend_from_slice(&Sha1::digest(&buf[..len]));
        progress(len as u64);
    }
    Ok(out)
}

/// Reads the concatenated content at any offset, keeping the current file open.
struct Reader<'a> {
    layout: &'a Layout,
    /// Starting offset of each file in the concatenation.
    starts: Vec<u64>,
    open: Option<(usize, File)>,
}

impl<'a> Reader<'a> {
    fn new(layout: &'a Layout) -> Self {
        let mut starts = Vec::with_capacity(layout.files.len());
        let mut at = 0;
        for f in &layout.files {
            starts.push(at);
            at += f.length;
        }
        Reader {
            layout,
            starts,
            open: None,
        }
    }

    fn read_exact_at(&mut self, mut offset: u64, mut buf: &mut [u8]) -> Result<(), CreateError> {
        // The last file that starts at or before `offset`; zero-length files are skipped below.
        let mut index = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        while !buf.is_empty() {
            let file = &self.layout.files[index];
            let within = offset - self.starts[index];
            if within >= file.length {
                index += 1;
                continue;
            }
            let n = (file.length - within).min(buf.len() as u64) as usize;
            let handle = self.handle(index)?;
            let changed = || CreateError::Changed {
                path: file.disk_path.clone(),
            };
            handle
                .read_exact_at(&mut buf[..n], within)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => changed(),
                    _ => CreateError::Io {
                        path: file.disk_path.clone(),
                        source: e,
                    },
                })?;
            buf = &mut buf[n..];
            offset += n as u64;
            index += 1;
        }
        Ok(())
    }

    fn handle(&mut self, index: usize) -> Result<&File, CreateError> {
        let slot = match self.open.take() {
            Some((i, f)) if i == index => (i, f),
            _ => {
                let path = &self.layout.files[index].disk_path;
                let f = File::open(path).map_err(|source| CreateError::Io {
                    path: path.clone(),
                    source,
                })?;
                (index, f)
            }
        };
        Ok(&self.open.insert(slot).1)
    }
}

#[cfg(test)]
mod tests;
