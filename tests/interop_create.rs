//! Interop: torrents made by `bitswarm create` are accepted by Transmission and libtorrent with
//! the same info-hash, and libtorrent verifies every piece of the content against them.

mod common;

use std::path::Path;
use std::process::Command;

use bitswarm_client::Metainfo;
use common::{bitswarm, libtorrent_python, tool, write_generated};

/// Makes a torrent of `content` and returns our info-hash.
fn create(content: &Path, torrent: &Path, piece_length: &str) -> String {
    let out = bitswarm()
        .args([
            "create",
            content.to_str().unwrap(),
            "-o",
            torrent.to_str().unwrap(),
        ])
        .args([
            "-t",
            "http://127.0.0.1:6969/announce",
            "--piece-length",
            piece_length,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Metainfo::from_bytes(&std::fs::read(torrent).unwrap())
        .unwrap()
        .info_hash
        .to_hex()
}

/// A multi-file tree with a zero-length file, pieces spanning files and a short last piece.
fn tree(root: &Path) {
    write_generated(&root.join("a.bin"), 0, 100_000);
    write_generated(&root.join("b/empty"), 1, 0);
    write_generated(&root.join("b/c.bin"), 2, 33_333);
    write_generated(&root.join("d.txt"), 3, 65_536);
}

#[test]
fn transmission_show_reports_our_info_hash() {
    let Some(show) = tool("transmission-show") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    let single = dir.path().join("single.bin");
    write_generated(&single, 5, 300_001);
    for (content, pl) in [(&root, "16KiB"), (&single, "32KiB")] {
        let torrent = dir.path().join("t.torrent");
        let _ = std::fs::remove_file(&torrent);
        let ours = create(content, &torrent, pl);
        let out = Command::new(&show).arg(&torrent).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let hash = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Hash: "))
            .unwrap_or_else(|| panic!("no Hash line in {text}"));
        assert_eq!(hash.trim(), ours, "transmission-show disagrees");
    }
}

/// Loads the torrent in libtorrent, points it at the content and lets it check every piece.
const LT_CHECK: &str = r#"
import sys, time, libtorrent as lt
torrent, save_path = sys.argv[1], sys.argv[2]
ti = lt.torrent_info(torrent)
print("hash", str(ti.info_hashes().v1))
ses = lt.session({"enable_dht": False, "enable_lsd": False, "enable_upnp": False,
                  "enable_natpmp": False, "listen_interfaces": "127.0.0.1:0"})
h = ses.add_torrent({"ti": ti, "save_path": save_path})
deadline = time.time() + 60
while time.time() < deadline:
    s = h.status()
    if s.state in (lt.torrent_status.seeding, lt.torrent_status.finished):
        break
    time.sleep(0.05)
s = h.status()
print("progress", s.progress, "pieces", s.num_pieces, "of", ti.num_pieces())
"#;

#[test]
fn libtorrent_accepts_and_verifies_our_torrent() {
    let Some(python) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    tree(&root);
    let torrent = dir.path().join("tree.torrent");
    let ours = create(&root, &torrent, "16KiB");
    let out = Command::new(python)
        .args([
            "-c",
            LT_CHECK,
            torrent.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("hash {ours}")), "{text}");
    let pieces = text
        .lines()
        .find_map(|l| l.strip_prefix("progress "))
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = pieces.split_whitespace().collect();
    assert_eq!(words[2], words[4], "libtorrent verified only {pieces}");
}
