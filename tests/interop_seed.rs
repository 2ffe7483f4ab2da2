//! Interop: real clients downloading from bitswarm. libtorrent and Transmission leech from
//! `bitswarm seed`, and in a mixed swarm a libtorrent leecher trades with `bitswarm download
//! --seed` while the only real seeder is throttled, so it must take part of the torrent from
//! bitswarm. The peers find each other through a real opentracker on 127.0.0.1.
//!
//! Every test has its own tempdir, tracker and ports, compares the SHA-256 of every file with the
//! source, is bounded by timeouts, and stops every process it started by PID (guards' `Drop`, or
//! SIGINT for a bitswarm whose summary is checked).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::fixture::{Fixture, AWKWARD_FILES};
use common::peers::{LibtorrentLeecher, LibtorrentSeeder, Opentracker, TransmissionLeecher};
use common::process::{free_port, poll_until, Proc};
use common::{bitswarm_in, libtorrent_python};

/// Time for a seeder or leecher to show up at the tracker.
const TRACKER_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for a whole download of a test torrent (a few MiB; Transmission unchokes on a 10 s timer).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Time for bitswarm to stop after SIGINT (it promises about 2 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The peer id prefix of every bitswarm (`PeerId::PREFIX` without its version).
const BITSWARM_ID: &str = "-BW";

/// The mixed swarm's torrent: ~8.4 MB with a zero-length file and pieces spanning files, so at
/// [`MIXED_SEEDER_RATE`] the real seeder alone would need ~8 s to feed one leecher.
const MIXED_FILES: [(&str, usize); 4] = [
    ("a.bin", 3_000_000),
    ("empty.txt", 0),
    ("sub/b.bin", 5_000_000),
    ("c.bin", 388_888),
];
/// The libtorrent seeder's upload cap in the mixed swarm, shared by both leechers: slow enough
/// that each leecher gets pieces from the other long before the seeder could send them all.
const MIXED_SEEDER_RATE: u64 = 1024 * 1024;

/// One test at a time in this binary: they move real data on a shared 2-core machine, and
/// Transmission's start-up is slow enough without competition.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tracker (HTTP) with the torrent whitelisted, the fixture announcing to it, and the tempdir.
fn setup(
    files: &[(&str, usize)],
    piece_length: &str,
) -> Option<(Opentracker, Fixture, tempfile::TempDir)> {
    let mut tracker = Opentracker::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let fx = Fixture::build(
        dir.path(),
        "swarm",
        files,
        piece_length,
        &[tracker.http_announce_url()],
    );
    tracker.add_info_hash(&fx.info_hash);
    Some((tracker, fx, dir))
}

/// `bitswarm SUBCOMMAND --port P --json` with a fresh port and no config file in reach; the
/// caller adds the rest.
fn bitswarm_cmd(dir: &Path, subcommand: &str) -> Command {
    let mut cmd = bitswarm_in(dir);
    cmd.arg(subcommand)
        .args(["--port", &free_port().to_string(), "--json"]);
    cmd
}

/// `bitswarm seed TORRENT DIR` for the fixture's own content; logs go to `dir`.
fn start_seed(fx: &Fixture, dir: &Path) -> Proc {
    let mut cmd = bitswarm_cmd(dir, "seed");
    cmd.arg(&fx.torrent).arg(&fx.parent);
    Proc::spawn("bitswarm seed", cmd, dir)
}

/// Polls the HTTP scrape until `bitswarm` shows up as a seeder, failing with its log if it
/// exits first (it checks every piece before it announces).
fn wait_until_seeding(tracker: &Opentracker, fx: &Fixture, bitswarm: &mut Proc) {
    poll_until(TRACKER_TIMEOUT, "bitswarm seeding at the tracker", || {
        bitswarm.assert_running();
        match tracker.seeders(&fx.info_hash)? {
            0 => Err("scrape says 0 seeders".to_string()),
            _ => Ok(()),
        }
    });
}

/// SIGINT to a seeding bitswarm, which must exit 0 within [`STOP_TIMEOUT`]; returns its `--json`
/// summary after checking it is complete.
fn stop_bitswarm(mut proc: Proc, fx: &Fixture) -> serde_json::Value {
    proc.signal("INT");
    let status = proc.wait_timeout(STOP_TIMEOUT);
    assert!(
        status.success(),
        "bitswarm exited with {status} after SIGINT\n{}",
        proc.report()
    );
    let summary: serde_json::Value = serde_json::from_str(proc.stdout().trim())
        .unwrap_or_else(|e| panic!("--json output is not one object ({e})\n{}", proc.report()));
    assert_eq!(
        summary["info_hash"].as_str(),
        Some(fx.info_hash.to_hex().as_str()),
        "{summary}"
    );
    assert_eq!(summary["complete"].as_bool(), Some(true), "{summary}");
    summary
}

/// The summary's `uploaded` count.
fn uploaded(summary: &serde_json::Value) -> u64 {
    summary["uploaded"]
        .as_u64()
        .unwrap_or_else(|| panic!("uploaded is not a count: {summary}"))
}

/// (a) A libtorrent leecher downloads the whole torrent from `bitswarm seed` alone.
#[test]
fn libtorrent_downloads_from_bitswarm_seed() {
    let _serial = serial();
    let started = Instant::now();
    if libtorrent_python().is_none() {
        return;
    }
    let Some((tracker, fx, dir)) = setup(&AWKWARD_FILES, "32KiB") else {
        return;
    };
    let mut seed = start_seed(&fx, dir.path());
    wait_until_seeding(&tracker, &fx, &mut seed);

    let out = dir.path().join("libtorrent");
    let mut leecher = LibtorrentLeecher::start(&fx.torrent, &out, DOWNLOAD_TIMEOUT)
        .expect("python3-libtorrent was found above");
    let report = leecher.finish(&|| seed.report());
    fx.assert_same_content(&out, "libtorrent");
    let from_bitswarm = report.bytes_from(BITSWARM_ID);
    assert!(
        from_bitswarm >= fx.total_length,
        "libtorrent counted {from_bitswarm} bytes from bitswarm, its only peer: {report:?}"
    );

    let summary = stop_bitswarm(seed, &fx);
    assert_eq!(summary["downloaded"].as_u64(), Some(0), "{summary}");
    assert!(uploaded(&summary) >= fx.total_length, "{summary}");
    eprintln!("libtorrent from bitswarm seed: {:?}", started.elapsed());
}

/// (b) Transmission joins first, with nothing; `bitswarm seed` starts afterwards, learns
/// Transmission's address from the tracker and dials it (Transmission never dials loopback
/// peers), and serves the whole torrent.
#[test]
fn transmission_downloads_from_bitswarm_seed_that_dials_it() {
    let _serial = serial();
    let started = Instant::now();
    let Some((mut tracker, fx, dir)) = setup(&AWKWARD_FILES, "32KiB") else {
        return;
    };
    let out = dir.path().join("transmission");
    let Some(mut transmission) = TransmissionLeecher::start(&fx.torrent, &out) else {
        return;
    };
    tracker.wait_for_leechers(&fx.info_hash, 1, TRACKER_TIMEOUT);

    let mut seed = start_seed(&fx, dir.path());
    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    while !transmission.is_done() {
        seed.assert_running();
        assert!(
            Instant::now() < deadline,
            "Transmission did not finish within {DOWNLOAD_TIMEOUT:?} ({} of {} bytes)\n{}\n{}",
            fx.bytes_matching(&out),
            fx.total_length,
            transmission.report(),
            seed.report()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Transmission 3.00 never creates zero-length files; every other file must match.
    fx.assert_same_content_but_empty_files(&out, "Transmission");

    let summary = stop_bitswarm(seed, &fx);
    assert!(uploaded(&summary) >= fx.total_length, "{summary}");
    eprintln!("Transmission from bitswarm seed: {:?}", started.elapsed());
}

/// (c) A throttled libtorrent seeder, `bitswarm download --seed` and a libtorrent leecher: both
/// leechers complete, and the libtorrent leecher received payload from bitswarm (its own
/// per-peer count), which bitswarm's `uploaded` confirms.
#[test]
fn mixed_swarm_libtorrent_leecher_trades_with_bitswarm() {
    let _serial = serial();
    let started = Instant::now();
    let Some((mut tracker, fx, dir)) = setup(&MIXED_FILES, "64KiB") else {
        return;
    };
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, MIXED_SEEDER_RATE) else {
        return;
    };
    tracker.wait_for_seeders(&fx.info_hash, 1, TRACKER_TIMEOUT);

    let bw_out = dir.path().join("bitswarm");
    let mut cmd = bitswarm_cmd(dir.path(), "download");
    cmd.arg(&fx.torrent).arg("-o").arg(&bw_out).arg("--seed");
    let mut bw = Proc::spawn("bitswarm download", cmd, dir.path());
    let lt_out = dir.path().join("libtorrent");
    let mut leecher = LibtorrentLeecher::start(&fx.torrent, &lt_out, DOWNLOAD_TIMEOUT)
        .expect("python3-libtorrent ran the seeder");
    let report = leecher.finish(&|| format!("{}\n{}", bw.report(), seeder.report()));
    fx.assert_same_content(&lt_out, "libtorrent");

    let deadline = Instant::now() + DOWNLOAD_TIMEOUT;
    while fx.bytes_matching(&bw_out) < fx.total_length {
        bw.assert_running();
        assert!(
            Instant::now() < deadline,
            "bitswarm did not finish within {DOWNLOAD_TIMEOUT:?}\n{}\n{}",
            bw.report(),
            seeder.report()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every byte on disk is not yet every piece verified: the summary's `complete` says that.
    let summary = stop_bitswarm(bw, &fx);
    fx.assert_same_content(&bw_out, "bitswarm");

    let from_bitswarm = report.bytes_from(BITSWARM_ID);
    eprintln!(
        "libtorrent got {from_bitswarm} of {} bytes from bitswarm ({:?}); bitswarm: {summary}",
        report.downloaded, report.peers
    );
    assert!(
        from_bitswarm > 0,
        "the libtorrent leecher got nothing from bitswarm: {report:?}\nbitswarm: {summary}"
    );
    // Every block libtorrent counted from bitswarm, bitswarm sent and counted.
    assert!(uploaded(&summary) >= from_bitswarm, "{summary}");
    eprintln!("mixed swarm: {:?}", started.elapsed());
}

/// (d) A libtorrent client given only a magnet link (the tracker in `tr=`) fetches the
/// metadata from `bitswarm seed` over BEP 9, several 16 KiB metadata pieces of it, then the
/// content.
#[test]
fn libtorrent_fetches_metadata_from_bitswarm_seed() {
    let _serial = serial();
    let started = Instant::now();
    if libtorrent_python().is_none() {
        return;
    }
    // 2198 pieces of 16 KiB: a 44 KB info dictionary, three metadata pieces.
    let files = [("big.bin", 36_000_000), ("small.bin", 1234)];
    let Some((tracker, fx, dir)) = setup(&files, "16KiB") else {
        return;
    };
    let mut seed = start_seed(&fx, dir.path());
    wait_until_seeding(&tracker, &fx, &mut seed);

    let link = format!(
        "magnet:?xt=urn:btih:{}&tr={}",
        fx.info_hash.to_hex(),
        common::peers::percent_encode_all(tracker.http_announce_url().as_bytes())
    );
    let out = dir.path().join("libtorrent");
    let mut leecher = LibtorrentLeecher::start(Path::new(&link), &out, DOWNLOAD_TIMEOUT)
        .expect("python3-libtorrent was found above");
    let report = leecher.finish(&|| seed.report());
    assert!(
        leecher.report().contains("metadata "),
        "no metadata line\n{}",
        leecher.report()
    );
    fx.assert_same_content(&out, "libtorrent");
    let from_bitswarm = report.bytes_from(BITSWARM_ID);
    assert!(
        from_bitswarm >= fx.total_length,
        "libtorrent counted {from_bitswarm} bytes from bitswarm, its only peer: {report:?}"
    );
    stop_bitswarm(seed, &fx);
    eprintln!(
        "libtorrent magnet from bitswarm seed: {:?}",
        started.elapsed()
    );
}
