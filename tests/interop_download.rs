//! Interop: `bitswarm download` from real seeders (libtorrent, Transmission) found through a real
//! opentracker over HTTP and UDP, including a resume after SIGKILL. aria2c runs the same
//! scenarios as a self-check of the harness, so a failure here points at bitswarm, not the rig.
//!
//! Every test has its own tempdir, tracker and ports, compares the SHA-256 of every file with the
//! source, is bounded by timeouts, and stops every process it started by PID (guards' `Drop`).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::fixture::{Fixture, AWKWARD_FILES};
use common::peers::{LibtorrentSeeder, Opentracker, TransmissionSeeder};
use common::process::{free_port, poll_until, Proc};
use common::{bitswarm, tool};

/// Time for a seeder to show up at the tracker (Transmission verifies first, then announces).
const SEEDERS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for a whole download of a test torrent (a few MiB; Transmission unchokes on a 10 s timer).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// Seeder rate while the resume test waits to interrupt the first run: ~10 s for its torrent.
const SLOW_UPLOAD: u64 = 2 * 1024 * 1024;
/// The resume test interrupts the first run once this share of the content is on disk.
const INTERRUPT_AT_PERCENT: u64 = 35;

/// ~20 MiB with a zero-length file and pieces spanning files: big enough to interrupt at 2 MiB/s.
const RESUME_FILES: [(&str, usize); 4] = [
    ("a.bin", 4_000_000),
    ("empty.txt", 0),
    ("b.bin", 16_000_000),
    ("c.bin", 977_777),
];

/// One test at a time in this binary: they move real data on a shared 2-core machine, and the
/// resume test's timing should not depend on what the others are doing.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client under test.
#[derive(Clone, Copy, Debug)]
enum Leecher {
    /// `bitswarm download --json`: the product.
    Bitswarm,
    /// aria2c 1.36 with DHT, LPD and PEX off: the harness check (HTTP trackers only, since it
    /// reaches UDP trackers only through its DHT socket).
    Aria2c,
}

impl Leecher {
    fn name(self) -> &'static str {
        match self {
            Leecher::Bitswarm => "bitswarm",
            Leecher::Aria2c => "aria2c",
        }
    }

    /// The command downloading `torrent` into `out` while listening on `port`, or `None` (skip)
    /// when the program is not installed.
    fn command(self, torrent: &Path, out: &Path, port: u16) -> Option<Command> {
        match self {
            Leecher::Bitswarm => {
                let mut cmd = bitswarm();
                cmd.arg("download").arg(torrent).arg("-o").arg(out).args([
                    "--port",
                    &port.to_string(),
                    "--json",
                ]);
                Some(cmd)
            }
            Leecher::Aria2c => {
                let mut cmd = Command::new(tool("aria2c")?);
                cmd.args([
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--bt-enable-lpd=false",
                    "--enable-peer-exchange=false",
                    "--seed-time=0",
                    // Saves its resume state every second, so a SIGKILL loses little.
                    "--auto-save-interval=1",
                    "--summary-interval=0",
                    "--console-log-level=notice",
                ])
                .arg(format!("--listen-port={port}"))
                .arg("-d")
                .arg(out)
                .arg(torrent);
                Some(cmd)
            }
        }
    }

    /// Starts downloading with a fresh listen port (a seeder will not redial a port it has seen
    /// finish); logs go to `logs`.
    fn start(self, torrent: &Path, out: &Path, logs: &Path) -> Option<Proc> {
        let cmd = self.command(torrent, out, free_port())?;
        Some(Proc::spawn(self.name(), cmd, logs))
    }
}

/// What a finished download reported: bitswarm's `--json` summary; `None` for other clients.
struct Outcome {
    summary: Option<serde_json::Value>,
}

impl Outcome {
    /// `downloaded` from the summary, after checking the fields the CLI contract promises.
    fn downloaded(&self, fx: &Fixture) -> Option<u64> {
        let summary = self.summary.as_ref()?;
        for key in [
            "info_hash",
            "complete",
            "downloaded",
            "uploaded",
            "wasted",
            "banned",
            "elapsed_s",
        ] {
            assert!(summary.get(key).is_some(), "summary lacks {key}: {summary}");
        }
        assert_eq!(
            summary["info_hash"].as_str(),
            Some(fx.info_hash.to_hex().as_str()),
            "summary info_hash: {summary}"
        );
        assert_eq!(
            summary["complete"].as_bool(),
            Some(true),
            "summary: {summary}"
        );
        let downloaded = summary["downloaded"].as_u64();
        assert!(downloaded.is_some(), "downloaded is not a count: {summary}");
        downloaded
    }
}

