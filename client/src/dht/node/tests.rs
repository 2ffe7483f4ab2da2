//! DHT node tests over an in-memory network of nodes: bootstrap, lookups that find announced
//! peers, and the hostile cases (garbage, spoofed answers, bad tokens, silent nodes, floods).

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::dht::krpc::ERROR_METHOD_UNKNOWN;

/// A network of nodes exchanging datagrams in memory, in order, with simulated time; nodes
/// in `silent` never answer.
struct Net {
    nodes: BTreeMap<SocketAddr, DhtNode>,
    silent: BTreeSet<SocketAddr>,
    now: Duration,
    /// Per lookup owner: peers found and lookups done.
    found: BTreeMap<SocketAddr, BTreeSet<SocketAddr>>,
    done: BTreeMap<SocketAddr, Vec<LookupId>>,
    sent: usize,
}

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
}

impl Net {
    fn new(n: u32, seed: u64) -> Net {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let config = DhtConfig {
            query_timeout: Duration::from_secs(2),
            queries_per_ip: 1000,
            exempt_local: true,
        };
        let nodes = (0..n)
            .map(|i| (addr(i), DhtNode::new(NodeId(rng.gen()), config, rng.gen())))
            .collect();
        Net {
            nodes,
            silent: BTreeSet::new(),
            now: Duration::ZERO,
            found: BTreeMap::new(),
            done: BTreeMap::new(),
            sent: 0,
        }
    }

    /// Delivers datagrams until none are left, advancing time to the next deadline when
    /// only timeouts can make progress; at most `steps` deliveries.
    fn run(&mut self, steps: usize) {
        self.run_until(steps, Duration::MAX);
    }

    /// [`Net::run`], stopping instead of advancing time past `until`.
    fn run_until(&mut self, steps: usize, until: Duration) {
        for _ in 0..steps {
            let mut queue = Vec::new();
            for (&from, node) in self.nodes.iter_mut() {
                while let Some(a) = node.next_action() {
                    match a {
                        DhtAction::Send { to, datagram } => queue.push((from, to, datagram)),
                        DhtAction::Peers { peers, .. } => {
                            self.found.entry(from).or_default().extend(peers)
                        }
                        DhtAction::Done { lookup } => {
                            self.done.entry(from).or_default().push(lookup)
                        }
                        DhtAction::NewId { .. } => {}
                    }
                }
            }
            if queue.is_empty() {
                let now = self.now;
                let next = self
                    .nodes
                    .values()
                    .filter_map(|n| n.next_deadline(now))
                    .min();
                let Some(at) = next.filter(|at| *at <= until) else {
                    return;
                };
                self.now = self.now.max(at);
                for n in self.nodes.values_mut() {
                    n.tick(self.now);
                }
                continue;
            }
            self.now += Duration::from_millis(1);
            for (from, to, datagram) in queue {
                self.sent += 1;
                if self.silent.contains(&to) {
                    continue;
                }
                if let Some(n) = self.nodes.get_mut(&to) {
                    n.datagram(self.now, from, &datagram);
                }
            }
        }
    }

    fn node(&mut self, a: SocketAddr) -> &mut DhtNode {
        self.nodes.get_mut(&a).expect("node")
    }

    /// Every node bootstraps through node 0.
    fn bootstrap_all(&mut self) {
        let router = addr(0);
        let now = self.now;
        let addrs: Vec<SocketAddr> = self
            .nodes
            .keys()
            .copied()
            .filter(|a| *a != router)
            .collect();
        for a in addrs {
            self.node(a).bootstrap(now, &[router]);
            self.run(10_000);
        }
    }
}

