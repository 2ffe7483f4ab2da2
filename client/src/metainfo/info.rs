//! The `info` dictionary: what identifies a torrent's content (names, sizes, piece hashes),
//! parsed strictly because every byte of it decides what we write to disk.

use super::fields::{bytes, dict, int, non_negative, required, unknown};
use super::{files, Error, MAX_PIECE_LENGTH};
use crate::bencode::{Node, Value};
use crate::geometry::Geometry;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Keys of the info dictionary that [`Info`] models; the rest go to [`Info::extra`].
const KNOWN: &[&str] = &[
    "name",
    "name.utf-8",
    "piece length",
    "pieces",
    "private",
    "length",
    "files",
];

/// The validated `info` dictionary of a v1 torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Suggested file name (single-file) or folder name (multi-file); `name.utf-8` preferred.
    /// Checked like a path component, so joining it to the download folder stays inside it.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter); 1..=[`MAX_PIECE_LENGTH`].
    pub piece_length: u64,
    /// SHA-1 of each piece, in order; exactly as many as the content needs.
    pub pieces: Vec<[u8; 20]>,
    /// BEP 27: `private` == 1 means peers come only from the torrent's trackers (no DHT,
    /// PEX or local discovery).
    pub private: bool,
    /// The files in content order. A single-file torrent has exactly one, whose path is
    /// `[name]`; so code that walks files never needs to special-case it.
    pub files: Vec<FileEntry>,
    /// Whether the torrent listed `files`: then the content lives in a folder called `name`.
    pub multi_file: bool,
    /// Info keys we do not model (`md5sum`, `source`, ...), kept so they are not lost; they
    /// are covered by the info-hash.
    pub extra: BTreeMap<Vec<u8>, Value>,
}

/// One file of the torrent's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Components relative to the torrent root (for multi-file, inside the folder `name`);
    /// `path.utf-8` preferred. Every component is a plain name (see `files.rs`).
    pub path: Vec<String>,
    /// Size in bytes; may be 0.
    pub length: u64,
    /// Where the file starts in the concatenation of all files, which is what pieces cut.
    pub offset: u64,
    /// BEP 47 padding file (`attr` contains `p`): its bytes are zeros, it only aligns the next
    /// file to a piece boundary, and storage must not create it on disk.
    pub pad: bool,
}

impl Info {
    /// Sum of all file lengths.
    pub fn total_length(&self) -> u64 {
        self.files
            .last()
            .map_or(0, |f| f.offset.saturating_add(f.length))
    }

    /// The piece and file-span arithmetic for this torrent. Cannot fail for an `Info` from
    /// [`super::Metainfo::from_bytes`], which ran the same checks; an `Info` whose fields were
    /// edited into an impossible layout gets an empty geometry (no files, no pieces).
    pub fn geometry(&self) -> Geometry {
        let lengths: Vec<u64> = self.files.iter().map(|f| f.length).collect();
        Geometry::new(self.piece_length, &lengths).unwrap_or_else(|_| Geometry::empty())
    }

    /// Where file `index` goes, relative to the download folder: `name` for a single-file
    /// torrent, `name/a/b` for a multi-file one. Empty for an index past the end.
    pub fn file_path(&self, index: usize) -> PathBuf {
        let Some(file) = self.files.get(index) else {
            return PathBuf::new();
        };
        if !self.multi_file {
            return PathBuf::from(&self.name);
        }
        let mut path = PathBuf::from(&self.name);
        path.extend(&file.path);
        path
    }
}

/// Parses and validates the `info` dictionary.
pub(super) fn parse(node: &Node<'_>) -> Result<Info, Error> {
    let entries = dict(node, "info")?;
    let name = files::name(node)?;

    let piece_length = non_negative(
        required(node, "piece length", "info.piece length")?,
        "info.piece length",
    )?;
    if piece_length == 0 {
        return Err(Error::ZeroPieceLength);
    }
    if piece_length > MAX_PIECE_LENGTH {
        return Err(Error::PieceLengthTooLarge(piece_length));
    }

    let raw_pieces = bytes(required(node, "pieces", "info.pieces")?, "info.pieces")?;
    if raw_pieces.len() % 20 != 0 {
        return Err(Error::PiecesNotMultipleOf20(raw_pieces.len()));
    }

    let private = match node.get("private") {
        Some(p) => int(p, "info.private")? == 1,
        None => false,
    };

    let (files, multi_file) = match (node.get("length"), node.get("files")) {
        (Some(_), Some(_)) => return Err(Error::BothLengthAndFiles),
        (None, None) => return Err(Error::NeitherLengthNorFiles),
        (Some(length), None) => {
            let single = FileEntry {
                path: vec![name.clone()],
                length: non_negative(length, "info.length")?,
                offset: 0,
                pad: false,
            };
            (vec![single], false)
        }
        (None, Some(list)) => (files::files(list)?, true),
    };

    let total = files
        .last()
        .map_or(Some(0), |f| f.offset.checked_add(f.length))
        .ok_or(Error::TotalOverflow(files.len().saturating_sub(1)))?;
    // Empty content has no pieces: `pieces` must be empty too.
    let need = total.div_ceil(piece_length);
    let have = raw_pieces.len() / 20;
    if u64::try_from(have).ok() != Some(need) {
        return Err(Error::PieceCountMismatch {
            have,
            total,
            piece_length,
            need,
        });
    }
    let pieces = raw_pieces
        .chunks_exact(20)
        .filter_map(|c| <[u8; 20]>::try_from(c).ok())
        .collect();

    let info = Info {
        name,
        piece_length,
        pieces,
        private,
        files,
        multi_file,
        extra: unknown(entries, KNOWN),
    };
    // The remaining layout limit (at most 2^32 pieces) is the geometry's; checking it here is
    // what lets `Info::geometry` be infallible.
    let lengths: Vec<u64> = info.files.iter().map(|f| f.length).collect();
    Geometry::new(piece_length, &lengths)?;
    Ok(info)
}
