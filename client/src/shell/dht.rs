//! The DHT task: one UDP socket and one sans-IO [`DhtNode`], joined through bootstrap routers
//! (or the nodes saved by the last run), answering other nodes and running the lookups torrents
//! ask for through a [`Dht`] handle. Peers found go back on the asker's channel. A task talks
//! one address family; IPv4 and IPv6 (BEP 32) run a task each, one handle for both.
//!
//! The routing table is saved (our id and up to 200 good nodes, bencoded) when the task ends
//! and every few minutes, so the next run rejoins without the routers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::bencode::{self, Node, Value};
use crate::dht::krpc::compact;
use crate::dht::node::{DhtAction, DhtConfig, DhtNode, LookupId};
use crate::dht::NodeId;
use crate::net::{Net, Udp};
use crate::InfoHash;

/// Well-known public bootstrap routers, used when none are given.
pub const DEFAULT_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// The bootstrap is retried while the table is nearly empty: first after [`REBOOTSTRAP_FIRST`]
/// (a lost datagram to a busy router must not cost half a minute), doubling up to
/// [`REBOOTSTRAP`]. The table is saved every [`SAVE_EVERY`].
const REBOOTSTRAP_FIRST: Duration = Duration::from_secs(5);
const REBOOTSTRAP: Duration = Duration::from_secs(30);
const SAVE_EVERY: Duration = Duration::from_secs(300);

/// The node's timers run at least this often, however busy its socket.
const TICK_EVERY: Duration = Duration::from_secs(1);

/// Below this many nodes in the table, the bootstrap is retried.
const MIN_TABLE: usize = 8;

/// Nodes saved for the next run.
const MAX_SAVED: usize = 200;

/// How to start the DHT.
#[derive(Debug, Clone)]
pub struct DhtSetup {
    /// Where the UDP socket binds.
    pub bind: SocketAddr,
    /// `host:port` routers to join through.
    pub routers: Vec<String>,
    pub seed: u64,
    pub config: DhtConfig,
    /// Where the routing table is kept between runs (`None`: not kept).
    pub state: Option<PathBuf>,
}

/// A torrent's way to the DHT tasks (one per address family, BEP 32); cheap to clone. A task
/// ends when every handle is gone.
#[derive(Debug, Clone)]
pub struct Dht {
    commands: Vec<mpsc::UnboundedSender<Command>>,
}

#[derive(Debug)]
enum Command {
    GetPeers {
        info_hash: InfoHash,
        announce: Option<u16>,
        peers: mpsc::UnboundedSender<Vec<SocketAddr>>,
    },
}

impl Dht {
    /// Binds the socket and starts the task.
    pub async fn start<N: Net>(net: N, setup: DhtSetup) -> std::io::Result<Dht> {
        let udp = net.bind_udp(setup.bind).await?;
        let port = udp.local_addr().map(|a| a.port()).unwrap_or(0);
        let mut rng = ChaCha8Rng::seed_from_u64(setup.seed);
        let (saved_id, saved_nodes) = load(&setup.state);
        let id = saved_id.unwrap_or_else(|| NodeId(rng.gen()));
        let node = DhtNode::new(id, setup.config, rng.gen());
        let short = hex::encode(&id.0[..4]);
        let span = tracing::info_span!("dht", id = %short);
        span.in_scope(|| info!(port, "dht listening"));
        let (commands, rx) = mpsc::unbounded_channel();
        let task = run(net, udp, node, saved_nodes, setup.routers, setup.state, rx);
        tokio::spawn(task.instrument(span));
        Ok(Dht {
            commands: vec![commands],
        })
    }

    /// One handle for both DHTs, say the IPv4 one and the IPv6 one (BEP 32: a table per
    /// family): a lookup runs in each, and the peers of both arrive on its channel.
    pub fn with(mut self, other: Dht) -> Dht {
        self.commands.extend(other.commands);
        self
    }

    /// Looks up peers of `info_hash` (announcing our `announce` port at the end, if given);
    /// they arrive on `peers` in batches. `false` if the task is gone.
    pub fn get_peers(
        &self,
        info_hash: InfoHash,
        announce: Option<u16>,
        peers: mpsc::UnboundedSender<Vec<SocketAddr>>,
    ) -> bool {
        let mut sent = false;
        for commands in &self.commands {
            let cmd = Command::GetPeers {
                info_hash,
                announce,
                peers: peers.clone(),
            };
            sent |= commands.send(cmd).is_ok();
        }
        sent
    }
}

/// The state file's content: our id and nodes to rejoin through.
fn load(path: &Option<PathBuf>) -> (Option<NodeId>, Vec<(NodeId, SocketAddr)>) {
    let Some(bytes) = path.as_ref().and_then(|p| std::fs::read(p).ok()) else {
        return (None, Vec::new());
    };
    let Ok(root) = bencode::decode(&bytes) else {
        return (None, Vec::new());
    };
    let id = root
        .get("id")
        .and_then(Node::as_bytes)
        .and_then(|b| <[u8; 20]>::try_from(b).ok())
        .map(NodeId);
    let nodes = root
        .get("nodes")
        .and_then(Node::as_list)
        .map(|list| {
            list.iter()
                .filter_map(Node::as_bytes)
                .filter_map(|b| {
                    let (id, addr) = b.split_at_checked(20)?;
                    let addr = crate::dht::krpc::decode_compact(addr)?;
                    Some((NodeId(<[u8; 20]>::try_from(id).ok()?), addr))
                })
                .take(MAX_SAVED)
                .collect()
        })
        .unwrap_or_default();
    (id, nodes)
}

