//! Helpers for the loopback tests: a tracker on 127.0.0.1 with its observed events, and the
//! client crate's own [`Announcer`] to talk to it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitswarm_client::net::TokioNet;
use bitswarm_client::tracker::client::{self, AnnounceError, Announcer};
use bitswarm_client::tracker::{AnnounceRequest, Event};
use bitswarm_client::{InfoHash, PeerId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tracker_mock::{Answer, Config, Observer, Tracker, TrackerEvent};

/// The torrent every test announces for.
pub const HASH: InfoHash = InfoHash([0x11; 20]);

/// A tracker serving HTTP and UDP on loopback.
pub struct Fixture {
    pub tracker: Arc<Tracker>,
    pub net: TokioNet,
    /// `http://127.0.0.1:PORT/announce`
    pub http: String,
    /// `udp://127.0.0.1:PORT/announce`
    pub udp: String,
    /// Every announce the tracker reported, in order.
    pub events: Arc<Mutex<Vec<TrackerEvent>>>,
}

impl Fixture {
    pub async fn start(config: Config) -> Fixture {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let observer: Observer = Arc::new(move |event| sink.lock().unwrap().push(event));
        let tracker = Tracker::new(config, Some(observer));
        let net = TokioNet::new().unwrap();
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let http = tracker
            .clone()
            .serve_http(net.clone(), loopback)
            .await
            .unwrap();
        let udp = tracker
            .clone()
            .serve_udp(net.clone(), loopback)
            .await
            .unwrap();
        Fixture {
            tracker,
            net,
            http: format!("http://{http}/announce"),
            udp: format!("udp://{udp}/announce"),
            events,
        }
    }

    /// An announcer for the single tracker `url`, with short timeouts so that fault tests do
    /// not wait long even in virtual time.
    pub fn announcer(&self, url: &str, seed: u64) -> Announcer<TokioNet> {
        Announcer::new(
            self.net.clone(),
            vec![vec![url.to_owned()]],
            ChaCha8Rng::seed_from_u64(seed),
            client_config(),
        )
    }

    /// What the tracker answered, in order.
    pub fn answered(&self) -> Vec<Answer> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.answered)
            .collect()
    }
}

/// HTTP gives up after 5 s, UDP after 20 s (its first retransmission is at 15 s).
pub fn client_config() -> client::Config {
    client::Config {
        http_timeout: Duration::from_secs(5),
        udp_attempts: 1,
        udp_max_wait: Duration::from_secs(20),
        stopped_timeout: Duration::from_secs(5),
    }
}

/// An announce for [`HASH`] from peer number `n` listening on `port`.
pub fn request(n: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: PeerId([n; 20]),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: None,
        key: 0,
        tracker_id: None,
    }
}

/// The tracker error behind a failed round (the tests use one tracker per announcer).
pub fn cause(error: AnnounceError) -> client::Error {
    match error {
        AnnounceError::AllFailed { last, .. } => *last,
        other => panic!("expected a tracker failure, got {other}"),
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
