//! Hostile DHT nodes for the simulator: they get into honest nodes' routing tables by querying
//! them (an honest node adds whoever queries it), then misbehave when asked: never answer,
//! answer with garbage, lie (answers that lead lookups to dead ends, and floods of made-up
//! announces), or pose as a Sybil cluster next to whatever target they are asked about.
//!
//! Like the seeders, a node reaches the network only through the client's `Net` trait, draws
//! its randomness from a seeded `ChaCha8Rng`, and keeps time with `tokio::time`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bitswarm_client::dht::krpc::{Body, Krpc, Query, Response};
use bitswarm_client::dht::NodeId;
use bitswarm_client::net::{Net, Udp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use tokio::time::Instant;

/// How a hostile node misbehaves when queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mischief {
    /// Never answers (but keeps querying, so it stays known).
    Silent,
    /// Answers every query with random bytes.
    Garbage,
    /// Answers in valid KRPC with lies: nodes near the target that do not exist, peers that do
    /// not exist, and a token that no node issued. It also remembers the info-hashes it is
    /// asked about and floods the known nodes closest to them with `announce_peer`s of
    /// made-up peers under tokens nobody issued: a node that stored them would hand out dead
    /// peers and evict the real ones.
    Liar,
    /// One of a cluster (on one address or spread over several) that poses as the nodes
    /// closest to any target. Half the members are gateways: they query honest nodes, so
    /// they sit in honest tables under their own ids, and answer under them. The other half
    /// pose: never heard of except through members, each answers about a target under an id
    /// a hair from it, the id the members name it by. Asked about a target, a member names
    /// posers. It never has peers. A lookup that lets the cluster
    /// fill its closest places ends among them and never reaches the honest nodes that hold
    /// the peers (nor announces to them).
    Sybil,
}

/// One hostile node: where it is, whom it knows, what it misbehaves with.
#[derive(Debug, Clone)]
pub struct HostileSetup {
    pub bind: SocketAddr,
    /// Its host's address: where a liar's made-up nodes and peers are.
    pub own_ip: IpAddr,
    /// The honest node it makes itself known through first.
    pub router: SocketAddr,
    pub mischief: Mischief,
    /// The addresses of its whole group (a Sybil names them).
    pub cluster: Vec<SocketAddr>,
    /// An id next to this target instead of a random one: an attacker aiming at a torrent.
    pub aim: Option<NodeId>,
    pub seed: u64,
}

/// How often a hostile node queries the honest ones again, to stay in their tables.
const REQUERY: Duration = Duration::from_secs(30);

/// How often a liar floods, info-hashes it remembers, the known nodes closest to each it
/// floods, and the made-up announces each of them gets per round.
const FLOOD_EVERY: Duration = Duration::from_secs(1);
const MAX_TARGETS: usize = 8;
const FLOODED_NODES: usize = 16;
const ANNOUNCES_PER_NODE: usize = 1;

/// Nodes a hostile node remembers, and how many it queries each round.
const MAX_KNOWN: usize = 256;
const QUERIED: usize = 16;

struct Hostile<U> {
    udp: U,
    rng: ChaCha8Rng,
    id: NodeId,
    setup: HostileSetup,
    /// Nodes learned from answers (with ids) and the router (without).
    known: Vec<(Option<NodeId>, SocketAddr)>,
    targets: Vec<NodeId>,
    /// Queries honest nodes and answers under its own id (every node but a Sybil poser).
    gateway: bool,
}

/// Whether the member at `addr` of a Sybil `cluster` is a poser (every second one).
fn poser(cluster: &[SocketAddr], addr: SocketAddr) -> bool {
    cluster
        .iter()
        .position(|&a| a == addr)
        .is_some_and(|i| i % 2 == 1)
}

