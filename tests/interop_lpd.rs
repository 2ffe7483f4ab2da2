//! Local peer discovery (BEP 14) over real multicast: a download given no tracker, no peer and
//! no DHT finds its seeder through the seeder's and its own announces. Each test runs the swarm
//! in a network namespace it creates (`unshare -n`, with `tests/peers/lpd_netns.sh`): its own
//! loopback with multicast routed to it, so no announce leaves the namespace.
//!
//! One seeder is bitswarm, LPD on through its config file (the download starts from a bare magnet
//! link: the metadata, too, comes from the peer LPD found), the other libtorrent with its local
//! service discovery on.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::fixture::{Fixture, AWKWARD_FILES};
use common::process::Proc;

/// The whole run in the namespace: the seeder's check, the announces, the download.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// One test at a time: they move real data on a shared 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether this machine lets a test create a network namespace; says why not when it does not.
/// (A kernel permission, not a package the test command could install: without it the tests
/// are skipped with this message, even when the interop suite is required.)
fn netns_available() -> bool {
    let ok = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: `unshare -n` is not permitted here, so no network namespace for LPD");
    }
    ok
}

/// Runs the swarm in a new namespace; returns the download's `--json` summary.
fn run_in_netns(dir: &Path, fx: &Fixture, seeder: &str, link: &str) -> serde_json::Value {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    // A bitswarm seeder turns LPD on through its config file (the download through --lpd).
    let config = dir.join("xdg/bitswarm/config.toml");
    std::fs::create_dir_all(config.parent().expect("parent")).expect("config dir");
    std::fs::write(&config, "lpd = true\n").expect("config file");
    let mut cmd = Command::new("unshare");
    cmd.arg("-n")
        .arg("sh")
        .arg(common::peers::peer_script("lpd_netns.sh"))
        .env("BW", env!("CARGO_BIN_EXE_bitswarm"))
        .env("SEEDER", seeder)
        .env("TORRENT", &fx.torrent)
        .env("CONTENT", &fx.parent)
        .env("LINK", link)
        .env("OUT", dir.join("out"))
        .env("LOGS", &logs)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"));
    if let Some(python) = common::libtorrent_python() {
        cmd.env("PYTHON", python)
            .env("LT_SEED", common::peers::peer_script("lt_seed.py"));
    }
    let mut proc = Proc::spawn("lpd netns", cmd, dir);
    let status = proc.wait_timeout(RUN_TIMEOUT);
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
    let report = format!(
        "{}\nseeder stderr:\n{}\ndownload stderr:\n{}",
        proc.report(),
        read("seeder.err"),
        read("download.err")
    );
    assert_ne!(
        status.code(),
        Some(97),
        "cannot set up the namespace\n{report}"
    );
    assert!(status.success(), "the download failed\n{report}");
    let summary: serde_json::Value = serde_json::from_str(read("download.out").trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e})\n{report}"));
    assert_eq!(summary["complete"], true, "{summary}\n{report}");
    // Whoever heard the other's announce dialed: the downloader, or a bitswarm seeder.
    let heard = |log: &str| read(log).contains("local peer announced");
    assert!(
        heard("download.err") || (seeder == "bitswarm" && heard("seeder.err")),
        "the peers met through LPD\n{report}"
    );
    fx.assert_same_content(&dir.join("out"), "bitswarm (lpd)");
    summary
}

#[test]
fn a_bare_magnet_finds_a_bitswarm_seeder_on_the_local_network() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(dir.path(), "local", &AWKWARD_FILES, "32KiB", &[]);
    let link = format!("magnet:?xt=urn:btih:{}", fx.info_hash.to_hex());
    let summary = run_in_netns(dir.path(), &fx, "bitswarm", &link);
    assert_eq!(summary["downloaded"], fx.total_length, "{summary}");
}

#[test]
fn bitswarm_finds_a_libtorrent_seeder_through_its_local_service_discovery() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if common::libtorrent_python().is_none() || !netns_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(dir.path(), "lsd", &AWKWARD_FILES, "32KiB", &[]);
    let torrent = fx.torrent.display().to_string();
    let summary = run_in_netns(dir.path(), &fx, "libtorrent", &torrent);
    assert_eq!(summary["downloaded"], fx.total_length, "{summary}");
}
