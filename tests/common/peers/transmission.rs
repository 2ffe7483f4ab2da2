//! Transmission (`transmission-daemon`, no RPC) as a seeder and as a leecher.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::{shared_tempdir, START_TIMEOUT};
use crate::common::process::{free_port, poll_until, Proc};
use crate::common::tool;

/// A `transmission-daemon` on 127.0.0.1 with one torrent, seeding or leeching.
///
/// No RPC: the daemon runs in the foreground (`-f`) with its own config dir (`-g`) whose
/// `settings.json` watches a folder holding the torrent; the daemon adds it, verifies whatever
/// data is already in its download dir, then announces and serves or fetches the rest.
/// Transmission never dials loopback peers it learns from a tracker; it only accepts them.
struct TransmissionDaemon {
    /// The daemon, killed on drop.
    proc: Proc,
    /// Its peer port.
    port: u16,
    /// Config dir, watch dir, logs (and a leecher's done file).
    dir: TempDir,
}

impl TransmissionDaemon {
    /// Starts the daemon on `torrent` with `download_dir`, and waits until it listens. `extra`
    /// is given the daemon's own folder (to put files in) and returns settings to add to the
    /// loopback ones. `None` (skip) when transmission-daemon is not installed.
    fn start(
        name: &str,
        torrent: &Path,
        download_dir: &Path,
        extra: impl FnOnce(&Path) -> serde_json::Value,
    ) -> Option<TransmissionDaemon> {
        let program = tool("transmission-daemon")?;
        let dir = shared_tempdir("transmission");
        let config = dir.path().join("config");
        let watch = dir.path().join("watch");
        std::fs::create_dir_all(&config).expect("mkdir config");
        std::fs::create_dir_all(&watch).expect("mkdir watch");
        std::fs::create_dir_all(download_dir).expect("mkdir download dir");
        let port = free_port();
        let mut settings = serde_json::json!({
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "peer-port": port,
            "peer-port-random-on-start": false,
            "port-forwarding-enabled": false,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            // 0: prefer plaintext, accept encrypted; our client speaks plaintext only.
            "encryption": 0,
            "download-dir": download_dir,
            "incomplete-dir-enabled": false,
            "rename-partial-files": false,
            "watch-dir-enabled": true,
            "watch-dir": watch,
            "start-added-torrents": true,
            "rpc-enabled": false,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "message-level": 2,
        });
        if let (Some(base), serde_json::Value::Object(extra)) =
            (settings.as_object_mut(), extra(dir.path()))
        {
            base.extend(extra);
        }
        std::fs::write(
            config.join("settings.json"),
            serde_json::to_vec_pretty(&settings).expect("settings json"),
        )
        .expect("write settings.json");
        // The name in the watch dir does not matter; the daemon renames it to `*.added`.
        std::fs::copy(torrent, watch.join("swarm.torrent")).expect("copy torrent");
        let mut cmd = Command::new(program);
        cmd.arg("-f").arg("-g").arg(&config);
        let mut proc = Proc::spawn(name, cmd, dir.path());
        poll_until(START_TIMEOUT, &format!("{name} to listen"), || {
            proc.assert_running();
            TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        Some(TransmissionDaemon { proc, port, dir })
    }
}

/// A `transmission-daemon` seeding one torrent on 127.0.0.1 (see [`TransmissionDaemon`]).
/// Readiness is seen at the tracker ([`super::Opentracker::wait_for_seeders`]), about a second
/// after its check.
pub struct TransmissionSeeder {
    /// The daemon, killed on drop.
    daemon: TransmissionDaemon,
}

impl TransmissionSeeder {
    /// Starts seeding `torrent` whose content is at `download_dir/<name>`. `None` (skip) when
    /// transmission-daemon is not installed.
    pub fn start(torrent: &Path, download_dir: &Path) -> Option<TransmissionSeeder> {
        let daemon =
            TransmissionDaemon::start("transmission-daemon", torrent, download_dir, |_| {
                serde_json::json!({})
            })?;
        Some(TransmissionSeeder { daemon })
    }

    /// Its peer port.
    pub fn port(&self) -> u16 {
        self.daemon.port
    }

    /// Its log, for failure messages.
    pub fn report(&self) -> String {
        self.daemon.proc.report()
    }
}

/// A `transmission-daemon` downloading one torrent into an empty folder on 127.0.0.1 (see
/// [`TransmissionDaemon`]). It announces `started` with bytes left, so the tracker lists it as a
/// leecher ([`super::Opentracker::wait_for_leechers`]); a seeder must dial it. Completion is its
/// `script-torrent-done` hook writing a file, which Transmission runs once every piece is
/// verified. It unchokes and requests on a 10 s timer: expect ~14 s before the first payload.
pub struct TransmissionLeecher {
    /// The daemon, killed on drop.
    daemon: TransmissionDaemon,
    /// Written by the done script when the torrent completes.
    done: PathBuf,
}

impl TransmissionLeecher {
    /// Starts downloading `torrent` into `download_dir` (the content lands at
    /// `download_dir/<name>`). `None` (skip) when transmission-daemon is not installed.
    pub fn start(torrent: &Path, download_dir: &Path) -> Option<TransmissionLeecher> {
        let mut done = PathBuf::new();
        let daemon = TransmissionDaemon::start(
            "transmission-daemon leecher",
            torrent,
            download_dir,
            |dir| {
                done = dir.join("done");
                let script = dir.join("done.sh");
                std::fs::write(
                    &script,
                    format!(
                        "#!/bin/sh\necho \"$TR_TORRENT_NAME\" >>'{}'\n",
                        done.display()
                    ),
                )
                .expect("write done script");
                std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod done script");
                serde_json::json!({
                    "script-torrent-done-enabled": true,
                    "script-torrent-done-filename": script,
                })
            },
        )?;
        Some(TransmissionLeecher { daemon, done })
    }

    /// Its peer port.
    pub fn port(&self) -> u16 {
        self.daemon.port
    }

    /// True once Transmission has reported the torrent complete; panics if the daemon exited.
    pub fn is_done(&mut self) -> bool {
        self.daemon.proc.assert_running();
        self.done.exists()
    }

    /// Its log, for failure messages.
    pub fn report(&self) -> String {
        self.daemon.proc.report()
    }
}
