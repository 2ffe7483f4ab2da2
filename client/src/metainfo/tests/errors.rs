//! One fixed case per refusal, checking the exact one-line message a user would see.

use super::*;

fn refusal(t: &Value) -> String {
    refusal_of_bytes(&encode(t))
}

fn refusal_of_bytes(bytes: &[u8]) -> String {
    let message = Metainfo::from_bytes(bytes)
        .expect_err("torrent should be refused")
        .to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

/// `album()` with its info dictionary edited by `edit`.
fn album_info(edit: impl FnOnce(&mut BTreeMap<Vec<u8>, Value>)) -> Value {
    let mut t = album();
    edit(info_mut(&mut t));
    t
}

/// `album()` with file `i` edited by `edit`.
fn album_file(i: usize, edit: impl FnOnce(&mut BTreeMap<Vec<u8>, Value>)) -> Value {
    let mut t = album();
    edit(file_mut(&mut t, i));
    t
}

fn set(key: &str, value: Value) -> impl FnOnce(&mut BTreeMap<Vec<u8>, Value>) + '_ {
    move |d| {
        d.insert(key.as_bytes().to_vec(), value);
    }
}

fn unset(key: &str) -> impl FnOnce(&mut BTreeMap<Vec<u8>, Value>) + '_ {
    move |d| {
        d.remove(key.as_bytes());
    }
}

fn path(components: &[&str]) -> Value {
    Value::List(components.iter().map(Value::bytes).collect())
}

#[test]
fn refuses_what_is_not_a_torrent() {
    assert_eq!(
        refusal_of_bytes(b"nope"),
        "malformed torrent: bencode: unexpected byte 0x6e at byte 0"
    );
    assert_eq!(
        refusal_of_bytes(b"i5e"),
        "torrent is an integer, expected a dictionary"
    );
    assert_eq!(
        refusal_of_bytes(b"le"),
        "torrent is a list, expected a dictionary"
    );
    assert_eq!(refusal_of_bytes(b"de"), "info is missing");
    assert_eq!(
        refusal_of_bytes(b"d4:info4:teste"),
        "info is a string, expected a dictionary"
    );
    let mut t = album();
    dict_mut(&mut t).remove(&b"info"[..]);
    assert_eq!(refusal(&t), "info is missing");
}

#[test]
fn refuses_bad_name_and_piece_fields() {
    let cases: Vec<(Value, &str)> = vec![
        (album_info(unset("name")), "info.name is missing"),
        (
            album_info(set("name", Value::Int(1))),
            "info.name is an integer, expected a string",
        ),
        (
            album_info(unset("piece length")),
            "info.piece length is missing",
        ),
        (
            album_info(set("piece length", Value::bytes("16384"))),
            "info.piece length is a string, expected an integer",
        ),
        (
            album_info(set("piece length", Value::Int(-16384))),
            "info.piece length is negative (-16384)",
        ),
        (
            album_info(set("piece length", Value::Int(0))),
            "info.piece length must be positive",
        ),
        (
            album_info(set("piece length", Value::Int(256 << 20))),
            "info.piece length 268435456 exceeds the maximum of 134217728",
        ),
        (album_info(unset("pieces")), "info.pieces is missing"),
        (
            album_info(set("pieces", Value::List(vec![]))),
            "info.pieces is a list, expected a string",
        ),
        (
            album_info(set("pieces", Value::Bytes(vec![0; 41]))),
            "info.pieces length 41 is not a multiple of 20",
        ),
        (
            album_info(set("pieces", Value::Bytes(vec![0; 20 * 8]))),
            "torrent has 8 piece hashes but 110000 bytes at piece length 16384 need 7",
        ),
        (
            album_info(set("private", Value::bytes("1"))),
            "info.private is a string, expected an integer",
        ),
    ];
    for (t, expected) in cases {
        assert_eq!(refusal(&t), expected);
    }
}

#[test]
fn refuses_piece_count_mismatches() {
    let mut t = single(1000, 256);
    info_mut(&mut t).insert(b"pieces".to_vec(), hashes(3));
    assert_eq!(
        refusal(&t),
        "torrent has 3 piece hashes but 1000 bytes at piece length 256 need 4"
    );
    let mut empty = single(0, 256);
    info_mut(&mut empty).insert(b"pieces".to_vec(), hashes(1));
    assert_eq!(
        refusal(&empty),
        "torrent has 1 piece hashes but 0 bytes at piece length 256 need 0"
    );
}

