//! Engine tests with no runtime: scripted inputs in, actions checked.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::geometry::BLOCK_LEN;

const PIECE: u64 = 2 * BLOCK_LEN as u64;

pub(super) fn engine(pieces: u32) -> Engine {
    let geometry = Geometry::new(PIECE, &[PIECE * u64::from(pieces)]).unwrap();
    let have = Bitfield::new(pieces);
    Engine::new(Config::default(), geometry, have, 7)
}

/// A handshake from `addr` with `id`, incoming, speaking BEP 6 if `fast`.
pub(super) fn hs(addr: SocketAddr, id: u8, fast: bool) -> Handshaken {
    Handshaken {
        addr,
        peer_id: crate::PeerId([id; 20]),
        fast,
        extended: false,
        outgoing: false,
    }
}

/// Connects peer `key` at `addr(port)` with peer id `[id; 20]`.
pub(super) fn join(e: &mut Engine, now: Duration, key: u64, port: u16, id: u8, fast: bool) {
    e.peer_connected(now, PeerKey(key), hs(addr(port), id, fast));
}

pub(super) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], port))
}

pub(super) fn t(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

pub(super) fn drain(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

pub(super) fn requests(actions: &[Action], key: PeerKey) -> Vec<BlockRef> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(k, Message::Request(b)) if *k == key => Some(*b),
            _ => None,
        })
        .collect()
}

/// Connects a peer with the given pieces, unchoked; returns its requests.
pub(super) fn connect(e: &mut Engine, key: u64, pieces: &[u32], now: Duration) -> Vec<BlockRef> {
    let k = PeerKey(key);
    join(e, now, key, key as u16, key as u8 + 10, true);
    let count = e.picker.geometry().piece_count();
    let mut bf = Bitfield::new(count);
    for p in pieces {
        bf.set(*p, true);
    }
    e.message(
        now,
        k,
        Message::Bitfield(Bytes::copy_from_slice(bf.as_bytes())),
    );
    e.message(now, k, Message::Unchoke);
    requests(&drain(e), k)
}

pub(super) fn block_data(b: BlockRef, fill: u8) -> Message {
    Message::Piece {
        piece: b.piece,
        offset: b.offset,
        data: Bytes::from(vec![fill; b.len as usize]),
    }
}

/// Delivers `b` from `key`, confirms the write, and returns the actions that followed.
pub(super) fn deliver(e: &mut Engine, key: u64, b: BlockRef, now: Duration) -> Vec<Action> {
    e.message(now, PeerKey(key), block_data(b, 0));
    let mut out = drain(e);
    if out
        .iter()
        .any(|a| matches!(a, Action::Write { block, .. } if *block == b))
    {
        e.block_written(now, b);
        out.extend(drain(e));
    }
    out
}

#[test]
fn interested_and_requests_only_after_unchoke() {
    let mut e = engine(4);
    let k = PeerKey(1);
    e.peer_connected(t(0), k, hs(addr(1), 9, true));
    assert_eq!(drain(&mut e), vec![Action::Send(k, Message::HaveNone)]);
    e.message(t(0), k, Message::HaveAll);
    assert_eq!(drain(&mut e), vec![Action::Send(k, Message::Interested)]);
    e.message(t(0), k, Message::Unchoke);
    let acts = drain(&mut e);
    assert!(acts.contains(&Action::Notice(Notice::Unchoked(k))));
    assert_eq!(
        requests(&acts, k).len(),
        8,
        "all 8 blocks fit in the initial queue"
    );
}

#[test]
fn rarest_piece_is_started_first() {
    let mut e = engine(6);
    // Piece 4 is held by one peer, every other piece by three. Get one piece first so the
    // random-first-piece rule is over.
    e.picker.verified(0);
    join(&mut e, t(0), 2, 2, 2, true);
    join(&mut e, t(0), 3, 3, 3, true);
    e.message(t(0), PeerKey(2), Message::HaveAll);
    e.message(t(0), PeerKey(3), Message::HaveAll);
    let mut only_some = Bitfield::new(6);
    for p in [1, 2, 3, 5] {
        only_some.set(p, true);
    }
    join(&mut e, t(0), 4, 4, 4, true);
    e.message(
        t(0),
        PeerKey(4),
        Message::Bitfield(Bytes::copy_from_slice(only_some.as_bytes())),
    );
    drain(&mut e);
    e.config.min_queue = 2;
    e.message(t(0), PeerKey(2), Message::Unchoke);
    let first: Vec<u32> = requests(&drain(&mut e), PeerKey(2))
        .iter()
        .map(|b| b.piece)
        .collect();
    assert_eq!(
        first,
        vec![4, 4],
        "the piece only two peers have comes first"
    );
}

