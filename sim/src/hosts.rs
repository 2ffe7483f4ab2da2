//! The simulated hosts of a scenario: the tracker, the leechers, and the faults applied to them.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bitswarm_client::dht::node::DhtConfig;
use bitswarm_client::shell::dht::{Dht, DhtSetup};
use bitswarm_client::shell::lpd::{Lpd, LpdSetup};
use bitswarm_client::shell::observe::Watch;
use bitswarm_client::shell::{self, magnet, Options, Progress};
use bitswarm_client::Metainfo;
use tokio::sync::watch;

use crate::net::TurmoilNet;
use crate::scenario::{DhtSpec, HostileDht, NetFault, Scenario, TrackerHost};
use crate::shared::{Shared, TRACKER_PORT};
use crate::trace::Recorder;
use crate::watch::ClientWatch;

/// A mock tracker, HTTP and UDP on one host (whatever its kind, as real trackers often
/// serve both), with that host's faults.
pub fn tracker(
    sim: &mut turmoil::Sim<'_>,
    sc: &Scenario,
    host: TrackerHost<'_>,
    trace: &Recorder,
    shared: &Arc<Mutex<Shared>>,
) {
    let config = crate::faults::tracker_config(sc, host.faults);
    let listed = sc.tracker.peers.clone();
    let name = host.name.to_string();
    let (trace, shared) = (trace.clone(), Arc::clone(shared));
    sim.host(host.name, move || {
        let mut config = config.clone();
        let listed = listed.clone();
        let name = name.clone();
        let (trace, shared) = (trace.clone(), Arc::clone(&shared));
        async move {
            // Running, so every host is registered and the names resolve.
            config.listed = listed.iter().map(|entry| listed_addr(entry)).collect();
            let observer: tracker_mock::Observer =
                Arc::new(move |e: tracker_mock::TrackerEvent| {
                    trace.record(&name, crate::faults::tracker_line(&e));
                    if let Ok(mut s) = shared.lock() {
                        s.announces.push(crate::shared::Announce {
                            tracker: name.clone(),
                            at: e.at,
                            peer: e.peer,
                            event: e.event,
                            answered: matches!(
                                e.answered,
                                tracker_mock::Answer::Ok | tracker_mock::Answer::NoPeers
                            ),
                        });
                    }
                });
            let tracker = tracker_mock::Tracker::new(config, Some(observer));
            let any = std::net::SocketAddr::from(([0, 0, 0, 0], TRACKER_PORT));
            Arc::clone(&tracker)
                .serve_http(TurmoilNet::default(), any)
                .await?;
            tracker.serve_udp(TurmoilNet::default(), any).await?;
            std::future::pending::<()>().await;
            Ok(())
        }
    });
}

/// The address a `[tracker] peers` entry names (checked when the scenario was loaded):
/// `ip:port`, `HOST:PORT`, or a leecher's name for its listening port.
fn listed_addr(entry: &str) -> std::net::SocketAddr {
    if let Ok(addr) = entry.parse() {
        return addr;
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            std::net::SocketAddr::new(turmoil::lookup(host), port.parse().unwrap_or(0))
        }
        _ => std::net::SocketAddr::new(turmoil::lookup(entry), crate::shared::LEECHER_PORT),
    }
}

/// One bitswarm client host of a scenario.
pub struct Leecher {
    pub name: String,
    /// When it starts, from the start of the simulation.
    pub join: Duration,
    pub opts: Options,
    pub meta: Arc<Metainfo>,
    /// Start from this magnet link rather than `meta` (which the expected bytes still come from).
    pub magnet: Option<bitswarm_client::Magnet>,
    /// Run a DHT node with this setup.
    pub dht: Option<DhtSetup>,
    /// Run local peer discovery with this setup.
    pub lpd: Option<LpdSetup>,
    pub trace: Recorder,
    pub shared: Arc<Mutex<Shared>>,
    /// Turns true when every leecher is complete: seeding leechers stop then.
    pub stop: watch::Receiver<bool>,
}