#[test]
fn refuses_bad_length_or_files() {
    let mut both = album();
    info_mut(&mut both).insert(b"length".to_vec(), Value::Int(5));
    let cases: Vec<(Value, &str)> = vec![
        (both, "info has both length and files"),
        (
            album_info(unset("files")),
            "info has neither length nor files",
        ),
        (
            album_info(set("files", Value::bytes("a.bin"))),
            "info.files is a string, expected a list",
        ),
        (
            album_info(set("files", Value::List(vec![]))),
            "info.files is empty",
        ),
        (
            album_info(set("files", Value::List(vec![Value::Int(3)]))),
            "info.files[0] is an integer, expected a dictionary",
        ),
        (
            album_file(2, set("length", Value::bytes("70000"))),
            "info.files[2].length is a string, expected an integer",
        ),
        (
            album_file(1, unset("length")),
            "info.files[1].length is missing",
        ),
        (
            album_file(0, set("length", Value::Int(-1))),
            "info.files[0].length is negative (-1)",
        ),
        (
            album_file(2, unset("path")),
            "info.files[2].path is missing",
        ),
        (
            album_file(2, set("path", Value::bytes("sub/b.bin"))),
            "info.files[2].path is a string, expected a list",
        ),
        (
            album_file(1, set("path", path(&[]))),
            "info.files[1].path is empty",
        ),
        (
            album_file(
                2,
                set(
                    "path",
                    Value::List(vec![Value::bytes("sub"), Value::Int(7)]),
                ),
            ),
            "info.files[2].path[1] is an integer, expected a string",
        ),
        (
            album_file(0, set("attr", Value::Int(1))),
            "info.files[0].attr is an integer, expected a string",
        ),
    ];
    for (t, expected) in cases {
        assert_eq!(refusal(&t), expected);
    }

    let mut single_bad = single(10, 256);
    info_mut(&mut single_bad).insert(b"length".to_vec(), Value::Int(-10));
    assert_eq!(refusal(&single_bad), "info.length is negative (-10)");
    info_mut(&mut single_bad).insert(b"length".to_vec(), Value::List(vec![]));
    assert_eq!(
        refusal(&single_bad),
        "info.length is a list, expected an integer"
    );
}

#[test]
fn refuses_a_total_that_overflows() {
    let t2 = album_info(set(
        "files",
        Value::List(vec![
            file(&["x"], i64::MAX),
            file(&["y"], i64::MAX),
            file(&["z"], i64::MAX),
        ]),
    ));
    assert_eq!(
        refusal(&t2),
        "total length overflows 64 bits at info.files[2]"
    );
}

#[test]
fn refuses_unsafe_components_naming_file_and_component() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[".."],
            r#"info.files[1].path component ".." is refused: parent folder"#,
        ),
        (
            &["ok", ".."],
            r#"info.files[1].path component ".." is refused: parent folder"#,
        ),
        (
            &["."],
            r#"info.files[1].path component "." is refused: current folder"#,
        ),
        (
            &["a", ""],
            r#"info.files[1].path component "" is refused: empty"#,
        ),
        (
            &["a/b"],
            r#"info.files[1].path component "a/b" is refused: contains a path separator"#,
        ),
        (
            &["/etc"],
            r#"info.files[1].path component "/etc" is refused: contains a path separator"#,
        ),
        (
            &["a\\..\\b"],
            r#"info.files[1].path component "a\\..\\b" is refused: contains a path separator"#,
        ),
        (
            &["a\0b"],
            r#"info.files[1].path component "a\0b" is refused: contains a nul byte"#,
        ),
    ];
    for (components, expected) in cases {
        let t = album_file(1, set("path", path(components)));
        assert_eq!(refusal(&t), *expected, "path {components:?}");
    }
    // The UTF-8 variant is checked too, since it is the one we would use.
    let t = album_file(0, set("path.utf-8", path(&["..", "x"])));
    assert_eq!(
        refusal(&t),
        r#"info.files[0].path.utf-8 component ".." is refused: parent folder"#
    );
}

#[test]
fn refuses_unsafe_names() {
    for name in ["..", ".", "", "a/b", "c:\\x", "nul\0"] {
        let t = album_info(set("name", Value::bytes(name)));
        let message = refusal(&t);
        assert!(
            message.starts_with(&format!("info.name component {name:?} is refused: ")),
            "{message}"
        );
        let mut s = single(10, 256);
        info_mut(&mut s).insert(b"name".to_vec(), Value::bytes(name));
        assert!(refusal(&s).starts_with("info.name component"));
    }
    let t = album_info(set("name.utf-8", Value::bytes("..")));
    assert_eq!(
        refusal(&t),
        r#"info.name.utf-8 component ".." is refused: parent folder"#
    );
}

#[test]
fn refuses_clashing_paths() {
    let dup = multi(&[(&["a"], 1), (&["b"], 1), (&["a"], 1)], 16384);
    assert_eq!(
        refusal(&dup),
        r#"info.files[2] has the same path "a" as info.files[0]"#
    );
    let folder = multi(&[(&["sub", "x", "y"], 1), (&["sub", "x"], 1)], 16384);
    assert_eq!(
        refusal(&folder),
        r#"info.files[1] path "sub/x" is a folder of info.files[0]"#
    );
    // Not a clash: "sub/x" and "sub/xy" only share a text prefix.
    parse(&multi(&[(&["sub", "x"], 1), (&["sub", "xy"], 1)], 16384));
    // Two names that become the same text after lossy decoding are a clash, not an overwrite.
    let mut lossy = multi(&[(&["a"], 1), (&["b"], 1)], 16384);
    file_mut(&mut lossy, 0).insert(
        b"path".to_vec(),
        Value::List(vec![Value::Bytes(vec![0xff])]),
    );
    file_mut(&mut lossy, 1).insert(
        b"path".to_vec(),
        Value::List(vec![Value::Bytes(vec![0xfe])]),
    );
    assert_eq!(
        refusal(&lossy),
        "info.files[1] has the same path \"\u{fffd}\" as info.files[0]"
    );
}
