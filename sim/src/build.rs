//! Building a scenario's turmoil world: the content and its torrent, the tracker, the DHT, the
//! seeder groups and the bitswarm leechers, each a simulated host.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;
use bitswarm_client::shell::lpd::LpdSetup;
use bitswarm_client::shell::{DiskMode, Options, SeedUntil};
use bitswarm_client::Metainfo;
use seeder::{Content, EventKind, Layout, SeederEvent, Spec};
use tokio::sync::watch;

use crate::net::TurmoilNet;
use crate::scenario::{LeecherSpec, Scenario, TrackerKind};
use crate::shared::{Shared, LEECHER_PORT};
use crate::trace::Recorder;

/// What the driver and the judge need of a built world, besides the simulation itself.
pub struct World {
    pub seed: u64,
    pub trace: Recorder,
    pub shared: Arc<Mutex<Shared>>,
    /// Turns true to tell seeding leechers that every leecher is complete.
    pub stop: watch::Sender<bool>,
    /// The leechers' folders, `dirs/<leecher>`.
    pub dirs: tempfile::TempDir,
    pub meta: Arc<Metainfo>,
    /// The generated content, which every leecher's files must equal byte for byte.
    pub content: Arc<Content>,
    /// Each seeder group's host address.
    pub group_ips: BTreeMap<String, IpAddr>,
    /// Each leecher's host address.
    pub leecher_ips: BTreeMap<String, IpAddr>,
}

/// Builds the world of `sc` under `seed`: every host registered, nothing run yet.
pub fn build(sc: &Scenario, seed: u64) -> anyhow::Result<(turmoil::Sim<'static>, World)> {
    let layout = Layout {
        name: sc.torrent.name.clone(),
        files: sc.torrent.files.clone(),
        piece_length: sc.torrent.piece_length,
    };
    let content = Arc::new(Content::new(seed, layout).context("torrent layout")?);
    let trackers = sc.tracker.announce_list();
    let (stop, stop_rx) = watch::channel(false);
    let mut world = World {
        seed,
        trace: Recorder::default(),
        shared: Arc::new(Mutex::new(Shared::default())),
        stop,
        dirs: tempfile::tempdir().context("temporary directory")?,
        meta: Arc::new(content.metainfo(&trackers)),
        content: Arc::clone(&content),
        group_ips: BTreeMap::new(),
        leecher_ips: BTreeMap::new(),
    };
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(sc.budget() + Duration::from_secs(120))
        .tick_duration(Duration::from_millis(sc.network.tick_ms.max(1)))
        .min_message_latency(Duration::from_millis(sc.network.latency_ms.0))
        .max_message_latency(Duration::from_millis(
            sc.network.latency_ms.1.max(sc.network.latency_ms.0),
        ))
        .tcp_capacity(4096)
        .build();
    for host in sc.tracker.hosts() {
        crate::hosts::tracker(&mut sim, sc, host, &world.trace, &world.shared);
    }
    dht_hosts(&mut sim, sc, &world);
    seeder_hosts(&mut sim, sc, &world, &content, &trackers);
    world.group_ips = sc
        .seeders
        .iter()
        .map(|g| (g.name.clone(), sim.lookup(format!("seeders-{}", g.name))))
        .collect();
    leecher_hosts(&mut sim, sc, &world, &content, stop_rx)?;
    world.leecher_ips = sc
        .leechers
        .iter()
        .map(|l| (l.name.clone(), sim.lookup(l.name.as_str())))
        .collect();
    if sc.tracker.udp_loss > 0.0 {
        let udp = sc.tracker.hosts().into_iter();
        for host in udp.filter(|h| h.kind == TrackerKind::Udp) {
            for l in &sc.leechers {
                sim.set_link_fail_rate(host.name, l.name.as_str(), sc.tracker.udp_loss);
            }
        }
    }
    crate::shaping::set_caps(
        sc.network
            .hosts
            .iter()
            .map(|h| (sim.lookup(h.name.as_str()), h.up, h.down))
            .collect(),
    );
    for l in &sc.network.links {
        let latency = Duration::from_millis(l.latency_ms);
        sim.set_link_latency(l.a.as_str(), l.b.as_str(), latency);
    }
    // The simulated LAN a multicast reaches: the leechers running local peer discovery.
    crate::net::set_lan(
        sc.leechers
            .iter()
            .filter(|l| l.lpd)
            .map(|l| l.name.clone())
            .collect(),
    );
    Ok((sim, world))
}