/// Waits for a started download to exit 0, then checks the content; panics with the leecher's
/// and the seeders' output on failure or timeout.
fn finish(
    leecher: Leecher,
    mut proc: Proc,
    fx: &Fixture,
    out: &Path,
    seeders: &dyn Fn() -> String,
) -> Outcome {
    let deadline = std::time::Instant::now() + DOWNLOAD_TIMEOUT;
    let status = loop {
        if let Some(status) = proc.try_status() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            proc.kill();
            panic!(
                "{} did not finish within {DOWNLOAD_TIMEOUT:?} ({} of {} bytes right); killed\n{}\n{}",
                leecher.name(),
                fx.bytes_matching(out),
                fx.total_length,
                proc.report(),
                seeders()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{} failed with {status}\n{}\n{}",
        leecher.name(),
        proc.report(),
        seeders()
    );
    fx.assert_same_content(out, leecher.name());
    let summary = match leecher {
        Leecher::Bitswarm => Some(
            serde_json::from_str(proc.stdout().trim()).unwrap_or_else(|e| {
                panic!(
                    "--json output is not one JSON object ({e}):\n{}",
                    proc.report()
                )
            }),
        ),
        Leecher::Aria2c => None,
    };
    Outcome { summary }
}

/// The tracker's announce URL of the wanted kind.
#[derive(Clone, Copy)]
enum Announce {
    Http,
    Udp,
}

/// A tracker with the torrent whitelisted, the fixture announcing to it, and the tempdir.
fn setup(
    announce: Announce,
    files: &[(&str, usize)],
    piece_length: &str,
) -> Option<(Opentracker, Fixture, tempfile::TempDir)> {
    let mut tracker = Opentracker::start()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = match announce {
        Announce::Http => tracker.http_announce_url(),
        Announce::Udp => tracker.udp_announce_url(),
    };
    let fx = Fixture::build(dir.path(), "swarm", files, piece_length, &[url]);
    tracker.add_info_hash(&fx.info_hash);
    Some((tracker, fx, dir))
}

/// (a)/(b): one libtorrent seeder, the leecher finds it through the tracker.
fn download_from_libtorrent(leecher: Leecher, announce: Announce) {
    let _serial = serial();
    let Some((mut tracker, fx, dir)) = setup(announce, &AWKWARD_FILES, "32KiB") else {
        return;
    };
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, 0) else {
        return;
    };
    tracker.wait_for_seeders(&fx.info_hash, 1, SEEDERS_TIMEOUT);
    let out = dir.path().join("out");
    let Some(proc) = leecher.start(&fx.torrent, &out, dir.path()) else {
        return;
    };
    let outcome = finish(leecher, proc, &fx, &out, &|| seeder.report());
    if let Some(downloaded) = outcome.downloaded(&fx) {
        assert!(
            downloaded >= fx.total_length,
            "downloaded {downloaded} < torrent size {} on a fresh run",
            fx.total_length
        );
    }
}

/// (c): a libtorrent and a Transmission seeder, each with its own copy of the content. The
/// leecher dials both (Transmission never dials loopback peers itself).
fn download_from_two_seeders(leecher: Leecher) {
    let _serial = serial();
    let Some((mut tracker, fx, dir)) = setup(Announce::Http, &AWKWARD_FILES, "32KiB") else {
        return;
    };
    let lt_dir = dir.path().join("lt");
    let tr_dir = dir.path().join("tr");
    fx.copy_content(&lt_dir);
    fx.copy_content(&tr_dir);
    let Some(lt) = LibtorrentSeeder::start(&fx.torrent, &lt_dir, 0) else {
        return;
    };
    let Some(tr) = TransmissionSeeder::start(&fx.torrent, &tr_dir) else {
        return;
    };
    tracker.wait_for_seeders(&fx.info_hash, 2, SEEDERS_TIMEOUT);
    let out = dir.path().join("out");
    let Some(proc) = leecher.start(&fx.torrent, &out, dir.path()) else {
        return;
    };
    let outcome = finish(leecher, proc, &fx, &out, &|| {
        format!("{}\n{}", lt.report(), tr.report())
    });
    if let Some(downloaded) = outcome.downloaded(&fx) {
        assert!(downloaded >= fx.total_length, "downloaded {downloaded}");
    }
}

