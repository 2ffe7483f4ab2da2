//! Tests of [`Geometry`]: the multi-file fixture layout by hand, then properties over random
//! layouts.

use super::*;
use proptest::prelude::*;

/// The layout of `tests/data/multi.torrent`: `a.bin` 40000, `empty.txt` 0, `sub/b.bin` 70000,
/// piece length 16384, so piece 2 spans two files and piece 6 is short.
fn album() -> Geometry {
    Geometry::new(16384, &[40000, 0, 70000]).unwrap()
}

fn span(file: usize, file_offset: u64, len: u64) -> FileSpan {
    FileSpan {
        file,
        file_offset,
        len,
    }
}

#[test]
fn album_pieces() {
    let g = album();
    assert_eq!(g.total_length(), 110_000);
    assert_eq!(g.piece_length(), 16384);
    assert_eq!(g.piece_count(), 7);
    assert_eq!(g.piece_len(0), 16384);
    assert_eq!(g.piece_len(5), 16384);
    assert_eq!(g.piece_len(6), 110_000 - 6 * 16384);
    assert_eq!(g.piece_len(7), 0);
    assert_eq!(g.piece_offset(6), 98304);
    assert_eq!(g.file_count(), 3);
    assert_eq!(g.file_length(1), 0);
    assert_eq!(g.file_length(3), 0);
    assert_eq!(g.file_offset(2), 40000);
    assert_eq!(g.file_offset(3), 110_000);
}

#[test]
fn album_spans_cross_files_and_skip_the_empty_one() {
    let g = album();
    assert_eq!(g.piece_spans(0).collect::<Vec<_>>(), [span(0, 0, 16384)]);
    // Piece 2 is bytes 32768..49152: the tail of a.bin, then the head of sub/b.bin.
    assert_eq!(
        g.piece_spans(2).collect::<Vec<_>>(),
        [span(0, 32768, 7232), span(2, 0, 9152)]
    );
    assert_eq!(
        g.piece_spans(6).collect::<Vec<_>>(),
        [span(2, 98304 - 40000, 11696)]
    );
    assert_eq!(g.piece_spans(7).count(), 0);
    // A range starting exactly where the empty file sits begins in sub/b.bin.
    assert_eq!(g.spans(40000, 10).collect::<Vec<_>>(), [span(2, 0, 10)]);
    // A range running past the end is clamped to the content.
    assert_eq!(
        g.spans(109_990, 100).collect::<Vec<_>>(),
        [span(2, 69990, 10)]
    );
    assert_eq!(g.spans(110_000, 5).count(), 0);
    assert_eq!(g.spans(5, 0).count(), 0);
    assert_eq!(g.spans(u64::MAX, u64::MAX).count(), 0);
}

#[test]
fn album_file_pieces() {
    let g = album();
    assert_eq!(g.file_pieces(0), 0..3);
    assert_eq!(g.file_pieces(1), 0..0);
    assert_eq!(g.file_pieces(2), 2..7);
    assert_eq!(g.file_pieces(9), 0..0);
}

#[test]
fn album_blocks() {
    let g = album();
    assert_eq!(g.block_count(0), 1);
    assert_eq!(g.block_count(6), 1);
    assert_eq!(
        g.block(6, 0),
        BlockRef {
            piece: 6,
            offset: 0,
            len: 11696
        }
    );
    assert_eq!(g.block(6, 1).len, 0);
    assert_eq!(g.block(6, u32::MAX).len, 0);
    assert_eq!(g.block_count(7), 0);
    assert_eq!(g.blocks(7).count(), 0);
}

#[test]
fn blocks_of_a_large_piece_with_a_short_tail() {
    // Two pieces of 64 KiB, the second cut to 40000 bytes: 4 full blocks, then 3 blocks
    // where the last holds 40000 - 2 * 16384 = 7232 bytes.
    let g = Geometry::new(65536, &[65536 + 40000]).unwrap();
    assert_eq!(g.block_count(0), 4);
    assert_eq!(g.block_count(1), 3);
    let last: Vec<_> = g.blocks(1).collect();
    assert_eq!(
        last[2],
        BlockRef {
            piece: 1,
            offset: 32768,
            len: 7232
        }
    );
}

#[test]
fn request_validation() {
    let g = Geometry::new(262_144, &[300_000]).unwrap();
    let ok = |piece, offset, len| g.is_valid_block(BlockRef { piece, offset, len });
    assert!(ok(0, 0, BLOCK_LEN));
    assert!(ok(0, 100, 5)); // unaligned offsets are allowed
    assert!(ok(0, 0, MAX_REQUEST_LEN));
    assert!(!ok(0, 0, MAX_REQUEST_LEN + 1));
    assert!(!ok(0, 0, 0));
    assert!(ok(1, 0, 300_000 - 262_144));
    assert!(!ok(1, 0, 300_000 - 262_144 + 1)); // past the short last piece
    assert!(!ok(0, 262_144 - 10, 11)); // past the end of a full piece
    assert!(!ok(2, 0, 1)); // no such piece
    assert!(!ok(0, u32::MAX, 16)); // offset + len overflows
}

