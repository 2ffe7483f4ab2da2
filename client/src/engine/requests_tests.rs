//! Request queues: the deep start-up queue and when a peer's excess is shed.

use std::time::Duration;

use super::super::tests::{connect, deliver, drain, engine, requests, t};
use super::*;

/// The requests `key` was sent that `acts` cancel.
fn cancelled(acts: &[super::super::Action], key: PeerKey) -> Vec<BlockRef> {
    acts.iter()
        .filter_map(|a| match a {
            super::super::Action::Send(k, Message::Cancel(b)) if *k == key => Some(*b),
            _ => None,
        })
        .collect()
}

/// A peer sent the deep start-up queue before its rate was known sheds the excess once the
/// rate shows it slow: the cancelled blocks are asked of another peer.
#[test]
fn a_slow_peer_filled_blind_sheds_its_excess_requests_to_others() {
    let mut e = engine(32);
    let all: Vec<u32> = (0..32).collect();
    let blind = connect(&mut e, 1, &all, t(0));
    assert_eq!(blind.len(), e.config.min_queue);
    // One block in the first second, one two seconds later: 16 KiB/s, known.
    deliver(&mut e, 1, blind[0], t(1));
    let outstanding: Vec<BlockRef> = e
        .peer(PeerKey(1))
        .unwrap()
        .in_flight
        .iter()
        .map(|r| r.block)
        .collect();
    assert_eq!(outstanding[0], blind[1]);
    let acts = deliver(&mut e, 1, blind[1], t(3));
    let cancelled = cancelled(&acts, PeerKey(1));
    // 16 KiB/s x 3 s is 3 blocks: all but the oldest 3 still outstanding are cancelled.
    assert_eq!(cancelled, outstanding[4..].to_vec());
    assert_eq!(e.peer(PeerKey(1)).unwrap().in_flight.len(), 3);
    // A fast peer arriving gets the cancelled blocks.
    let fast = connect(&mut e, 2, &all, t(3));
    assert!(cancelled.iter().all(|b| fast.contains(b)));
}

/// A peer whose rate became known on data from before its current queue (it sent a block,
/// choked us for two seconds, then unchoked and took a fresh blind queue) is not called slow
/// by requests sent a moment ago: they are on their way, and cancelling them only crosses
/// the blocks, which the refill then asks of it again (a trading swarm wasted 11 blocks so).
/// Once it has held them as long as a rate takes to be known, the excess is shed as before.
#[test]
fn a_peer_is_not_judged_slow_by_requests_it_was_just_sent() {
    let ms = Duration::from_millis;
    let mut e = engine(32);
    let all: Vec<u32> = (0..32).collect();
    let k = PeerKey(1);
    let first = connect(&mut e, 1, &all, t(0));
    // One block, then a choke; the rest of the queue rejected (BEP 6).
    deliver(&mut e, 1, first[0], ms(100));
    e.message(ms(200), k, Message::Choke);
    let pending: Vec<BlockRef> = e
        .peer(k)
        .unwrap()
        .in_flight
        .iter()
        .map(|r| r.block)
        .collect();
    for b in pending {
        e.message(ms(200), k, Message::Reject(b));
    }
    drain(&mut e);
    assert!(e.peer(k).unwrap().in_flight.is_empty());
    // Unchoked just before the rate is known: a blind queue again.
    e.message(ms(1990), k, Message::Unchoke);
    let blind = requests(&drain(&mut e), k);
    assert_eq!(blind.len(), e.config.min_queue);
    // Ten milliseconds later a block makes the rate known (two blocks in two seconds: 3
    // blocks' worth of queue), but these requests are too young to judge it by.
    let acts = deliver(&mut e, 1, blind[0], ms(2000));
    assert!(cancelled(&acts, k).is_empty(), "{acts:?}");
    assert_eq!(e.peer(k).unwrap().in_flight.len(), blind.len() - 1);
    // Two seconds on, still that slow: now the excess goes.
    let acts = deliver(&mut e, 1, blind[1], ms(4000));
    assert!(!cancelled(&acts, k).is_empty(), "{acts:?}");
    assert!(e.peer(k).unwrap().in_flight.len() < blind.len() / 2);
}

/// BEP 6 answers each cancel with the block or a reject, in order: when a block we cancelled
/// has been asked of the same peer again, the first reject for it answers the cancel and the
/// new request stays; only a second reject is the new request's.
#[test]
fn a_reject_answering_a_cancel_leaves_the_same_block_asked_again() {
    let mut e = engine(32);
    let all: Vec<u32> = (0..32).collect();
    let k = PeerKey(1);
    let blind = connect(&mut e, 1, &all, t(0));
    deliver(&mut e, 1, blind[0], t(1));
    let acts = deliver(&mut e, 1, blind[1], t(3));
    let shed = cancelled(&acts, k);
    assert!(!shed.is_empty(), "{acts:?}");
    // Its queue runs low again: the refill asks it for a block it was just told to forget.
    let peer = e.peer(k).unwrap();
    let next = peer.in_flight[0].block;
    deliver(&mut e, 1, next, t(3));
    let peer = e.peer(k).unwrap();
    let again = peer
        .in_flight
        .iter()
        .map(|r| r.block)
        .find(|b| shed.contains(b))
        .expect("a cancelled block asked again");
    e.message(t(3), k, Message::Reject(again));
    drain(&mut e);
    let asked = |e: &Engine| {
        e.peer(k)
            .unwrap()
            .in_flight
            .iter()
            .any(|r| r.block == again)
    };
    assert!(asked(&e), "the cancel's answer dropped the new request");
    e.message(t(3), k, Message::Reject(again));
    drain(&mut e);
    assert!(!asked(&e), "the new request's own reject");
}
