//! Hostile DHT nodes for the simulator: they get into honest nodes' routing tables by querying
//! them (an honest node adds whoever queries it), then misbehave when asked: never answer,
//! answer with garbage, or lie (answers that lead lookups to dead ends: made-up nodes near the
//! target at addresses where nobody listens, made-up peers, tokens that mean nothing).
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

/// How a hostile node misbehaves when queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mischief {
    /// Never answers (but keeps querying, so it stays known).
    Silent,
    /// Answers every query with random bytes.
    Garbage,
    /// Answers in valid KRPC with lies: nodes near the target that do not exist, peers that do
    /// not exist, and a token that no node issued.
    Liar,
}

/// How often a hostile node queries the honest ones again, to stay in their tables.
const REQUERY: Duration = Duration::from_secs(30);

/// Runs one hostile node bound to `bind`, making itself known through `router` (and the nodes
/// the router names), until the task is dropped. A liar's made-up nodes and peers are at
/// `own_ip` (its host's address) on ports where nothing listens.
pub async fn run<N: Net>(
    net: N,
    bind: SocketAddr,
    own_ip: IpAddr,
    router: SocketAddr,
    mischief: Mischief,
    seed: u64,
) -> std::io::Result<()> {
    let udp = net.bind_udp(bind).await?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let id = NodeId(rng.gen());
    let mut known: Vec<SocketAddr> = vec![router];
    let mut next_query = tokio::time::Instant::now();
    let mut buf = vec![0u8; 2048];
    loop {
        if tokio::time::Instant::now() >= next_query {
            next_query += REQUERY;
            for (i, &to) in known.iter().take(16).enumerate() {
                let target = NodeId(rng.gen());
                let q = Krpc {
                    tid: vec![b'h', i as u8],
                    body: Body::Query {
                        id,
                        query: Query::FindNode { target },
                    },
                    ip: None,
                };
                let _ = udp.send_to(&q.encode(), to).await;
            }
        }
        let wait = tokio::time::sleep_until(next_query);
        let (n, from) = tokio::select! {
            biased;
            r = udp.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(_) => continue,
            },
            _ = wait => continue,
        };
        let Ok(msg) = Krpc::parse(&buf[..n]) else {
            continue;
        };
        match msg.body {
            Body::Response(r) => {
                // Learn honest nodes to query next round.
                for (_, addr) in r.nodes {
                    if !known.contains(&addr) && known.len() < 64 {
                        known.push(addr);
                    }
                }
            }
            Body::Query { query, .. } => {
                let answer = match mischief {
                    Mischief::Silent => None,
                    Mischief::Garbage => {
                        let len = rng.gen_range(1..200);
                        Some((0..len).map(|_| rng.gen()).collect::<Vec<u8>>())
                    }
                    Mischief::Liar => Some(lie(&mut rng, id, own_ip, from, msg.tid, &query)),
                };
                if let Some(bytes) = answer {
                    let _ = udp.send_to(&bytes, from).await;
                }
            }
            Body::Error { .. } => {}
        }
    }
}

/// A well-formed answer full of lies: for a lookup, eight nodes with ids a hair from the
/// target at ports of our own address where nobody listens; for `get_peers`, also peers that
/// do not exist; always a token nobody issued.
fn lie(
    rng: &mut ChaCha8Rng,
    id: NodeId,
    own_ip: IpAddr,
    to: SocketAddr,
    tid: Vec<u8>,
    query: &Query,
) -> Vec<u8> {
    let target = match query {
        Query::FindNode { target } => Some(*target),
        Query::GetPeers { info_hash } => Some(*info_hash),
        _ => None,
    };
    let mut r = Response {
        id: Some(id),
        token: Some(rng.gen::<[u8; 8]>().to_vec()),
        ..Response::default()
    };
    if let Some(target) = target {
        for _ in 0..8 {
            let mut near = target.0;
            near[19] ^= rng.gen::<u8>() | 1;
            let port = rng.gen_range(20_000..30_000);
            r.nodes.push((NodeId(near), SocketAddr::new(own_ip, port)));
        }
    }
    if matches!(query, Query::GetPeers { .. }) {
        r.values = (0..10)
            .map(|_| SocketAddr::new(own_ip, rng.gen_range(30_000..40_000)))
            .collect();
    }
    Krpc {
        tid,
        body: Body::Response(r),
        ip: Some(to),
    }
    .encode()
}
