//! The generator of the committed `tests/data/*.torrent` fixtures, and tests that the files on
//! disk still match it and parse as intended.
//!
//! Regenerate with `BITSWARM_WRITE_FIXTURES=1 cargo test -p bitswarm-client fixtures`.
//! `tests/data/README.md` describes the content so other tools can rebuild it.

use super::*;
use std::path::Path;

/// Byte `j` of file `i` (index in the torrent's file list) of every fixture's content.
fn content_byte(file: usize, j: u64) -> u8 {
    ((j * 31 + file as u64 * 7) % 251) as u8
}

/// The concatenated content of files with these lengths.
fn content(lengths: &[u64]) -> Vec<u8> {
    lengths
        .iter()
        .enumerate()
        .flat_map(|(i, &len)| (0..len).map(move |j| content_byte(i, j)))
        .collect()
}

fn piece_hashes(content: &[u8], piece_length: usize) -> Vec<u8> {
    content
        .chunks(piece_length)
        .flat_map(|piece| <[u8; 20]>::from(Sha1::digest(piece)))
        .collect()
}

fn single_info(pieces: Vec<u8>) -> Value {
    let mut info = Value::dict();
    info.insert("name", Value::bytes("hello.txt"));
    info.insert("length", Value::Int(100_000));
    info.insert("piece length", Value::Int(32768));
    info.insert("pieces", Value::Bytes(pieces));
    info
}

fn single_torrent(info: Value) -> Vec<u8> {
    let mut t = Value::dict();
    t.insert("announce", Value::bytes("http://127.0.0.1:6969/announce"));
    t.insert("comment", Value::bytes("bitswarm test fixture: one file"));
    t.insert("created by", Value::bytes("bitswarm fixture generator"));
    t.insert("creation date", Value::Int(1_700_000_000));
    t.insert("info", info);
    encode(&t)
}

/// `single.torrent`: `hello.txt`, 100000 bytes in pieces of 32768 (the last 1696 bytes).
fn single_fixture() -> Vec<u8> {
    single_torrent(single_info(piece_hashes(&content(&[100_000]), 32768)))
}

/// `bad-pieces.torrent`: `single.torrent` with one stray byte after its four piece hashes.
fn bad_pieces_fixture() -> Vec<u8> {
    let mut pieces = piece_hashes(&content(&[100_000]), 32768);
    pieces.push(0);
    single_torrent(single_info(pieces))
}

const ALBUM: &[(&[&str], u64)] = &[
    (&["a.bin"], 40000),
    (&["empty.txt"], 0),
    (&["sub", "b.bin"], 70000),
];

fn multi_info(name: &str, files: &[(&[&str], u64)], piece_length: u64) -> Value {
    let lengths: Vec<u64> = files.iter().map(|(_, l)| *l).collect();
    let mut info = Value::dict();
    info.insert("name", Value::bytes(name));
    info.insert(
        "files",
        Value::List(files.iter().map(|(p, l)| file(p, *l as i64)).collect()),
    );
    info.insert("piece length", Value::Int(piece_length as i64));
    info.insert(
        "pieces",
        Value::Bytes(piece_hashes(&content(&lengths), piece_length as usize)),
    );
    info
}

/// `multi.torrent`: folder `album` with `a.bin`, an empty file and `sub/b.bin`; pieces of 16384
/// so piece 2 spans two files and the last piece is short; two tracker tiers, private, one
/// web seed.
fn multi_fixture() -> Vec<u8> {
    let mut info = multi_info("album", ALBUM, 16384);
    info.insert("private", Value::Int(1));
    let mut t = Value::dict();
    t.insert("announce", Value::bytes("http://127.0.0.1:6969/announce"));
    t.insert(
        "announce-list",
        Value::List(vec![
            Value::List(vec![
                Value::bytes("http://127.0.0.1:6969/announce"),
                Value::bytes("http://127.0.0.2:6969/announce"),
            ]),
            Value::List(vec![Value::bytes("udp://127.0.0.1:6969")]),
        ]),
    );
    t.insert(
        "url-list",
        Value::List(vec![Value::bytes("http://127.0.0.1:8080/webseed/")]),
    );
    t.insert("created by", Value::bytes("bitswarm fixture generator"));
    t.insert("creation date", Value::Int(1_700_000_000));
    t.insert("info", info);
    encode(&t)
}

