//! Tests of the content generator and the torrents made from it.

use super::*;
use proptest::prelude::*;

fn layout(files: &[(&str, u64)], piece_length: u64) -> Layout {
    Layout {
        name: "synthetic".into(),
        files: files.iter().map(|(p, l)| (p.to_string(), *l)).collect(),
        piece_length,
    }
}

/// Three files with pieces spanning them, a zero-length file between, a short last piece.
fn mixed() -> Content {
    let files = [
        ("a.bin", 40_000),
        ("empty", 0),
        ("dir/b.bin", 70_001),
        ("dir/c.bin", 5),
    ];
    Content::new(7, layout(&files, 32 * 1024)).unwrap()
}

fn bytes(content: &Content, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    content.read(offset, &mut buf);
    buf
}

#[test]
fn the_generator_is_pinned() {
    // The digests scenarios expect come from this generator: changing it must be deliberate.
    // Values from an independent SplitMix64 implementation.
    let first16 = |seed| {
        let c = Content::new(seed, layout(&[("synthetic", 16)], 16)).unwrap();
        hex::encode(bytes(&c, 0, 16))
    };
    assert_eq!(first16(0), "6f7e194d2fdd06a75e4f41f405a382b3");
    assert_eq!(first16(42), "04721065bafae1575540b2fe43d1abf4");
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let files = [("synthetic", 100_000)];
    let a = Content::new(1, layout(&files, 16384)).unwrap();
    let b = Content::new(1, layout(&files, 16384)).unwrap();
    let c = Content::new(2, layout(&files, 16384)).unwrap();
    assert_eq!(bytes(&a, 0, 100_000), bytes(&b, 0, 100_000));
    assert_ne!(bytes(&a, 0, 64), bytes(&c, 0, 64));
    assert_eq!(a.piece_hashes(), b.piece_hashes());
    assert_ne!(a.info_hash(), c.info_hash());
}

#[test]
fn bytes_look_random() {
    // Not a randomness test suite: only that no byte value dominates (a stuck generator
    // would give zeros or a short cycle).
    let c = mixed();
    let data = bytes(&c, 0, 1 << 16);
    let mut counts = [0u32; 256];
    for b in &data {
        counts[*b as usize] += 1;
    }
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*min > 150 && *max < 370, "byte counts from {min} to {max}");
}

proptest! {
    #[test]
    fn random_access_equals_sequential(offset in 0u64..4096, len in 0usize..300) {
        let c = mixed();
        let all = bytes(&c, 0, 5000);
        let part = bytes(&c, offset, len);
        prop_assert_eq!(&part[..], &all[offset as usize..offset as usize + len]);
    }

    #[test]
    fn far_offsets_are_consistent(offset in 0u64..u64::MAX - 64, len in 0usize..40) {
        // Reading a run equals reading its bytes one at a time, anywhere in the 64-bit range.
        let c = mixed();
        let run = bytes(&c, offset, len);
        let single: Vec<u8> = (0..len as u64).map(|i| bytes(&c, offset + i, 1)[0]).collect();
        prop_assert_eq!(run, single);
    }
}

#[test]
fn torrent_parses_and_its_hashes_match_the_bytes() {
    let c = mixed();
    let trackers = vec![vec!["http://t.example/announce".to_string()]];
    let meta = Metainfo::from_bytes(&c.torrent_bytes(&trackers)).unwrap();
    assert_eq!(meta.info_hash, c.info_hash());
    assert!(meta.info.multi_file);
    assert_eq!(meta.info.name, "synthetic");
    let paths: Vec<Vec<String>> = meta.info.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            vec!["a.bin".to_string()],
            vec!["empty".into()],
            vec!["dir".into(), "b.bin".into()],
            vec!["dir".into(), "c.bin".into()],
        ]
    );
    let g = meta.info.geometry();
    assert_eq!(g.total_length(), 110_006);
    assert_eq!(meta.info.pieces.len(), 4);
    for (piece, expected) in meta.info.pieces.iter().enumerate() {
        let piece = piece as u32;
        let data = bytes(&c, g.piece_offset(piece), g.piece_len(piece) as usize);
        let actual: [u8; 20] = Sha1::digest(&data).into();
        assert_eq!(&actual, expected, "piece {piece}");
    }
}