/// A bitswarm client: downloads until complete, then returns; with `opts.seed_until` set it
/// goes on seeding until `stop` says every leecher is done. A restarted host starts over with
/// the same folder, so it resumes from what is on disk.
pub fn leecher(sim: &mut turmoil::Sim<'_>, l: Leecher) {
    let Leecher {
        name,
        join,
        opts,
        meta,
        magnet,
        dht,
        lpd,
        trace,
        shared,
        stop,
    } = l;
    let host = name.clone();
    sim.host(name, move || {
        let mut opts = opts.clone();
        let mut meta = Arc::clone(&meta);
        let magnet = magnet.clone();
        let dht = dht.clone();
        let trace = trace.clone();
        let shared = Arc::clone(&shared);
        let host = host.clone();
        let mut stop = stop.clone();
        async move {
            if !join.is_zero() {
                tokio::time::sleep(join).await;
            }
            trace.record(&host, "start");
            let net = TurmoilNet::on(turmoil::lookup(host.as_str()));
            let pieces = meta.info.pieces.len();
            let observer = ClientWatch::new(&host, trace.clone(), opts.engine.max_queue, pieces);
            if let Ok(mut s) = shared.lock() {
                s.watches.push((host.clone(), Arc::clone(&observer)));
            }
            opts.watch = Watch(Some(observer));
            if let Some(setup) = dht {
                opts.dht = Some(Dht::start(TurmoilNet::default(), setup).await?);
            }
            if let Some(setup) = lpd {
                opts.lpd = Some(Lpd::start(TurmoilNet::default(), setup).await?);
            }
            if let Some(magnet) = &magnet {
                let mut stop = stop.clone();
                let stopped = async move {
                    let _ = stop.wait_for(|done| *done).await;
                };
                let fetched = magnet::fetch_metadata(net, magnet, &opts, stopped).await?;
                if fetched.meta.info_hash != meta.info_hash {
                    return Err("the fetched metadata has another info-hash".into());
                }
                opts.peers.extend(fetched.peers);
                meta = Arc::new(fetched.meta);
            }
            let (tx, _rx) = watch::channel(Progress::default());
            let shutdown = async move {
                let _ = stop.wait_for(|done| *done).await;
            };
            let summary = shell::download(net, &meta, opts, shutdown, tx).await?;
            trace.record(
                &host,
                format_args!(
                    "finished complete={} downloaded={} uploaded={} wasted={} banned={}",
                    summary.complete,
                    summary.downloaded,
                    summary.uploaded,
                    summary.wasted,
                    summary.banned
                ),
            );
            if let Ok(mut s) = shared.lock() {
                s.summaries.insert(host.clone(), summary);
            }
            Ok(())
        }
    });
}

/// The UDP port of the first DHT node on every DHT host; the others follow.
pub const DHT_PORT: u16 = 6881;

/// The setup of one simulated DHT node: it binds `port` and joins through `dht-0`'s first node;
/// `bep42` holds it to BEP 42 on the simulator's private addresses.
pub fn dht_setup(port: u16, seed: u64, bep42: bool) -> DhtSetup {
    DhtSetup {
        bind: std::net::SocketAddr::from(([0, 0, 0, 0], port)),
        routers: vec![format!("dht-0:{DHT_PORT}")],
        seed,
        config: DhtConfig {
            // Many nodes share a simulated host, and so its IP.
            queries_per_ip: 10_000,
            exempt_local: !bep42,
            ..DhtConfig::default()
        },
        state: None,
    }
}

/// A host running `count` DHT nodes (and nothing else) on ports [`DHT_PORT`] and up.
pub fn dht_host(sim: &mut turmoil::Sim<'_>, index: usize, spec: &DhtSpec, seed: u64) {
    let (count, bep42) = (spec.nodes_per_host, spec.bep42);
    sim.host(format!("dht-{index}"), move || async move {
        let mut handles = Vec::new();
        for k in 0..count {
            let port = DHT_PORT + k as u16;
            let setup = dht_setup(port, seed ^ ((index as u64) << 20) ^ k as u64, bep42);
            handles.push(Dht::start(TurmoilNet::default(), setup).await?);
        }
        // The nodes run as long as their handles live.
        std::future::pending::<()>().await;
        drop(handles);
        Ok(())
    });
}

