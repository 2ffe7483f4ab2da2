//! Engine tests of hostile peers: unrequested data, smart ban with parole, repeat offenders,
//! a bounded endgame, squatters, connection limits, cheap messages.

use bytes::Bytes;

use super::requests::REFILL_GAP;
use super::tests::{addr, block_data, connect, deliver, drain, engine, hs, join, requests, t};
use super::*;
use crate::geometry::BLOCK_LEN;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Reports piece `piece` hashed: `ok`, with these block hashes.
fn checked(
    e: &mut Engine,
    now: Duration,
    piece: u32,
    ok: bool,
    hashes: Vec<[u8; 20]>,
) -> Vec<Action> {
    e.piece_checked(
        now,
        Checked {
            piece,
            ok,
            block_hashes: Some(hashes),
        },
    );
    drain(e)
}

fn writes(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Write { .. }))
        .count()
}

#[test]
fn unrequested_blocks_are_never_written_and_their_sender_is_dropped() {
    let mut e = engine(8);
    let honest = connect(&mut e, 1, &(0..8).collect::<Vec<_>>(), t(0));
    join(&mut e, t(0), 2, 2, 2, true);
    e.message(t(0), PeerKey(2), Message::HaveNone);
    drain(&mut e);
    // Peer 2 pushes copies of exactly the blocks we are fetching from peer 1.
    let limit = (super::messages::MAX_UNREQUESTED / u64::from(BLOCK_LEN)) as usize;
    for b in honest.iter().take(limit) {
        e.message(t(1), PeerKey(2), block_data(*b, 0xee));
        assert_eq!(
            writes(&drain(&mut e)),
            0,
            "unrequested data is never written"
        );
    }
    assert!(e.peer(PeerKey(2)).is_some(), "a few are forgiven");
    e.message(t(1), PeerKey(2), block_data(honest[limit], 0xee));
    let acts = drain(&mut e);
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Disconnect(PeerKey(2), Reason::Protocol(Violation::Unrequested { .. }))
    )));
    assert_eq!(e.stats().wasted, (limit as u64 + 1) * u64::from(BLOCK_LEN));
    // The honest copies are not duplicates: they are written.
    let acts = deliver(&mut e, 1, honest[0], t(2));
    assert_eq!(writes(&acts), 1);
}

#[test]
fn the_answer_to_a_given_up_request_is_still_used() {
    let mut e = engine(2);
    e.config.min_queue = 2;
    let slow = connect(&mut e, 1, &[0, 1], t(0));
    e.tick(t(31));
    let acts = drain(&mut e);
    assert!(acts.contains(&Action::Notice(Notice::Snubbed(PeerKey(1)))));
    // The block comes after all: nobody else has it requested, so it is used, not charged.
    e.message(t(32), PeerKey(1), block_data(slow[1], 0));
    assert_eq!(writes(&drain(&mut e)), 1);
    assert_eq!(e.peer(PeerKey(1)).unwrap().unrequested, 0);
}

/// Connects `key` with every piece, unchoked, with queues of `queue` blocks.
fn seed(e: &mut Engine, key: u64, queue: usize, now: Duration) -> Vec<BlockRef> {
    e.config.min_queue = queue;
    let all: Vec<u32> = (0..e.picker.geometry().piece_count()).collect();
    connect(e, key, &all, now)
}

/// Runs a download from peer 1 (a liar: every block it sends is bad) and peer 2 (honest)
/// until the liar is banned; returns the senders of every piece that was hashed, in order,
/// with its verdict.
fn race_liar_and_honest(e: &mut Engine) -> Vec<(u32, Vec<u64>, bool)> {
    use std::collections::{BTreeMap, VecDeque};
    let liar = 1u64;
    let mut verdicts = Vec::new();
    let mut senders: BTreeMap<u32, BTreeMap<u32, u64>> = BTreeMap::new();
    let mut queue: VecDeque<(u64, BlockRef)> = VecDeque::new();
    let mut now = t(1);
    let take = |acts: &[Action], queue: &mut VecDeque<(u64, BlockRef)>| {
        for key in [1u64, 2] {
            queue.extend(requests(acts, PeerKey(key)).into_iter().map(|b| (key, b)));
        }
    };
    for key in [1u64, 2] {
        let flying = e
            .peer(PeerKey(key))
            .map(|p| p.in_flight.clone())
            .unwrap_or_default();
        queue.extend(flying.iter().map(|r| (key, r.block)));
    }
    for _ in 0..2000 {
        now += ms(10);
        e.tick(now);
        take(&drain(e), &mut queue);
        let Some((key, b)) = queue.pop_front() else {
            continue;
        };
        if !e
            .peer(PeerKey(key))
            .is_some_and(|p| p.in_flight.iter().any(|r| r.block == b))
        {
            continue;
        }
        senders.entry(b.piece).or_default().insert(b.offset, key);
        let out = deliver(e, key, b, now);
        take(&out, &mut queue);
        for a in out {
            let Action::Verify { piece, .. } = a else {
                continue;
            };
            let by = senders.remove(&piece).unwrap_or_default();
            let ok = !by.values().any(|k| *k == liar);
            let hashes = by
                .iter()
                .map(|(off, k)| {
                    if *k == liar {
                        [0xbb; 20]
                    } else {
                        [(off >> 14) as u8; 20]
                    }
                })
                .collect();
            let mut who: Vec<u64> = by.values().copied().collect();
            who.sort();
            who.dedup();
            verdicts.push((piece, who, ok));
            take(&checked(e, now, piece, ok, hashes), &mut queue);
        }
        if e.is_banned(&addr(1)) {
            break;
        }
    }
    verdicts
}

