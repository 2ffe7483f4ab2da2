//! BEP 9 `ut_metadata` messages: asking for, sending and refusing 16 KiB pieces of a torrent's
//! info dictionary, carried as the payload of an `extended` message.
//!
//! A message is a bencoded dictionary (`msg_type`, `piece`, and `total_size` for data), and a
//! data message is followed by the piece's raw bytes. Parsing is strict: a wrong type, a
//! missing key, a piece index or size out of range, or trailing bytes where none belong is an
//! error naming the problem; whether that ends the peer is the caller's choice.

use bytes::Bytes;

use crate::bencode::{self, Value};

use super::MAX_METADATA_SIZE;

/// The extended message id we ask peers to use for `ut_metadata` (ids are each side's own
/// choice; ours is the same in every connection).
pub const OUR_UT_METADATA_ID: u8 = 3;

/// The size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_LEN: u32 = 16 * 1024;

/// The most metadata pieces a torrent can have under [`MAX_METADATA_SIZE`].
pub const MAX_METADATA_PIECES: u32 = MAX_METADATA_SIZE.div_ceil(METADATA_PIECE_LEN);

/// One `ut_metadata` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    /// `msg_type` 0: send me piece `piece`.
    Request { piece: u32 },
    /// `msg_type` 1: piece `piece` of an info dictionary of `total_size` bytes.
    Data {
        piece: u32,
        total_size: u32,
        data: Bytes,
    },
    /// `msg_type` 2: I will not send piece `piece`.
    Reject { piece: u32 },
}

