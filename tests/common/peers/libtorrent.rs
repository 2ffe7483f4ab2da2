//! libtorrent (`python3-libtorrent`, through the scripts in `tests/peers/`) as a seeder and as a
//! leecher that reports what it received from each peer.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{peer_script, shared_tempdir, START_TIMEOUT};
use crate::common::libtorrent_python;
use crate::common::process::{free_port, poll_until, Proc};

/// A libtorrent session seeding one torrent on 127.0.0.1 (`tests/peers/lt_seed.py`).
pub struct LibtorrentSeeder {
    /// The python process, killed on drop.
    proc: Proc,
    /// The port it listens on (it picks a free one itself and reports it).
    port: u16,
    /// The file of commands the seeder polls (`connect`, `upload-limit`).
    control: PathBuf,
    /// Logs and the control file.
    _dir: TempDir,
}

impl LibtorrentSeeder {
    /// Seeds `torrent` from `save_path` (the content is at `save_path/<name>`), uploading at most
    /// `upload_limit` bytes/s (0: unlimited). Waits until every piece is checked and it seeds.
    /// `None` (skip) when python3-libtorrent is missing.
    pub fn start(torrent: &Path, save_path: &Path, upload_limit: u64) -> Option<LibtorrentSeeder> {
        let python = libtorrent_python()?;
        let dir = shared_tempdir("lt-seed");
        let control = dir.path().join("control");
        std::fs::write(&control, "").expect("write control file");
        let mut cmd = Command::new(python);
        cmd.arg(peer_script("lt_seed.py"))
            .arg(torrent)
            .arg(save_path)
            .args(["--upload-limit", &upload_limit.to_string()])
            .arg("--control")
            .arg(&control);
        let mut proc = Proc::spawn("libtorrent seeder", cmd, dir.path());
        let port = poll_until(START_TIMEOUT, "libtorrent seeder to be ready", || {
            proc.assert_running();
            let out = proc.stdout();
            out.lines()
                .find_map(|l| l.strip_prefix("ready "))
                .and_then(|p| p.trim().parse::<u16>().ok())
                .ok_or_else(|| "no ready line yet".to_string())
        });
        Some(LibtorrentSeeder {
            proc,
            port,
            control,
            _dir: dir,
        })
    }

    /// The seeder's listen port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }

    fn command(&self, line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.control)
            .expect("open control file");
        writeln!(f, "{line}").expect("write control file");
    }

    /// Makes the seeder dial a leecher listening on 127.0.0.1:`port`.
    pub fn connect_to(&self, port: u16) {
        self.command(&format!("connect 127.0.0.1 {port}"));
    }

    /// Changes the upload rate limit (bytes/s, 0: unlimited); applied within ~0.1 s.
    pub fn set_upload_limit(&self, bytes_per_second: u64) {
        self.command(&format!("upload-limit {bytes_per_second}"));
    }
}

/// Payload a libtorrent leecher downloaded from one peer (a `peer` line of `lt_leech.py`).
#[derive(Clone, Debug)]
pub struct PeerTotal {
    /// `ip:port` as libtorrent saw it: the listen port of a peer it dialled, an ephemeral port
    /// for one that dialled it.
    pub addr: String,
    /// The first 8 bytes of the peer's id (`-BW0100-` for bitswarm), `-` when none was seen.
    pub id_prefix: String,
    /// Payload bytes received from it.
    pub bytes: u64,
}

/// What a finished libtorrent leecher printed.
#[derive(Clone, Debug)]
pub struct LeechReport {
    /// Total payload downloaded.
    pub downloaded: u64,
    /// Payload per peer, for every peer that sent any.
    pub peers: Vec<PeerTotal>,
}

impl LeechReport {
    /// Payload received from peers whose id starts with `prefix`.
    pub fn bytes_from(&self, prefix: &str) -> u64 {
        self.peers
            .iter()
            .filter(|p| p.id_prefix.starts_with(prefix))
            .map(|p| p.bytes)
            .sum()
    }
}

/// A libtorrent session downloading one torrent on a fresh port (`tests/peers/lt_leech.py
/// --per-peer`). It finds peers through the torrent's tracker, dials them and accepts them, and
/// exits 0 once every piece is verified, printing what it got from whom.
pub struct LibtorrentLeecher {
    /// The python process, killed on drop.
    proc: Proc,
    /// Its listen port (fresh: a seeder will not redial an ip:port it saw finish).
    port: u16,
    /// Logs.
    _dir: TempDir,
}

impl LibtorrentLeecher {
    /// Starts downloading `torrent` into `save_path` (the content lands at `save_path/<name>`);
    /// the script gives up by itself after `timeout`. `None` (skip) when python3-libtorrent is
    /// missing.
    pub fn start(torrent: &Path, save_path: &Path, timeout: Duration) -> Option<LibtorrentLeecher> {
        let python = libtorrent_python()?;
        let dir = shared_tempdir("lt-leech");
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.arg(peer_script("lt_leech.py"))
            .arg(torrent)
            .arg(save_path)
            .args(["--port", &port.to_string()])
            .args(["--timeout", &timeout.as_secs().to_string()])
            .arg("--per-peer");
        let proc = Proc::spawn("libtorrent leecher", cmd, dir.path());
        Some(LibtorrentLeecher {
            proc,
            port,
            _dir: dir,
        })
    }

    /// Its listen port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its exit status once it has ended, without blocking.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.proc.try_status()
    }

    /// Its output, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }

    /// Waits for it to finish (its own timeout plus a margin), then parses what it printed.
    /// Panics with its output and `others` (the rest of the swarm's logs) if it failed.
    pub fn finish(&mut self, others: &dyn Fn() -> String) -> LeechReport {
        let deadline = Instant::now() + Duration::from_secs(600);
        let status = loop {
            if let Some(status) = self.proc.try_status() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "libtorrent leecher outlived its own timeout\n{}\n{}",
                self.report(),
                others()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "libtorrent leecher failed with {status}\n{}\n{}",
            self.report(),
            others()
        );
        self.parse()
            .unwrap_or_else(|e| panic!("libtorrent leecher output: {e}\n{}", self.report()))
    }

    /// The `downloaded` and `peer` lines of its stdout.
    fn parse(&self) -> Result<LeechReport, String> {
        let out = self.proc.stdout();
        let mut downloaded = None;
        let mut peers = Vec::new();
        for line in out.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["downloaded", n] => downloaded = n.parse().ok(),
                ["peer", addr, id_prefix, bytes] => peers.push(PeerTotal {
                    addr: addr.to_string(),
                    id_prefix: id_prefix.to_string(),
                    bytes: bytes.parse().map_err(|e| format!("{line:?}: {e}"))?,
                }),
                _ => {}
            }
        }
        let downloaded = downloaded.ok_or("no downloaded line")?;
        Ok(LeechReport { downloaded, peers })
    }
}