#[test]
fn senders_of_a_failed_piece_get_whole_pieces_alone_and_the_liar_is_caught() {
    // Pieces of 4 blocks and queues of 3 leave pieces half-requested, which is where the
    // liar would join others' pieces if parole did not keep its pieces its own.
    let piece = 4 * u64::from(BLOCK_LEN);
    let geometry = Geometry::new(piece, &[40 * piece]).unwrap();
    let mut e = Engine::new(Config::default(), geometry, Bitfield::new(40), 3);
    seed(&mut e, 1, 3, t(0));
    seed(&mut e, 2, 3, t(0));
    let verdicts = race_liar_and_honest(&mut e);
    assert!(e.is_banned(&addr(1)), "{verdicts:?}");
    assert!(!e.is_banned(&addr(2)));
    let first_failure = verdicts.iter().position(|(_, _, ok)| !ok).unwrap();
    let failures = verdicts.iter().filter(|(_, _, ok)| !ok).count();
    // One mixed failure puts both on parole; the liar's own pieces then fail until it has
    // MIN_BAD marks (the mixed piece's proof is one of them).
    assert!(
        failures <= smartban::MIN_BAD as usize + 1,
        "caught within a few pieces: {verdicts:?}"
    );
    for (piece, who, _) in &verdicts[first_failure + 1..] {
        assert!(
            !(who.contains(&1) && who.len() > 1),
            "after a failure the liar's pieces are its alone: piece {piece} from {who:?}"
        );
    }
}

#[test]
fn a_sole_sender_of_the_same_bad_piece_is_banned_and_not_asked_for_it_again() {
    let mut e = engine(1);
    let mine = seed(&mut e, 1, 2, t(0));
    assert_eq!(mine.len(), 2);
    for b in &mine {
        deliver(&mut e, 1, *b, t(1));
    }
    checked(&mut e, t(2), 0, false, vec![[0; 20]; 2]);
    // Another peer with the piece arrives: the liar is not asked for it again.
    let other = seed(&mut e, 2, 2, t(3));
    e.tick(t(3) + REFILL_GAP);
    let acts = drain(&mut e);
    assert!(requests(&acts, PeerKey(1)).is_empty(), "{acts:?}");
    assert_eq!(other.len(), 2);
    // That peer leaves: alone again, the liar is asked and fails the same piece again and
    // again, a bad mark each time, until it is banned.
    e.peer_closed(t(4), PeerKey(2), Reason::Eof);
    let mut now = t(5);
    for round in 1..smartban::MIN_BAD {
        e.tick(now);
        let again = requests(&drain(&mut e), PeerKey(1));
        assert_eq!(again.len(), 2, "round {round}");
        for b in &again {
            deliver(&mut e, 1, *b, now);
        }
        let acts = checked(&mut e, now, 0, false, vec![[0; 20]; 2]);
        let banned = acts.contains(&Action::Notice(Notice::Banned(addr(1))));
        assert_eq!(
            banned,
            round + 1 == smartban::MIN_BAD,
            "round {round}: {acts:?}"
        );
        now += t(1);
    }
}

