//! Tests of metainfo parsing: accepted shapes, the info-hash, and one fixed case per refusal.
//! Torrents are built as [`Value`]s and encoded, so each test states only what it changes.

mod errors;
mod fixtures;
mod properties;

use super::*;
use crate::bencode::encode;
use std::path::PathBuf;

/// `n` dummy piece hashes.
fn hashes(n: u64) -> Value {
    Value::Bytes(vec![0xab; 20 * n as usize])
}

fn file(path: &[&str], length: i64) -> Value {
    let mut f = Value::dict();
    f.insert("length", Value::Int(length));
    f.insert("path", Value::List(path.iter().map(Value::bytes).collect()));
    f
}

/// A single-file torrent: `file.bin` of `length` bytes.
fn single(length: i64, piece_length: i64) -> Value {
    let mut info = Value::dict();
    info.insert("name", Value::bytes("file.bin"));
    info.insert("length", Value::Int(length));
    info.insert("piece length", Value::Int(piece_length));
    info.insert(
        "pieces",
        hashes((length as u64).div_ceil(piece_length as u64)),
    );
    torrent(info)
}

/// The album layout of `tests/data/multi.torrent`, with dummy hashes.
fn album() -> Value {
    multi(
        &[
            (&["a.bin"], 40000),
            (&["empty.txt"], 0),
            (&["sub", "b.bin"], 70000),
        ],
        16384,
    )
}

fn multi(files: &[(&[&str], i64)], piece_length: i64) -> Value {
    let total: i64 = files.iter().map(|(_, l)| l).sum();
    let mut info = Value::dict();
    info.insert("name", Value::bytes("album"));
    info.insert(
        "files",
        Value::List(files.iter().map(|(p, l)| file(p, *l)).collect()),
    );
    info.insert("piece length", Value::Int(piece_length));
    info.insert(
        "pieces",
        hashes((total as u64).div_ceil(piece_length as u64)),
    );
    torrent(info)
}

fn torrent(info: Value) -> Value {
    let mut t = Value::dict();
    t.insert("announce", Value::bytes("http://tracker.test/announce"));
    t.insert("info", info);
    t
}

fn dict_mut(v: &mut Value) -> &mut BTreeMap<Vec<u8>, Value> {
    match v {
        Value::Dict(map) => map,
        other => panic!("expected a dictionary, got {other:?}"),
    }
}

/// The info dictionary of a torrent built above.
fn info_mut(t: &mut Value) -> &mut BTreeMap<Vec<u8>, Value> {
    dict_mut(dict_mut(t).get_mut(&b"info"[..]).expect("torrent has info"))
}

/// Entry `i` of a multi-file torrent's `files`.
fn file_mut(t: &mut Value, i: usize) -> &mut BTreeMap<Vec<u8>, Value> {
    match info_mut(t).get_mut(&b"files"[..]) {
        Some(Value::List(files)) => dict_mut(&mut files[i]),
        other => panic!("expected a files list, got {other:?}"),
    }
}

fn parse(t: &Value) -> Metainfo {
    Metainfo::from_bytes(&encode(t)).expect("torrent should parse")
}

#[test]
fn single_file_is_one_entry_named_after_the_torrent() {
    let m = parse(&single(1000, 256));
    let info = &m.info;
    assert_eq!(info.name, "file.bin");
    assert!(!info.multi_file);
    assert_eq!(info.piece_length, 256);
    assert_eq!(info.pieces, vec![[0xab; 20]; 4]);
    assert_eq!(
        info.files,
        [FileEntry {
            path: vec!["file.bin".to_string()],
            length: 1000,
            offset: 0,
            pad: false,
        }]
    );
    assert_eq!(info.total_length(), 1000);
    assert_eq!(info.file_path(0), PathBuf::from("file.bin"));
    assert_eq!(info.file_path(1), PathBuf::new());
    assert!(!info.private);
    assert_eq!(m.announce.as_deref(), Some("http://tracker.test/announce"));
    assert_eq!(
        m.trackers(),
        [vec!["http://tracker.test/announce".to_string()]]
    );
    let g = info.geometry();
    assert_eq!(g.piece_count(), 4);
    assert_eq!(g.piece_len(3), 1000 - 3 * 256);
}

