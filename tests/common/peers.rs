//! Real BitTorrent software on 127.0.0.1 for the interop tests: an opentracker, libtorrent and
//! Transmission as seeders or leechers, each a guard that stops its process by PID when dropped.
//! What each program needs on loopback (whitelists, readiness, who dials whom) is said on the
//! guard that deals with it; `tests/peers/README.md` has the whole list. The tracker and the
//! helpers every guard uses are here; each client's guards are in a submodule.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bitswarm_client::bencode;
use bitswarm_client::InfoHash;
use tempfile::TempDir;

use super::process::{free_port, poll_until, Proc};
use super::tool;

mod libtorrent;
mod transmission;

// The guards live beside the program they drive; tests name them all as `peers::X`. Not every
// test binary uses every guard, hence the allow (as `dead_code` for the whole of `common`).
#[allow(unused_imports)]
pub use libtorrent::{LeechReport, LibtorrentLeecher, LibtorrentSeeder, PeerTotal};
#[allow(unused_imports)]
pub use transmission::{TransmissionLeecher, TransmissionSeeder};

/// How long a tracker or seeder may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A private tempdir that processes dropping root (opentracker runs as `nobody`) can read.
fn shared_tempdir(prefix: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

/// `%XX` for every byte: the form trackers expect for binary query values.
pub fn percent_encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// A plain HTTP/1.0 GET to 127.0.0.1:`port`; returns the body of a 200 answer. Hand-written so
/// the tests need no HTTP client: opentracker closes the connection after each answer.
pub fn http_get(port: u16, path_and_query: &str) -> Result<Vec<u8>, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect :{port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let request = format!("GET {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(&answer)))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("status line {:?}", head.lines().next()));
    }
    Ok(answer[split + 4..].to_vec())
}

/// An opentracker on 127.0.0.1 (HTTP and UDP on the same port) with its own whitelist.
pub struct Opentracker {
    /// The tracker process, killed on drop.
    proc: Proc,
    /// TCP (HTTP) and UDP port.
    port: u16,
    /// Absolute path of the whitelist: opentracker `chdir`s to `/` and rereads it on SIGHUP.
    whitelist: PathBuf,
    /// Hashes written to the whitelist so far.
    hashes: Vec<InfoHash>,
    /// Holds the whitelist and the logs; world-readable because the tracker runs as `nobody`.
    _dir: TempDir,
}

impl Opentracker {
    /// Starts a tracker on a fresh port, or `None` (skip) when opentracker is not installed.
    /// Retries on another port if the chosen one was taken in the meantime.
    pub fn start() -> Option<Opentracker> {
        let program = tool("opentracker")?;
        let dir = shared_tempdir("opentracker");
        let whitelist = dir.path().join("whitelist");
        std::fs::write(&whitelist, "").expect("write whitelist");
        std::fs::set_permissions(&whitelist, std::fs::Permissions::from_mode(0o644))
            .expect("chmod whitelist");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&program);
            cmd.current_dir("/")
                .args(["-i", "127.0.0.1", "-p", &port.to_string()])
                .args(["-P", &port.to_string(), "-d", "/", "-w"])
                .arg(&whitelist);
            let mut proc = Proc::spawn("opentracker", cmd, dir.path());
            let up = poll_until(Duration::from_secs(10), "opentracker to answer", || {
                if proc.try_status().is_some() {
                    return Ok(false);
                }
                http_get(port, "/scrape").map(|_| true)
            });
            if up {
                return Some(Opentracker {
                    proc,
                    port,
                    whitelist,
                    hashes: Vec::new(),
                    _dir: dir,
                });
            }
            last = proc.report();
        }
        panic!("opentracker would not start on any port\n{last}")
    }

    /// The TCP and UDP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/announce`.
    pub fn http_announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// `udp://127.0.0.1:PORT/announce` (BEP 15; the path is ignored by UDP trackers).
    pub fn udp_announce_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// Authorises `hash`: rewrites the whitelist, sends SIGHUP to the tracker's own PID and waits
    /// until an announce for the hash is no longer refused (the reload is asynchronous).
    pub fn add_info_hash(&mut self, hash: &InfoHash) {
        self.hashes.push(*hash);
        let text: String = self.hashes.iter().map(|h| h.to_hex() + "\n").collect();
        std::fs::write(&self.whitelist, text).expect("write whitelist");
        self.proc.signal("HUP");
        // A `stopped` announce from a made-up peer: accepted once whitelisted, and it leaves no
        // peer behind in the swarm.
        let query = format!(
            "/announce?info_hash={}&peer_id=-HARNESS-0123456789A&port=9&uploaded=0&downloaded=0\
             &left=0&event=stopped&compact=1",
            percent_encode_all(&hash.0)
        );
        poll_until(
            Duration::from_secs(10),
            "opentracker to reload its whitelist",
            || {
                self.proc.assert_running();
                let body = http_get(self.port, &query)?;
                let node = bencode::decode(&body).map_err(|e| format!("{e}"))?;
                match node.get("failure reason").and_then(|n| n.as_str()) {
                    Some(reason) => Err(reason.to_string()),
                    None => Ok(()),
                }
            },
        );
    }

    /// The scrape's `complete` count (seeders) for `hash`, or 0 when the swarm is unknown yet.
    pub fn seeders(&self, hash: &InfoHash) -> Result<i64, String> {
        self.scrape_count(hash, "complete")
    }

    /// The scrape's `incomplete` count (leechers) for `hash`, or 0 when the swarm is unknown yet.
    pub fn leechers(&self, hash: &InfoHash) -> Result<i64, String> {
        self.scrape_count(hash, "incomplete")
    }

    /// One count (`complete`, `incomplete`) of the HTTP scrape's entry for `hash`.
    fn scrape_count(&self, hash: &InfoHash, key: &str) -> Result<i64, String> {
        let body = http_get(
            self.port,
            &format!("/scrape?info_hash={}", percent_encode_all(&hash.0)),
        )?;
        let node = bencode::decode(&body).map_err(|e| format!("scrape answer: {e}"))?;
        let files = node
            .get("files")
            .and_then(|f| f.as_dict())
            .ok_or_else(|| format!("no files dict in {:?}", String::from_utf8_lossy(&body)))?;
        let Some((_, entry)) = files.iter().find(|(name, _)| *name == hash.0.as_slice()) else {
            return Ok(0);
        };
        entry
            .get(key)
            .and_then(|c| c.as_int())
            .ok_or_else(|| format!("scrape entry has no {key} count"))
    }

    /// Polls the HTTP scrape until at least `n` seeders are registered for `hash`: a leecher
    /// started earlier would get an empty peer list and not ask again for ~30 minutes.
    pub fn wait_for_seeders(&mut self, hash: &InfoHash, n: i64, timeout: Duration) {
        poll_until(timeout, &format!("{n} seeder(s) at the tracker"), || {
            self.proc.assert_running();
            let count = self.seeders(hash)?;
            if count >= n {
                Ok(())
            } else {
                Err(format!("scrape says {count} seeder(s)"))
            }
        });
    }

    /// Polls the HTTP scrape until at least `n` leechers are registered for `hash`: a seeder
    /// that dials the peers its tracker returns must not announce before they are listed.
    pub fn wait_for_leechers(&mut self, hash: &InfoHash, n: i64, timeout: Duration) {
        poll_until(timeout, &format!("{n} leecher(s) at the tracker"), || {
            self.proc.assert_running();
            let count = self.leechers(hash)?;
            if count >= n {
                Ok(())
            } else {
                Err(format!("scrape says {count} leecher(s)"))
            }
        });
    }
}

/// `tests/peers/<script>`.
pub fn peer_script(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script)
}