#[test]
fn metainfo_equals_parsing_the_torrent() {
    let c = mixed();
    let url = |s: &str| s.to_string();
    let cases: Vec<Vec<Vec<String>>> = vec![
        vec![],
        vec![vec![url("udp://t:1")]],
        vec![vec![url("udp://t:1"), url("http://u/a")]],
        vec![
            vec![url("http://a/a")],
            vec![],
            vec![url(""), url("http://b/a")],
        ],
    ];
    for trackers in cases {
        let parsed = Metainfo::from_bytes(&c.torrent_bytes(&trackers)).unwrap();
        assert_eq!(c.metainfo(&trackers), parsed, "trackers {trackers:?}");
    }
    let tiers = c.metainfo(&[vec![url("http://a/a")], vec![], vec![url("http://b/a")]]);
    assert_eq!(
        tiers.trackers(),
        vec![vec![url("http://a/a")], vec![url("http://b/a")]]
    );
}

#[test]
fn single_file_only_when_the_one_path_is_the_name() {
    let single = Content::new(1, layout(&[("synthetic", 1000)], 16384)).unwrap();
    let meta = single.metainfo(&[]);
    assert!(!meta.info.multi_file);
    assert_eq!(
        meta.info.file_path(0),
        std::path::PathBuf::from("synthetic")
    );
    let folder = Content::new(1, layout(&[("other", 1000)], 16384)).unwrap();
    let meta = folder.metainfo(&[]);
    assert!(meta.info.multi_file);
    assert_eq!(
        meta.info.file_path(0),
        std::path::PathBuf::from("synthetic/other")
    );
    // Same bytes, different torrents.
    assert_eq!(bytes(&single, 0, 1000), bytes(&folder, 0, 1000));
    assert_ne!(single.info_hash(), folder.info_hash());
}