#[test]
fn multi_file_offsets_and_paths() {
    let m = parse(&album());
    let info = &m.info;
    assert!(info.multi_file);
    let offsets: Vec<u64> = info.files.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 40000, 40000]);
    assert_eq!(info.total_length(), 110_000);
    assert_eq!(info.pieces.len(), 7);
    assert_eq!(info.files[2].path, ["sub", "b.bin"]);
    assert_eq!(
        info.file_path(2),
        ["album", "sub", "b.bin"].iter().collect::<PathBuf>()
    );
    assert_eq!(info.file_path(1), PathBuf::from("album/empty.txt"));
    let g = info.geometry();
    assert_eq!(g.file_count(), 3);
    assert_eq!(g.file_pieces(2), 2..7);
}

#[test]
fn info_hash_is_over_the_raw_bytes_even_with_unsorted_keys() {
    // `name` before `length` and `pieces` before `piece length`: not canonical order.
    let mut raw = b"d8:announce3:url4:infod4:name1:a6:lengthi5e6:pieces20:".to_vec();
    raw.extend_from_slice(&[7; 20]);
    raw.extend_from_slice(b"12:piece lengthi16384ee7:comment2:hie");
    let m = Metainfo::from_bytes(&raw).unwrap();

    let start = raw.windows(6).position(|w| w == b"4:info").unwrap() + 6;
    let end = raw.len() - b"7:comment2:hie".len();
    assert_eq!(m.info_bytes, raw[start..end]);
    let expected: [u8; 20] = Sha1::digest(&raw[start..end]).into();
    assert_eq!(m.info_hash, InfoHash(expected));

    // A re-encoding sorts the keys and so hashes differently: proof we did not re-encode.
    let root = bencode::decode(&raw).unwrap();
    let canonical = encode(&root.get("info").unwrap().to_value());
    assert_ne!(canonical, m.info_bytes);
    let canonical_hash: [u8; 20] = Sha1::digest(&canonical).into();
    assert_ne!(m.info_hash, InfoHash(canonical_hash));
}

#[test]
fn info_hash_of_a_canonical_torrent_is_the_hash_of_its_encoded_info() {
    let t = album();
    let m = parse(&t);
    let info = encode(&Value::Dict(info_mut(&mut t.clone()).clone()));
    assert_eq!(m.info_bytes, info);
    let expected: [u8; 20] = Sha1::digest(&info).into();
    assert_eq!(m.info_hash, InfoHash(expected));
}

#[test]
fn utf8_variants_are_preferred() {
    let mut t = album();
    info_mut(&mut t).insert(b"name.utf-8".to_vec(), Value::bytes("Álbum"));
    file_mut(&mut t, 0).insert(
        b"path.utf-8".to_vec(),
        Value::List(vec![Value::bytes("ä.bin")]),
    );
    dict_mut(&mut t).insert(b"comment".to_vec(), Value::bytes("plain"));
    dict_mut(&mut t).insert(b"comment.utf-8".to_vec(), Value::bytes("ünïcode"));
    let m = parse(&t);
    assert_eq!(m.info.name, "Álbum");
    assert_eq!(m.info.files[0].path, ["ä.bin"]);
    assert_eq!(m.info.files[2].path, ["sub", "b.bin"]);
    assert_eq!(m.comment.as_deref(), Some("ünïcode"));
    assert_eq!(m.info.file_path(0), PathBuf::from("Álbum/ä.bin"));
}

#[test]
fn malformed_utf8_variants_fall_back_to_the_plain_field() {
    let mut t = album();
    info_mut(&mut t).insert(b"name.utf-8".to_vec(), Value::Bytes(vec![0xff]));
    file_mut(&mut t, 0).insert(b"path.utf-8".to_vec(), Value::Int(3));
    file_mut(&mut t, 2).insert(b"path.utf-8".to_vec(), Value::List(vec![]));
    dict_mut(&mut t).insert(b"comment".to_vec(), Value::bytes("plain"));
    dict_mut(&mut t).insert(b"comment.utf-8".to_vec(), Value::Bytes(vec![0xc3]));
    let m = parse(&t);
    assert_eq!(m.info.name, "album");
    assert_eq!(m.info.files[0].path, ["a.bin"]);
    assert_eq!(m.info.files[2].path, ["sub", "b.bin"]);
    assert_eq!(m.comment.as_deref(), Some("plain"));
}

