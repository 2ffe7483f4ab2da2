//! What the simulated hosts and the driver share while a scenario runs: the leechers'
//! summaries, the client observers, and the seeders' upload and free-riding tallies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::shell::Summary;

use crate::watch::ClientWatch;

/// The port every tracker host listens on (HTTP and UDP).
pub const TRACKER_PORT: u16 = 6969;
/// The port leechers listen on.
pub const LEECHER_PORT: u16 = 6881;

/// Shared between the driver and the hosts.
#[derive(Default)]
pub struct Shared {
    /// Each leecher's summary, once it finished.
    pub summaries: BTreeMap<String, Summary>,
    /// Every client observer started (a restarted leecher gets a new one).
    pub watches: Vec<(String, Arc<ClientWatch>)>,
    /// Block payload each seeder group served, in bytes.
    pub seeder_uploads: BTreeMap<String, u64>,
    /// What each free-riding seeder (group, port) fetched.
    pub free_riders: BTreeMap<(String, u16), FreeRider>,
    /// Every announce the trackers received, in order.
    pub announces: Vec<Announce>,
}

/// One announce a tracker received.
#[derive(Debug, Clone)]
pub struct Announce {
    /// The tracker host.
    pub tracker: String,
    /// Simulated time.
    pub at: Duration,
    pub peer: SocketAddr,
    pub event: bitswarm_client::tracker::Event,
    /// Answered with peers (or a valid empty list), not refused, failed or dropped.
    pub answered: bool,
}

/// What one free-riding seeder fetched.
#[derive(Debug, Clone, Default)]
pub struct FreeRider {
    /// Block payload received, each block counted once.
    pub bytes: u64,
    /// Simulated time when it had the whole torrent.
    pub complete_at: Option<Duration>,
}
