//! Running one scenario with one seed: build the turmoil world, drive it, judge the outcome.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use bitswarm_client::shell::lpd::LpdSetup;
use bitswarm_client::shell::{DiskMode, Options, SeedUntil, Summary};
use seeder::{Content, EventKind, Layout, SeederEvent, Spec};
use sha2::{Digest, Sha256};

use crate::net::TurmoilNet;
use crate::scenario::{LeecherSpec, Scenario, TrackerKind};
use crate::trace::Recorder;
use crate::watch::ClientWatch;

/// The port the tracker listens on (HTTP and UDP).
pub const TRACKER_PORT: u16 = 6969;
/// The port leechers listen on.
pub const LEECHER_PORT: u16 = 6881;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub seed: u64,
    /// Expectations that failed (empty: the run passed).
    pub failures: Vec<String>,
    pub trace: Vec<String>,
    pub trace_hash: String,
    /// Simulated time when the run ended.
    pub sim_time: Duration,
    /// Each leecher's last summary.
    pub summaries: BTreeMap<String, Summary>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

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
    pub free_riders: BTreeMap<(String, u16), crate::trading::FreeRider>,
}

/// Runs `sc` with `seed` (the scenario's own seed unless overridden).
pub fn run(sc: &Scenario, seed: u64) -> anyhow::Result<Outcome> {
    let layout = Layout {
        name: sc.torrent.name.clone(),
        files: sc.torrent.files.clone(),
        piece_length: sc.torrent.piece_length,
    };
    let content = Arc::new(Content::new(seed, layout).context("torrent layout")?);
    let trackers: Vec<Vec<String>> = match sc.tracker.kind {
        TrackerKind::Http => vec![vec![format!("http://tracker:{TRACKER_PORT}/announce")]],
        TrackerKind::Udp => vec![vec![format!("udp://tracker:{TRACKER_PORT}")]],
        TrackerKind::None => Vec::new(),
    };
    let meta = Arc::new(content.metainfo(&trackers));
    let expected_digests = content.file_sha256s();
    let trace = Recorder::default();
    let shared = Arc::new(Mutex::new(Shared::default()));
    // Tells seeding leechers to stop once every leecher is complete.
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let dirs = tempfile::tempdir().context("temporary directory")?;

    let tick = Duration::from_millis(sc.network.tick_ms.max(1));
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .simulation_duration(sc.budget() + Duration::from_secs(120))
        .tick_duration(tick)
        .min_message_latency(Duration::from_millis(sc.network.latency_ms.0))
        .max_message_latency(Duration::from_millis(
            sc.network.latency_ms.1.max(sc.network.latency_ms.0),
        ))
        .tcp_capacity(4096)
        .build();

    if sc.tracker.kind != TrackerKind::None {
        crate::hosts::tracker(&mut sim, sc, &trace);
    }
    if let Some(d) = &sc.dht {
        for index in 0..d.hosts {
            crate::hosts::dht_host(&mut sim, index, d, seed ^ 0xd47);
        }
        for (i, group) in d.hostile.iter().enumerate() {
            let aim = group.near_target.then_some(meta.info_hash);
            let group_seed = seed ^ (0xbad_d470 + i as u64);
            crate::hosts::hostile_dht_host(&mut sim, group, aim, group_seed);
        }
    }
    for (i, group) in sc.seeders.iter().enumerate() {
        let host = format!("seeders-{}", group.name);
        let content = Arc::clone(&content);
        let trackers = trackers.clone();
        let spec = Spec {
            count: group.count,
            base_port: group.base_port,
            behaviour: group.behaviour.clone(),
        };
        let group_seed = seed ^ (0x5eed_0000 + i as u64);
        let trace = trace.clone();
        let name = host.clone();
        let group_name = group.name.clone();
        let shared_up = Arc::clone(&shared);
        sim.host(host.as_str(), move || {
            let content = Arc::clone(&content);
            let trackers = trackers.clone();
            let spec = spec.clone();
            let trace = trace.clone();
            let name = name.clone();
            let group_name = group_name.clone();
            let shared_up = Arc::clone(&shared_up);
            let geometry = content.geometry().clone();
            async move {
                let events: seeder::Events = Arc::new(move |e: SeederEvent| {
                    if let Ok(mut s) = shared_up.lock() {
                        crate::trading::tally(&mut s, &group_name, &geometry, &e);
                    }
                    if let Some(line) = seeder_line(&e) {
                        trace.record(&name, line);
                    }
                });
                seeder::spawn_many(
                    TurmoilNet,
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
    let group_ips: BTreeMap<String, IpAddr> = sc
        .seeders
        .iter()
        .map(|g| (g.name.clone(), sim.lookup(format!("seeders-{}", g.name))))
        .collect();
    // Without a tracker, leechers are told where the seeders are.
    let direct_peers: Vec<SocketAddr> = if sc.tracker.kind == TrackerKind::None {
        sc.seeders
            .iter()
            .flat_map(|g| {
                let ip: IpAddr = sim.lookup(format!("seeders-{}", g.name));
                (0..g.count).map(move |k| SocketAddr::new(ip, g.base_port + k as u16))
            })
            .collect()
    } else {
        Vec::new()
    };
    for (i, l) in sc.leechers.iter().enumerate() {
        let dir: PathBuf = dirs.path().join(&l.name);
        std::fs::create_dir_all(&dir)?;
        if l.starts_complete {
            crate::hosts::write_content(&content, &meta, &dir)?;
        }
        let mut opts = Options::new(dir, seed ^ (0x1ee_c4e7 + i as u64));
        opts.listen = SocketAddr::from(([0, 0, 0, 0], LEECHER_PORT));
        opts.disk = DiskMode::Inline;
        opts.peers = direct_peers.clone();
        opts.max_down = l.max_down;
        opts.resume_interval = Duration::from_secs(5);
        if let Some(s) = l.snub_timeout_s {
            opts.engine.snub_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = l.request_timeout_s {
            opts.engine.request_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = l.idle_timeout_s {
            opts.engine.idle_timeout = Duration::from_secs_f64(s);
        }
        if let Some(m) = l.max_peers {
            opts.engine.max_peers = m;
        }
        if let Some(m) = l.max_per_ip {
            opts.engine.max_per_ip = m;
        }
        if let Some(s) = l.squat_grace_s {
            opts.engine.squat_grace = Duration::from_secs_f64(s);
        }
        if let Some(n) = l.upload_slots {
            opts.engine.upload_slots = n;
        }
        opts.max_up = l.max_up;
        if l.seed {
            opts.seed_until = Some(SeedUntil::default());
        }
        let host = crate::hosts::Leecher {
            name: l.name.clone(),
            join: Duration::from_secs_f64(l.join_s),
            opts,
            meta: Arc::clone(&meta),
            magnet: l.magnet.then(|| bitswarm_client::Magnet {
                info_hash: meta.info_hash,
                name: None,
                trackers: meta.trackers().into_iter().flatten().collect(),
                peers: Vec::new(),
                web_seeds: Vec::new(),
            }),
            dht: l.dht.then(|| {
                let port = crate::hosts::DHT_PORT;
                let bep42 = sc.dht.as_ref().is_some_and(|d| d.bep42);
                crate::hosts::dht_setup(port, seed ^ (0xd470_0000 + i as u64), bep42)
            }),
            lpd: l.lpd.then_some(LpdSetup {
                group: bitswarm_client::lpd::GROUP_V4,
                seed: seed ^ (0x6c70_0000 + i as u64),
            }),
            trace: trace.clone(),
            shared: Arc::clone(&shared),
            stop: stop_rx.clone(),
        };
        crate::hosts::leecher(&mut sim, host);
    }
    if sc.tracker.kind == TrackerKind::Udp && sc.tracker.udp_loss > 0.0 {
        for l in &sc.leechers {
            sim.set_link_fail_rate("tracker", l.name.as_str(), sc.tracker.udp_loss);
        }
    }

    // The simulated LAN a multicast reaches: the leechers running local peer discovery.
    crate::net::set_lan(
        sc.leechers
            .iter()
            .filter(|l| l.lpd)
            .map(|l| l.name.clone())
            .collect(),
    );

    // Drive: apply faults when their time comes; stop when every leecher finished or time is up.
    let mut faults: Vec<_> = sc.faults.clone();
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let mut next_fault = 0;
    let budget = sc.budget();
    let mut failures = Vec::new();
    loop {
        let now = sim.elapsed();
        while let Some(f) = faults
            .get(next_fault)
            .filter(|f| Duration::from_secs_f64(f.at_s) <= now)
        {
            next_fault += 1;
            crate::hosts::apply_fault(&mut sim, f, &trace)?;
        }
        let done = {
            let s = shared.lock().map_err(|_| anyhow!("poisoned"))?;
            let finished = |l: &LeecherSpec| s.summaries.get(&l.name).is_some_and(|m| m.complete);
            // Seeding leechers are told to stop once every leecher has every piece.
            let seeding_done = sc.leechers.iter().all(|l| {
                finished(l)
                    || s.watches
                        .iter()
                        .any(|(h, w)| h == &l.name && w.is_complete())
            });
            if seeding_done && !*stop.borrow() {
                let _ = stop.send(true);
            }
            sc.leechers.iter().all(finished)
        };
        if done && next_fault >= faults.len() {
            break;
        }
        if done
            && faults
                .iter()
                .skip(next_fault)
                .all(|f| f.action != "restart")
        {
            break;
        }
        if now > budget {
            failures.push(format!(
                "time budget of {:.0}s exceeded",
                budget.as_secs_f64()
            ));
            break;
        }
        if let Err(e) = sim.step() {
            failures.push(format!("simulation error: {e}"));
            break;
        }
    }
    let sim_time = sim.elapsed();
    trace.close();
    drop(sim);

    // Judge.
    let s = shared.lock().map_err(|_| anyhow!("poisoned"))?;
    for (host, w) in &s.watches {
        for v in w.violations() {
            failures.push(format!("{host}: invariant violated: {v}"));
        }
    }
    for name in &sc.expect.complete {
        match s.summaries.get(name) {
            Some(sum) if sum.complete => {
                let dir = dirs.path().join(name);
                for (i, want) in expected_digests.iter().enumerate() {
                    let path = dir.join(meta.info.file_path(i));
                    match sha256_file(&path) {
                        Ok(got) if &got == want => {}
                        Ok(got) => failures.push(format!(
                            "{name}: {} has digest {got}, expected {want}",
                            meta.info.file_path(i).display()
                        )),
                        Err(e) => failures.push(format!("{name}: {}: {e}", path.display())),
                    }
                }
                if let Some(max) = sc.expect.max_wasted {
                    if sum.wasted > max {
                        failures.push(format!(
                            "{name}: wasted {} bytes, at most {max} allowed",
                            sum.wasted
                        ));
                    }
                }
                if let Some(min) = sc.expect.min_had {
                    if sum.had < min {
                        failures.push(format!(
                            "{name}: had {} bytes at its last start, expected at least {min}",
                            sum.had
                        ));
                    }
                }
                if let Some(min) = sc.expect.min_wasted {
                    if sum.wasted < min {
                        failures.push(format!(
                            "{name}: wasted {} bytes, expected at least {min}",
                            sum.wasted
                        ));
                    }
                }
            }
            _ => failures.push(format!("{name} did not complete")),
        }
    }
    // Every seeder's address, by group.
    let members = |group: &str| -> Vec<SocketAddr> {
        let (Some(g), Some(ip)) = (
            sc.seeders.iter().find(|g| g.name == group),
            group_ips.get(group),
        ) else {
            return Vec::new();
        };
        (0..g.count)
            .map(|k| SocketAddr::new(*ip, g.base_port + k as u16))
            .collect()
    };
    let banned: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.banned()).collect();
    let refused: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.refused()).collect();
    let dropped: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.dropped()).collect();
    for group in &sc.expect.dropped {
        for a in members(group).iter().filter(|a| !dropped.contains(a)) {
            failures.push(format!(
                "seeder {group} at {a} was never dropped for misbehaviour"
            ));
        }
    }
    failures.extend(crate::trading::judge(
        sc,
        &s,
        meta.info.total_length(),
        sim_time,
    ));
    if let Some(max) = sc.expect.max_dials {
        for (host, w) in &s.watches {
            if w.dials() > max {
                failures.push(format!(
                    "{host} dialled {} times, at most {max} allowed",
                    w.dials()
                ));
            }
        }
    }
    for group in &sc.expect.banned {
        for a in members(group).iter().filter(|a| !banned.contains(a)) {
            failures.push(format!("seeder {group} at {a} was not banned"));
        }
    }
    for group in &sc.expect.refused {
        for a in members(group).iter().filter(|a| !refused.contains(a)) {
            failures.push(format!(
                "seeder {group} at {a} was never refused for a protocol error"
            ));
        }
    }
    for group in &sc.expect.not_banned {
        for a in members(group).iter().filter(|a| banned.contains(a)) {
            failures.push(format!("seeder {group} at {a} was banned"));
        }
    }
    let (hash_failures, snubs) = s
        .watches
        .iter()
        .map(|(_, w)| w.counts())
        .fold((0, 0), |(h, n), (a, b)| (h + a, n + b));
    if let Some(min) = sc.expect.min_hash_failures {
        if hash_failures < min {
            failures.push(format!(
                "{hash_failures} hash failures, expected at least {min}"
            ));
        }
    }
    if let Some(min) = sc.expect.min_snubs {
        if snubs < min {
            failures.push(format!("{snubs} snubs, expected at least {min}"));
        }
    }
    Ok(Outcome {
        name: sc.name.clone(),
        seed,
        failures,
        trace: trace.lines(),
        trace_hash: trace.hash(),
        sim_time,
        summaries: s.summaries.clone(),
    })
}

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

/// The hex SHA-256 of a file, read in 1 MiB chunks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
