//! Tests of the picker alone: partial pieces first, endgame entry, hash-failure requeue.

use super::*;
use rand::SeedableRng;

/// Asks for up to `max` blocks for `peer` holding `has`, duplicates allowed, at time zero.
fn pick(
    p: &mut Picker,
    peer: u64,
    has: &Bitfield,
    max: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<BlockRef> {
    pick_at(p, peer, has, max, rng, Duration::ZERO)
}

/// [`pick`] at time `now`.
fn pick_at(
    p: &mut Picker,
    peer: u64,
    has: &Bitfield,
    max: usize,
    rng: &mut ChaCha8Rng,
    now: Duration,
) -> Vec<BlockRef> {
    pick_as(p, peer, has, max, rng, now, false)
}

/// Asks for up to `max` blocks at `now` for `peer`, on parole or not.
fn pick_as(
    p: &mut Picker,
    peer: u64,
    has: &Bitfield,
    max: usize,
    rng: &mut ChaCha8Rng,
    now: Duration,
    parole: bool,
) -> Vec<BlockRef> {
    let none = BTreeMap::new();
    let clean = BTreeSet::new();
    let ask = Ask {
        peer: PeerKey(peer),
        has,
        only: None,
        refused: &none,
        avoid: &clean,
        parole,
        may_share: false,
        max,
        now,
    };
    p.pick(&ask, rng)
}

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
    let a = pick(&mut p, 1, &all, 2, &mut rng);
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|b| b.piece == a[0].piece));
    let b = pick(&mut p, 2, &all, 2, &mut rng);
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
    let blocks = pick(&mut p, 1, &only_last, 10, &mut rng);
    assert_eq!(blocks.len(), 4);
    assert_eq!(blocks[3].len, BLOCK_LEN - 100, "short last block");
    for b in &blocks {
        assert!(matches!(
            p.receive(PeerKey(1), from(), *b),
            Accept::Fresh { .. }
        ));
    }
    for b in &blocks[..3] {
        assert!(!p.written(*b));
    }
    assert!(p.written(blocks[3]), "piece complete");
    assert!(p.is_verifying(1));
    assert_eq!(
        p.take_senders(1),
        Some(Sent {
            senders: vec![Some(from()); 4],
            on_parole: false,
            cleared_by: false,
        })
    );
    p.failed(1);
    let again = pick(&mut p, 2, &only_last, 10, &mut rng);
    assert_eq!(again, blocks, "the whole piece is fetched again");
}

#[test]
fn endgame_starts_only_when_nothing_is_open_and_duplicates_are_bounded() {
    let mut p = picker(1);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let all = Bitfield::full(1);
    let first = pick(&mut p, 1, &all, 3, &mut rng);
    assert_eq!(first.len(), 3);
    assert!(!p.in_endgame());
    assert!(!p.can_duplicate(first[0], PeerKey(2)), "not before endgame");
    let last = pick(&mut p, 2, &all, 10, &mut rng);
    assert_eq!(
        last.len(),
        1,
        "only the open block; duplicates are the engine's call"
    );
    assert!(p.in_endgame());
    // Nobody gets a block twice, and at most ENDGAME_OWNERS peers share one.
    assert!(p.duplicate(first[0], PeerKey(2)));
    assert!(!p.duplicate(first[0], PeerKey(2)));
    assert!(!p.duplicate(first[0], PeerKey(3)), "two owners already");
    assert!(p.duplicate(last[0], PeerKey(3)));
    // The winner's copy cancels the loser; a released duplicate frees its slot.
    assert_eq!(
        p.receive(PeerKey(2), from(), first[0]),
        Accept::Fresh {
            cancel: vec![PeerKey(1)]
        }
    );
    p.release(PeerKey(3), last[0]);
    assert_eq!(p.duplicates, 0);
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

/// [`pick`] for a peer on parole.
fn pick_on_parole(
    p: &mut Picker,
    peer: u64,
    has: &Bitfield,
    rng: &mut ChaCha8Rng,
) -> Vec<BlockRef> {
    pick_as(p, peer, has, 10, rng, Duration::ZERO, true)
}

/// Receives and writes every block; returns the pieces that completed.
fn deliver(p: &mut Picker, peer: u64, blocks: &[BlockRef]) -> Vec<u32> {
    let mut done = Vec::new();
    for b in blocks {
        assert!(matches!(
            p.receive(PeerKey(peer), from(), *b),
            Accept::Fresh { .. }
        ));
        if p.written(*b) {
            done.push(b.piece);
        }
    }
    done
}

#[test]
fn a_piece_adopted_at_parole_is_the_peers_alone_but_does_not_clear_it() {
    let mut p = picker(2);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let all = Bitfield::full(2);
    // Asked of peer 1 before any suspicion: two blocks of one piece.
    let before = pick(&mut p, 1, &all, 2, &mut rng);
    let first = before[0].piece;
    assert!(deliver(&mut p, 1, &before).is_empty());
    let (released, discarded) = p.parole(PeerKey(1), from());
    assert!(
        released.is_empty() && discarded == 0,
        "nobody else shares it"
    );
    // On parole it finishes the piece it was given, alone.
    let rest = pick_on_parole(&mut p, 1, &all, &mut rng);
    assert!(
        rest.iter().all(|b| b.piece == first),
        "its own piece first: {rest:?}"
    );
    assert_eq!(deliver(&mut p, 1, &rest), vec![first]);
    let sent = p.take_senders(first).unwrap();
    assert!(sent.on_parole, "its verdict is the peer's alone");
    assert!(
        !sent.cleared_by,
        "but half of it was asked before the parole"
    );
    // A piece started on parole clears it.
    let fresh = pick_on_parole(&mut p, 1, &all, &mut rng);
    let second = fresh[0].piece;
    assert_ne!(second, first);
    assert_eq!(deliver(&mut p, 1, &fresh), vec![second]);
    let sent = p.take_senders(second).unwrap();
    assert!(sent.on_parole && sent.cleared_by);
}
