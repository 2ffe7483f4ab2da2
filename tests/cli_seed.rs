//! `bitswarm seed`: refuses a folder without the whole content (it never downloads), and
//! otherwise seeds quietly until SIGINT or SIGTERM, then exits 0 with the data untouched.
//! Peers downloading from the seed are the upload side's tests, not these.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::fixture::{sha256_tree, Fixture};
use common::process::{free_port, poll_until, Proc};
use common::{bitswarm_in, one_line_error};

/// `bitswarm seed TORRENT DIR` with no config file in reach.
fn seed(home: &Path, torrent: &Path, dir: &Path) -> Command {
    let mut cmd = bitswarm_in(home);
    cmd.arg("seed").arg(torrent).arg(dir);
    cmd
}

/// A single-file torrent of 7 pieces whose whole content is in `fixture.parent`.
fn small_fixture(dir: &Path) -> Fixture {
    Fixture::single(dir, "data.bin", 100_000, "16KiB", &[])
}

#[test]
fn an_empty_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = seed(dir.path(), &fixture.torrent, &empty).output().unwrap();
    let expected = format!(
        "bitswarm: {}: only 0 of 7 pieces present; seed needs the whole torrent\n",
        empty.join("data.bin").display()
    );
    assert_eq!(one_line_error(&out, 1), expected);
    // Refusing creates nothing: no content file, no resume folder.
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn a_damaged_piece_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let file = fixture.parent.join("data.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[50_000] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let out = seed(dir.path(), &fixture.torrent, &fixture.parent)
        .output()
        .unwrap();
    let line = one_line_error(&out, 1);
    assert!(line.contains(": only 6 of 7 pieces present;"), "{line}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let missing = dir.path().join("missing");
    let out = seed(dir.path(), &fixture.torrent, &missing)
        .output()
        .unwrap();
    assert!(one_line_error(&out, 2).starts_with(&format!("bitswarm: {}: ", missing.display())));
    let out = seed(dir.path(), &fixture.torrent, &fixture.torrent)
        .output()
        .unwrap();
    assert!(one_line_error(&out, 2).ends_with(": not a folder\n"));
    let magnet = Path::new("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567");
    let out = seed(dir.path(), magnet, &fixture.parent).output().unwrap();
    assert!(one_line_error(&out, 2).contains("use a .torrent file"));
}

/// Starts a seed of the fixture listening on a fresh port and waits until peers can connect.
fn start(dir: &Path, fixture: &Fixture, flags: &[&str]) -> Proc {
    let port = free_port();
    let mut cmd = seed(dir, &fixture.torrent, &fixture.parent);
    cmd.args(["--port", &port.to_string()]).args(flags);
    let mut proc = Proc::spawn(&format!("seed-{port}"), cmd, &dir.join("logs"));
    poll_until(Duration::from_secs(30), "the seed to listen", || {
        proc.assert_running();
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())
    });
    proc
}

/// Sends `signal` and checks the seed ends with exit 0 within a few seconds.
fn stop(proc: &mut Proc, signal: &str) {
    let asked = Instant::now();
    proc.signal(signal);
    let status = proc.wait_timeout(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", proc.report());
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{}",
        proc.report()
    );
}

#[test]
fn seeds_until_sigint_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let mut proc = start(dir.path(), &fixture, &["--json"]);
    stop(&mut proc, "INT");
    assert_eq!(proc.stderr(), "", "{}", proc.report());
    let summary: serde_json::Value = serde_json::from_str(proc.stdout().trim()).unwrap();
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["downloaded"], 0, "{summary}");
    assert_eq!(summary["uploaded"], 0, "{summary}");
    assert_eq!(summary["ratio"], 0.0, "{summary}");
    assert_eq!(summary["had"], fixture.total_length, "{summary}");
    assert_eq!(
        sha256_tree(&fixture.parent.join("data.bin")),
        fixture.digests
    );
}

#[test]
fn seeds_quietly_when_piped_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let mut proc = start(dir.path(), &fixture, &[]);
    stop(&mut proc, "TERM");
    // No progress bar and no colours when piped: plain log lines (the library warns that
    // this torrent has no tracker) and the summary last.
    assert_eq!(proc.stdout(), "");
    let stderr = proc.stderr();
    assert!(!stderr.contains(['\r', '\x1b']), "{stderr:?}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("data.bin: complete in "), "{stderr:?}");
    assert!(last.contains(" uploaded, ratio 0.00, "), "{stderr:?}");
}