#[test]
fn file_digests_stream_the_generator() {
    let c = mixed();
    let g = c.geometry().clone();
    let mut expected = Vec::new();
    for i in 0..g.file_count() {
        let data = bytes(&c, g.file_offset(i), g.file_length(i) as usize);
        expected.push(hex::encode(Sha256::digest(&data)));
    }
    let got: Vec<String> = (0..4).map(|i| c.file_sha256(i).unwrap()).collect();
    assert_eq!(got, expected);
    assert_eq!(c.file_sha256s(), expected);
    assert_eq!(
        expected[1],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(c.file_sha256(4), None);
}

#[test]
fn file_digests_cross_stream_chunks() {
    // A file longer than one streaming chunk, starting at an unaligned offset.
    let files = [("head", 3), ("big", STREAM_CHUNK as u64 * 2 + 5)];
    let c = Content::new(9, layout(&files, 1 << 20)).unwrap();
    let data = bytes(&c, 3, STREAM_CHUNK * 2 + 5);
    assert_eq!(
        c.file_sha256(1).unwrap(),
        hex::encode(Sha256::digest(&data))
    );
}

#[test]
fn empty_content_is_a_valid_torrent_without_pieces() {
    let c = Content::new(1, layout(&[("synthetic", 0)], 16384)).unwrap();
    assert!(c.piece_hashes().is_empty());
    let meta = Metainfo::from_bytes(&c.torrent_bytes(&[])).unwrap();
    assert_eq!(meta.info.total_length(), 0);
    assert_eq!(c.metainfo(&[]), meta);
}

#[test]
fn bad_layouts_are_refused_with_the_reason() {
    let err = |files: &[(&str, u64)], piece_length| {
        Content::new(1, layout(files, piece_length))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err(&[("a", 1)], 0), "piece length must be positive");
    assert_eq!(
        err(&[("a", 1)], MAX_PIECE_LENGTH + 1),
        "piece length 134217729 exceeds the limit of 134217728 bytes"
    );
    assert_eq!(
        err(&[("a", 1 << 30)], 16),
        "67108864 pieces exceed the limit of 4194304 for synthetic content"
    );
    assert_eq!(
        err(&[("a", u64::MAX), ("b", 1)], 16384),
        "total length overflows 64 bits"
    );
    for bad in ["../x", "a//b", "", "/abs", "a/./b"] {
        let msg = err(&[(bad, 1), ("ok", 1)], 16384);
        assert!(
            msg.starts_with("layout is not a valid torrent: "),
            "{bad}: {msg}"
        );
    }
    let dup = err(&[("a", 1), ("a", 2)], 16384);
    assert!(dup.starts_with("layout is not a valid torrent: "), "{dup}");
    let none = err(&[], 16384);
    assert!(
        none.starts_with("layout is not a valid torrent: "),
        "{none}"
    );
}

#[test]
fn layout_reads_from_toml() {
    let text = r#"
        name = "movie"
        piece_length = 262144
        files = [["video.mkv", 1073741824], ["subs/en.srt", 0]]
    "#;
    let l: Layout = toml::from_str(text).unwrap();
    assert_eq!(l.name, "movie");
    assert_eq!(l.piece_length, 262_144);
    assert_eq!(
        l.files,
        vec![
            ("video.mkv".to_string(), 1 << 30),
            ("subs/en.srt".to_string(), 0)
        ]
    );
    assert!(
        toml::from_str::<Layout>("name = \"x\"\npiece_length = 1\nfiles = []\nfoo = 1").is_err()
    );
}

#[test]
fn a_large_torrent_costs_no_memory_until_read() {
    // 64 GiB of content: building it allocates the pieces string template only.
    let c = Content::new(3, layout(&[("synthetic", 64 << 30)], 16 << 20)).unwrap();
    assert_eq!(c.geometry().piece_count(), 4096);
    let tail = bytes(&c, (64 << 30) - 8, 8);
    assert_eq!(tail, c.word(((64u64 << 30) - 8) / 8).to_le_bytes());
}

#[test]
fn a_file_differs_where_its_first_wrong_byte_is() {
    // Three chunks and a bit, so the comparison is spread over threads and chunk ends.
    let len = 3 * STREAM_CHUNK as u64 + 777;
    let c = Content::new(3, layout(&[("a.bin", 100), ("b.bin", len)], 1 << 20)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.bin");
    let good = bytes(&c, 100, len as usize);
    std::fs::write(&path, &good).unwrap();
    assert_eq!(c.first_difference(1, &path).unwrap(), None);
    for at in [
        0,
        1,
        STREAM_CHUNK as u64 - 1,
        2 * STREAM_CHUNK as u64 + 5,
        len - 1,
    ] {
        let mut bad = good.clone();
        bad[at as usize] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(
            c.first_difference(1, &path).unwrap(),
            Some(at),
            "flip at {at}"
        );
    }
    // Two flips: the first one is reported, whichever thread finds the other.
    let mut bad = good.clone();
    bad[len as usize - 3] ^= 1;
    bad[STREAM_CHUNK + 9] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    assert_eq!(
        c.first_difference(1, &path).unwrap(),
        Some(STREAM_CHUNK as u64 + 9)
    );
    // A short file differs where it ends; a long one where the content ends.
    std::fs::write(&path, &good[..1000]).unwrap();
    assert_eq!(c.first_difference(1, &path).unwrap(), Some(1000));
    let mut long = good.clone();
    long.push(0);
    std::fs::write(&path, &long).unwrap();
    assert_eq!(c.first_difference(1, &path).unwrap(), Some(len));
    // An empty file of the content, and a missing one.
    let empty = Content::new(3, layout(&[("e", 0), ("f", 1)], 1 << 20)).unwrap();
    std::fs::write(&path, b"").unwrap();
    assert_eq!(empty.first_difference(0, &path).unwrap(), None);
    assert!(c.first_difference(1, &dir.path().join("missing")).is_err());
}