/// The hosts of a hostile group: `dht-NAME`, or `dht-NAME-0` and up when spread.
fn hostile_hosts(group: &HostileDht) -> Vec<String> {
    if group.hosts <= 1 {
        return vec![format!("dht-{}", group.name)];
    }
    (0..group.hosts)
        .map(|h| format!("dht-{}-{h}", group.name))
        .collect()
}

/// Hosts running `group.count` hostile DHT nodes on ports [`DHT_PORT`] and up (dealt out in
/// turn over the group's hosts), with ids next to `aim` if given. A Sybil names the whole
/// group, on every host.
pub fn hostile_dht_host(
    sim: &mut turmoil::Sim<'_>,
    group: &HostileDht,
    aim: Option<bitswarm_client::InfoHash>,
    seed: u64,
) {
    let hosts = hostile_hosts(group);
    let (count, mischief) = (group.count, group.mischief);
    // Node `k` is on host `k % hosts`, port DHT_PORT + k / hosts.
    let place = move |k: usize, n: usize| (k % n, DHT_PORT + (k / n) as u16);
    for (h, name) in hosts.iter().enumerate() {
        let all = hosts.clone();
        let host = name.clone();
        sim.host(name.as_str(), move || {
            let (all, host) = (all.clone(), host.clone());
            async move {
                let own_ip = turmoil::lookup(host.as_str());
                let router = std::net::SocketAddr::new(turmoil::lookup("dht-0"), DHT_PORT);
                let cluster: Vec<_> = (0..count)
                    .map(|k| {
                        let (on, port) = place(k, all.len());
                        std::net::SocketAddr::new(turmoil::lookup(all[on].as_str()), port)
                    })
                    .collect();
                for k in (0..count).filter(|&k| place(k, all.len()).0 == h) {
                    let setup = seeder::dht_node::HostileSetup {
                        bind: std::net::SocketAddr::from(([0, 0, 0, 0], place(k, all.len()).1)),
                        own_ip,
                        router,
                        mischief,
                        cluster: cluster.clone(),
                        aim: aim.map(|h| bitswarm_client::dht::NodeId(h.0)),
                        seed: seed ^ ((k as u64) << 8),
                    };
                    tokio::spawn(seeder::dht_node::run(TurmoilNet::default(), setup));
                }
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    }
}

/// Applies one scheduled fault and records it in the trace.
pub fn apply_fault(sim: &mut turmoil::Sim<'_>, f: &NetFault, trace: &Recorder) {
    let line = match f {
        NetFault::Partition(l) => {
            sim.partition(l.a.as_str(), l.b.as_str());
            format!("partition {} {}", l.a, l.b)
        }
        NetFault::Repair(l) => {
            sim.repair(l.a.as_str(), l.b.as_str());
            format!("repair {} {}", l.a, l.b)
        }
        NetFault::Hold(l) => {
            sim.hold(l.a.as_str(), l.b.as_str());
            format!("hold {} {}", l.a, l.b)
        }
        NetFault::Release(l) => {
            sim.release(l.a.as_str(), l.b.as_str());
            format!("release {} {}", l.a, l.b)
        }
        NetFault::Crash(h) => {
            sim.crash(h.a.as_str());
            crate::shaping::forget(sim.lookup(h.a.as_str()));
            format!("crash {}", h.a)
        }
        NetFault::Restart(h) => {
            sim.bounce(h.a.as_str());
            format!("restart {}", h.a)
        }
    };
    trace.record_at(sim.elapsed(), "sim", line);
}

/// Writes every file of the torrent under `dir`, as a seeder that has it all keeps it.
pub fn write_content(content: &seeder::Content, meta: &Metainfo, dir: &Path) -> anyhow::Result<()> {
    let geometry = content.geometry();
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..geometry.file_count() {
        let path = dir.join(meta.info.file_path(i));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let (start, len) = (geometry.file_offset(i), geometry.file_length(i));
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            content.read(start + done, &mut buf[..n]);
            file.write_all(&buf[..n])?;
            done += n as u64;
        }
    }
    Ok(())
}
