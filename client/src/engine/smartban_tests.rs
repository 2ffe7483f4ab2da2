//! Tests of smart ban alone: blame by block, parole, repeat offenders, tolerance.

use super::*;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], port))
}

#[test]
fn blames_the_block_that_differs_once_the_piece_verifies() {
    let mut b = Blame::default();
    let senders = [Some(addr(1)), Some(addr(2)), Some(addr(1))];
    let bad = [[1; 20], [9; 20], [3; 20]];
    let good = [[1; 20], [2; 20], [3; 20]];
    let again = [Some(addr(3)), Some(addr(3)), Some(addr(3))];
    for piece in 0..MIN_BAD as u32 - 1 {
        assert!(b.piece_failed(piece, &senders, &bad, false).is_empty());
        assert!(b.wants_block_hashes(piece));
        assert!(
            b.piece_passed(piece, &again, Some(&good), false).is_empty(),
            "fewer than MIN_BAD bad blocks are no ban"
        );
        assert!(!b.wants_block_hashes(piece));
    }
    assert_eq!(b.reputation(&addr(2)).bad, MIN_BAD - 1);
    assert_eq!(
        b.reputation(&addr(1)).bad,
        0,
        "its blocks matched the good copy"
    );
    // One more proven bad block bans it, and only it.
    b.piece_failed(99, &senders, &bad, false);
    assert_eq!(
        b.piece_passed(99, &again, Some(&good), false),
        vec![addr(2)]
    );
}

#[test]
fn sole_sender_of_a_failed_copy_is_not_counted_twice_for_it() {
    let mut b = Blame::default();
    let senders = [Some(addr(4)), Some(addr(4))];
    assert!(b.piece_failed(1, &senders, &[[0; 20]; 2], true).is_empty());
    // The proof of its one bad block does not count again...
    let others = [Some(addr(9)), Some(addr(9))];
    assert!(b
        .piece_passed(1, &others, Some(&[[1; 20], [0; 20]]), false)
        .is_empty());
    assert_eq!(b.reputation(&addr(4)).bad, 1);
    // ...but other failed pieces do.
    for piece in 2..=MIN_BAD as u32 {
        let banned = b.piece_failed(piece, &senders, &[[0; 20]; 2], true);
        assert_eq!(banned.is_empty(), piece < MIN_BAD as u32, "{banned:?}");
    }
}

#[test]
fn every_block_proven_bad_is_a_mark() {
    let mut b = Blame::default();
    // A copy mostly from one sender, with MIN_BAD of its blocks bad: one proof bans it.
    let mut senders = vec![Some(addr(5)); MIN_BAD as usize + 1];
    senders.push(Some(addr(6)));
    let bad = vec![[0; 20]; senders.len()];
    let mut good = vec![[1; 20]; senders.len()];
    good[0] = [0; 20];
    good[MIN_BAD as usize + 1] = [0; 20];
    assert!(b.piece_failed(7, &senders, &bad, false).is_empty());
    let again = vec![Some(addr(9)); senders.len()];
    assert_eq!(b.piece_passed(7, &again, Some(&good), false), vec![addr(5)]);
    assert_eq!(b.reputation(&addr(5)).bad, MIN_BAD);
    assert_eq!(b.reputation(&addr(6)).bad, 0, "its block matched");
    // A sole sender's copy: the failure was one mark, the proof adds the other bad blocks.
    let sole = vec![Some(addr(8)); 4];
    b.piece_failed(8, &sole, &[[0; 20]; 4], true);
    b.piece_passed(
        8,
        &again[..4],
        Some(&[[1; 20], [1; 20], [0; 20], [0; 20]]),
        false,
    );
    assert_eq!(b.reputation(&addr(8)).bad, 2);
}

#[test]
fn every_failed_copy_of_the_same_piece_counts() {
    let mut b = Blame::default();
    let senders = [Some(addr(4)), Some(addr(4))];
    for _ in 1..MIN_BAD {
        assert!(b.piece_failed(1, &senders, &[[0; 20]; 2], true).is_empty());
    }
    assert_eq!(
        b.piece_failed(1, &senders, &[[0; 20]; 2], true),
        vec![addr(4)],
        "the same bad piece again and again from one sender is a bad mark each time"
    );
}

#[test]
fn senders_of_a_failed_piece_are_on_parole_until_a_piece_of_their_own_verifies() {
    let mut b = Blame::default();
    let mixed = [Some(addr(1)), Some(addr(2))];
    b.piece_failed(3, &mixed, &[[0; 20]; 2], false);
    assert!(b.on_parole(&addr(1)) && b.on_parole(&addr(2)));
    // A mixed piece that verifies clears nobody.
    b.piece_passed(4, &mixed, None, false);
    assert!(b.on_parole(&addr(1)) && b.on_parole(&addr(2)));
    // Nor does a piece it sent alone but was asked for before the suspicion.
    b.piece_passed(6, &[Some(addr(1)), Some(addr(1))], None, false);
    assert!(b.on_parole(&addr(1)));
    b.piece_passed(5, &[Some(addr(1)), Some(addr(1))], None, true);
    assert!(!b.on_parole(&addr(1)));
    assert!(b.on_parole(&addr(2)));
}

#[test]
fn failed_copies_per_piece_are_bounded() {
    let mut b = Blame::default();
    for port in 0..100 {
        b.piece_failed(
            1,
            &[Some(addr(port)), Some(addr(1000))],
            &[[0; 20]; 2],
            false,
        );
    }
    assert_eq!(b.failed.get(&1).map(VecDeque::len), Some(MAX_COPIES));
}

#[test]
fn a_rare_bad_block_among_many_good_ones_is_tolerated() {
    let mut b = Blame::default();
    let one = [Some(addr(5))];
    for p in 0..BAN_RATIO as u32 + 1 {
        b.piece_passed(p, &one, None, false);
    }
    let senders = [Some(addr(5)), Some(addr(6))];
    b.piece_failed(100, &senders, &[[1; 20], [2; 20]], false);
    let banned = b.piece_passed(100, &senders, Some(&[[7; 20], [2; 20]]), false);
    assert!(banned.is_empty(), "{banned:?}");
    assert_eq!(b.reputation(&addr(5)).bad, 1);
}

#[test]
fn marks_from_pieces_sent_before_any_suspicion_decide_nothing() {
    let mut b = Blame::default();
    let one = [Some(addr(3)), Some(addr(3))];
    for piece in 0..MIN_BAD as u32 {
        assert!(b.piece_failed(piece, &one, &[[0; 20]; 2], false).is_empty());
    }
    assert_eq!(b.reputation(&addr(3)).bad, MIN_BAD);
    // Its piece on parole fails too: now it goes.
    assert_eq!(b.piece_failed(99, &one, &[[0; 20]; 2], true), vec![addr(3)]);
}