/// The scenario's DHT: honest bitswarm nodes and hostile groups.
fn dht_hosts(sim: &mut turmoil::Sim<'static>, sc: &Scenario, w: &World) {
    let Some(d) = &sc.dht else {
        return;
    };
    for index in 0..d.hosts {
        crate::hosts::dht_host(sim, index, d, w.seed ^ 0xd47);
    }
    for (i, group) in d.hostile.iter().enumerate() {
        let aim = group.near_target.then_some(w.meta.info_hash);
        let group_seed = w.seed ^ (0xbad_d470 + i as u64);
        crate::hosts::hostile_dht_host(sim, group, aim, group_seed);
    }
}

/// One host per seeder group, `seeders-NAME`, serving its ports; its events go to the trace
/// and the upload tally.
fn seeder_hosts(
    sim: &mut turmoil::Sim<'static>,
    sc: &Scenario,
    w: &World,
    content: &Arc<Content>,
    trackers: &[Vec<String>],
) {
    for (i, group) in sc.seeders.iter().enumerate() {
        let host = format!("seeders-{}", group.name);
        let (content, trackers) = (Arc::clone(content), trackers.to_vec());
        let spec = Spec {
            count: group.count,
            base_port: group.base_port,
            behaviour: group.behaviour.clone(),
        };
        let group_seed = w.seed ^ (0x5eed_0000 + i as u64);
        let (trace, name, group_name) = (w.trace.clone(), host.clone(), group.name.clone());
        let shared = Arc::clone(&w.shared);
        sim.host(host.as_str(), move || {
            let (content, trackers, spec) = (Arc::clone(&content), trackers.clone(), spec.clone());
            let (trace, name, group_name) = (trace.clone(), name.clone(), group_name.clone());
            let shared = Arc::clone(&shared);
            let geometry = content.geometry().clone();
            async move {
                let events: seeder::Events = Arc::new(move |e: SeederEvent| {
                    if let Ok(mut s) = shared.lock() {
                        crate::trading::tally(&mut s, &group_name, &geometry, &e);
                    }
                    if let Some(line) = seeder_line(&e) {
                        trace.record(&name, line);
                    }
                });
                seeder::spawn_many(
                    TurmoilNet::default(),
                    content,
                    &spec,
                    &trackers,
                    group_seed,
                    Some(events),
                )?;
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }
}

/// One host per bitswarm leecher, with its folder (full of the content if it starts complete).
fn leecher_hosts(
    sim: &mut turmoil::Sim<'static>,
    sc: &Scenario,
    w: &World,
    content: &Content,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // Without a tracker, leechers are told where the seeders are.
    let direct_peers: Vec<SocketAddr> = if sc.tracker.kind == TrackerKind::None {
        sc.seeders
            .iter()
            .flat_map(|g| {
                let ip = w.group_ips[&g.name];
                (0..g.count).map(move |k| SocketAddr::new(ip, g.base_port + k as u16))
            })
            .collect()
    } else {
        Vec::new()
    };
    for (i, l) in sc.leechers.iter().enumerate() {
        let dir: PathBuf = w.dirs.path().join(&l.name);
        std::fs::create_dir_all(&dir)?;
        if l.starts_complete {
            crate::hosts::write_content(content, &w.meta, &dir)?;
        }
        let mut opts = leecher_options(l, dir, w.seed ^ (0x1ee_c4e7 + i as u64));
        opts.peers = direct_peers.clone();
        let bep42 = sc.dht.as_ref().is_some_and(|d| d.bep42);
        let host = crate::hosts::Leecher {
            name: l.name.clone(),
            join: Duration::from_secs_f64(l.join_s),
            opts,
            meta: Arc::clone(&w.meta),
            magnet: l.magnet.then(|| bitswarm_client::Magnet {
                info_hash: w.meta.info_hash,
                name: None,
                trackers: w.meta.trackers().into_iter().flatten().collect(),
                peers: Vec::new(),
                web_seeds: Vec::new(),
            }),
            dht: l.dht.then(|| {
                let seed = w.seed ^ (0xd470_0000 + i as u64);
                crate::hosts::dht_setup(crate::hosts::DHT_PORT, seed, bep42)
            }),
            lpd: l.lpd.then_some(LpdSetup {
                group: bitswarm_client::lpd::GROUP_V4,
                seed: w.seed ^ (0x6c70_0000 + i as u64),
            }),
            trace: w.trace.clone(),
            shared: Arc::clone(&w.shared),
            stop: stop.clone(),
        };
        crate::hosts::leecher(sim, host);
    }
    Ok(())
}

/// A leecher's client options: the simulator's (inline or deferred disk, fixed port, frequent
/// resume saves) and the scenario's overrides.
fn leecher_options(l: &LeecherSpec, dir: PathBuf, seed: u64) -> Options {
    let mut opts = Options::new(dir, seed);
    opts.listen = SocketAddr::from(([0, 0, 0, 0], LEECHER_PORT));
    opts.disk = match l.disk_latency_ms {
        0 => DiskMode::Inline,
        ms => DiskMode::Deferred(Duration::from_millis(ms)),
    };
    opts.max_down = l.max_down;
    opts.max_up = l.max_up;
    opts.resume_interval = Duration::from_secs(5);
    let secs = Duration::from_secs_f64;
    let e = &mut opts.engine;
    if let Some(s) = l.snub_timeout_s {
        e.snub_timeout = secs(s);
    }
    if let Some(s) = l.request_timeout_s {
        e.request_timeout = secs(s);
    }
    if let Some(s) = l.idle_timeout_s {
        e.idle_timeout = secs(s);
    }
    if let Some(s) = l.squat_grace_s {
        e.squat_grace = secs(s);
    }
    e.max_peers = l.max_peers.unwrap_or(e.max_peers);
    e.max_per_ip = l.max_per_ip.unwrap_or(e.max_per_ip);
    e.upload_slots = l.upload_slots.unwrap_or(e.upload_slots);
    if l.seed {
        opts.seed_until = Some(SeedUntil::default());
    }
    opts
}

/// The trace line of a seeder event (`None` for the ones too frequent to trace).
fn seeder_line(e: &SeederEvent) -> Option<String> {
    let port = e.port;
    let peer = e.peer;
    Some(match &e.kind {
        EventKind::Listening => format!(":{port} listening"),
        EventKind::Left => format!(":{port} left"),
        EventKind::Announced { event, ok } => format!(":{port} announce {event:?} ok={ok}"),
        EventKind::Connected => format!(":{port} connect {peer}"),
        EventKind::Disconnected(why) => format!(":{port} disconnect {peer}: {why}"),
        EventKind::Choked => format!(":{port} choke {peer}"),
        EventKind::Unchoked => format!(":{port} unchoke {peer}"),
        EventKind::Served {
            corrupted: true,
            piece,
            offset,
        } => {
            format!(":{port} corrupt {peer} {piece}/{offset}")
        }
        EventKind::Served { .. } => return None,
        EventKind::Rejected { piece, offset } => format!(":{port} reject {peer} {piece}/{offset}"),
        EventKind::Stalled => format!(":{port} stall {peer}"),
        EventKind::Dropped(mode) => format!(":{port} drop {peer} {mode:?}"),
        EventKind::Pushed { piece, offset } => format!(":{port} push {peer} {piece}/{offset}"),
        EventKind::Shifted {
            piece,
            offset,
            begin,
            corrupted,
        } => format!(":{port} shift {peer} {piece}/{offset} to {begin} corrupt={corrupted}"),
        EventKind::Rejoined { peer_id } => format!(":{port} rejoin {peer} as {peer_id}"),
        EventKind::RejoinFailed(why) => format!(":{port} rejoin {peer} failed: {why}"),
        EventKind::Flooded { requests } => format!(":{port} flood {peer} {requests} requests"),
        EventKind::Received { .. } => return None,
        EventKind::Complete => format!(":{port} complete"),
    })
}
