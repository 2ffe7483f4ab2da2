//! Routing table tests: splitting only near our id, replacements, questionable and bad nodes,
//! closest-node order, refresh targets, and the size bound under many random inserts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

fn addr(i: u32) -> SocketAddr {
    SocketAddr::from((i.to_be_bytes(), 6881))
}

/// An id sharing exactly `prefix` leading bits with `own`, the rest from `fill`.
fn id_at(own: &NodeId, prefix: usize, fill: u8) -> NodeId {
    let t = RoutingTable::new(*own);
    let mut table = t;
    // Grow enough buckets that `prefix` is not the last one.
    table.buckets.resize(prefix + 2, Bucket::default());
    table.id_in_bucket(prefix, [fill; 20])
}

#[test]
fn only_the_bucket_holding_our_id_splits() {
    let own = NodeId([0; 20]);
    let mut t = RoutingTable::new(own);
    let now = Duration::ZERO;
    // Eight far nodes (first bit differs) fill bucket 0; more of them are only cached.
    for i in 0..K as u8 {
        let id = id_at(&own, 0, 0x80 | i);
        assert_eq!(t.insert(now, id, addr(i.into()), true), Inserted::Added);
    }
    // A near node splits the last bucket: far nodes stay in bucket 0, the near one moves on.
    let near = id_at(&own, 10, 1);
    assert_eq!(t.insert(now, near, addr(100), true), Inserted::Added);
    assert!(t.bucket_count() >= 2);
    let far = id_at(&own, 0, 0xff);
    assert_eq!(t.insert(now, far, addr(101), true), Inserted::Cached);
    let buckets_before = t.bucket_count();
    assert_eq!(
        t.insert(now, id_at(&own, 0, 0xfe), addr(102), true),
        Inserted::Cached
    );
    assert_eq!(
        t.bucket_count(),
        buckets_before,
        "a far bucket never splits"
    );
    assert_eq!(t.len(), K + 1);
}

#[test]
fn a_questionable_node_is_pinged_and_a_bad_one_replaced() {
    let own = NodeId([0; 20]);
    let mut t = RoutingTable::new(own);
    // Fill bucket 0 (after one split for a near node) with nodes seen at time 0.
    t.insert(Duration::ZERO, id_at(&own, 20, 1), addr(200), true);
    let far: Vec<NodeId> = (0..K as u8).map(|i| id_at(&own, 0, 0x80 | i)).collect();
    for (i, id) in far.iter().enumerate() {
        t.insert(Duration::ZERO, *id, addr(i as u32), true);
    }
    let later = QUESTIONABLE_AFTER + Duration::from_secs(1);
    let newcomer = id_at(&own, 0, 0xee);
    let answer = t.insert(later, newcomer, addr(300), true);
    let Inserted::PingFirst(q, _) = answer else {
        panic!("expected a ping request, got {answer:?}");
    };
    assert!(far.contains(&q));
    for _ in 0..MAX_FAILS {
        t.failed(&q);
    }
    let ids: Vec<NodeId> = t.entries().map(|e| e.id).collect();
    assert!(
        ids.contains(&newcomer),
        "the replacement took the bad node's place"
    );
    assert!(!ids.contains(&q));
}

#[test]
fn a_known_id_cannot_move_to_another_address() {
    let own = NodeId([0; 20]);
    let mut t = RoutingTable::new(own);
    let id = NodeId([9; 20]);
    assert_eq!(t.insert(Duration::ZERO, id, addr(1), true), Inserted::Added);
    assert_eq!(
        t.insert(Duration::ZERO, id, addr(2), true),
        Inserted::Refused
    );
    assert_eq!(
        t.insert(Duration::ZERO, own, addr(3), true),
        Inserted::Refused
    );
    assert_eq!(t.closest(&id, 8)[0].addr, addr(1));
}

#[test]
fn closest_nodes_come_in_xor_order() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let own = NodeId(rng.gen());
    let mut t = RoutingTable::new(own);
    for i in 0..300 {
        t.insert(Duration::ZERO, NodeId(rng.gen()), addr(i), true);
    }
    let target = NodeId(rng.gen());
    let closest = t.closest(&target, K);
    assert_eq!(closest.len(), K);
    let mut sorted = closest.clone();
    sorted.sort_by_key(|e| e.id.distance(&target));
    assert_eq!(closest, sorted);
    // Nothing in the table is closer than the last one returned.
    let worst = closest[K - 1].id.distance(&target);
    let closer = t
        .entries()
        .filter(|e| e.id.distance(&target) < worst)
        .count();
    assert_eq!(closer, K - 1);
}

#[test]
fn the_table_stays_bounded_and_refresh_targets_fall_in_their_buckets() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let own = NodeId(rng.gen());
    let mut t = RoutingTable::new(own);
    for i in 0..20_000 {
        t.insert(Duration::ZERO, NodeId(rng.gen()), addr(i), true);
    }
    assert!(t.len() <= K * t.bucket_count());
    assert!(t.bucket_count() <= 160);
    // Random ids: about log2(20000 / 8) ≈ 11 buckets, each full.
    assert!((9..=16).contains(&t.bucket_count()), "{}", t.bucket_count());
    let due = t.due_for_refresh(REFRESH_AFTER);
    assert_eq!(due.len(), t.bucket_count());
    assert!(
        t.due_for_refresh(REFRESH_AFTER).is_empty(),
        "marked refreshed"
    );
    let last = t.bucket_count() - 1;
    for i in due {
        let id = t.id_in_bucket(i, rng.gen());
        let cp = own.common_prefix(&id) as usize;
        if i < last {
            assert_eq!(cp, i);
        } else {
            assert!(cp >= i);
        }
    }
}
