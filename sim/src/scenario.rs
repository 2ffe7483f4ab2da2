//! Scenario files: what a simulation builds, what it breaks, and what must hold at the end.
//!
//! The format is documented, with an example of every field, in `scenarios/README.md`.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;

mod fault_types;
pub mod tracker;

pub use fault_types::{NetFault, TrackerFault, When};
pub use tracker::{MoreTracker, TrackerHost, TrackerKind, TrackerSpec};

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of everything random: content, network latencies, peer ids, tie-breaks, faults.
    pub seed: u64,
    pub torrent: TorrentSpec,
    #[serde(default)]
    pub tracker: TrackerSpec,
    #[serde(default)]
    pub network: NetworkSpec,
    /// A DHT of bitswarm DHT nodes, for leechers with `dht = true`.
    #[serde(default)]
    pub dht: Option<DhtSpec>,
    #[serde(default)]
    pub seeders: Vec<SeederGroup>,
    pub leechers: Vec<LeecherSpec>,
    /// Network faults and host crashes at given simulated times.
    #[serde(default)]
    pub faults: Vec<NetFault>,
    pub expect: Expect,
}

/// The content: files (zero-length ones allowed) and piece length.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorrentSpec {
    pub name: String,
    pub piece_length: u64,
    /// `[path, size]` pairs; one file whose path equals `name` makes a single-file torrent.
    pub files: Vec<(String, u64)>,
}

/// A DHT made of `hosts` simulated hosts running `nodes_per_host` bitswarm DHT nodes each, on
/// UDP ports 6881 and up; the first node of host `dht-0` is everyone's bootstrap router.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtSpec {
    pub hosts: usize,
    pub nodes_per_host: usize,
    /// Groups of hostile nodes, each on its own host `dht-NAME` (or hosts, see
    /// [`HostileDht::hosts`]).
    #[serde(default)]
    pub hostile: Vec<HostileDht>,
    /// Hold every bitswarm DHT node to BEP 42 as if the simulator's private addresses were
    /// public: ids must fit addresses, and each node takes an id that fits its own (learned
    /// from the nodes that answer it) instead of the random one it starts with.
    #[serde(default)]
    pub bep42: bool,
}

/// `count` hostile DHT nodes that misbehave as `mischief` says (`silent`, `garbage`, `liar`,
/// `sybil`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostileDht {
    pub name: String,
    pub count: usize,
    pub mischief: seeder::dht_node::Mischief,
    /// Ids next to the torrent's info-hash, where its lookups go: an attacker aiming at
    /// this torrent (else random ids).
    #[serde(default)]
    pub near_target: bool,
    /// Hosts the group is spread over, `dht-NAME-0` and up (default 1: one host, `dht-NAME`),
    /// the nodes dealt out in turn: a cluster the per-address caps do not stop.
    #[serde(default = "one_host")]
    pub hosts: usize,
}

fn one_host() -> usize {
    1
}

/// The simulated network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way latency range in milliseconds.
    #[serde(default = "default_latency")]
    pub latency_ms: (u64, u64),
    /// Simulation step; longer ticks make long scenarios cheaper.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    /// Bandwidth caps of hosts, shared by every TCP connection of the host.
    #[serde(default)]
    pub hosts: Vec<HostCaps>,
    /// Fixed one-way latencies of links between two hosts (instead of the range).
    #[serde(default)]
    pub links: Vec<LinkLatency>,
}

/// A host's upload and download caps, in bytes per second (an integer, or `"256K"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostCaps {
    /// The host: a leecher's name, `seeders-GROUP`, or a tracker host.
    pub name: String,
    #[serde(default, deserialize_with = "seeder::behaviour::rate::deserialize")]
    pub up: Option<u64>,
    #[serde(default, deserialize_with = "seeder::behaviour::rate::deserialize")]
    pub down: Option<u64>,
}

/// The one-way latency of every message between hosts `a` and `b`, both ways.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkLatency {
    pub a: String,
    pub b: String,
    pub latency_ms: u64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            latency_ms: default_latency(),
            tick_ms: default_tick(),
            hosts: Vec::new(),
            links: Vec::new(),
        }
    }
}

fn default_latency() -> (u64, u64) {
    (1, 5)
}

fn default_tick() -> u64 {
    1
}

/// Synthetic seeders that behave alike, served from one simulated host on consecutive ports.
/// The behaviour fields (see the seeder crate's `Behaviour`) sit flat beside these; unknown
/// keys are refused by `Behaviour::validate`.
#[derive(Debug, Clone, Deserialize)]
pub struct SeederGroup {
    /// Names the group in faults and expectations; its host is `seeders-<name>`.
    pub name: String,
    #[serde(default = "one")]
    pub count: usize,
    /// First listening port of the group.
    #[serde(default = "default_port")]
    pub base_port: u16,
    /// What the seeders do; default honest.
    #[serde(flatten)]
    pub behaviour: seeder::Behaviour,
}

