//! Real BitTorrent software on 127.0.0.1 for the interop tests: an opentracker, a libtorrent
//! seeder and a Transmission seeder, each a guard that stops its process by PID when dropped.
//! What each program needs on loopback (whitelists, readiness, who dials whom) is said on the
//! guard that deals with it; `tests/peers/README.md` has the whole list.

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
use super::{libtorrent_python, tool};

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
        let body = http_get(
            self.port,
            &format!("/scrape?info_hash={}", percent_encode_all(&hash.0)),
        )?;
        let node = bencode::decode(&body).map_err(|e| format!("scrape answer: {e}"))?;
        let files = node
            .get("files")
            .and_then(|f| f.as_dict())
            .ok_or_else(|| format!("no files dict in {:?}", String::from_utf8_lossy(&body)))?;
        let Some((_, entry)) = files.iter().find(|(key, _)| *key == hash.0.as_slice()) else {
            return Ok(0);
        };
        entry
            .get("complete")
            .and_then(|c| c.as_int())
            .ok_or_else(|| "scrape entry has no complete count".to_string())
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
}

/// `tests/peers/<script>`.
pub fn peer_script(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(script)
}

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

/// A `transmission-daemon` seeding one torrent on 127.0.0.1.
///
/// No RPC: the daemon runs in the foreground (`-f`) with its own config dir (`-g`) whose
/// `settings.json` watches a folder holding the torrent; the daemon adds it, verifies the data
/// already in its download dir, then seeds and announces. Readiness is seen at the tracker
/// ([`Opentracker::wait_for_seeders`]), about a second after the check.
pub struct TransmissionSeeder {
    /// The daemon, killed on drop.
    proc: Proc,
    /// Its peer port.
    port: u16,
    /// Config dir, watch dir and logs.
    _dir: TempDir,
}

impl TransmissionSeeder {
    /// Starts seeding `torrent` whose content is at `download_dir/<name>`. `None` (skip) when
    /// transmission-daemon is not installed.
    pub fn start(torrent: &Path, download_dir: &Path) -> Option<TransmissionSeeder> {
        let program = tool("transmission-daemon")?;
        let dir = shared_tempdir("transmission");
        let config = dir.path().join("config");
        let watch = dir.path().join("watch");
        std::fs::create_dir_all(&config).expect("mkdir config");
        std::fs::create_dir_all(&watch).expect("mkdir watch");
        let port = free_port();
        let settings = serde_json::json!({
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
        std::fs::write(
            config.join("settings.json"),
            serde_json::to_vec_pretty(&settings).expect("settings json"),
        )
        .expect("write settings.json");
        // The name in the watch dir does not matter; the daemon renames it to `*.added`.
        std::fs::copy(torrent, watch.join("seed.torrent")).expect("copy torrent");
        let mut cmd = Command::new(program);
        cmd.arg("-f").arg("-g").arg(&config);
        let mut proc = Proc::spawn("transmission-daemon", cmd, dir.path());
        poll_until(START_TIMEOUT, "transmission-daemon to listen", || {
            proc.assert_running();
            TcpStream::connect(("127.0.0.1", port))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        Some(TransmissionSeeder {
            proc,
            port,
            _dir: dir,
        })
    }

    /// Its peer port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its log, for failure messages.
    pub fn report(&self) -> String {
        self.proc.report()
    }
}