#[test]
fn tie_breaks_are_seeded() {
    let pick = |seed| {
        let geometry = Geometry::new(PIECE, &[PIECE * 64]).unwrap();
        let mut e = Engine::new(Config::default(), geometry, Bitfield::new(64), seed);
        connect(&mut e, 1, &(0..64).collect::<Vec<_>>(), t(0))
            .iter()
            .map(|b| b.piece)
            .collect::<Vec<_>>()
    };
    assert_eq!(pick(1), pick(1));
    assert_ne!(
        pick(1),
        pick(2),
        "different seeds pick different first pieces"
    );
}

#[test]
fn disconnect_requeues_blocks_to_other_peers() {
    let mut e = engine(4);
    e.config.min_queue = 4;
    let first = connect(&mut e, 1, &[0, 1, 2, 3], t(0));
    let second = connect(&mut e, 2, &[0, 1, 2, 3], t(0));
    assert_eq!((first.len(), second.len()), (4, 4));
    assert!(
        first.iter().all(|b| !second.contains(b)),
        "no duplicates outside endgame"
    );
    e.config.min_queue = 16;
    e.peer_closed(t(1), PeerKey(1), Reason::Eof);
    e.tick(t(1));
    let mut again = requests(&drain(&mut e), PeerKey(2));
    again.sort();
    let mut expected = first.clone();
    expected.sort();
    assert_eq!(again, expected, "peer 2 takes over peer 1's blocks");
}

#[test]
fn endgame_duplicates_the_longest_waiting_block_then_cancels() {
    let mut e = engine(1);
    e.config.min_queue = 1;
    let one = connect(&mut e, 1, &[0], t(0));
    assert_eq!(one.len(), 1);
    e.config.min_queue = 16;
    // Peer 1 is slow: it has both blocks requested after a top-up.
    e.refill_due = true;
    e.tick(t(1));
    let more = requests(&drain(&mut e), PeerKey(1));
    assert_eq!(one.len() + more.len(), 2);
    assert!(e.picker.in_endgame());
    // Peer 1 has sent nothing: its requests are late once the snub timeout has passed.
    let late = t(1) + e.config.snub_timeout;
    let dup = connect(&mut e, 2, &[0], late);
    assert_eq!(
        dup, one,
        "one duplicate per idle peer, the longest-waiting block first"
    );
    let acts = deliver(&mut e, 2, dup[0], late);
    assert!(
        acts.contains(&Action::Send(PeerKey(1), Message::Cancel(dup[0]))),
        "{acts:?}"
    );
    // The late copy from peer 1 answers a request we gave up on: waste, but not its fault.
    e.message(late, PeerKey(1), block_data(dup[0], 0));
    assert!(!drain(&mut e)
        .iter()
        .any(|a| matches!(a, Action::Write { .. })));
    assert_eq!(e.stats().wasted, u64::from(BLOCK_LEN));
    assert_eq!(e.peer(PeerKey(1)).unwrap().unrequested, 0);
}

#[test]
fn requests_do_not_age_while_the_shell_does_not_read() {
    let mut e = engine(1);
    e.config.min_queue = 1;
    let one = connect(&mut e, 1, &[0], t(0));
    // Our disk is behind from here: whatever peer 1 sends waits in our socket buffer.
    e.set_listening(t(0), false);
    e.config.min_queue = 16;
    e.refill_due = true;
    e.tick(t(1));
    assert_eq!(requests(&drain(&mut e), PeerKey(1)).len(), 1);
    assert!(e.picker.in_endgame());
    // Long past the age at which a race starts (short of the snub timeout, which would give
    // peer 1's requests up), but none of it spent reading: no race.
    let late = t(10);
    assert_eq!(connect(&mut e, 2, &[0], late), vec![]);
    assert_eq!(e.next_endgame_at(late), None);
    assert!(!e.endgame_due(late));
    // Reading again, the requests age from here on, and the oldest is raced when due.
    e.set_listening(late, true);
    let due = late + endgame::ENDGAME_MIN_AGE;
    assert_eq!(e.next_endgame_at(late), Some(due));
    e.tick(due - Duration::from_millis(1));
    assert_eq!(requests(&drain(&mut e), PeerKey(2)), vec![]);
    e.tick(due);
    assert_eq!(requests(&drain(&mut e), PeerKey(2)), one);
}

#[test]
fn peers_are_not_snubbed_or_timed_out_while_the_shell_does_not_read() {
    let mut e = engine(1);
    let k = PeerKey(1);
    assert!(!connect(&mut e, 1, &[0], t(0)).is_empty());
    e.set_listening(t(0), false);
    // Past the snub and request timeouts (30 s, 60 s), none of it spent reading.
    let late = t(100);
    e.tick(late);
    let acts = drain(&mut e);
    assert!(
        !acts
            .iter()
            .any(|a| matches!(a, Action::Send(_, Message::Cancel(_)))),
        "{acts:?}"
    );
    assert!(!e.peer(k).unwrap().snubbed);
    // Reading again: the snub timeout runs from here.
    e.set_listening(late, true);
    e.tick(late + e.config.snub_timeout - Duration::from_millis(1));
    assert!(!e.peer(k).unwrap().snubbed);
    e.tick(late + e.config.snub_timeout);
    assert!(e.peer(k).unwrap().snubbed);
}

