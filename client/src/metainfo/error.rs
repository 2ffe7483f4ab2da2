//! Why a `.torrent` file was refused: one variant per validation rule, each a one-line message
//! naming the field (as `info.files[2].length`) and the offending value.

use super::MAX_PIECE_LENGTH;
use crate::bencode::DecodeError;
use crate::geometry::GeometryError;

/// A torrent file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not bencode.
    #[error("malformed torrent: {0}")]
    Bencode(#[from] DecodeError),
    /// The top-level value is not a dictionary; holds the article and type found.
    #[error("torrent is {0}, expected a dictionary")]
    NotADictionary(&'static str),
    #[error("{field} is missing")]
    Missing { field: String },
    /// `found` and `expected` carry their article: "an integer", "a string".
    #[error("{field} is {found}, expected {expected}")]
    WrongType {
        field: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{field} is negative ({value})")]
    Negative { field: String, value: i64 },
    #[error("info.piece length must be positive")]
    ZeroPieceLength,
    #[error("info.piece length {0} exceeds the maximum of {MAX_PIECE_LENGTH}")]
    PieceLengthTooLarge(u64),
    #[error("info.pieces length {0} is not a multiple of 20")]
    PiecesNotMultipleOf20(usize),
    #[error(
        "torrent has {have} piece hashes but {total} bytes at piece length {piece_length} need {need}"
    )]
    PieceCountMismatch {
        have: usize,
        total: u64,
        piece_length: u64,
        need: u64,
    },
    #[error("total length overflows 64 bits at info.files[{0}]")]
    TotalOverflow(usize),
    #[error("info has both length and files")]
    BothLengthAndFiles,
    #[error("info has neither length nor files")]
    NeitherLengthNorFiles,
    #[error("info.files is empty")]
    NoFiles,
    /// A `path` list with no components.
    #[error("{field} is empty")]
    EmptyPath { field: String },
    /// A name or path component that could escape or confuse the download folder.
    #[error("{field} component {component:?} is refused: {reason}")]
    UnsafePath {
        field: String,
        component: String,
        reason: &'static str,
    },
    #[error("info.files[{index}] has the same path {path:?} as info.files[{first}]")]
    DuplicatePath {
        first: usize,
        index: usize,
        path: String,
    },
    #[error("info.files[{file}] path {path:?} is a folder of info.files[{other}]")]
    FileIsFolder {
        file: usize,
        path: String,
        other: usize,
    },
    /// A layout the piece arithmetic cannot represent (more than 2^32 pieces).
    #[error("info: {0}")]
    Geometry(#[from] GeometryError),
}