fn save(path: &Option<PathBuf>, node: &DhtNode) {
    let Some(path) = path else {
        return;
    };
    let nodes = node
        .table()
        .entries()
        .filter(|e| !e.is_bad())
        .take(MAX_SAVED)
        .map(|e| {
            let mut b = e.id.0.to_vec();
            b.extend_from_slice(&compact(e.addr));
            Value::Bytes(b)
        })
        .collect();
    let mut root = Value::dict();
    root.insert("id", Value::bytes(node.id().0));
    root.insert("nodes", Value::List(nodes));
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = std::fs::write(path, bencode::encode(&root)) {
        warn!(path = %path.display(), error = %e, "cannot save the dht table");
    }
}

async fn run<N: Net>(
    net: N,
    udp: N::Udp,
    mut node: DhtNode,
    saved_nodes: Vec<(NodeId, SocketAddr)>,
    routers: Vec<String>,
    state: Option<PathBuf>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let epoch = Instant::now();
    // The socket talks one address family; the nodes it joins through must too.
    let v6 = udp.local_addr().is_ok_and(|a| a.is_ipv6());
    let mut routers = resolve_routers(&net, &routers).await;
    routers.retain(|a| a.is_ipv6() == v6);
    let seeds: Vec<SocketAddr> = saved_nodes
        .iter()
        .map(|(_, a)| *a)
        .filter(|a| a.is_ipv6() == v6)
        .chain(routers.iter().copied())
        .collect();
    node.bootstrap(Duration::ZERO, &seeds);
    let mut askers: BTreeMap<LookupId, mpsc::UnboundedSender<Vec<SocketAddr>>> = BTreeMap::new();
    let mut rebootstrap = REBOOTSTRAP_FIRST;
    let mut next_bootstrap = epoch + rebootstrap;
    let mut next_save = epoch + SAVE_EVERY;
    let mut last_tick = epoch;
    let mut buf = vec![0u8; 2048];
    loop {
        perform(&udp, &mut node, &mut askers).await;
        // An absolute deadline, at most [`TICK_EVERY`] after the last tick: a steady stream
        // of datagrams must not postpone the timers (timeouts, secret rotation, refresh).
        let now = epoch.elapsed();
        let every = last_tick + TICK_EVERY;
        let deadline = node
            .next_deadline(now)
            .map_or(every, |d| (epoch + d).min(every));
        tokio::select! {
            r = udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    tracing::trace!(%from, len = n, "dht receive");
                    node.datagram(epoch.elapsed(), from, &buf[..n]);
                }
                Err(e) => debug!(error = %e, "dht receive failed"),
            },
            cmd = commands.recv() => match cmd {
                Some(Command::GetPeers { info_hash, announce, peers }) => {
                    let target = NodeId(info_hash.0);
                    match node.get_peers(epoch.elapsed(), target, announce) {
                        Some(lookup) => { askers.insert(lookup, peers); }
                        None => debug!("too many dht lookups; this one is dropped"),
                    }
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            node.tick(epoch.elapsed());
            last_tick = now;
        }
        if now >= next_bootstrap {
            if node.table().len() < MIN_TABLE {
                node.bootstrap(epoch.elapsed(), &routers);
                rebootstrap = (rebootstrap * 2).min(REBOOTSTRAP);
            } else {
                rebootstrap = REBOOTSTRAP_FIRST;
            }
            next_bootstrap = now + rebootstrap;
        }
        if now >= next_save {
            next_save = now + SAVE_EVERY;
            save(&state, &node);
        }
    }
    save(&state, &node);
}

/// Sends what the node wants sent and hands found peers to whoever asked.
async fn perform<U: Udp>(
    udp: &U,
    node: &mut DhtNode,
    askers: &mut BTreeMap<LookupId, mpsc::UnboundedSender<Vec<SocketAddr>>>,
) {
    while let Some(action) = node.next_action() {
        match action {
            DhtAction::Send { to, datagram } => {
                tracing::trace!(%to, len = datagram.len(), "dht send");
                if let Err(e) = udp.send_to(&datagram, to).await {
                    debug!(%to, error = %e, "dht send failed");
                }
            }
            DhtAction::Peers { lookup, peers } => {
                debug!(count = peers.len(), "dht peers found");
                if let Some(tx) = askers.get(&lookup) {
                    let _ = tx.send(peers);
                }
            }
            DhtAction::Done { lookup } => {
                debug!(?lookup, nodes = node.table().len(), "dht lookup done");
                askers.remove(&lookup);
            }
            DhtAction::NewId { id, external } => {
                let id = hex::encode(&id.0[..4]);
                info!(%external, new_id = %id, "dht id changed to one BEP 42 allows at our address");
            }
        }
    }
}

/// Resolves `host:port` routers; the ones that do not resolve are skipped with a warning.
async fn resolve_routers<N: Net>(net: &N, routers: &[String]) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for r in routers {
        if let Ok(addr) = r.parse::<SocketAddr>() {
            out.push(addr);
            continue;
        }
        let Some((host, port)) = r.rsplit_once(':') else {
            warn!(router = %r, "dht router is not host:port");
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            warn!(router = %r, "dht router port is not a number");
            continue;
        };
        match net.resolve(host, port).await {
            Ok(addrs) => out.extend(addrs.into_iter().take(4)),
            Err(e) => warn!(router = %r, error = %e, "cannot resolve dht router"),
        }
    }
    out
}
