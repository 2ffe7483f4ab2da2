//! The IO shell: runs the sans-IO [`crate::engine`] over a [`Net`] and a [`Storage`].
//!
//! One task owns the engine and everything it decides (the torrent task, [`torrent`]); each
//! peer connection has a reader and a writer task ([`conn`]); the listener accepts incoming
//! peers; the announce task talks to trackers ([`announce`]); disk work runs on a blocking pool
//! or inline ([`disk`]). Tasks talk to the torrent task through one bounded channel of
//! [`Event`]s, which is also the backpressure path: when disk writes fall behind, the torrent
//! stops reading events, peer readers stop reading sockets, and TCP slows the senders.
//!
//! [`Storage`]: crate::storage::Storage

pub mod announce;
pub mod conn;
pub mod dht;
mod dial;
pub mod disk;
pub mod limit;
mod listen;
pub mod lpd;
pub mod magnet;
pub mod observe;
mod read_cache;
mod torrent;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{DialError, Handshaken, PeerKey, Reason};
use crate::wire::Message;

pub use disk::DiskMode;
pub use torrent::{download, Error};

/// Something that happened outside the torrent task.
#[derive(Debug)]
pub enum Event {
    /// A connection finished its handshake; `link` is the torrent's end of it.
    Connected {
        key: PeerKey,
        hs: Handshaken,
        link: conn::Link,
    },
    /// A dial failed before a handshake completed.
    DialFailed {
        addr: SocketAddr,
        error: DialError,
    },
    Message {
        key: PeerKey,
        msg: Message,
    },
    /// `bytes` of block payload were written to the peer's socket.
    Uploaded {
        key: PeerKey,
        bytes: u64,
    },
    /// The connection ended by itself (not by the torrent dropping its link).
    Closed {
        key: PeerKey,
        reason: Reason,
    },
}

/// How to run a download.
#[derive(Debug, Clone)]
pub struct Options {
    /// Content goes to `out_dir/<name>`; the resume file to `out_dir/.bitswarm/`.
    pub out_dir: PathBuf,
    /// Where to listen for incoming peers (port 0: any free port).
    pub listen: SocketAddr,
    /// Seed of every random choice (peer id, tie-breaks, tracker shuffles).
    pub seed: u64,
    pub disk: DiskMode,
    pub engine: crate::engine::Config,
    /// Peers to dial besides the trackers' (a magnet's `x.pe`, tests).
    pub peers: Vec<SocketAddr>,
    /// How often the resume file is refreshed while downloading.
    pub resume_interval: Duration,
    /// Cap on the download rate in bytes per second (`--max-down`).
    pub max_down: Option<u64>,
    /// Cap on the upload rate in bytes per second (`--max-up`).
    pub max_up: Option<u64>,
    /// What to do once every piece is verified: `None` stops there (a plain download);
    /// `Some` keeps seeding until its conditions say stop, or until interrupted.
    pub seed_until: Option<SeedUntil>,
    /// Who watches the run (the simulator's trace); off in real runs.
    pub watch: observe::Watch,
    /// The DHT to find peers through (and announce to), if it runs.
    pub dht: Option<dht::Dht>,
    /// Local peer discovery (BEP 14), if it runs.
    pub lpd: Option<lpd::Lpd>,
}

impl Options {
    /// Defaults for a real download into `out_dir`.
    pub fn new(out_dir: PathBuf, seed: u64) -> Self {
        Options {
            out_dir,
            listen: SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
            seed,
            disk: DiskMode::Threaded,
            engine: crate::engine::Config::default(),
            peers: Vec::new(),
            resume_interval: Duration::from_secs(30),
            max_down: None,
            max_up: None,
            seed_until: None,
            watch: observe::Watch::default(),
            dht: None,
            lpd: None,
        }
    }
}

/// When a seeding torrent stops by itself; with neither set, it seeds until interrupted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SeedUntil {
    /// Stop once uploaded / total size reaches this (`--seed-ratio`).
    pub ratio: Option<f64>,
    /// Stop after seeding this long (`--seed-time`).
    pub time: Option<Duration>,
}

/// Live state for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub total_length: u64,
    pub left: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Payload bytes per second over the last few seconds.
    pub download_rate: u64,
    pub upload_rate: u64,
    pub peers: usize,
    /// Bytes received and thrown away (failed pieces, duplicates), as in [`Summary`].
    pub wasted: u64,
    /// Peers banned for corrupt data so far.
    pub banned: u64,
    /// Pieces verified at start-up (checking existing data) before downloading begins.
    pub checking: bool,
}

/// The outcome of a download.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub info_hash: crate::InfoHash,
    pub complete: bool,
    pub downloaded: u64,
    pub uploaded: u64,
    pub wasted: u64,
    pub banned: u64,
    /// Bytes we already had at start (resume or check).
    pub had: u64,
    pub elapsed: Duration,
}

/// How often a torrent asks the DHT for peers again (and announces itself), after the first
/// lookups at start (then again after 20 s and 60 s).
pub const DHT_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Asks `dht` for peers of `info_hash` now and every [`DHT_INTERVAL`], announcing `port` when
/// given, until `peers` is closed (the torrent ended).
pub fn dht_lookups(
    dht: &dht::Dht,
    info_hash: crate::InfoHash,
    port: Option<u16>,
    peers: tokio::sync::mpsc::UnboundedSender<Vec<SocketAddr>>,
) {
    let dht = dht.clone();
    tokio::spawn(async move {
        // Soon again at first: a lookup may find little while the table is still filling.
        let mut waits = [Duration::from_secs(20), Duration::from_secs(60)].into_iter();
        while dht.get_peers(info_hash, port, peers.clone()) {
            let wait = waits.next().unwrap_or(DHT_INTERVAL);
            tokio::select! {
                _ = peers.closed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
}

/// Binds a listener on `addr`; on a host without IPv6, the same port on IPv4 only. The error
/// names the address that failed.
async fn bind<N: crate::net::Net>(
    net: &N,
    addr: SocketAddr,
) -> Result<N::Listener, (SocketAddr, std::io::Error)> {
    match net.listen(addr).await {
        Ok(l) => Ok(l),
        Err(_) if addr.is_ipv6() && addr.ip().is_unspecified() => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            net.listen(v4).await.map_err(|e| (v4, e))
        }
        Err(e) => Err((addr, e)),
    }
}

/// Logs what the engine noticed, at a level that fits.
fn log_notice(n: &crate::engine::Notice, left: u64) {
    use crate::engine::Notice;
    use tracing::{debug, info, warn};
    match n {
        Notice::PieceVerified(piece) => debug!(piece, left, "piece verified"),
        Notice::PieceFailed(piece) => warn!(piece, "piece failed its hash check"),
        Notice::Banned(addr) => warn!(peer = %addr, "banned for sending corrupt data"),
        Notice::Choked(key) => debug!(?key, "choked by peer"),
        Notice::Unchoked(key) => debug!(?key, "unchoked by peer"),
        Notice::Snubbed(key) => info!(?key, "peer snubbed us; its requests go elsewhere"),
        Notice::Complete => info!("download complete"),
    }
}