#[test]
fn empty_content_has_no_pieces() {
    let g = Geometry::new(16384, &[0, 0]).unwrap();
    assert_eq!(g.piece_count(), 0);
    assert_eq!(g.total_length(), 0);
    assert_eq!(g.spans(0, 100).count(), 0);
    assert_eq!(g.file_pieces(0), 0..0);
    let none = Geometry::new(16384, &[]).unwrap();
    assert_eq!(none.piece_count(), 0);
    assert_eq!(none.file_count(), 0);
}

#[test]
fn rejected_layouts() {
    assert_eq!(Geometry::new(0, &[1]), Err(GeometryError::ZeroPieceLength));
    assert_eq!(
        Geometry::new(1 << 32, &[1]),
        Err(GeometryError::PieceLengthTooLarge(1 << 32))
    );
    assert_eq!(
        Geometry::new(1 << 20, &[u64::MAX, 1]),
        Err(GeometryError::TotalOverflow(1))
    );
    assert_eq!(
        Geometry::new(1, &[1 << 33]),
        Err(GeometryError::TooManyPieces(1 << 33))
    );
    assert_eq!(
        GeometryError::TooManyPieces(5).to_string(),
        "5 pieces do not fit in 32-bit piece indices"
    );
    // The largest legal piece length works, with a last piece of one byte.
    let g = Geometry::new(u64::from(u32::MAX), &[u64::from(u32::MAX) + 1]).unwrap();
    assert_eq!(g.piece_count(), 2);
    assert_eq!(g.piece_len(0), u32::MAX);
    assert_eq!(g.piece_len(1), 1);
}

/// Small random layouts: up to 6 files (often empty) and piece lengths that are sometimes
/// smaller than a block and sometimes several blocks.
fn layout() -> impl Strategy<Value = (u64, Vec<u64>)> {
    let len = prop_oneof![Just(0u64), 1u64..200, 1u64..100_000];
    let piece_length = prop_oneof![1u64..50, Just(16384u64), 1u64..70_000];
    (piece_length, prop::collection::vec(len, 0..6))
}

proptest! {
    #[test]
    fn piece_spans_cover_the_content_in_order((piece_length, lengths) in layout()) {
        let g = Geometry::new(piece_length, &lengths).unwrap();
        // Walk every piece's spans and rebuild the content offset of each run.
        let mut pos = 0u64;
        for piece in 0..g.piece_count() {
            let mut in_piece = 0u64;
            for s in g.piece_spans(piece) {
                prop_assert!(s.len > 0);
                prop_assert!(s.file_offset + s.len <= lengths[s.file]);
                prop_assert_eq!(g.file_offset(s.file) + s.file_offset, pos);
                pos += s.len;
                in_piece += s.len;
            }
            prop_assert_eq!(in_piece, u64::from(g.piece_len(piece)));
        }
        prop_assert_eq!(pos, lengths.iter().sum::<u64>());
    }

    #[test]
    fn piece_lengths_sum_to_the_total((piece_length, lengths) in layout()) {
        let g = Geometry::new(piece_length, &lengths).unwrap();
        let sum: u64 = (0..g.piece_count()).map(|p| u64::from(g.piece_len(p))).sum();
        prop_assert_eq!(sum, g.total_length());
        for p in 0..g.piece_count() {
            prop_assert!(g.piece_len(p) > 0);
            prop_assert_eq!(g.piece_offset(p), u64::from(p) * piece_length);
        }
    }

    #[test]
    fn blocks_tile_each_piece((piece_length, lengths) in layout()) {
        let g = Geometry::new(piece_length, &lengths).unwrap();
        for piece in 0..g.piece_count() {
            let mut next = 0u32;
            for b in g.blocks(piece) {
                prop_assert_eq!(b.piece, piece);
                prop_assert_eq!(b.offset, next);
                prop_assert!(b.len > 0 && b.len <= BLOCK_LEN);
                prop_assert!(g.is_valid_block(b));
                next += b.len;
            }
            prop_assert_eq!(next, g.piece_len(piece));
        }
    }

    #[test]
    fn file_pieces_are_the_pieces_whose_spans_touch_the_file(
        (piece_length, lengths) in layout()
    ) {
        let g = Geometry::new(piece_length, &lengths).unwrap();
        for file in 0..g.file_count() {
            let touching: Vec<u32> = (0..g.piece_count())
                .filter(|&p| g.piece_spans(p).any(|s| s.file == file))
                .collect();
            let range: Vec<u32> = g.file_pieces(file).collect();
            prop_assert_eq!(range, touching);
        }
    }

    #[test]
    fn arbitrary_ranges_stay_within_files(
        (piece_length, lengths) in layout(),
        offset in 0u64..300_000,
        len in 0u64..300_000,
    ) {
        let g = Geometry::new(piece_length, &lengths).unwrap();
        let total: u64 = g.spans(offset, len).map(|s| s.len).sum();
        let expected = offset.saturating_add(len).min(g.total_length()).saturating_sub(offset);
        prop_assert_eq!(total, expected);
    }
}
