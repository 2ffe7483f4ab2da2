//! An HTTP and UDP (BEP 15) BitTorrent tracker for tests, the simulator and `bitswarm tracker`,
//! with scripted faults: windows of time in which it refuses, stalls, talks garbage, hands out
//! no peers, is down, or answers HTTP errors.
//!
//! It runs on any [`Net`](bitswarm_client::net::Net): real sockets with
//! [`TokioNet`](bitswarm_client::net::TokioNet), simulated ones in the `sim` crate. It speaks
//! through the client crate's own tracker codecs, so both ends of every exchange share one
//! reading of the BEPs.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use bitswarm_client::net::TokioNet;
//! use tracker_mock::{Config, Tracker};
//!
//! let tracker = Tracker::new(Config::default(), None);
//! let net = TokioNet::new().expect("http client");
//! let http = tracker.clone().serve_http(net.clone(), "127.0.0.1:0".parse().unwrap()).await?;
//! let udp = tracker.clone().serve_udp(net, "127.0.0.1:0".parse().unwrap()).await?;
//! println!("http://{http}/announce udp://{udp}");
//! # Ok(()) }
//! ```
//!
//! **Architecture Invariant:** nothing here names `tokio::net` or turmoil, and time is
//! `tokio::time` only, so in the simulator every window and timeout runs on simulated time.
//! Nothing depends on hash order or unseeded randomness: peer lists are sorted by address and
//! UDP connection ids come from [`Config::seed`]. Two runs that receive the same requests at
//! the same simulated times give the same answers and the same [`TrackerEvent`]s.

mod config;
mod http;
mod swarm;
#[cfg(test)]
mod test_support;
mod tracker;
mod udp;

pub use config::{
    Config, ConfigError, FaultKind, FaultWindow, Faults, Protocol, DEFAULT_INTERVAL,
    DEFAULT_MAX_NUMWANT, DEFAULT_PEER_TIMEOUT,
};
pub use http::{GARBAGE_BODY, HEADER_READ_TIMEOUT};
pub use tracker::{Answer, Observer, Tracker, TrackerEvent};
pub use udp::{
    BAD_CONNECTION_ID, CONNECTION_ID_LIFETIME, GARBAGE_TAIL, MAX_PEERS as MAX_UDP_PEERS,
};