#[test]
fn a_lookup_finds_the_peer_another_node_announced() {
    let mut net = Net::new(120, 1);
    net.bootstrap_all();
    let tables: Vec<usize> = net.nodes.values().map(|n| n.table().len()).collect();
    assert!(
        tables.iter().all(|&l| l >= K),
        "every node knows at least K others: {tables:?}"
    );

    let info_hash = NodeId([0x42; 20]);
    let (seeder, leecher) = (addr(37), addr(91));
    let now = net.now;
    net.node(seeder).get_peers(now, info_hash, Some(51413));
    net.run(10_000);
    assert!(!net.done[&seeder].is_empty());
    let now = net.now;
    let lookup = net.node(leecher).get_peers(now, info_hash, None);
    assert!(lookup.is_some());
    net.run(10_000);
    let found = net.found.get(&leecher).cloned().unwrap_or_default();
    assert!(
        found.contains(&SocketAddr::new(seeder.ip(), 51413)),
        "found {found:?}"
    );
}

#[test]
fn silent_nodes_do_not_stop_a_lookup() {
    let mut net = Net::new(80, 2);
    net.bootstrap_all();
    // A third of the network goes silent after it joined.
    let all: Vec<SocketAddr> = net.nodes.keys().copied().collect();
    for (i, a) in all.into_iter().enumerate() {
        if i % 3 == 1 {
            net.silent.insert(a);
        }
    }
    let info_hash = NodeId([0x17; 20]);
    let (seeder, leecher) = (addr(2), addr(5));
    assert!(!net.silent.contains(&seeder) && !net.silent.contains(&leecher));
    let now = net.now;
    net.node(seeder).get_peers(now, info_hash, Some(7000));
    net.run(10_000);
    let now = net.now;
    net.node(leecher).get_peers(now, info_hash, None);
    net.run(10_000);
    assert!(
        !net.done[&leecher].is_empty(),
        "the lookup ended despite timeouts"
    );
    let found = net.found.get(&leecher).cloned().unwrap_or_default();
    assert!(
        found.contains(&SocketAddr::new(seeder.ip(), 7000)),
        "found {found:?}"
    );
}

pub(super) fn one_node() -> (DhtNode, SocketAddr) {
    let config = DhtConfig {
        query_timeout: Duration::from_secs(2),
        queries_per_ip: 5,
        exempt_local: true,
    };
    (DhtNode::new(NodeId([1; 20]), config, 3), addr(500))
}