#[test]
fn a_banned_peers_blocks_in_unfinished_pieces_are_fetched_again() {
    let mut e = engine(4);
    let liar = seed(&mut e, 1, 1, t(0));
    join(&mut e, t(0), 2, 2, 2, true);
    e.message(t(0), PeerKey(2), Message::HaveAll);
    deliver(&mut e, 1, liar[0], t(1));
    e.ban(t(2), addr(1));
    assert_eq!(e.stats().wasted, u64::from(BLOCK_LEN));
    e.config.min_queue = 8;
    e.message(t(3), PeerKey(2), Message::Unchoke);
    let other = requests(&drain(&mut e), PeerKey(2));
    assert!(
        other.contains(&liar[0]),
        "the liar's block is asked of someone else"
    );
}

#[test]
fn endgame_duplicates_are_bounded_per_peer_and_in_total() {
    let geometry = Geometry::new(32 * u64::from(BLOCK_LEN), &[32 * u64::from(BLOCK_LEN)]).unwrap();
    let mut e = Engine::new(Config::default(), geometry, Bitfield::new(1), 1);
    e.config.max_per_ip = 100;
    let first = seed(&mut e, 1, 32, t(0));
    assert_eq!(first.len(), 32);
    let mut duplicates = 0;
    // Peer 1 has sent nothing: its requests are late only after the snub timeout.
    for key in 2..40 {
        let got = seed(&mut e, key, 32, t(31));
        assert!(got.len() <= 1, "peer {key} got {got:?}");
        duplicates += got.len();
    }
    assert_eq!(duplicates, picker::MAX_DUPLICATES);
}

/// `acts` close `squatter` for squatting and dial `waiting` in its place.
fn assert_makes_room(acts: &[Action], squatter: PeerKey, waiting: SocketAddr) {
    assert!(
        acts.contains(&Action::Disconnect(squatter, Reason::Squatting)),
        "{acts:?}"
    );
    assert!(acts.contains(&Action::Connect(waiting)), "{acts:?}");
}

#[test]
fn snubbed_peers_get_no_duplicates_and_lose_their_slot_to_a_waiting_candidate() {
    let mut e = engine(1);
    e.config.max_peers = 2;
    e.config.reserved_outgoing = 0;
    seed(&mut e, 1, 2, t(0));
    e.tick(t(31));
    assert!(drain(&mut e).contains(&Action::Notice(Notice::Snubbed(PeerKey(1)))));
    seed(&mut e, 2, 2, t(31));
    // Both slots taken; a candidate waits: the snubbed peer makes room.
    e.add_peers(t(32), [addr(9)]);
    e.tick(t(32));
    assert_makes_room(&drain(&mut e), PeerKey(1), addr(9));
}

#[test]
fn a_squatter_with_nothing_we_want_is_evicted_only_when_someone_waits() {
    let mut e = engine(2);
    e.config.max_peers = 1;
    e.config.reserved_outgoing = 0;
    join(&mut e, t(0), 1, 1, 1, true);
    e.message(t(0), PeerKey(1), Message::HaveNone);
    drain(&mut e);
    e.tick(t(100));
    assert!(drain(&mut e)
        .iter()
        .all(|a| !matches!(a, Action::Disconnect(..))));
    e.add_peers(t(100), [addr(9)]);
    let acts = drain(&mut e);
    assert!(!acts.contains(&Action::Connect(addr(9))), "no room yet");
    let when = e.next_timeout(t(100)).unwrap();
    e.tick(when);
    assert_makes_room(&drain(&mut e), PeerKey(1), addr(9));
}

#[test]
fn time_spent_not_reading_does_not_make_a_squatter() {
    let mut e = engine(2);
    e.config.max_peers = 1;
    e.config.reserved_outgoing = 0;
    join(&mut e, t(0), 1, 1, 1, true);
    e.message(t(0), PeerKey(1), Message::HaveNone);
    e.set_listening(t(1), false);
    drain(&mut e);
    // Twice the grace on the wall clock, none of it spent reading what the peer sent (haves
    // of pieces we want among it, perhaps).
    let grace = e.config.squat_grace;
    let late = t(1) + grace * 2;
    e.add_peers(late, [addr(9)]);
    e.tick(late);
    let acts = drain(&mut e);
    assert!(
        !acts.contains(&Action::Disconnect(PeerKey(1), Reason::Squatting)),
        "{acts:?}"
    );
    // Reading again: the grace runs on from the second it had used.
    e.set_listening(late, true);
    let due = late + grace - t(1);
    e.tick(due - Duration::from_millis(1));
    let acts = drain(&mut e);
    assert!(!acts.contains(&Action::Connect(addr(9))), "{acts:?}");
    assert_eq!(e.next_timeout(due - Duration::from_millis(1)), Some(due));
    e.tick(due);
    assert_makes_room(&drain(&mut e), PeerKey(1), addr(9));
}