/// Runs one hostile node until the task is dropped.
pub async fn run<N: Net>(net: N, setup: HostileSetup) -> std::io::Result<()> {
    let udp = net.bind_udp(setup.bind).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(setup.seed);
    let id = match setup.aim {
        // The first 32 bits shared: closer than any honest node in a small DHT.
        Some(target) => {
            let mut id: [u8; 20] = rng.gen();
            id[..4].copy_from_slice(&target.0[..4]);
            NodeId(id)
        }
        None => NodeId(rng.gen()),
    };
    let mut node = Hostile {
        udp,
        rng,
        id,
        known: vec![(None, setup.router)],
        setup,
        targets: Vec::new(),
        gateway: true,
    };
    let me = SocketAddr::new(node.setup.own_ip, node.setup.bind.port());
    node.gateway = node.setup.mischief != Mischief::Sybil || !poser(&node.setup.cluster, me);
    // Hostile nodes start (and keep) out of step: in a burst, a router's socket would drop
    // all but the first few dozen of them.
    let mut next_query = Instant::now() + node.jitter(Duration::from_secs(3));
    let mut next_flood = Instant::now() + FLOOD_EVERY;
    let mut buf = vec![0u8; 2048];
    loop {
        if Instant::now() >= next_query {
            next_query += REQUERY + node.jitter(Duration::from_secs(3));
            if node.gateway {
                node.requery().await;
            }
        }
        if Instant::now() >= next_flood {
            next_flood += FLOOD_EVERY;
            node.flood().await;
        }
        let wait = tokio::time::sleep_until(next_query.min(next_flood));
        let (n, from) = tokio::select! {
            biased;
            r = node.udp.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
            _ = wait => continue,
        };
        if let Ok(msg) = Krpc::parse(&buf[..n]) {
            if node.on_message(msg, from).await {
                // A new target: flood at once, before the real announces settle.
                next_flood = Instant::now();
            }
        }
    }
}

impl<U: Udp> Hostile<U> {
    /// A random delay below `max`.
    fn jitter(&mut self, max: Duration) -> Duration {
        Duration::from_millis(self.rng.gen_range(0..max.as_millis() as u64))
    }

    /// Queries the first known nodes again, to stay in their tables and learn more.
    async fn requery(&mut self) {
        for i in 0..self.known.len().min(QUERIED) {
            let to = self.known[i].1;
            let query = Query::FindNode {
                target: NodeId(self.rng.gen()),
            };
            let _ = self.udp.send_to(&query_bytes(self.id, i, query), to).await;
        }
    }

    /// A liar's flood: made-up announces for each remembered target, to the known nodes
    /// closest to it, under random tokens.
    async fn flood(&mut self) {
        for t in 0..self.targets.len() {
            let info_hash = self.targets[t];
            let mut near: Vec<(NodeId, SocketAddr)> = self
                .known
                .iter()
                .filter_map(|&(id, addr)| Some((id?, addr)))
                .collect();
            near.sort_by_key(|(id, _)| id.distance(&info_hash));
            for &(_, to) in near.iter().take(FLOODED_NODES) {
                for k in 0..ANNOUNCES_PER_NODE {
                    let query = Query::AnnouncePeer {
                        info_hash,
                        port: self.rng.gen_range(40_000..50_000),
                        implied_port: false,
                        token: self.rng.gen::<[u8; 8]>().to_vec(),
                    };
                    let tid = 0x80 | (t * ANNOUNCES_PER_NODE + k);
                    let _ = self
                        .udp
                        .send_to(&query_bytes(self.id, tid, query), to)
                        .await;
                }
            }
        }
    }

    /// Handles one message; `true` when a liar learned a new target.
    async fn on_message(&mut self, msg: Krpc, from: SocketAddr) -> bool {
        match msg.body {
            Body::Response(r) => {
                for (nid, addr) in r.nodes {
                    if !self.known.iter().any(|k| k.1 == addr) && self.known.len() < MAX_KNOWN {
                        self.known.push((Some(nid), addr));
                    }
                }
                false
            }
            Body::Query { query, .. } => {
                let mut learned = false;
                if let (Mischief::Liar, Query::GetPeers { info_hash }) =
                    (self.setup.mischief, &query)
                {
                    if !self.targets.contains(info_hash) && self.targets.len() < MAX_TARGETS {
                        self.targets.push(*info_hash);
                        learned = true;
                        // Learn the nodes next to it, the ones worth flooding.
                        let target = *info_hash;
                        for i in 0..self.known.len().min(QUERIED) {
                            let to = self.known[i].1;
                            let query = Query::FindNode { target };
                            let _ = self.udp.send_to(&query_bytes(self.id, i, query), to).await;
                        }
                    }
                }
                if let Some(bytes) = self.answer(from, msg.tid, &query) {
                    let _ = self.udp.send_to(&bytes, from).await;
                }
                learned
            }
            Body::Error { .. } => false,
        }
    }

