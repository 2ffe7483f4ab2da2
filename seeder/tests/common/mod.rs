//! Helpers for running synthetic seeders against the real client on loopback sockets.

#![allow(dead_code)]

pub mod raw;
pub mod udp_tracker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitswarm_client::metainfo::Metainfo;
use bitswarm_client::net::{Net, TokioNet};
use bitswarm_client::shell::{self, Options, Progress, Summary};
use seeder::{Behaviour, Content, EventKind, Events, Layout, SeedSwarm, Seeder, SeederEvent};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// The longest any test download may take before the test fails instead of hanging.
pub const DOWNLOAD_LIMIT: Duration = Duration::from_secs(60);

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub fn net() -> TokioNet {
    TokioNet::new().unwrap()
}

/// About 1.3 MiB in 64 KiB pieces over four files: pieces span files, one file is empty and
/// the last piece is short.
pub fn content(seed: u64) -> Arc<Content> {
    let layout = Layout {
        name: "synthetic".into(),
        files: vec![
            ("a.bin".into(), 300_000),
            ("empty".into(), 0),
            ("dir/b.bin".into(), 1_000_003),
            ("dir/c.bin".into(), 17),
        ],
        piece_length: 64 * 1024,
    };
    Arc::new(Content::new(seed, layout).unwrap())
}

/// Every event of the seeders it is given to, in order.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<SeederEvent>>>);

impl Recorder {
    pub fn events(&self) -> Events {
        let log = Arc::clone(&self.0);
        Arc::new(move |e| log.lock().unwrap().push(e))
    }

    pub fn all(&self) -> Vec<SeederEvent> {
        self.0.lock().unwrap().clone()
    }

    /// The events of the seeder on `port`.
    pub fn of(&self, port: u16) -> Vec<EventKind> {
        self.all()
            .into_iter()
            .filter(|e| e.port == port)
            .map(|e| e.kind)
            .collect()
    }

    /// Blocks served by the seeder on `port`, and how many of them were corrupted.
    pub fn served(&self, port: u16) -> (usize, usize) {
        let served: Vec<bool> = self
            .of(port)
            .into_iter()
            .filter_map(|k| match k {
                EventKind::Served { corrupted, .. } => Some(corrupted),
                _ => None,
            })
            .collect();
        let corrupted = served.iter().filter(|c| **c).count();
        (served.len(), corrupted)
    }

    /// Waits until `pred` holds for the events so far (at most `limit`).
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&[SeederEvent]) -> bool) {
        let start = Instant::now();
        while !pred(&self.all()) {
            assert!(
                start.elapsed() < limit,
                "timed out; events: {:#?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts one seeder on a free loopback port and returns its address.
pub async fn start(
    swarm: &Arc<SeedSwarm>,
    behaviour: Behaviour,
    seed: u64,
    events: Option<Events>,
) -> SocketAddr {
    start_in_group(swarm, behaviour, seed, 0, 1, events).await
}

/// Starts seeder `index` of a group of `group` on a free loopback port.
pub async fn start_in_group(
    swarm: &Arc<SeedSwarm>,
    behaviour: Behaviour,
    seed: u64,
    index: u32,
    group: u32,
    events: Option<Events>,
) -> SocketAddr {
    let net = net();
    let listener = net.listen(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seeder = Seeder {
        behaviour,
        seed,
        index,
        group,
        events,
    };
    let swarm = Arc::clone(swarm);
    tokio::spawn(async move {
        seeder::serve_bound(net, listener, swarm, seeder)
            .await
            .unwrap();
    });
    addr
}

/// Runs the real client against `peers` with short timeouts (snub 2 s, request 5 s, dial
/// backoff 200 ms) so misbehaving seeders cost seconds, not minutes.
pub async fn download(
    meta: &Metainfo,
    peers: Vec<SocketAddr>,
    tune: impl FnOnce(&mut Options),
) -> (Summary, TempDir, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = Options::new(dir.path().to_path_buf(), 99);
    opts.listen = loopback();
    opts.peers = peers;
    opts.engine.snub_timeout = Duration::from_secs(2);
    opts.engine.request_timeout = Duration::from_secs(5);
    opts.engine.dial_backoff = Duration::from_millis(200);
    tune(&mut opts);
    let (progress, _watch) = tokio::sync::watch::channel(Progress::default());
    let start = Instant::now();
    let run = shell::download(net(), meta, opts, std::future::pending(), progress);
    let summary = tokio::time::timeout(DOWNLOAD_LIMIT, run)
        .await
        .expect("download timed out")
        .unwrap();
    (summary, dir, start.elapsed())
}

/// Asserts the download completed and every file has the generator's SHA-256.
pub fn assert_complete(summary: &Summary, dir: &Path, meta: &Metainfo, content: &Content) {
    assert!(summary.complete, "{summary:?}");
    let expected = content.file_sha256s();
    for (i, digest) in expected.iter().enumerate() {
        let path = dir.join(meta.info.file_path(i));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            &hex::encode(Sha256::digest(&data)),
            digest,
            "{}",
            path.display()
        );
    }
}

/// Content, its torrent without trackers, and a swarm serving it.
pub fn setup(seed: u64) -> (Arc<Content>, Metainfo, Arc<SeedSwarm>) {
    let content = content(seed);
    let meta = content.metainfo(&[]);
    let swarm = Arc::new(SeedSwarm::new(Arc::clone(&content), Vec::new()));
    (content, meta, swarm)
}