fn sent(n: &mut DhtNode) -> Vec<Krpc> {
    std::iter::from_fn(|| n.next_action())
        .filter_map(|a| match a {
            DhtAction::Send { datagram, .. } => {
                Some(Krpc::parse(&datagram).expect("we send valid krpc"))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn malformed_queries_get_errors_and_garbage_gets_nothing() {
    let (mut n, from) = one_node();
    n.datagram(
        Duration::ZERO,
        from,
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:nope1:t2:aa1:y1:qe",
    );
    let out = sent(&mut n);
    assert!(matches!(&out[0].body, Body::Error { code, .. } if *code == ERROR_METHOD_UNKNOWN));
    assert_eq!(out[0].tid, b"aa");
    for garbage in [&b"\xff\x00garbage"[..], b"le", b"d1:y1:qe", b""] {
        n.datagram(Duration::ZERO, from, garbage);
        assert!(sent(&mut n).is_empty(), "{garbage:?}");
    }
}

#[test]
fn an_announce_needs_the_token_given_to_that_ip() {
    let (mut n, from) = one_node();
    let info_hash = NodeId([9; 20]);
    let q = |query: Query| {
        Krpc {
            tid: b"t1".to_vec(),
            body: Body::Query {
                id: NodeId([7; 20]),
                query,
            },
            ip: None,
        }
        .encode()
    };
    n.datagram(Duration::ZERO, from, &q(Query::GetPeers { info_hash }));
    let Body::Response(r) = &sent(&mut n)[0].body else {
        panic!("no response");
    };
    let token = r.token.clone().expect("a token");
    // Another IP cannot use it; a made-up token fails too.
    let other = addr(501);
    let announce = |token: Vec<u8>| {
        q(Query::AnnouncePeer {
            info_hash,
            port: 9000,
            implied_port: false,
            token,
        })
    };
    n.datagram(Duration::ZERO, other, &announce(token.clone()));
    n.datagram(Duration::ZERO, from, &announce(b"forged".to_vec()));
    let refusals = sent(&mut n);
    assert!(
        refusals
            .iter()
            .all(|m| matches!(m.body, Body::Error { .. })),
        "{refusals:?}"
    );
    n.datagram(Duration::ZERO, from, &announce(token.clone()));
    assert!(matches!(sent(&mut n)[0].body, Body::Response(_)));
    // Stored: the next get_peers answers with it.
    n.datagram(
        Duration::from_secs(1),
        from,
        &q(Query::GetPeers { info_hash }),
    );
    let Body::Response(r) = &sent(&mut n)[0].body else {
        panic!("no response");
    };
    assert_eq!(r.values, vec![SocketAddr::new(from.ip(), 9000)]);
    // Two rotations later the token is no longer valid.
    n.tick(SECRET_PERIOD);
    n.tick(SECRET_PERIOD * 2);
    n.datagram(SECRET_PERIOD * 2, from, &announce(token));
    assert!(matches!(sent(&mut n)[0].body, Body::Error { .. }));
}

#[test]
fn spoofed_answers_and_floods_are_ignored() {
    let (mut n, router) = one_node();
    n.bootstrap(Duration::ZERO, &[router]);
    let query = sent(&mut n).remove(0);
    // The same transaction id answered from another address is a spoof.
    let answer = Krpc {
        tid: query.tid.clone(),
        body: Body::Response(Response {
            id: Some(NodeId([5; 20])),
            ..Response::default()
        }),
        ip: None,
    }
    .encode();
    n.datagram(Duration::ZERO, addr(666), &answer);
    assert_eq!(n.table().len(), 0);
    n.datagram(Duration::ZERO, router, &answer);
    assert_eq!(n.table().len(), 1);
    // A flood of queries from one IP: only `queries_per_ip` per second are answered.
    let ping = Krpc {
        tid: b"p".to_vec(),
        body: Body::Query {
            id: NodeId([8; 20]),
            query: Query::Ping,
        },
        ip: None,
    }
    .encode();
    for _ in 0..100 {
        n.datagram(Duration::from_secs(5), addr(700), &ping);
    }
    assert_eq!(sent(&mut n).len(), 5);
}

/// `n` nodes where all but the last (the newcomer, returned) joined through node 0, and node 7
/// announced port 4000 for `info_hash`.
fn joined_but_newcomer(n: u32, seed: u64, info_hash: NodeId) -> (Net, SocketAddr) {
    let mut net = Net::new(n, seed);
    for a in (1..n - 1).map(addr) {
        let now = net.now;
        net.node(a).bootstrap(now, &[addr(0)]);
        net.run(10_000);
    }
    let now = net.now;
    net.node(addr(7)).get_peers(now, info_hash, Some(4000));
    net.run(10_000);
    (net, addr(n - 1))
}

/// `who`'s `lookup` ended, having found node 7's announce.
fn assert_found_announcer(net: &Net, who: SocketAddr, lookup: LookupId) {
    let found = net.found.get(&who).cloned().unwrap_or_default();
    assert!(
        found.contains(&SocketAddr::new(addr(7).ip(), 4000)),
        "found {found:?}"
    );
    assert!(net.done[&who].contains(&lookup));
}

#[test]
fn a_lookup_started_before_the_bootstrap_waits_for_it() {
    let info_hash = NodeId([0x99; 20]);
    let (mut net, newcomer) = joined_but_newcomer(60, 4, info_hash);
    // The newcomer asks for peers at once, with an empty table.
    let now = net.now;
    net.node(newcomer).bootstrap(now, &[addr(0)]);
    let lookup = net
        .node(newcomer)
        .get_peers(now, info_hash, None)
        .expect("room for a lookup");
    net.run(10_000);
    assert_found_announcer(&net, newcomer, lookup);
}

#[test]
fn a_lookup_with_an_empty_table_waits_for_the_retried_bootstrap() {
    let info_hash = NodeId([0x42; 20]);
    let (mut net, newcomer) = joined_but_newcomer(40, 5, info_hash);
    let router = addr(0);
    // The newcomer's first bootstrap query is lost; it asks for peers with an empty table.
    net.silent.insert(router);
    let start = net.now;
    let boot = net
        .node(newcomer)
        .bootstrap(start, &[router])
        .expect("room");
    let lookup = net
        .node(newcomer)
        .get_peers(start, info_hash, None)
        .expect("room for a lookup");
    net.run_until(10_000, start + Duration::from_secs(10));
    let done = net.done.get(&newcomer).cloned().unwrap_or_default();
    assert!(done.contains(&boot), "the bootstrap failed and ended");
    assert!(!done.contains(&lookup), "the lookup still waits: {done:?}");
    // The retried bootstrap reaches the router: the waiting lookup goes on and finds the peer.
    net.silent.clear();
    net.now = start + Duration::from_secs(10);
    let now = net.now;
    net.node(newcomer).bootstrap(now, &[router]);
    net.run(10_000);
    assert_found_announcer(&net, newcomer, lookup);
}

#[test]
fn a_lookup_with_an_empty_table_gives_up_after_a_while() {
    let mut net = Net::new(2, 6);
    net.silent.insert(addr(0));
    let lookup = net
        .node(addr(1))
        .get_peers(Duration::ZERO, NodeId([7; 20]), None)
        .expect("room");
    // Its deadline is the giving up; nothing else is pending.
    assert_eq!(
        net.node(addr(1)).next_deadline(Duration::ZERO),
        Some(lookup::WAIT_FOR_TABLE)
    );
    net.run(10_000);
    assert_eq!(net.done[&addr(1)], vec![lookup]);
    assert_eq!(net.now, lookup::WAIT_FOR_TABLE);
}

/// A lookup of node `n` seeded with `cands`, its first queries drained; returns what it sent.
pub(super) fn lookup_with(
    n: &mut DhtNode,
    cands: &[(NodeId, SocketAddr)],
    target: NodeId,
) -> (LookupId, Vec<(SocketAddr, Krpc)>) {
    for (id, a) in cands {
        n.table.insert(Duration::ZERO, *id, *a, true);
    }
    let lid = n.get_peers(Duration::ZERO, target, None).expect("room");
    (lid, sent_to(n))
}

/// Delivers an answer to query `q` from `from` (known as `id`) naming `nodes`.
pub(super) fn answer(
    n: &mut DhtNode,
    from: SocketAddr,
    q: &Krpc,
    id: NodeId,
    nodes: Vec<(NodeId, SocketAddr)>,
) {
    let r = Krpc {
        tid: q.tid.clone(),
        body: Body::Response(Response {
            id: Some(id),
            nodes,
            ..Response::default()
        }),
        ip: None,
    };
    n.datagram(Duration::from_millis(10), from, &r.encode());
}

pub(super) fn sent_to(n: &mut DhtNode) -> Vec<(SocketAddr, Krpc)> {
    std::iter::from_fn(|| n.next_action())
        .filter_map(|a| match a {
            DhtAction::Send { to, datagram } => Some((to, Krpc::parse(&datagram).expect("valid"))),
            _ => None,
        })
        .collect()
}

#[test]
fn one_address_cannot_fill_a_lookup_with_made_up_nodes() {
    let (mut n, _) = one_node();
    let target = NodeId([0x55; 20]);
    let honest = (NodeId([0x50; 20]), addr(800));
    let (_, queries) = lookup_with(&mut n, &[honest], target);
    let (to, q) = &queries[0];
    // The answer names sixteen nodes right next to the target, all at one address.
    let sybil_ip = addr(900).ip();
    let nodes: Vec<(NodeId, SocketAddr)> = (0..16u8)
        .map(|i| {
            let mut id = target.0;
            id[19] ^= i + 1;
            (NodeId(id), SocketAddr::new(sybil_ip, 7000 + u16::from(i)))
        })
        .collect();
    answer(&mut n, *to, q, honest.0, nodes);
    // None of them answers; run the lookup to its end and see whom it asked.
    let mut asked: Vec<SocketAddr> = sent_to(&mut n).into_iter().map(|(a, _)| a).collect();
    for step in 1..=40u32 {
        n.tick(lookup::SLOW_AFTER * step);
        asked.extend(sent_to(&mut n).into_iter().map(|(a, _)| a));
    }
    let sybils = asked.iter().filter(|a| a.ip() == sybil_ip).count();
    assert!(sybils > 0, "the lookup went on to the named nodes");
    assert!(
        sybils <= 3,
        "one address, at most three of its nodes asked: {asked:?}"
    );
}

#[test]
fn a_slow_query_frees_its_slot_before_it_times_out() {
    let (mut n, _) = one_node();
    let target = NodeId([0x33; 20]);
    let cands: Vec<(NodeId, SocketAddr)> = (0..6u8)
        .map(|i| (NodeId([0x30 + i; 20]), addr(810 + u32::from(i))))
        .collect();
    let (_, first) = lookup_with(&mut n, &cands, target);
    assert_eq!(first.len(), ALPHA, "alpha queries at first");
    // Nobody answers. Before SLOW_AFTER nothing more goes out; after it, the next ones do,
    // long before the query timeout.
    n.tick(lookup::SLOW_AFTER / 2);
    assert!(sent_to(&mut n).is_empty());
    assert!(n
        .next_deadline(Duration::ZERO)
        .is_some_and(|d| d <= lookup::SLOW_AFTER));
    n.tick(lookup::SLOW_AFTER);
    let more = sent_to(&mut n);
    assert_eq!(more.len(), ALPHA, "{more:?}");
    assert!(lookup::SLOW_AFTER < DhtConfig::default().query_timeout);
}

#[test]
fn a_lookup_asks_only_nodes_of_its_own_address_family() {
    let (mut n, _) = one_node();
    let target = NodeId([0x42; 20]);
    let v6 =
        |i: u16| SocketAddr::from((std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i), 6881));
    let first = (NodeId([0x40; 20]), v6(1));
    let (_, queries) = lookup_with(&mut n, &[first], target);
    let (to, q) = &queries[0];
    // The IPv6 node names IPv4 nodes (closer) and IPv6 ones: our IPv6 socket can reach only
    // the latter.
    let mut nodes: Vec<(NodeId, SocketAddr)> = (0..4u8)
        .map(|i| {
            (
                NodeId([0x42; 20].map(|b| b ^ (i + 1))),
                addr(700 + u32::from(i)),
            )
        })
        .collect();
    nodes.extend((0..2u16).map(|i| (NodeId([0x43 + i as u8; 20]), v6(10 + i))));
    answer(&mut n, *to, q, first.0, nodes);
    let asked: Vec<SocketAddr> = sent_to(&mut n).into_iter().map(|(a, _)| a).collect();
    assert!(
        asked.contains(&v6(10)) && asked.contains(&v6(11)),
        "{asked:?}"
    );
    assert!(asked.iter().all(|a| a.is_ipv6()), "{asked:?}");
}

#[test]
fn a_garbage_answer_fails_its_query_at_once() {
    let (mut n, _) = one_node();
    let target = NodeId([0x21; 20]);
    let cands: Vec<(NodeId, SocketAddr)> = (0..6u8)
        .map(|i| (NodeId([0x20 + i; 20]), addr(830 + u32::from(i))))
        .collect();
    let (_, first) = lookup_with(&mut n, &cands, target);
    assert_eq!(first.len(), ALPHA);
    // One asked node answers with bytes that are not KRPC: the lookup asks the next one at
    // once, long before its query would turn slow.
    let (garbler, _) = &first[0];
    n.datagram(Duration::from_millis(5), *garbler, b"\xde\xad not bencode");
    let next = sent_to(&mut n);
    assert_eq!(next.len(), 1, "{next:?}");
    assert!(
        !first.iter().any(|(a, _)| *a == next[0].0),
        "a new node: {next:?}"
    );
    // Garbage from an address we are not waiting for changes nothing.
    n.datagram(Duration::from_millis(6), addr(999), b"junk");
    assert!(sent_to(&mut n).is_empty());
}
