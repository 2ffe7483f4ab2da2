//! Helpers shared by the tracker's unit tests: addresses, durations and announce requests.

use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_client::tracker::{AnnounceRequest, Event};
use bitswarm_client::{InfoHash, PeerId};

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address literal")
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An announce for torrent `[1; 20]` from peer id `[peer; 20]` listening on `port`.
pub fn req(peer: u8, port: u16, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([peer; 20]),
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
