//! `bitswarm create`: the torrent it writes parses back, hashes correctly and is reproducible.

mod common;

use bitswarm_client::Metainfo;
use common::{bitswarm, run, write_generated};
use sha1::{Digest, Sha1};

#[test]
fn directory_torrent_round_trips_through_info() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    write_generated(&root.join("a.bin"), 0, 40_000);
    write_generated(&root.join("empty.txt"), 1, 0);
    write_generated(&root.join("sub/b.bin"), 2, 70_000);
    let out_path = dir.path().join("album.torrent");
    let out = bitswarm()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "create",
            root.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
            "-t",
            "http://127.0.0.1:6969/announce,http://127.0.0.2:6969/announce",
            "-t",
            "udp://127.0.0.1:6969",
            "--piece-length",
            "16KiB",
            "--private",
            "--webseed",
            "http://127.0.0.1:8080/",
            "--comment",
            "made in a test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&out_path).unwrap();
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(meta.info.name, "album");
    assert!(meta.info.private);
    assert_eq!(meta.info.piece_length, 16384);
    assert_eq!(meta.creation_date, Some(1_700_000_000));
    assert_eq!(meta.comment.as_deref(), Some("made in a test"));
    assert_eq!(meta.url_list, ["http://127.0.0.1:8080/"]);
    assert_eq!(
        meta.trackers(),
        vec![
            vec![
                "http://127.0.0.1:6969/announce".to_string(),
                "http://127.0.0.2:6969/announce".to_string()
            ],
            vec!["udp://127.0.0.1:6969".to_string()]
        ]
    );
    let paths: Vec<_> = (0..meta.info.files.len())
        .map(|i| meta.info.file_path(i).to_string_lossy().into_owned())
        .collect();
    assert_eq!(paths, ["album/a.bin", "album/empty.txt", "album/sub/b.bin"]);
    let mut all = std::fs::read(root.join("a.bin")).unwrap();
    all.extend(std::fs::read(root.join("sub/b.bin")).unwrap());
    let hashes: Vec<[u8; 20]> = all.chunks(16384).map(|c| Sha1::digest(c).into()).collect();
    assert_eq!(meta.info.pieces, hashes);

    // Same content and date: byte-for-byte the same torrent.
    let again = dir.path().join("again.torrent");
    let out = bitswarm()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "create",
            root.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
        ])
        .args([
            "-t",
            "http://127.0.0.1:6969/announce,http://127.0.0.2:6969/announce",
        ])
        .args([
            "-t",
            "udp://127.0.0.1:6969",
            "--piece-length",
            "16384",
            "--private",
        ])
        .args([
            "--webseed",
            "http://127.0.0.1:8080/",
            "--comment",
            "made in a test",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
}

#[test]
fn refuses_bad_requests_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    write_generated(&file, 0, 1000);
    let out_path = dir.path().join("f.torrent");
    let o = out_path.to_str().unwrap();
    let f = file.to_str().unwrap();
    for args in [
        vec!["create", "/nonexistent/path", "-o", o],
        vec!["create", f, "-o", o, "--piece-length", "1000"],
        vec!["create", f, "-o", o, "--piece-length", "lots"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out_path.exists());
    }
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let out = run(&["create", empty.to_str().unwrap(), "-o", o]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 bytes"), "{err}");

    assert!(run(&["create", f, "-o", o]).status.success());
    let out = run(&["create", f, "-o", o]);
    assert_eq!(out.status.code(), Some(2), "refuses to overwrite");
    assert!(run(&["create", f, "-o", o, "--force"]).status.success());
}