fn default_join() -> f64 {
    1.0
}

fn one() -> usize {
    1
}

fn default_port() -> u16 {
    7000
}

/// A full bitswarm client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeecherSpec {
    /// Host name; also how faults and expectations name it.
    pub name: String,
    /// When it starts, in simulated seconds. The default of one second lets seeders announce
    /// first, so the first announce already finds them.
    #[serde(default = "default_join")]
    pub join_s: f64,
    /// The engine's snub timeout in seconds (default: the engine's).
    #[serde(default)]
    pub snub_timeout_s: Option<f64>,
    /// The engine's request timeout in seconds (default: the engine's).
    #[serde(default)]
    pub request_timeout_s: Option<f64>,
    /// The engine's idle timeout in seconds (default: the engine's).
    #[serde(default)]
    pub idle_timeout_s: Option<f64>,
    /// Download rate cap, bytes per second.
    #[serde(default)]
    pub max_down: Option<u64>,
    #[serde(default)]
    pub max_peers: Option<usize>,
    /// The engine's limit of connections per IP (a simulated host serving many seeders
    /// needs more than the default).
    #[serde(default)]
    pub max_per_ip: Option<usize>,
    /// The engine's squatting grace in seconds (default: the engine's).
    #[serde(default)]
    pub squat_grace_s: Option<f64>,
    /// Keep seeding after completion, until every leecher of the scenario is complete.
    #[serde(default)]
    pub seed: bool,
    /// Upload rate cap, bytes per second.
    #[serde(default)]
    pub max_up: Option<u64>,
    /// Simulated disk latency in milliseconds: each block write and piece check is handed
    /// back to the client this long after it was asked for, and meanwhile runs on a real disk
    /// thread, so hashing uses a second core without changing the trace. Default 0: inline.
    #[serde(default)]
    pub disk_latency_ms: u64,
    /// Regular upload slots of the choker (default: the engine's).
    #[serde(default)]
    pub upload_slots: Option<usize>,
    /// Starts with every file already written (a bitswarm seeder: it checks the data, finds
    /// every piece, and serves; with `seed` it keeps serving until every leecher is done).
    #[serde(default)]
    pub starts_complete: bool,
    /// Starts from a magnet link (the info-hash, the scenario's tracker, the seeders when
    /// there is no tracker) instead of the .torrent: the info dictionary comes from peers
    /// over BEP 9 (seeders with `serve_metadata`, or other bitswarm leechers) before the
    /// download begins.
    #[serde(default)]
    pub magnet: bool,
    /// Runs a DHT node (needs a `[dht]` section): it finds peers and announces itself there.
    #[serde(default)]
    pub dht: bool,
    /// Runs local peer discovery (BEP 14): its announces reach every leecher with `lpd` (the
    /// simulated LAN), and it hears theirs.
    #[serde(default)]
    pub lpd: bool,
}