#[test]
fn non_utf8_names_are_converted_lossily() {
    let mut t = album();
    info_mut(&mut t).insert(b"name".to_vec(), Value::Bytes(b"caf\xe9".to_vec()));
    file_mut(&mut t, 0).insert(
        b"path".to_vec(),
        Value::List(vec![Value::Bytes(b"\xff.bin".to_vec())]),
    );
    let m = parse(&t);
    assert_eq!(m.info.name, "caf\u{fffd}");
    assert_eq!(m.info.files[0].path, ["\u{fffd}.bin"]);
}

#[test]
fn url_list_may_be_a_string_or_a_list() {
    let cases = [
        (
            Value::bytes("http://seed.test/a"),
            vec!["http://seed.test/a"],
        ),
        (
            Value::List(vec![
                Value::bytes("http://one.test/"),
                Value::Int(5),
                Value::bytes(""),
                Value::bytes("http://two.test/"),
            ]),
            vec!["http://one.test/", "http://two.test/"],
        ),
        (Value::bytes(""), vec![]),
        (Value::Int(1), vec![]),
    ];
    for (value, expected) in cases {
        let mut t = album();
        dict_mut(&mut t).insert(b"url-list".to_vec(), value.clone());
        assert_eq!(parse(&t).url_list, expected, "url-list {value:?}");
    }
}

#[test]
fn announce_list_keeps_tiers_and_drops_junk() {
    let mut t = album();
    let tiers = Value::List(vec![
        Value::List(vec![
            Value::bytes("http://a.test/"),
            Value::bytes("http://b.test/"),
        ]),
        Value::List(vec![]),
        Value::List(vec![Value::Int(1), Value::Bytes(vec![0xff])]),
        Value::bytes("not a tier"),
        Value::List(vec![Value::bytes("udp://c.test:80")]),
    ]);
    dict_mut(&mut t).insert(b"announce-list".to_vec(), tiers);
    let m = parse(&t);
    let expected = vec![
        vec!["http://a.test/".to_string(), "http://b.test/".to_string()],
        vec!["udp://c.test:80".to_string()],
    ];
    assert_eq!(m.announce_list, expected);
    assert_eq!(m.trackers(), expected);
}

#[test]
fn trackers_fall_back_to_announce_then_to_nothing() {
    let mut t = album();
    dict_mut(&mut t).insert(
        b"announce-list".to_vec(),
        Value::List(vec![Value::List(vec![])]),
    );
    let m = parse(&t);
    assert!(m.announce_list.is_empty());
    assert_eq!(
        m.trackers(),
        [vec!["http://tracker.test/announce".to_string()]]
    );
    dict_mut(&mut t).remove(&b"announce"[..]);
    let m = parse(&t);
    assert_eq!(m.announce, None);
    assert!(m.trackers().is_empty());
}

#[test]
fn descriptive_fields_and_their_wrong_types() {
    let mut t = album();
    let top = dict_mut(&mut t);
    top.insert(b"comment".to_vec(), Value::bytes("a comment"));
    top.insert(b"created by".to_vec(), Value::bytes("maker 1.0"));
    top.insert(b"creation date".to_vec(), Value::Int(1_700_000_000));
    let m = parse(&t);
    assert_eq!(m.comment.as_deref(), Some("a comment"));
    assert_eq!(m.created_by.as_deref(), Some("maker 1.0"));
    assert_eq!(m.creation_date, Some(1_700_000_000));

    // Wrong types outside `info` are ignored as if absent, not refused.
    let top = dict_mut(&mut t);
    top.insert(b"announce".to_vec(), Value::Int(1));
    top.insert(b"announce-list".to_vec(), Value::bytes("x"));
    top.insert(b"comment".to_vec(), Value::List(vec![]));
    top.insert(b"created by".to_vec(), Value::Int(2));
    top.insert(b"creation date".to_vec(), Value::bytes("yesterday"));
    let m = parse(&t);
    assert_eq!(m.announce, None);
    assert!(m.announce_list.is_empty());
    assert_eq!(m.comment, None);
    assert_eq!(m.created_by, None);
    assert_eq!(m.creation_date, None);
    assert!(m.extra.is_empty());
}

