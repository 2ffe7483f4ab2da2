//! Tests of the picker alone: partial pieces first, endgame entry, hash-failure requeue.

use super::*;
use rand::SeedableRng;
use std::collections::BTreeMap;

fn picker(pieces: u32) -> Picker {
    let geometry = Geometry::new(
        u64::from(4 * BLOCK_LEN),
        &[u64::from(pieces * 4 * BLOCK_LEN) - 100],
    )
    .unwrap();
    Picker::new(geometry, Bitfield::new(pieces))
}

fn from() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 1))
}

#[test]
fn partial_pieces_are_finished_before_new_ones_start() {
    let mut p = picker(4);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let all = Bitfield::full(4);
    let a = p.pick(PeerKey(1), &all, None, &BTreeMap::new(), true, 2, &mut rng);
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|b| b.piece == a[0].piece));
    let b = p.pick(PeerKey(2), &all, None, &BTreeMap::new(), true, 2, &mut rng);
    assert!(
        b.iter().all(|x| x.piece == a[0].piece),
        "same piece continued: {b:?}"
    );
    assert_eq!(p.partial_count(), 1);
}

#[test]
fn short_last_block_and_hash_failure_requeue() {
    let mut p = picker(2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut only_last = Bitfield::new(2);
    only_last.set(1, true);
    let blocks = p.pick(
        PeerKey(1),
        &only_last,
        None,
        &BTreeMap::new(),
        true,
        10,
        &mut rng,
    );
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[3].len, BLOCK_LEN - 100, "short last block");
    for b in &blocks {
        assert!(matches!(
            p.receive(PeerKey(1), from(), *b),
            Accept::Fresh { .. }
        ));
    }
    for b in &blocks[..3] {
        assert!(p.written(*b).is_none());
    }
    let senders = p.written(blocks[3]).expect("piece complete");
    assert_eq!(senders, vec![Some(from()); 4]);
    assert!(p.is_verifying(1));
    p.failed(1);
    let again = p.pick(
        PeerKey(2),
        &only_last,
        None,
        &BTreeMap::new(),
        true,
        10,
        &mut rng,
    );
    assert_eq!(again, blocks, "the whole piece is fetched again");
}

#[test]
fn endgame_starts_only_when_nothing_is_open() {
    let mut p = picker(1);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let all = Bitfield::full(1);
    let first = p.pick(PeerKey(1), &all, None, &BTreeMap::new(), true, 3, &mut rng);
    assert_eq!(first.len(), 3);
    assert!(!p.in_endgame());
    let rest = p.pick(PeerKey(2), &all, None, &BTreeMap::new(), true, 10, &mut rng);
    assert!(p.in_endgame());
    // Peer 2 gets the last open block and then duplicates of peer 1's three.
    assert_eq!(rest.len(), 4, "{rest:?}");
    // Nobody gets a block twice, and at most ENDGAME_OWNERS peers share one.
    let third = p.pick(PeerKey(3), &all, None, &BTreeMap::new(), true, 10, &mut rng);
    assert_eq!(
        third.len(),
        1,
        "only the block peer 2 alone holds: {third:?}"
    );
    let again = p.pick(PeerKey(2), &all, None, &BTreeMap::new(), true, 10, &mut rng);
    assert!(again.is_empty());
}

#[test]
fn left_counts_down_on_verification() {
    let mut p = picker(2);
    let total = p.geometry().total_length();
    assert_eq!(p.left(), total);
    p.verified(0);
    assert_eq!(p.left(), total - u64::from(4 * BLOCK_LEN));
    p.verified(0);
    assert_eq!(p.left(), total - u64::from(4 * BLOCK_LEN), "idempotent");
}
