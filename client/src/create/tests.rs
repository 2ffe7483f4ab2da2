//! Tests of torrent creation: layout order, automatic piece length, hashes across files.

use super::*;
use crate::bencode::decode;

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn auto_piece_length_stays_in_bounds() {
    assert_eq!(auto_piece_length(1), MIN_AUTO_PIECE_LENGTH);
    assert_eq!(auto_piece_length(1 << 30), 1 << 20);
    assert_eq!(auto_piece_length(1 << 50), MAX_AUTO_PIECE_LENGTH);
    for total in [1u64 << 25, 3 << 28, (1 << 30) + 1, 7_000_000_000] {
        let p = auto_piece_length(total);
        let pieces = total.div_ceil(p);
        assert!(p.is_power_of_two());
        assert!(
            pieces <= TARGET_MAX_PIECES && pieces > TARGET_MAX_PIECES / 2,
            "{total}: {pieces}"
        );
    }
}

#[test]
fn directory_layout_is_sorted_and_keeps_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("b/inner")).unwrap();
    std::fs::write(root.join("z.txt"), b"zz").unwrap();
    std::fs::write(root.join("a.txt"), b"").unwrap();
    std::fs::write(root.join("b/inner/c"), b"ccc").unwrap();
    let layout = Layout::scan(&root).unwrap();
    assert_eq!(layout.name, "root");
    assert!(layout.multi_file);
    let paths: Vec<_> = layout
        .files
        .iter()
        .map(|f| f.components.join("/"))
        .collect();
    assert_eq!(paths, ["a.txt", "b/inner/c", "z.txt"]);
    assert_eq!(layout.total_length(), 5);
}

#[test]
fn pieces_are_hashed_across_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("set");
    std::fs::create_dir_all(&root).unwrap();
    let a = content(40_000, 1);
    let b = content(70_000, 2);
    std::fs::write(root.join("a.bin"), &a).unwrap();
    std::fs::write(root.join("b.bin"), &b).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    let layout = Layout::scan(&root).unwrap();
    let opts = CreateOptions {
        piece_length: Some(16384),
        trackers: vec![vec!["http://t/announce".into()]],
        ..Default::default()
    };
    let torrent = create(&layout, &opts, &|_| {}).unwrap();
    let top = decode(&torrent).unwrap();
    let info = top.get("info").unwrap();
    let pieces = info.get("pieces").unwrap().as_bytes().unwrap();
    let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
    let expected: Vec<u8> = all.chunks(16384).flat_map(Sha1::digest).collect();
    assert_eq!(pieces, expected.as_slice());
    assert_eq!(info.get("files").unwrap().as_list().unwrap().len(), 3);
    assert_eq!(
        top.get("announce").unwrap().as_str(),
        Some("http://t/announce")
    );
    assert!(top.get("announce-list").is_none());
}

#[test]
fn single_file_with_all_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.bin");
    std::fs::write(&path, content(100_000, 3)).unwrap();
    let layout = Layout::scan(&path).unwrap();
    assert!(!layout.multi_file);
    let opts = CreateOptions {
        trackers: vec![
            vec!["http://a".into(), "http://b".into()],
            vec!["udp://c".into()],
        ],
        piece_length: None,
        private: true,
        web_seeds: vec!["http://w/".into()],
        comment: Some("hi".into()),
        created_by: Some("me".into()),
        creation_date: Some(1_700_000_000),
    };
    let seen = std::sync::atomic::AtomicU64::new(0);
    let torrent = create(&layout, &opts, &|n| {
        seen.fetch_add(n, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(seen.into_inner(), 100_000);
    let top = decode(&torrent).unwrap();
    let info = top.get("info").unwrap();
    assert_eq!(info.get("length").unwrap().as_int(), Some(100_000));
    assert_eq!(info.get("private").unwrap().as_int(), Some(1));
    assert_eq!(info.get("piece length").unwrap().as_int(), Some(16384));
    assert_eq!(
        top.get("announce-list").unwrap().as_list().unwrap().len(),
        2
    );
    assert_eq!(top.get("url-list").unwrap().as_str(), Some("http://w/"));
    assert_eq!(
        top.get("creation date").unwrap().as_int(),
        Some(1_700_000_000)
    );
    // Canonical: encoding the decoded value gives the same bytes.
    assert_eq!(bencode::encode(&top.to_value()), torrent);
}

#[test]
fn refuses_empty_content_and_bad_piece_length() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let layout = Layout::scan(&empty).unwrap();
    assert!(matches!(
        create(&layout, &CreateOptions::default(), &|_| {}),
        Err(CreateError::Empty)
    ));
    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    assert!(matches!(Layout::scan(&bare), Err(CreateError::NoFiles(_))));
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let layout = Layout::scan(&file).unwrap();
    let opts = CreateOptions {
        piece_length: Some(30000),
        ..Default::default()
    };
    assert!(matches!(
        create(&layout, &opts, &|_| {}),
        Err(CreateError::BadPieceLength(30000))
    ));
    assert!(matches!(
        Layout::scan(&dir.path().join("missing")),
        Err(CreateError::Io { .. })
    ));
}
