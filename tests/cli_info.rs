//! `bitswarm info` on the fixture torrents and magnets: golden output and every error path.

mod common;

use common::{fixture, run};

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a command that must fail with exit 2 and a one-line error; returns that line.
fn bad_input(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert_eq!(err.lines().count(), 1, "one line expected, got {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn single_file_text() {
    let path = fixture("single.torrent");
    insta::assert_snapshot!(stdout_of(&["info", path.to_str().unwrap()]));
}

#[test]
fn multi_file_text() {
    let path = fixture("multi.torrent");
    insta::assert_snapshot!(stdout_of(&["info", path.to_str().unwrap()]));
}

#[test]
fn single_file_json() {
    let path = fixture("single.torrent");
    let out = stdout_of(&["info", path.to_str().unwrap(), "--json"]);
    assert_eq!(out.lines().count(), 1, "one JSON object on one line");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn multi_file_json() {
    let path = fixture("multi.torrent");
    let out = stdout_of(&["info", path.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["info_hash"].as_str().unwrap().len(), 40);
    assert_eq!(v["files"].as_array().unwrap().len(), 3);
    assert_eq!(v["private"], true);
    insta::assert_json_snapshot!(v);
}

#[test]
fn magnet_text_and_json() {
    let uri = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=Some%20Name\
               &tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr=udp%3A%2F%2F127.0.0.1%3A6969&x.pe=127.0.0.1:6881";
    insta::assert_snapshot!(stdout_of(&["info", uri]));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&["info", uri, "--json"])).unwrap();
    insta::assert_json_snapshot!(v);
}

#[test]
fn malformed_inputs_exit_2_with_one_line() {
    let bad = fixture("bad-pieces.torrent");
    let err = bad_input(&["info", bad.to_str().unwrap()]);
    assert!(err.contains("multiple of 20"), "{err}");

    let evil = fixture("evil-path.torrent");
    let err = bad_input(&["info", evil.to_str().unwrap()]);
    assert!(err.contains(".."), "{err}");

    let err = bad_input(&["info", "/nonexistent/file.torrent"]);
    assert!(err.contains("cannot read"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.torrent");
    std::fs::write(&garbage, b"d4:infoi1e").unwrap();
    let err = bad_input(&["info", garbage.to_str().unwrap()]);
    assert!(err.contains("byte"), "{err}");

    let deep = dir.path().join("deep.torrent");
    std::fs::write(&deep, vec![b'l'; 100_000]).unwrap();
    let err = bad_input(&["info", deep.to_str().unwrap()]);
    assert!(err.contains("nesting"), "{err}");

    let err = bad_input(&["info", "magnet:?xt=urn:btih:1234"]);
    assert!(err.contains("magnet"), "{err}");
    let err = bad_input(&["info", "magnet:?dn=x"]);
    assert!(err.contains("xt"), "{err}");
}

/// A torrent whose every free-text field tries to steer the terminal: colour and clear-screen
/// sequences, a carriage return to overwrite the line, an 8-bit CSI, a title-setting OSC and a
/// right-to-left override that would show `exe.txt` for `txt.exe`.
fn hostile_torrent(dir: &std::path::Path) -> std::path::PathBuf {
    use bitswarm_client::bencode::{encode, Value};

    let text = |s: &str| Value::bytes(s);
    let mut file = Value::dict();
    file.insert("length", Value::Int(10));
    file.insert(
        "path",
        Value::List(vec![
            text("dir\x1b]0;pwned\x07"),
            text("file\u{202e}txt.exe"),
        ]),
    );
    let mut info = Value::dict();
    info.insert("name", text("evil\x1b[31mred\rname"));
    info.insert("piece length", Value::Int(16384));
    info.insert("pieces", Value::Bytes(vec![0; 20]));
    info.insert("files", Value::List(vec![file]));
    let mut root = Value::dict();
    root.insert("info", info);
    root.insert("announce", text("http://t.test/\x1b[2J"));
    root.insert(
        "announce-list",
        Value::List(vec![Value::List(vec![
            text("http://t.test/\x1b[2J"),
            text("udp://u.test:1\r"),
        ])]),
    );
    root.insert("comment", text("line one\x1b[0m\nline two\rover"));
    root.insert("created by", text("maker\u{9b}6n"));
    root.insert("url-list", Value::List(vec![text("http://w.test/\x1b[5m")]));
    let path = dir.join("hostile.torrent");
    std::fs::write(&path, encode(&root)).unwrap();
    path
}

#[test]
fn control_characters_in_torrent_text_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = hostile_torrent(dir.path());
    let out = stdout_of(&["info", path.to_str().unwrap()]);
    let raw: Vec<char> = out
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
        .collect();
    assert!(raw.is_empty(), "raw control characters {raw:?} in {out}");
    // The temporary directory's name is not part of the output, so the snapshot is stable.
    insta::assert_snapshot!(out);

    // JSON keeps the exact text; serde_json escapes it for the terminal.
    let json = stdout_of(&["info", path.to_str().unwrap(), "--json"]);
    assert!(
        !json.contains('\x1b') && json.contains("\\u001b[31m"),
        "{json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["name"], "evil\x1b[31mred\rname");
}