    fn answer(&mut self, to: SocketAddr, tid: Vec<u8>, query: &Query) -> Option<Vec<u8>> {
        let target = match query {
            Query::FindNode { target } => Some(*target),
            Query::GetPeers { info_hash } => Some(*info_hash),
            _ => None,
        };
        let get_peers = matches!(query, Query::GetPeers { .. });
        let rng = &mut self.rng;
        let mut r = Response {
            id: Some(self.id),
            ..Response::default()
        };
        match self.setup.mischief {
            Mischief::Silent => return None,
            Mischief::Garbage => {
                let len = rng.gen_range(1..200);
                return Some((0..len).map(|_| rng.gen()).collect());
            }
            Mischief::Liar => {
                // Nodes a hair from the target at ports of our address where nobody listens,
                // and peers that do not exist.
                r.token = Some(rng.gen::<[u8; 8]>().to_vec());
                if let Some(target) = target {
                    for _ in 0..8 {
                        let port = rng.gen_range(20_000..30_000);
                        let addr = SocketAddr::new(self.setup.own_ip, port);
                        r.nodes.push((near(rng, target), addr));
                    }
                }
                if get_peers {
                    r.values = (0..10)
                        .map(|_| SocketAddr::new(self.setup.own_ip, rng.gen_range(30_000..40_000)))
                        .collect();
                }
            }
            Mischief::Sybil => {
                // As close to the target as can be, and so are the members it names; each
                // member poses under the same id wherever it is named and when it answers, so
                // nothing gives it away but the id's misfit with its address (BEP 42).
                if let Some(target) = target {
                    let me = SocketAddr::new(self.setup.own_ip, self.setup.bind.port());
                    if !self.gateway {
                        r.id = Some(posing_as(target, me));
                    }
                    let cluster = &self.setup.cluster;
                    let posers: Vec<SocketAddr> = cluster
                        .iter()
                        .copied()
                        .filter(|&a| poser(cluster, a))
                        .collect();
                    for _ in 0..8.min(posers.len()) {
                        let member = posers[rng.gen_range(0..posers.len())];
                        r.nodes.push((posing_as(target, member), member));
                    }
                }
                if get_peers {
                    r.token = Some(rng.gen::<[u8; 8]>().to_vec());
                }
            }
        }
        let msg = Krpc {
            tid,
            body: Body::Response(r),
            ip: Some(to),
        };
        Some(msg.encode())
    }
}

/// An id sharing all but the last few bits with `target`.
fn near(rng: &mut ChaCha8Rng, target: NodeId) -> NodeId {
    let mut id = target.0;
    id[19] ^= rng.gen::<u8>() | 1;
    NodeId(id)
}

/// The id a Sybil at `member` poses under next to `target`: the target with its last three
/// bytes mixed with the member's address (FNV-1a), never the target itself.
fn posing_as(target: NodeId, member: SocketAddr) -> NodeId {
    let mut h: u32 = 0x811c_9dc5;
    let ip = match member.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    for b in ip.iter().chain(&member.port().to_be_bytes()) {
        h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    let mut id = target.0;
    id[17] ^= (h >> 16) as u8;
    id[18] ^= (h >> 8) as u8;
    id[19] ^= h as u8 | 1;
    NodeId(id)
}

/// A query from `id` with a transaction id made from `i`.
fn query_bytes(id: NodeId, i: usize, query: Query) -> Vec<u8> {
    Krpc {
        tid: vec![b'h', i as u8],
        body: Body::Query { id, query },
        ip: None,
    }
    .encode()
}