#[test]
fn verified_piece_is_announced_and_completes() {
    let mut e = engine(1);
    let blocks = connect(&mut e, 1, &[0], t(0));
    join(&mut e, t(0), 5, 5, 5, true);
    drain(&mut e);
    deliver(&mut e, 1, blocks[0], t(1));
    let acts = deliver(&mut e, 1, blocks[1], t(1));
    assert!(acts.contains(&Action::Verify {
        piece: 0,
        block_hashes: false
    }));
    // No have before verification.
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::Send(_, Message::Have(_)))));
    e.piece_checked(
        t(2),
        Checked {
            piece: 0,
            ok: true,
            block_hashes: None,
        },
    );
    let acts = drain(&mut e);
    assert!(acts.contains(&Action::Send(PeerKey(5), Message::Have(0))));
    assert!(acts.contains(&Action::Notice(Notice::Complete)));
    assert!(acts.contains(&Action::Disconnect(PeerKey(1), Reason::NotUseful)));
    assert!(e.is_complete());
    assert_eq!(e.left(), 0);
}

#[test]
fn rejected_piece_is_not_asked_of_the_same_peer_again() {
    let mut e = engine(2);
    e.config.min_queue = 2;
    let k = PeerKey(1);
    let reqs = connect(&mut e, 1, &[0, 1], t(0));
    assert_eq!(reqs.len(), 2);
    let piece = reqs[0].piece;
    for b in &reqs {
        e.message(t(1), k, Message::Reject(*b));
    }
    let again = requests(&drain(&mut e), k);
    assert!(again.iter().all(|b| b.piece != piece), "{again:?}");
    // After the refusal expires the piece may be asked again.
    e.tick(t(1) + super::peer::REFUSAL_TTL);
    for b in again {
        e.message(t(70), k, Message::Reject(b));
    }
    e.tick(t(200));
    assert!(!requests(&drain(&mut e), k).is_empty());
}

#[test]
fn snubbed_peer_loses_its_requests() {
    let mut e = engine(4);
    e.config.min_queue = 4;
    let slow = connect(&mut e, 1, &[0, 1, 2, 3], t(0));
    let fast = connect(&mut e, 2, &[0, 1, 2, 3], t(2));
    assert_eq!((slow.len(), fast.len()), (4, 4));
    e.config.min_queue = 16;
    e.tick(t(31));
    let acts = drain(&mut e);
    assert!(acts.contains(&Action::Notice(Notice::Snubbed(PeerKey(1)))));
    assert!(!acts.contains(&Action::Notice(Notice::Snubbed(PeerKey(2)))));
    let cancels = acts
        .iter()
        .filter(|a| matches!(a, Action::Send(PeerKey(1), Message::Cancel(_))))
        .count();
    assert_eq!(cancels, 4);
    let mut moved = requests(&acts, PeerKey(2));
    moved.sort();
    let mut expected = slow.clone();
    expected.sort();
    assert_eq!(moved, expected, "{acts:?}");
    // The snubbed peer keeps at most one request.
    assert!(requests(&acts, PeerKey(1)).len() <= 1);
}

#[test]
fn choke_without_fast_extension_drops_requests() {
    let mut e = engine(2);
    let k = PeerKey(1);
    e.peer_connected(t(0), k, hs(addr(1), 3, false));
    let all = Bitfield::full(2);
    e.message(
        t(0),
        k,
        Message::Bitfield(Bytes::copy_from_slice(all.as_bytes())),
    );
    e.message(t(0), k, Message::Unchoke);
    assert_eq!(requests(&drain(&mut e), k).len(), 4);
    e.message(t(1), k, Message::Choke);
    let acts = drain(&mut e);
    assert!(requests(&acts, k).is_empty(), "no request while choked");
    assert!(e.peer(k).unwrap().in_flight.is_empty());
    e.message(t(2), k, Message::Unchoke);
    assert_eq!(requests(&drain(&mut e), k).len(), 4, "requests resume");
}

#[test]
fn allowed_fast_pieces_are_requested_while_choked() {
    let mut e = engine(4);
    let k = PeerKey(1);
    e.peer_connected(t(0), k, hs(addr(1), 3, true));
    e.message(t(0), k, Message::HaveAll);
    e.message(t(0), k, Message::AllowedFast(2));
    let reqs = requests(&drain(&mut e), k);
    assert!(!reqs.is_empty());
    assert!(reqs.iter().all(|b| b.piece == 2), "{reqs:?}");
}