#[test]
fn unknown_keys_are_preserved_and_hashed() {
    let mut t = album();
    dict_mut(&mut t).insert(b"encoding".to_vec(), Value::bytes("UTF-8"));
    dict_mut(&mut t).insert(b"nodes".to_vec(), Value::List(vec![Value::Int(1)]));
    let plain = parse(&t);
    info_mut(&mut t).insert(b"source".to_vec(), Value::bytes("tracker-x"));
    let m = parse(&t);
    assert_eq!(
        m.extra.keys().collect::<Vec<_>>(),
        [&b"encoding".to_vec(), &b"nodes".to_vec()]
    );
    assert_eq!(m.extra[&b"nodes"[..]], Value::List(vec![Value::Int(1)]));
    assert_eq!(m.info.extra.len(), 1);
    assert_eq!(m.info.extra[&b"source"[..]], Value::bytes("tracker-x"));
    // Unknown info keys are part of the identity (cross-seeding tools rely on this).
    assert_ne!(m.info_hash, plain.info_hash);
}

#[test]
fn private_is_only_the_integer_one() {
    for (value, expected) in [
        (Some(1), true),
        (Some(0), false),
        (Some(2), false),
        (None, false),
    ] {
        let mut t = album();
        if let Some(v) = value {
            info_mut(&mut t).insert(b"private".to_vec(), Value::Int(v));
        }
        assert_eq!(parse(&t).info.private, expected, "private = {value:?}");
    }
}

#[test]
fn empty_content_has_no_pieces() {
    // Decision: a torrent of only empty files is valid, with an empty `pieces` string; it is
    // complete as soon as its (empty) files exist.
    let m = parse(&multi(&[(&["a"], 0), (&["b"], 0)], 16384));
    assert_eq!(m.info.total_length(), 0);
    assert!(m.info.pieces.is_empty());
    assert_eq!(m.info.geometry().piece_count(), 0);
    let m = parse(&single(0, 16384));
    assert_eq!(m.info.files[0].length, 0);
    assert!(m.info.pieces.is_empty());
}

#[test]
fn padding_files_may_share_paths() {
    let mut t = multi(
        &[
            (&["a"], 100),
            (&[".pad", "16284"], 16284),
            (&["b"], 100),
            (&[".pad", "16284"], 16284),
            (&["c"], 100),
        ],
        16384,
    );
    file_mut(&mut t, 1).insert(b"attr".to_vec(), Value::bytes("p"));
    file_mut(&mut t, 3).insert(b"attr".to_vec(), Value::bytes("p"));
    file_mut(&mut t, 4).insert(b"attr".to_vec(), Value::bytes("x"));
    let m = parse(&t);
    let pads: Vec<bool> = m.info.files.iter().map(|f| f.pad).collect();
    assert_eq!(pads, [false, true, false, true, false]);
    assert_eq!(m.info.pieces.len(), 3);
}

#[test]
fn largest_piece_length_is_accepted() {
    let m = parse(&single(5, MAX_PIECE_LENGTH as i64));
    assert_eq!(m.info.piece_length, MAX_PIECE_LENGTH);
    assert_eq!(m.info.geometry().piece_len(0), 5);
}

#[test]
fn a_torrent_from_fetched_info_keeps_its_identity_and_the_magnet_trackers() {
    let original = parse(&album());
    let trackers = [
        "http://a.test/announce".to_string(),
        "udp://b.test:1".into(),
    ];
    for n in 0..=2 {
        let (meta, bytes) = Metainfo::from_info(&original.info_bytes, &trackers[..n]).unwrap();
        assert_eq!(meta.info_hash, original.info_hash);
        assert_eq!(meta.info, original.info);
        let tiers: Vec<Vec<String>> = trackers[..n].iter().map(|t| vec![t.clone()]).collect();
        assert_eq!(meta.trackers(), tiers);
        assert_eq!(Metainfo::from_bytes(&bytes).unwrap(), meta);
    }
    let err = Metainfo::from_info(b"d4:name1:xe", &[]).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
