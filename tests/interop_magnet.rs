//! Interop: `bitswarm download magnet:...` against a real libtorrent seeder, which gives the
//! metadata over BEP 9 and then the content, found through the link's tracker (`tr=`, a real
//! opentracker) or through the link's peer (`x.pe=`) alone; and a libtorrent client fetching
//! the metadata from a bitswarm seeder.
//!
//! Every test has its own tempdir, tracker and ports, compares the SHA-256 of every file with
//! the source, is bounded by timeouts, and stops every process it started by PID.

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::fixture::{Fixture, AWKWARD_FILES};
use common::peers::{LibtorrentSeeder, Opentracker};
use common::process::{free_port, Proc};
use common::{bitswarm, bitswarm_in};

/// Time for a seeder to show up at the tracker.
const SEEDERS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for the metadata and the whole (small) download.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// One test at a time: they move real data on a shared 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `bitswarm download LINK -o out --json EXTRA...` to the end and checks the content and
/// summary; `others` is the rest of the swarm's output for failure messages.
fn download_magnet(
    link: &str,
    fx: &Fixture,
    dir: &Path,
    extra: &[&str],
    others: &dyn Fn() -> String,
) {
    let out = dir.join("out");
    let mut cmd = bitswarm_in(dir);
    cmd.args(["download", link, "-o"]).arg(&out).args([
        "--port",
        &free_port().to_string(),
        "--json",
    ]);
    cmd.args(extra);
    let mut proc = Proc::spawn("bitswarm", cmd, dir);
    let status = proc.wait_timeout(DOWNLOAD_TIMEOUT);
    assert!(
        status.success(),
        "bitswarm failed with {status}\n{}\n{}",
        proc.report(),
        others()
    );
    fx.assert_same_content(&out, "bitswarm");
    let summary: serde_json::Value = serde_json::from_str(proc.stdout().trim())
        .unwrap_or_else(|e| panic!("--json is not one object ({e}):\n{}", proc.report()));
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(
        summary["info_hash"].as_str(),
        Some(fx.info_hash.to_hex().as_str()),
        "{summary}"
    );
    assert_eq!(
        summary["name"].as_str(),
        Some(fx.name.as_str()),
        "{summary}"
    );
}

#[test]
fn bitswarm_downloads_a_magnet_from_libtorrent_through_its_tracker() {
    let _serial = serial();
    let Some(mut tracker) = Opentracker::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = tracker.http_announce_url();
    let fx = Fixture::build(
        dir.path(),
        "swarm",
        &AWKWARD_FILES,
        "32KiB",
        std::slice::from_ref(&url),
    );
    tracker.add_info_hash(&fx.info_hash);
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, 0) else {
        return;
    };
    tracker.wait_for_seeders(&fx.info_hash, 1, SEEDERS_TIMEOUT);
    let link = format!(
        "magnet:?xt=urn:btih:{}&dn=swarm&tr={}",
        fx.info_hash.to_hex(),
        common::peers::percent_encode_all(url.as_bytes())
    );
    download_magnet(&link, &fx, dir.path(), &[], &|| seeder.report());
}

#[test]
fn bitswarm_downloads_a_magnet_from_its_x_pe_peer_alone() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    // Many pieces, so the info dictionary spans several 16 KiB metadata pieces.
    let files = [("big.bin", 36_000_000), ("small.bin", 1234)];
    let fx = Fixture::build(dir.path(), "pieces", &files, "16KiB", &[]);
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, 0) else {
        return;
    };
    let info = std::fs::read(&fx.torrent).expect("torrent");
    assert!(info.len() > 2 * 16384, "metadata spans pieces");
    let link = format!(
        "magnet:?xt=urn:btih:{}&x.pe=127.0.0.1:{}",
        fx.info_hash.to_hex(),
        seeder.port()
    );
    download_magnet(&link, &fx, dir.path(), &[], &|| seeder.report());
}

#[test]
fn a_magnet_for_seeding_is_refused_in_one_line() {
    let out = bitswarm()
        .args([
            "seed",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
            ".",
        ])
        .output()
        .expect("run bitswarm");
    let err = common::one_line_error(&out, 2);
    assert!(err.contains("magnet link has no piece hashes"), "{err}");
}

#[test]
fn info_saves_the_torrent_fetched_from_a_magnet() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(dir.path(), "saved", &AWKWARD_FILES, "16KiB", &[]);
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, 0) else {
        return;
    };
    let link = format!(
        "magnet:?xt=urn:btih:{}&x.pe=127.0.0.1:{}",
        fx.info_hash.to_hex(),
        seeder.port()
    );
    let saved = dir.path().join("fetched.torrent");
    let mut cmd = bitswarm_in(dir.path());
    cmd.args(["info", &link, "--json", "--save"]).arg(&saved);
    let mut proc = Proc::spawn("bitswarm info", cmd, dir.path());
    let status = proc.wait_timeout(DOWNLOAD_TIMEOUT);
    assert!(status.success(), "{}\n{}", proc.report(), seeder.report());
    let described: serde_json::Value = serde_json::from_str(proc.stdout().trim())
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{}", proc.report()));
    assert_eq!(described["source"], "torrent", "{described}");
    assert_eq!(described["name"], "saved", "{described}");
    assert_eq!(described["info_hash"], fx.info_hash.to_hex(), "{described}");
    assert_saved_is_original(&saved, &fx);
}

