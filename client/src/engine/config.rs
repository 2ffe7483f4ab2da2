//! The engine's policy knobs, each with where its default comes from.

use std::time::Duration;

/// Policy knobs, each with where its default comes from.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections per torrent (Transmission and qBittorrent default to 50-100).
    pub max_peers: usize,
    /// Slots of `max_peers` that incoming connections may not take, so peers that dial us
    /// (which an attacker controls) can never crowd out the peers we choose to dial. At most
    /// half of `max_peers` is reserved, whatever this says (see [`Config::incoming_cap`]).
    pub reserved_outgoing: usize,
    /// Incoming connections from one IP address (whom we dial is our choice). Real swarms
    /// rarely have more than a few peers behind one address; loopback swarms and simulated
    /// hosts that run many peers need more, hence a loose default that can be raised.
    pub max_per_ip: usize,
    /// Dials in progress at once (libtorrent's old half-open limit was 8; modern kernels
    /// handle more, and a slow dial must not hold up the others).
    pub max_half_open: usize,
    /// New dials per second, so a long peer list (or a hostile one) never makes us the
    /// attacker of a swarm (libtorrent's `connection_speed` defaults to 30).
    pub dials_per_second: u32,
    /// Requests kept outstanding to a peer before its rate is known: enough to fill a
    /// 1 MB/s x 200 ms pipe (16 x 16 KiB = 256 KiB).
    pub min_queue: usize,
    /// Hard cap on outstanding requests per peer (libtorrent's default `reqq` is 500).
    pub max_queue: usize,
    /// The queue holds this much time's worth of the peer's measured rate (libtorrent uses 3 s).
    pub queue_time: Duration,
    /// No block for this long while requests are outstanding: the peer is snubbed and its
    /// requests go to others (libtorrent's default is 60 s; shorter recovers stalls faster).
    pub snub_timeout: Duration,
    /// A request unanswered for this long is given up and asked of someone else.
    pub request_timeout: Duration,
    /// Nothing heard for this long (not even a keep-alive, sent every 2 min): disconnect.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this long without sending anything (BEP 3 convention: 2 min).
    pub keepalive_interval: Duration,
    /// A connected peer that has had nothing we want for this long (or is snubbed) gives its
    /// slot up when the torrent is full and a candidate is waiting. Long enough for a new
    /// leecher to get its first pieces.
    pub squat_grace: Duration,
    /// Peers we upload to at once besides the optimistic unchoke (the BitTorrent default of
    /// four keeps each upload stream fast enough to be worth reciprocating).
    pub upload_slots: usize,
    /// How often the choker reconsiders who is unchoked (BEP 3 convention: 10 s, long enough
    /// for TCP to reach speed and for rates to mean something).
    pub choke_interval: Duration,
    /// How often the optimistic unchoke moves on (3 choke rounds, as in the original client).
    pub optimistic_interval: Duration,
    /// Requests a peer may queue with us: what we advertise as `reqq` (BEP 10). More is a
    /// flood and ends the peer. 2000, as libtorrent allows: a fast leecher keeps seconds of
    /// requests queued, and at 250 a libtorrent leecher on loopback got 0.8x what a libtorrent
    /// seeder gives it (1.07x at 2000). Memory per peer is the queue's block references only:
    /// the data read for it is bounded by `upload_window`.
    pub max_requests_in: usize,
    /// Block bytes read for a peer or queued to it and not yet on the wire: enough to keep a
    /// fast loopback stream busy, small enough that many peers cost little memory.
    pub upload_window: u64,
    /// Keep dialling and serving after every piece is verified (seeding).
    pub seeding: bool,
    /// First retry delay after a failed dial; doubles with each failure.
    pub dial_backoff: Duration,
    /// Failed dials after which an address is forgotten.
    pub max_dial_failures: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_peers: 50,
            reserved_outgoing: 10,
            max_per_ip: 16,
            max_half_open: 16,
            dials_per_second: 20,
            min_queue: 16,
            max_queue: 500,
            queue_time: Duration::from_secs(3),
            snub_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(120),
            squat_grace: Duration::from_secs(60),
            upload_slots: 4,
            choke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            max_requests_in: 2000,
            upload_window: 1024 * 1024,
            seeding: false,
            dial_backoff: Duration::from_secs(5),
            max_dial_failures: 6,
        }
    }
}

impl Config {
    /// How many incoming connections may be open at once.
    pub fn incoming_cap(&self) -> usize {
        self.max_peers - self.reserved_outgoing.min(self.max_peers / 2)
    }
}