/// Why a `ut_metadata` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("ut_metadata message: {0}")]
    Bencode(crate::bencode::DecodeError),
    #[error("ut_metadata message is a {0}, not a dictionary")]
    NotDict(&'static str),
    #[error("ut_metadata message has no integer {0}")]
    Missing(&'static str),
    #[error("ut_metadata message type {0} is unknown")]
    UnknownType(i64),
    #[error("ut_metadata piece {0} is out of range")]
    BadPiece(i64),
    #[error("ut_metadata total_size {0} is out of range (1 to {MAX_METADATA_SIZE})")]
    BadTotalSize(i64),
    #[error("ut_metadata piece {piece} carries {len} bytes; a piece of a {total_size}-byte info dictionary has {expected}")]
    BadDataLength {
        piece: u32,
        total_size: u32,
        len: usize,
        expected: u32,
    },
    #[error("ut_metadata {0} message has {1} bytes after its dictionary")]
    Trailing(&'static str, usize),
}

/// The length of piece `piece` of an info dictionary of `total_size` bytes, or `None` if the
/// dictionary has no such piece.
pub fn metadata_piece_len(total_size: u32, piece: u32) -> Option<u32> {
    let start = piece.checked_mul(METADATA_PIECE_LEN)?;
    (start < total_size).then(|| (total_size - start).min(METADATA_PIECE_LEN))
}

impl MetadataMessage {
    /// Parses the payload of a `ut_metadata` extended message (after the extension id byte).
    pub fn parse(payload: &Bytes) -> Result<MetadataMessage, MetadataError> {
        let (root, used) = bencode::decode_prefix(payload).map_err(MetadataError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(MetadataError::NotDict(root.type_name()));
        }
        let int = |key: &'static str| {
            root.get(key)
                .and_then(|n| n.as_int())
                .ok_or(MetadataError::Missing(key))
        };
        let kind = int("msg_type")?;
        let raw_piece = int("piece")?;
        let piece = u32::try_from(raw_piece)
            .ok()
            .filter(|&p| p < MAX_METADATA_PIECES)
            .ok_or(MetadataError::BadPiece(raw_piece))?;
        let rest = payload.len() - used;
        let no_rest = |name| match rest {
            0 => Ok(()),
            n => Err(MetadataError::Trailing(name, n)),
        };
        match kind {
            0 => no_rest("request").map(|()| MetadataMessage::Request { piece }),
            2 => no_rest("reject").map(|()| MetadataMessage::Reject { piece }),
            1 => {
                let raw_total = int("total_size")?;
                let total_size = u32::try_from(raw_total)
                    .ok()
                    .filter(|&t| t > 0 && t <= MAX_METADATA_SIZE)
                    .ok_or(MetadataError::BadTotalSize(raw_total))?;
                let expected = metadata_piece_len(total_size, piece)
                    .ok_or(MetadataError::BadPiece(raw_piece))?;
                if rest != expected as usize {
                    return Err(MetadataError::BadDataLength {
                        piece,
                        total_size,
                        len: rest,
                        expected,
                    });
                }
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data: payload.slice(used..),
                })
            }
            other => Err(MetadataError::UnknownType(other)),
        }
    }

    /// The payload of this message for an `extended` frame: the dictionary, then the data.
    pub fn encode(&self) -> Bytes {
        let mut dict = Value::dict();
        let (kind, piece) = match self {
            MetadataMessage::Request { piece } => (0, piece),
            MetadataMessage::Data {
                piece, total_size, ..
            } => {
                dict.insert("total_size", Value::Int(i64::from(*total_size)));
                (1, piece)
            }
            MetadataMessage::Reject { piece } => (2, piece),
        };
        dict.insert("msg_type", Value::Int(kind));
        dict.insert("piece", Value::Int(i64::from(*piece)));
        let mut out = bencode::encode(&dict);
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &[u8]) -> Result<MetadataMessage, MetadataError> {
        MetadataMessage::parse(&Bytes::copy_from_slice(raw))
    }

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(
            parse(b"d8:msg_typei0e5:piecei3ee"),
            Ok(MetadataMessage::Request { piece: 3 })
        );
        assert_eq!(
            parse(b"d8:msg_typei2e5:piecei0ee"),
            Ok(MetadataMessage::Reject { piece: 0 })
        );
        let data = parse(b"d8:msg_typei1e5:piecei1e10:total_sizei16390eeabcdef");
        assert_eq!(
            data,
            Ok(MetadataMessage::Data {
                piece: 1,
                total_size: 16390,
                data: Bytes::from_static(b"abcdef"),
            })
        );
    }

    #[test]
    fn refuses_what_does_not_add_up() {
        let cases: &[(&[u8], &str)] = &[
            (b"le", "not a dictionary"),
            (b"d5:piecei0ee", "no integer msg_type"),
            (b"d8:msg_typei0ee", "no integer piece"),
            (b"d8:msg_typei7e5:piecei0ee", "type 7 is unknown"),
            (b"d8:msg_typei0e5:piecei-1ee", "piece -1 is out of range"),
            (
                b"d8:msg_typei0e5:piecei1024ee",
                "piece 1024 is out of range",
            ),
            (
                b"d8:msg_typei0e5:piecei0eexx",
                "request message has 2 bytes",
            ),
            (b"d8:msg_typei1e5:piecei0ee", "no integer total_size"),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei0ee",
                "total_size 0 is out of range",
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei99999999ee",
                "total_size 99999999",
            ),
            (
                b"d8:msg_typei1e5:piecei2e10:total_sizei16390ee",
                "piece 2 is out of range",
            ),
            (
                b"d8:msg_typei1e5:piecei0e10:total_sizei5eeabc",
                "carries 3 bytes",
            ),
            (b"d8:msg_typei0e5:piece", "ut_metadata message: "),
        ];
        for (raw, want) in cases {
            let err = parse(raw).expect_err(want).to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn piece_lengths_follow_the_total_size() {
        assert_eq!(metadata_piece_len(16384, 0), Some(16384));
        assert_eq!(metadata_piece_len(16384, 1), None);
        assert_eq!(metadata_piece_len(16385, 1), Some(1));
        assert_eq!(metadata_piece_len(100, 0), Some(100));
        assert_eq!(metadata_piece_len(u32::MAX, u32::MAX), None);
    }

    proptest! {
        #[test]
        fn round_trips(kind in 0u8..3, piece in 0u32..64, total in 1u32..(64 * 16384)) {
            let msg = match kind {
                0 => MetadataMessage::Request { piece },
                2 => MetadataMessage::Reject { piece },
                _ => {
                    let piece = piece.min((total - 1) / METADATA_PIECE_LEN);
                    let len = metadata_piece_len(total, piece).unwrap_or(0) as usize;
                    MetadataMessage::Data { piece, total_size: total, data: Bytes::from(vec![7; len]) }
                }
            };
            prop_assert_eq!(MetadataMessage::parse(&msg.encode()), Ok(msg));
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&raw);
        }
    }
}