#[test]
fn incoming_peers_cannot_take_the_slots_kept_for_our_dials() {
    let mut e = engine(2);
    e.config.max_peers = 4;
    e.config.reserved_outgoing = 2;
    join(&mut e, t(0), 1, 1, 1, true);
    join(&mut e, t(0), 2, 2, 2, true);
    join(&mut e, t(0), 3, 3, 3, true);
    assert!(drain(&mut e).contains(&Action::Disconnect(PeerKey(3), Reason::TooManyPeers)));
    let mut out = hs(addr(4), 4, true);
    out.outgoing = true;
    e.peer_connected(t(0), PeerKey(4), out);
    assert!(e.peer(PeerKey(4)).is_some());
}

#[test]
fn a_peer_dropped_for_a_protocol_error_is_not_dialled_again() {
    let mut e = engine(2);
    e.add_peers(t(0), [addr(1)]);
    assert_eq!(drain(&mut e), vec![Action::Connect(addr(1))]);
    let mut h = hs(addr(1), 1, true);
    h.outgoing = true;
    e.peer_connected(t(0), PeerKey(1), h);
    e.message(t(0), PeerKey(1), Message::Have(99));
    drain(&mut e);
    for s in 1..100 {
        e.add_peers(t(s), [addr(1)]);
        e.tick(t(s));
        assert!(!drain(&mut e).contains(&Action::Connect(addr(1))));
    }
}

#[test]
fn cheap_messages_release_blocks_to_others_at_the_next_refill_only() {
    let mut e = engine(4);
    e.config.min_queue = 2;
    let a = connect(&mut e, 1, &[0, 1, 2, 3], t(0));
    connect(&mut e, 2, &[0, 1, 2, 3], t(0));
    // A choke from a BEP 6 peer releases nothing.
    e.message(t(1), PeerKey(1), Message::Choke);
    assert_eq!(
        drain(&mut e),
        vec![Action::Notice(Notice::Choked(PeerKey(1)))]
    );
    for b in &a {
        e.message(t(1), PeerKey(1), Message::Reject(*b));
    }
    assert!(
        drain(&mut e).is_empty(),
        "rejects cost no pass over every peer"
    );
    assert_eq!(e.next_timeout(t(1)), Some(REFILL_GAP));
    e.config.min_queue = 4;
    e.tick(t(1) + REFILL_GAP);
    let moved = requests(&drain(&mut e), PeerKey(2));
    assert!(a.iter().all(|b| moved.contains(b)), "{moved:?}");
}

#[test]
fn the_extended_handshake_is_read_once() {
    let mut e = engine(2);
    join(&mut e, t(0), 1, 1, 1, true);
    let hs = |reqq: i64| {
        let mut d = crate::bencode::Value::dict();
        d.insert("reqq", crate::bencode::Value::Int(reqq));
        Message::Extended {
            id: 0,
            payload: Bytes::from(crate::bencode::encode(&d)),
        }
    };
    e.message(t(0), PeerKey(1), hs(3));
    e.message(t(0), PeerKey(1), hs(500));
    assert_eq!(e.peer(PeerKey(1)).unwrap().reqq, Some(3));
}

#[test]
fn a_banned_peer_returning_under_a_new_port_and_id_is_refused() {
    let mut e = engine(2);
    join(&mut e, t(0), 1, 1, 1, true);
    e.ban(t(0), addr(1));
    assert!(drain(&mut e).contains(&Action::Disconnect(PeerKey(1), Reason::Banned)));
    join(&mut e, t(1), 2, 2, 2, true);
    assert_eq!(
        drain(&mut e),
        vec![Action::Disconnect(PeerKey(2), Reason::Shunned)]
    );
    join(&mut e, t(100), 3, 3, 3, true);
    assert!(
        e.peer(PeerKey(3)).is_some_and(|p| p.parole),
        "admitted on parole"
    );
}

#[test]
fn time_passes_only_through_tick() {
    // Whatever floods in, the deadlines the engine reports stay due until `tick` runs them.
    let mut e = engine(2);
    join(&mut e, t(0), 1, 1, 1, true);
    drain(&mut e);
    for i in 0..1000 {
        e.message(ms(i), PeerKey(1), Message::KeepAlive);
    }
    assert_eq!(
        e.next_timeout(ms(1000)),
        Some(t(120)),
        "the keep-alive we owe it"
    );
    e.tick(t(120));
    assert!(drain(&mut e).contains(&Action::Send(PeerKey(1), Message::KeepAlive)));
}