#[test]
fn protocol_violations_close_only_that_peer() {
    let mut e = engine(4);
    connect(&mut e, 1, &[0], t(0));
    connect(&mut e, 2, &[0], t(0));
    e.message(t(1), PeerKey(1), Message::Have(99));
    let acts = drain(&mut e);
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Disconnect(
            PeerKey(1),
            Reason::Protocol(Violation::HaveOutOfRange {
                piece: 99,
                count: 4
            })
        )
    )));
    assert!(e.peer(PeerKey(2)).is_some());
    // A second bitfield is a violation too.
    let bf = Bitfield::new(4);
    e.message(
        t(1),
        PeerKey(2),
        Message::Bitfield(Bytes::copy_from_slice(bf.as_bytes())),
    );
    assert!(e.peer(PeerKey(2)).is_none());
    // A bitfield with spare bits set.
    join(&mut e, t(2), 3, 3, 33, true);
    e.message(
        t(2),
        PeerKey(3),
        Message::Bitfield(Bytes::from_static(&[0xff])),
    );
    assert!(e.peer(PeerKey(3)).is_none());
}

#[test]
fn unrequested_block_is_waste() {
    let mut e = engine(2);
    connect(&mut e, 1, &[0, 1], t(0));
    join(&mut e, t(0), 2, 2, 2, true);
    drain(&mut e);
    e.message(
        t(1),
        PeerKey(2),
        block_data(
            BlockRef {
                piece: 1,
                offset: 5,
                len: 100,
            },
            1,
        ),
    );
    assert!(!drain(&mut e)
        .iter()
        .any(|a| matches!(a, Action::Write { .. })));
    assert_eq!(e.stats().wasted, 100);
}

#[test]
fn our_own_address_is_never_dialled_whoever_names_it() {
    let mut e = engine(1);
    e.set_own_addresses(own::OwnAddrs::new(
        "0.0.0.0:6881".parse().unwrap(),
        [addr(6881).ip()],
    ));
    let loopback: SocketAddr = "127.0.0.5:6881".parse().unwrap();
    e.add_peers(t(0), [addr(6881), loopback, addr(6882)]);
    assert_eq!(drain(&mut e), vec![Action::Connect(addr(6882))]);
    // Named again later (by PEX, say), still not.
    e.add_peers(t(1), [addr(6881)]);
    assert!(drain(&mut e).is_empty());
}

#[test]
fn failed_dials_back_off_then_give_up() {
    let mut e = engine(1);
    e.add_peers(t(0), [addr(1)]);
    assert_eq!(drain(&mut e), vec![Action::Connect(addr(1))]);
    e.dial_failed(t(0), addr(1), &DialError::ConnectTimeout);
    assert!(drain(&mut e).is_empty(), "no immediate retry");
    assert_eq!(e.next_timeout(t(0)), Some(t(5)));
    e.tick(t(5));
    assert_eq!(drain(&mut e), vec![Action::Connect(addr(1))]);
    let mut now = t(5);
    for _ in 0..10 {
        e.dial_failed(now, addr(1), &DialError::ConnectTimeout);
        now += t(10_000);
        e.tick(now);
        drain(&mut e);
    }
    assert_eq!(
        e.swarm.candidate_count(),
        0,
        "forgotten after max_dial_failures"
    );
}

#[test]
fn keepalive_and_idle_timeout() {
    let mut e = engine(1);
    join(&mut e, t(0), 1, 1, 2, true);
    drain(&mut e);
    e.tick(t(120));
    assert_eq!(
        drain(&mut e),
        vec![Action::Send(PeerKey(1), Message::KeepAlive)]
    );
    e.tick(t(300));
    assert!(drain(&mut e).contains(&Action::Disconnect(PeerKey(1), Reason::Idle)));
}

#[test]
fn extension_handshake_may_precede_the_bitfield() {
    let mut e = engine(2);
    let k = PeerKey(1);
    e.peer_connected(t(0), k, hs(addr(1), 3, true));
    drain(&mut e);
    let hs = crate::bencode::encode(&{
        let mut d = crate::bencode::Value::dict();
        d.insert("reqq", crate::bencode::Value::Int(3));
        d
    });
    e.message(
        t(0),
        k,
        Message::Extended {
            id: 0,
            payload: Bytes::from(hs),
        },
    );
    e.message(t(0), k, Message::HaveAll);
    e.message(t(0), k, Message::Unchoke);
    let acts = drain(&mut e);
    assert!(e.peer(k).is_some(), "still connected: {acts:?}");
    assert_eq!(requests(&acts, k).len(), 3, "reqq caps the queue");
}