/// `evil-path.torrent`: a well-formed torrent whose only file is `../escaped.txt`.
fn evil_path_fixture() -> Vec<u8> {
    let mut t = Value::dict();
    t.insert("announce", Value::bytes("http://127.0.0.1:6969/announce"));
    t.insert(
        "info",
        multi_info("evil", &[(&["..", "escaped.txt"], 10)], 16384),
    );
    encode(&t)
}

fn fixtures() -> [(&'static str, Vec<u8>); 4] {
    [
        ("single.torrent", single_fixture()),
        ("multi.torrent", multi_fixture()),
        ("bad-pieces.torrent", bad_pieces_fixture()),
        ("evil-path.torrent", evil_path_fixture()),
    ]
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data")
}

#[test]
fn fixtures_on_disk_match_the_generator() {
    let write = std::env::var_os("BITSWARM_WRITE_FIXTURES").is_some();
    for (name, bytes) in fixtures() {
        let path = data_dir().join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path).unwrap();
        assert!(
            on_disk == bytes,
            "{name} differs from the generator; rerun with BITSWARM_WRITE_FIXTURES=1"
        );
    }
}

#[test]
fn single_fixture_parses() {
    let m = Metainfo::from_bytes(&single_fixture()).unwrap();
    // Cross-checked once against transmission-show 3.00, an independent implementation.
    assert_eq!(
        m.info_hash.to_hex(),
        "d46f7c30f7034de8f92143fd1fdd956ebac833db"
    );
    assert_eq!(m.info.name, "hello.txt");
    assert_eq!(m.info.total_length(), 100_000);
    assert_eq!(m.info.pieces.len(), 4);
    assert_eq!(m.info.geometry().piece_len(3), 100_000 - 3 * 32768);
    assert_eq!(
        m.comment.as_deref(),
        Some("bitswarm test fixture: one file")
    );
    assert_eq!(m.created_by.as_deref(), Some("bitswarm fixture generator"));
    assert_eq!(m.creation_date, Some(1_700_000_000));
    assert_eq!(
        m.trackers(),
        [vec!["http://127.0.0.1:6969/announce".to_string()]]
    );
}

#[test]
fn multi_fixture_parses_and_its_hashes_verify_through_the_geometry() {
    let m = Metainfo::from_bytes(&multi_fixture()).unwrap();
    // Cross-checked once against transmission-show 3.00, an independent implementation.
    assert_eq!(
        m.info_hash.to_hex(),
        "1f16183c3bce5e9b2136d826588478389dcb545f"
    );
    assert!(m.info.private);
    assert!(m.info.multi_file);
    assert_eq!(m.url_list, ["http://127.0.0.1:8080/webseed/"]);
    assert_eq!(m.trackers().len(), 2);
    assert_eq!(m.trackers()[0].len(), 2);
    assert_eq!(m.trackers()[1], ["udp://127.0.0.1:6969"]);

    // Rebuild each piece from per-file content via the spans, as storage would read it.
    let files: Vec<Vec<u8>> = m
        .info
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (0..f.length).map(|j| content_byte(i, j)).collect())
        .collect();
    let g = m.info.geometry();
    assert_eq!(g.piece_count(), 7);
    for piece in 0..g.piece_count() {
        let mut bytes = Vec::new();
        for s in g.piece_spans(piece) {
            let start = s.file_offset as usize;
            bytes.extend_from_slice(&files[s.file][start..start + s.len as usize]);
        }
        let hash: [u8; 20] = Sha1::digest(&bytes).into();
        assert_eq!(hash, m.info.pieces[piece as usize], "piece {piece}");
    }
}

#[test]
fn bad_fixtures_are_refused() {
    assert_eq!(
        Metainfo::from_bytes(&bad_pieces_fixture())
            .unwrap_err()
            .to_string(),
        "info.pieces length 81 is not a multiple of 20"
    );
    assert_eq!(
        Metainfo::from_bytes(&evil_path_fixture())
            .unwrap_err()
            .to_string(),
        r#"info.files[0].path component ".." is refused: parent folder"#
    );
}
