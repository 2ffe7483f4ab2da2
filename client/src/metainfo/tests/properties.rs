//! Property tests: valid torrents parse to what was built, and no input — random bytes, a
//! valid torrent with bytes mutated, or with fields replaced by random values — panics.

use super::*;
use proptest::prelude::*;

/// A valid multi-file torrent: up to 5 files with distinct names, some empty, and a piece
/// length that may be smaller or larger than the files.
fn valid_torrent() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(0i64..3000, 1..5),
        1i64..5000,
        any::<bool>(),
    )
        .prop_map(|(lengths, piece_length, nested)| {
            let names: Vec<String> = (0..lengths.len()).map(|i| format!("f{i}")).collect();
            let files: Vec<(Vec<&str>, i64)> = names
                .iter()
                .zip(&lengths)
                .map(|(n, &l)| {
                    let path = if nested {
                        vec!["dir", n.as_str()]
                    } else {
                        vec![n.as_str()]
                    };
                    (path, l)
                })
                .collect();
            let refs: Vec<(&[&str], i64)> = files.iter().map(|(p, l)| (p.as_slice(), *l)).collect();
            multi(&refs, piece_length)
        })
}

/// A small random bencode value to drop into a torrent in place of a field.
fn junk() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        (-2i64..3).prop_map(Value::Int),
        prop::collection::vec(any::<u8>(), 0..45).prop_map(Value::Bytes),
        prop::sample::select(vec!["..", ".", "", "a/b", "x", "a\0"]).prop_map(Value::bytes),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::List),
            prop::collection::btree_map(
                prop::sample::select(vec!["length", "path", "name", "attr"])
                    .prop_map(|k| k.as_bytes().to_vec()),
                inner,
                0..3,
            )
            .prop_map(Value::Dict),
        ]
    })
}

/// A byte-level edit of an encoded torrent.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match *edit {
        Edit::Flip(i, b) => {
            let i = i % bytes.len();
            bytes[i] ^= b | 1;
        }
        Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Edit::Delete(i) => {
            bytes.remove(i % bytes.len());
        }
        Edit::Truncate(i) => bytes.truncate(i % bytes.len()),
    }
}

/// Whatever parses must keep the core promises: hash of the raw info bytes, which are part of
/// the input, and a consistent geometry.
fn check_accepted(input: &[u8], m: &Metainfo) -> Result<(), TestCaseError> {
    let hash: [u8; 20] = Sha1::digest(&m.info_bytes).into();
    prop_assert_eq!(m.info_hash, InfoHash(hash));
    prop_assert!(input.windows(m.info_bytes.len()).any(|w| w == m.info_bytes));
    let g = m.info.geometry();
    prop_assert_eq!(g.total_length(), m.info.total_length());
    prop_assert_eq!(g.piece_count() as usize, m.info.pieces.len());
    for f in &m.info.files {
        for c in &f.path {
            prop_assert!(!c.is_empty() && c != "." && c != "..");
            prop_assert!(!c.contains(['/', '\\', '\0']));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            check_accepted(&bytes, &m)?;
        }
    }

    #[test]
    fn valid_torrents_parse_to_what_was_built(t in valid_torrent()) {
        let bytes = encode(&t);
        let m = Metainfo::from_bytes(&bytes).unwrap();
        check_accepted(&bytes, &m)?;
        let mut t = t;
        let info = encode(&Value::Dict(info_mut(&mut t).clone()));
        prop_assert_eq!(&m.info_bytes, &info);
        let built = match info_mut(&mut t).get(&b"files"[..]) {
            Some(Value::List(files)) => files.len(),
            _ => 0,
        };
        prop_assert_eq!(m.info.files.len(), built);
        let mut offset = 0;
        for f in &m.info.files {
            prop_assert_eq!(f.offset, offset);
            offset += f.length;
        }
    }

    #[test]
    fn byte_mutated_torrents_never_panic(
        t in valid_torrent(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = encode(&t);
        for e in &edits {
            apply(&mut bytes, e);
        }
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            check_accepted(&bytes, &m)?;
        }
    }

    #[test]
    fn field_mutated_torrents_never_panic(
        t in valid_torrent(),
        key in prop::sample::select(vec![
            "name", "piece length", "pieces", "length", "files", "private", "name.utf-8",
        ]),
        file_key in prop::sample::select(vec!["length", "path", "path.utf-8", "attr"]),
        value in junk(),
        in_file in any::<bool>(),
    ) {
        let mut t = t;
        if in_file {
            file_mut(&mut t, 0).insert(file_key.as_bytes().to_vec(), value);
        } else {
            info_mut(&mut t).insert(key.as_bytes().to_vec(), value);
        }
        let bytes = encode(&t);
        match Metainfo::from_bytes(&bytes) {
            Ok(m) => check_accepted(&bytes, &m)?,
            Err(e) => prop_assert!(!e.to_string().contains('\n')),
        }
    }
}