/// The saved file is a torrent with the same identity as the original.
fn assert_saved_is_original(saved: &std::path::Path, fx: &Fixture) {
    let bytes = std::fs::read(saved).expect("saved torrent");
    let meta = bitswarm_client::Metainfo::from_bytes(&bytes).expect("saved torrent parses");
    let original = std::fs::read(&fx.torrent).expect("original torrent");
    let original = bitswarm_client::Metainfo::from_bytes(&original).expect("original parses");
    assert_eq!(meta.info_hash, fx.info_hash);
    assert_eq!(meta.info_bytes, original.info_bytes);
}

#[test]
fn magnets_that_cannot_work_are_refused_in_one_line() {
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let bare = format!("magnet:?xt=urn:btih:{hash}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out").display().to_string();
    let saved = dir.path().join("x.torrent").display().to_string();
    for args in [
        vec!["download", bare.as_str(), "-o", &out, "--no-dht"],
        vec!["info", bare.as_str(), "--save", &saved, "--no-dht"],
    ] {
        let out = bitswarm().args(&args).output().expect("run bitswarm");
        let err = common::one_line_error(&out, 2);
        assert!(
            err.contains("no tracker (tr=) and no peer (x.pe=), and --no-dht"),
            "{args:?}: {err}"
        );
    }
    let torrent = common::fixture("multi.torrent").display().to_string();
    let out = bitswarm()
        .args(["info", &torrent, "--save", &saved])
        .output()
        .expect("run bitswarm");
    let err = common::one_line_error(&out, 2);
    assert!(err.contains("is not a magnet link"), "{err}");
}

/// Starts `lt_dht.py` (a libtorrent DHT seeding `fx`) on 127.0.0.1, or ::1 with `ipv6`; returns
/// it and the `--dht-router` of its hub. `None` without libtorrent (a skip).
fn libtorrent_dht(dir: &Path, fx: &Fixture, ipv6: bool) -> Option<(Proc, String)> {
    let python = common::libtorrent_python()?;
    let mut cmd = std::process::Command::new(python);
    cmd.arg(common::peers::peer_script("lt_dht.py"))
        .arg(&fx.torrent)
        .arg(&fx.parent);
    if ipv6 {
        cmd.arg("--ipv6");
    }
    let mut dht = Proc::spawn("libtorrent dht", cmd, dir);
    let deadline = std::time::Instant::now() + SEEDERS_TIMEOUT;
    let hub = loop {
        let out = dht.stdout();
        if let Some(line) = out.lines().find(|l| l.starts_with("ready ")) {
            let port: u16 = line
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .expect("hub port");
            break port;
        }
        dht.assert_running();
        assert!(
            std::time::Instant::now() < deadline,
            "the libtorrent DHT never got ready\n{}",
            dht.report()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let router = if ipv6 {
        format!("[::1]:{hub}")
    } else {
        format!("127.0.0.1:{hub}")
    };
    Some((dht, router))
}

/// A DHT-only magnet link: no tracker, no `x.pe`. bitswarm joins a small libtorrent DHT on
/// 127.0.0.1 through its hub (`--dht-router`), finds the libtorrent seeder's announce with
/// `get_peers`, fetches the metadata from it, then the content. Then `info --save` finds the
/// metadata the same way, through the DHT alone.
#[test]
fn bitswarm_downloads_a_magnet_through_a_libtorrent_dht_alone() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(dir.path(), "dht", &AWKWARD_FILES, "32KiB", &[]);
    let Some((dht, router)) = libtorrent_dht(dir.path(), &fx, false) else {
        return;
    };
    let link = format!("magnet:?xt=urn:btih:{}", fx.info_hash.to_hex());
    download_magnet(&link, &fx, dir.path(), &["--dht-router", &router], &|| {
        dht.report()
    });
    let saved = dir.path().join("from-dht.torrent");
    let mut cmd = bitswarm_in(dir.path());
    cmd.args(["info", &link, "--dht-router", &router, "--save"])
        .arg(&saved);
    let mut proc = Proc::spawn("bitswarm info", cmd, dir.path());
    let status = proc.wait_timeout(DOWNLOAD_TIMEOUT);
    assert!(status.success(), "{}\n{}", proc.report(), dht.report());
    assert_saved_is_original(&saved, &fx);
}

/// The same over IPv6 (BEP 32): a libtorrent DHT on ::1 only, which bitswarm's IPv6 DHT joins
/// (its IPv4 one has no router of its family and finds nothing).
#[test]
fn bitswarm_downloads_a_magnet_through_an_ipv6_libtorrent_dht() {
    let _serial = serial();
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(dir.path(), "dht6", &AWKWARD_FILES, "32KiB", &[]);
    let Some((dht, router)) = libtorrent_dht(dir.path(), &fx, true) else {
        return;
    };
    let link = format!("magnet:?xt=urn:btih:{}", fx.info_hash.to_hex());
    download_magnet(&link, &fx, dir.path(), &["--dht-router", &router], &|| {
        dht.report()
    });
}
