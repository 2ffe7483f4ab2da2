//! BEP 42 in a node: our id follows the address answering nodes agree on, and ids that do not
//! fit their addresses take at most a few places in a lookup.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::super::tests::{answer, lookup_with, one_node, sent_to};
use super::super::{lookup, DhtAction, DhtNode};
use super::VOTES_FOR_IP;
use crate::dht::id::NodeId;
use crate::dht::krpc::{Body, Krpc, Response};

/// Public-looking addresses (documentation ranges): BEP 42 applies to them.
fn public(i: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, i], port))
}

/// Answers each query in `queries` as the node it went to, saying we are at `seen_as`.
fn answer_all(n: &mut DhtNode, queries: &[(SocketAddr, Krpc)], seen_as: SocketAddr) {
    for (i, (to, q)) in queries.iter().enumerate() {
        let id = NodeId::for_ip(to.ip(), i as u8, [i as u8; 17]);
        let answer = Krpc {
            tid: q.tid.clone(),
            body: Body::Response(Response {
                id: Some(id),
                ..Response::default()
            }),
            ip: Some(seen_as),
        };
        n.datagram(Duration::from_millis(5), *to, &answer.encode());
    }
}

fn new_ids(n: &mut DhtNode) -> Vec<(NodeId, IpAddr)> {
    std::iter::from_fn(|| n.next_action())
        .filter_map(|a| match a {
            DhtAction::NewId { id, external } => Some((id, external)),
            _ => None,
        })
        .collect()
}

#[test]
fn our_id_follows_the_address_answering_nodes_agree_on() {
    let (mut n, _) = one_node();
    let me = SocketAddr::from(([203, 0, 113, 7], 6881));
    let old = n.id();
    assert!(!old.derived_from(me.ip()));
    // Many answers from one address (several ports) are one vote, and one fewer than the
    // votes needed changes nothing.
    let crowd: Vec<SocketAddr> = (0..5).map(|p| public(99, 7000 + p)).collect();
    let mut asked = Vec::new();
    for group in [
        crowd,
        (1..VOTES_FOR_IP as u8 - 1)
            .map(|i| public(i, 6881))
            .collect(),
    ] {
        n.bootstrap(Duration::ZERO, &group);
        let queries = sent_to(&mut n);
        answer_all(&mut n, &queries, me);
        asked.extend(queries.into_iter().map(|(a, _)| a));
        assert_eq!(n.id(), old);
        assert_eq!(n.external_ip(), None);
    }
    // One more address decides.
    n.bootstrap(Duration::ZERO, &[public(70, 6881)]);
    let last = sent_to(&mut n);
    answer_all(&mut n, &last, me);
    asked.extend(last.into_iter().map(|(a, _)| a));
    let new = n.id();
    let changed = new_ids(&mut n);
    assert_eq!(changed, vec![(new, me.ip())]);
    assert!(new.derived_from(me.ip()), "the new id fits {me}");
    assert_eq!(n.external_ip(), Some(me.ip()));
    assert_eq!(n.table().own_id(), new);
    let kept: Vec<SocketAddr> = n.table().entries().map(|e| e.addr).collect();
    for r in &asked {
        assert!(kept.contains(r), "{r} kept through the change: {kept:?}");
    }
    // A minority naming another address changes nothing.
    n.bootstrap(Duration::ZERO, &[public(50, 6881), public(51, 6881)]);
    let queries = sent_to(&mut n);
    answer_all(&mut n, &queries, SocketAddr::from(([203, 0, 113, 8], 1)));
    assert_eq!(n.id(), new);
    assert!(new_ids(&mut n).is_empty());
}

#[test]
fn an_id_that_fits_our_address_is_kept() {
    let (n0, _) = one_node();
    let me = SocketAddr::from(([203, 0, 113, 9], 6881));
    let fitting = NodeId::for_ip(me.ip(), 4, [9; 17]);
    let mut n = DhtNode::new(fitting, n0.config, 1);
    let routers: Vec<SocketAddr> = (1..=4).map(|i| public(i, 6881)).collect();
    n.bootstrap(Duration::ZERO, &routers);
    let queries = sent_to(&mut n);
    answer_all(&mut n, &queries, me);
    assert_eq!(n.id(), fitting);
    assert_eq!(n.external_ip(), Some(me.ip()));
    assert!(new_ids(&mut n).is_empty());
}

/// Runs a lookup to its end with nobody else answering; every address asked.
fn asked_until_the_end(n: &mut DhtNode) -> Vec<SocketAddr> {
    let mut asked: Vec<SocketAddr> = sent_to(n).into_iter().map(|(a, _)| a).collect();
    for step in 1..=60u32 {
        n.tick(lookup::SLOW_AFTER * step);
        asked.extend(sent_to(n).into_iter().map(|(a, _)| a));
    }
    asked
}

#[test]
fn ids_that_do_not_fit_their_addresses_take_few_places_in_a_lookup() {
    let (mut n, _) = one_node();
    let target = NodeId([0x55; 20]);
    let honest_addr = public(1, 6881);
    let honest = (NodeId::for_ip(honest_addr.ip(), 1, [1; 17]), honest_addr);
    let (_, queries) = lookup_with(&mut n, &[honest], target);
    let (to, q) = &queries[0];
    // The answer names sixteen nodes right next to the target, each at its own address (a
    // cluster spread over many hosts, which the per-address cap does not stop), then eight
    // nodes with ids their addresses allow, farther away.
    let mut nodes: Vec<(NodeId, SocketAddr)> = (0..16u8)
        .map(|i| {
            let mut id = target.0;
            id[19] ^= i + 1;
            (NodeId(id), SocketAddr::from(([192, 0, 2, 10 + i], 7000)))
        })
        .collect();
    let fair: Vec<SocketAddr> = (0..8u8).map(|i| public(100 + i, 6881)).collect();
    nodes.extend(
        fair.iter()
            .map(|a| (NodeId::for_ip(a.ip(), 3, [7; 17]), *a)),
    );
    answer(&mut n, *to, q, honest.0, nodes);
    let asked = asked_until_the_end(&mut n);
    let sybils = asked
        .iter()
        .filter(|a| a.ip().to_string().starts_with("192.0.2."))
        .count();
    assert!(
        sybils > 0,
        "nodes without BEP 42 ids still take part: {asked:?}"
    );
    assert!(
        sybils <= super::super::lookup::MAX_UNVERIFIED,
        "at most half the closest places: {asked:?}"
    );
    for a in &fair {
        assert!(asked.contains(a), "{a} asked: {asked:?}");
    }
}

#[test]
fn a_node_answering_under_another_id_than_it_was_named_by_does_not_count() {
    let (mut n, _) = one_node();
    let target = NodeId([0x77; 20]);
    let named = public(2, 6881);
    let named_id = NodeId::for_ip(named.ip(), 2, [2; 17]);
    let (_, queries) = lookup_with(&mut n, &[(named_id, named)], target);
    let (to, q) = &queries[0];
    assert_eq!(*to, named);
    // It answers claiming an id right next to the target, and names a node.
    let mut claimed = target.0;
    claimed[19] ^= 1;
    let other = public(3, 6881);
    answer(
        &mut n,
        named,
        q,
        NodeId(claimed),
        vec![(NodeId::for_ip(other.ip(), 1, [3; 17]), other)],
    );
    let asked = asked_until_the_end(&mut n);
    assert!(
        !asked.contains(&other),
        "its answer was not used: {asked:?}"
    );
}