/// (d): a first run against a slow seeder is SIGKILLed with part of the content on disk; a
/// second run (seeder now unthrottled, fresh port, same `-o`) completes from where it was.
fn resume_after_sigkill(leecher: Leecher) {
    let _serial = serial();
    let Some((mut tracker, fx, dir)) = setup(Announce::Http, &RESUME_FILES, "64KiB") else {
        return;
    };
    let Some(seeder) = LibtorrentSeeder::start(&fx.torrent, &fx.parent, SLOW_UPLOAD) else {
        return;
    };
    tracker.wait_for_seeders(&fx.info_hash, 1, SEEDERS_TIMEOUT);
    let out = dir.path().join("out");
    let Some(mut first) = leecher.start(&fx.torrent, &out, dir.path()) else {
        return;
    };
    let want = fx.total_length * INTERRUPT_AT_PERCENT / 100;
    poll_until(
        DOWNLOAD_TIMEOUT,
        &format!("{INTERRUPT_AT_PERCENT}% of the content on disk"),
        || {
            if let Some(status) = first.try_status() {
                panic!(
                    "first run exited ({status}) before it could be interrupted\n{}\n{}",
                    first.report(),
                    seeder.report()
                );
            }
            let have = fx.bytes_matching(&out);
            if have >= want {
                Ok(())
            } else {
                Err(format!("{have} of {} bytes", fx.total_length))
            }
        },
    );
    first.kill();
    let kept = fx.bytes_matching(&out);
    eprintln!(
        "{}: SIGKILLed with {kept} of {} bytes on disk",
        leecher.name(),
        fx.total_length
    );
    assert!(
        kept < fx.total_length,
        "the first run got everything before SIGKILL; the seeder's limit did not hold"
    );
    seeder.set_upload_limit(0);
    let second = leecher
        .start(&fx.torrent, &out, &dir.path().join("second"))
        .expect("started once already");
    let outcome = finish(leecher, second, &fx, &out, &|| seeder.report());
    if let Some(downloaded) = outcome.downloaded(&fx) {
        eprintln!("bitswarm: the resumed run downloaded {downloaded} bytes");
        let limit = fx.total_length * 9 / 10;
        assert!(
            downloaded < limit,
            "resumed run downloaded {downloaded} bytes of {} ({kept} were on disk at the kill); \
             expected under {limit}",
            fx.total_length
        );
        assert!(
            out.join(".bitswarm").is_dir(),
            "no resume state under {}/.bitswarm",
            out.display()
        );
    }
}

#[test]
fn bitswarm_downloads_from_libtorrent_via_http_tracker() {
    download_from_libtorrent(Leecher::Bitswarm, Announce::Http);
}

#[test]
fn bitswarm_downloads_from_libtorrent_via_udp_tracker() {
    download_from_libtorrent(Leecher::Bitswarm, Announce::Udp);
}

#[test]
fn bitswarm_downloads_from_libtorrent_and_transmission() {
    download_from_two_seeders(Leecher::Bitswarm);
}

#[test]
fn bitswarm_resumes_after_sigkill() {
    resume_after_sigkill(Leecher::Bitswarm);
}

/// Harness self-check: the rig moves a torrent from libtorrent to a known-good client.
#[test]
fn aria2c_downloads_from_libtorrent_via_opentracker() {
    download_from_libtorrent(Leecher::Aria2c, Announce::Http);
}

/// Harness self-check: the Transmission seeder serves a client that dials it.
#[test]
fn aria2c_downloads_from_libtorrent_and_transmission() {
    download_from_two_seeders(Leecher::Aria2c);
}

/// Harness self-check: the slow seeder, the kill on partial content and the second run work.
#[test]
fn aria2c_resumes_after_sigkill() {
    resume_after_sigkill(Leecher::Aria2c);
}