/// What must hold when the run ends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Leechers that must finish with every file equal to the generator's bytes.
    pub complete: Vec<String>,
    /// Simulated seconds by which they must have finished.
    pub within_s: f64,
    /// Seeder groups every member of which must end up banned by every completing leecher.
    #[serde(default)]
    pub banned: Vec<String>,
    /// Seeder groups every member of which the client must have refused or dropped for a
    /// protocol error (a bad handshake or frame), proving the guard that should catch them did.
    #[serde(default)]
    pub refused: Vec<String>,
    /// Seeder groups every member of which the client must have closed for misbehaviour of
    /// any kind (a protocol error, not reading what it is sent, a ban).
    #[serde(default)]
    pub dropped: Vec<String>,
    /// Seeder groups none of which may be banned.
    #[serde(default)]
    pub not_banned: Vec<String>,
    /// Upper bound on the connections a leecher dialled (made or failed): proves it does not
    /// hammer peers that misbehave or refuse it.
    #[serde(default)]
    pub max_dials: Option<u64>,
    /// Upper bound on a leecher's failed announce rounds before completion (per run): proves
    /// that a lossy tracker link is absorbed by retransmission within a round, not by failing
    /// rounds.
    #[serde(default)]
    pub max_failed_announces: Option<u64>,
    /// Per seeder group, the most its members may upload in all, in multiples of the torrent
    /// size: proves leechers trade among themselves instead of each fetching everything from
    /// the seeders.
    #[serde(default)]
    pub seeders_upload_at_most: std::collections::BTreeMap<String, f64>,
    /// Per seeder group, the least its members must upload in all, in multiples of the torrent
    /// size: proves the client used a peer it could easily have done without (one that only
    /// offers allowed-fast pieces, say).
    #[serde(default)]
    pub seeders_upload_at_least: std::collections::BTreeMap<String, f64>,
    /// Leechers that must have uploaded at least one byte (they served others).
    #[serde(default)]
    pub uploaded: Vec<String>,
    /// Simulated seconds before which no leecher in `complete` may finish: with rate caps,
    /// proves the cap held (a leecher's time is counted from its start).
    #[serde(default)]
    pub not_before_s: Option<f64>,
    /// Upper bound on bytes a leecher discarded (failed hashes, duplicates, unrequested).
    #[serde(default)]
    pub max_wasted: Option<u64>,
    /// Wall-clock seconds the whole run may take on the machine running it (the simulation
    /// stops when they are spent): catches a change that makes the simulator or the client
    /// slow (a scan per message, say) without touching simulated time. Set it a few times
    /// above an unoptimised build's time on a loaded machine, so it only catches blow-ups.
    #[serde(default)]
    pub wall_s: Option<f64>,
    /// Lower bound on wasted bytes: proves a fault actually happened.
    #[serde(default)]
    pub min_wasted: Option<u64>,
    /// Lower bound on piece hash failures over all leechers (proves corruption was seen).
    #[serde(default)]
    pub min_hash_failures: Option<u64>,
    /// Lower bound on snubs (proves stall detection ran).
    #[serde(default)]
    pub min_snubs: Option<u64>,
    /// Upper bound on snubs: proves peers that sent on time were not judged stalled (when our
    /// own disk held reading back, say).
    #[serde(default)]
    pub max_snubs: Option<u64>,
    /// Lower bound on bytes a leecher already had when it last started (proves a resume).
    #[serde(default)]
    pub min_had: Option<u64>,
    /// Per group of free riders (`free_ride` seeders): the most the group's mean download
    /// rate may be, as a fraction of the mean rate of the leechers in `complete`. Proves the
    /// leechers' chokers favour the peers that upload to them.
    #[serde(default)]
    pub free_riders_at_most: std::collections::BTreeMap<String, f64>,
    /// Per leecher: the simulated time (from the start of the run) by which it must have
    /// verified its first piece. With a late joiner that has nothing to trade, proves the
    /// optimistic unchoke let it in.
    #[serde(default)]
    pub first_piece_by_s: std::collections::BTreeMap<String, f64>,
    /// Per leecher: the range its download time (from its last start to completion, in
    /// simulated seconds) must fall in. With a rate cap on the only source, proves the cap
    /// holds from both sides (no faster, and not much slower).
    #[serde(default)]
    pub elapsed_s: std::collections::BTreeMap<String, (f64, f64)>,
    /// Per leecher, the most block payload it may receive over all its sessions, in multiples
    /// of the torrent size: with a crash and restart, proves the restarted client does not
    /// download again what it had verified before.
    #[serde(default)]
    pub downloaded_at_most: std::collections::BTreeMap<String, f64>,
    /// Per leecher, the most it may upload in all, in multiples of the torrent size: with a
    /// `starts_complete` origin, proves the others trade among themselves.
    #[serde(default)]
    pub leechers_upload_at_most: std::collections::BTreeMap<String, f64>,
    /// The tracker hosts that answered a leecher's announce (with peers or a valid empty
    /// list), exactly: with several tiers, faults and redirects, proves the leechers found
    /// the ones that work, and only them.
    #[serde(default)]
    pub trackers_answered: Option<Vec<String>>,
    /// Tracker hosts no leecher may have announced to: with a working tracker in an earlier
    /// tier, proves later tiers are left alone (BEP 12).
    #[serde(default)]
    pub trackers_unasked: Vec<String>,
    /// Per tracker host, the most announces it may receive from all leechers in all: proves
    /// a client does not hammer a tracker (a redirect loop, retries without backoff).
    #[serde(default)]
    pub tracker_announces_at_most: std::collections::BTreeMap<String, usize>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Scenario::from_toml(&text).with_context(|| format!("{}: invalid scenario", path.display()))
    }

    /// Reads and checks a scenario from its text.
    pub fn from_toml(text: &str) -> anyhow::Result<Scenario> {
        let sc: Scenario = toml::from_str(text)?;
        sc.check()?;
        Ok(sc)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.leechers.is_empty() {
            bail!("no leechers");
        }
        for name in self
            .expect
            .complete
            .iter()
            .chain(&self.expect.uploaded)
            .chain(self.expect.first_piece_by_s.keys())
            .chain(self.expect.elapsed_s.keys())
            .chain(self.expect.leechers_upload_at_most.keys())
            .chain(self.expect.downloaded_at_most.keys())
        {
            if !self.leechers.iter().any(|l| &l.name == name) {
                bail!("expect.complete names unknown leecher {name:?}");
            }
        }
        for name in self
            .expect
            .banned
            .iter()
            .chain(&self.expect.not_banned)
            .chain(&self.expect.refused)
            .chain(&self.expect.dropped)
            .chain(self.expect.seeders_upload_at_most.keys())
            .chain(self.expect.seeders_upload_at_least.keys())
            .chain(self.expect.free_riders_at_most.keys())
        {
            if !self.seeders.iter().any(|g| &g.name == name) {
                bail!("expectation names unknown seeder group {name:?}");
            }
        }
        let total: u64 = self.torrent.files.iter().map(|(_, len)| len).sum();
        let pieces = total.div_ceil(self.torrent.piece_length.max(1));
        let pieces = u32::try_from(pieces).context("too many pieces")?;
        for g in &self.seeders {
            g.behaviour
                .validate(pieces)
                .with_context(|| format!("seeder group {:?}", g.name))?;
        }
        for name in self.expect.free_riders_at_most.keys() {
            if !self
                .seeders
                .iter()
                .any(|g| &g.name == name && g.behaviour.free_ride)
            {
                bail!("expect.free_riders_at_most names {name:?}, which is not a free_ride group");
            }
        }
        for f in &self.faults {
            let w = f.when();
            let fraction = w.at_verified.unwrap_or(0.0);
            if w.at_s < 0.0 || w.after_s < 0.0 || !(0.0..=1.0).contains(&fraction) {
                bail!(
                    "fault on {:?}: times must not be negative, at_verified is 0 to 1",
                    f.host()
                );
            }
            if w.at_verified.is_some() && !self.leechers.iter().any(|l| l.name == f.host()) {
                bail!(
                    "fault on {:?}: at_verified needs a leecher as host a",
                    f.host()
                );
            }
        }
        self.check_network()?;
        self.tracker.check(|name| {
            self.leechers.iter().any(|l| l.name == name)
                || self
                    .seeders
                    .iter()
                    .any(|g| format!("seeders-{}", g.name) == name)
                || name.starts_with("dht-")
        })?;
        for name in self
            .expect
            .trackers_answered
            .iter()
            .flatten()
            .chain(&self.expect.trackers_unasked)
            .chain(self.expect.tracker_announces_at_most.keys())
        {
            if !self.tracker.is_host(name) {
                bail!("expectation names unknown tracker {name:?}");
            }
        }
        if self.expect.within_s <= 0.0 || self.expect.wall_s.is_some_and(|w| w <= 0.0) {
            bail!("expect.within_s and expect.wall_s must be positive");
        }
        if self.leechers.iter().any(|l| l.dht) && self.dht.is_none() {
            bail!("a leecher has dht = true but the scenario has no [dht] section");
        }
        if let Some(d) = &self.dht {
            if d.hosts == 0 || d.nodes_per_host == 0 || d.nodes_per_host > 1000 {
                bail!("[dht] needs at least one host and 1 to 1000 nodes per host");
            }
            for g in &d.hostile {
                if g.hosts == 0 || g.hosts > g.count.max(1) || g.count > 1000 {
                    bail!(
                        "[[dht.hostile]] {}: 1 to count hosts, at most 1000 nodes",
                        g.name
                    );
                }
            }
        }
        Ok(())
    }

    /// Host caps and link latencies name hosts the scenario has; caps are positive.
    fn check_network(&self) -> anyhow::Result<()> {
        let known = |name: &str| {
            self.leechers.iter().any(|l| l.name == name)
                || self
                    .seeders
                    .iter()
                    .any(|g| format!("seeders-{}", g.name) == name)
                || self.tracker.is_host(name)
        };
        for h in &self.network.hosts {
            if !known(&h.name) {
                bail!("[[network.hosts]] names unknown host {:?}", h.name);
            }
            if h.up == Some(0) || h.down == Some(0) {
                bail!("[[network.hosts]] {}: a cap must be positive", h.name);
            }
        }
        for entry in &self.tracker.peers {
            let host = match entry.rsplit_once(':') {
                _ if entry.parse::<std::net::SocketAddr>().is_ok() => continue,
                Some((host, port)) if port.parse::<u16>().is_ok() => host,
                _ => entry.as_str(),
            };
            if !known(host) || self.tracker.is_host(host) {
                bail!("[tracker] peers names unknown host {host:?}");
            }
        }
        for l in &self.network.links {
            if let Some(name) = [&l.a, &l.b].into_iter().find(|n| !known(n)) {
                bail!("[[network.links]] names unknown host {name:?}");
            }
        }
        Ok(())
    }

    /// The time budget.
    pub fn budget(&self) -> Duration {
        Duration::from_secs_f64(self.expect.within_s)
    }
}

#[cfg(test)]
mod tests;
