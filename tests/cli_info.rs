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
