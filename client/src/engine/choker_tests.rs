//! Tests of the choker and of serving requests, with scripted rates and times.

use bytes::Bytes;

use super::super::tests::{addr, drain, engine, join, t};
use super::super::*;
use crate::geometry::BLOCK_LEN;

/// An engine that has every piece (a seed) of `pieces` two-block pieces.
fn seed_engine(pieces: u32) -> Engine {
    let mut e = engine(pieces);
    for p in 0..pieces {
        e.picker.verified(p);
    }
    e
}

/// Connects `key` (have none) and makes it interested; returns the actions.
fn interested(e: &mut Engine, key: u64, now: Duration) -> Vec<Action> {
    join(e, now, key, key as u16, key as u8, true);
    e.message(now, PeerKey(key), Message::HaveNone);
    e.message(now, PeerKey(key), Message::Interested);
    drain(e)
}

fn unchoked(actions: &[Action]) -> Vec<PeerKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(k, Message::Unchoke) => Some(*k),
            _ => None,
        })
        .collect()
}

fn choked(actions: &[Action]) -> Vec<PeerKey> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(k, Message::Choke) => Some(*k),
            _ => None,
        })
        .collect()
}

/// The peers holding a regular (not optimistic) upload slot, in key order.
fn regular_holders(e: &Engine) -> Vec<u64> {
    e.peers
        .iter()
        .filter(|(_, p)| !p.up.choking && !p.up.optimistic)
        .map(|(k, _)| k.0)
        .collect()
}

/// The peers we currently upload to.
fn holders(e: &Engine) -> Vec<u64> {
    e.peers
        .iter()
        .filter(|(_, p)| !p.up.choking)
        .map(|(k, _)| k.0)
        .collect()
}

#[test]
fn interested_peers_get_free_slots_at_once_and_no_more() {
    let mut e = seed_engine(4);
    for key in 1..=6 {
        let acts = interested(&mut e, key, t(0));
        let now_unchoked = unchoked(&acts).contains(&PeerKey(key));
        // Four regular slots, then the optimistic slot for a newcomer.
        assert_eq!(now_unchoked, key <= 5, "peer {key}: {acts:?}");
    }
    assert_eq!(holders(&e).len(), e.config.upload_slots + 1);
}

#[test]
fn while_downloading_the_fastest_uploaders_to_us_keep_their_slots() {
    let mut e = engine(64);
    for key in 1..=6u64 {
        join(&mut e, t(0), key, key as u16, key as u8, true);
        e.message(t(0), PeerKey(key), Message::HaveAll);
        e.message(t(0), PeerKey(key), Message::Interested);
        // Peer k has sent us k blocks' worth in the last seconds.
        let rate = &mut e.peers.get_mut(&PeerKey(key)).unwrap().rate;
        rate.add(t(9), key * u64::from(BLOCK_LEN) * 100);
    }
    drain(&mut e);
    e.tick(t(10));
    drain(&mut e);
    let regular = regular_holders(&e);
    assert_eq!(regular, vec![3, 4, 5, 6], "tit-for-tat: the four fastest");
}

#[test]
fn while_seeding_slots_go_round_robin() {
    let mut e = seed_engine(4);
    for key in 1..=6 {
        interested(&mut e, key, t(0));
    }
    let mut served: std::collections::BTreeSet<u64> = holders(&e).into_iter().collect();
    let mut now = t(0);
    for _ in 0..3 {
        now += e.config.choke_interval;
        e.tick(now);
        let acts = drain(&mut e);
        assert!(
            !choked(&acts).is_empty(),
            "a round rotates someone out: {acts:?}"
        );
        served.extend(holders(&e));
    }
    assert_eq!(served.len(), 6, "every leecher had its turn: {served:?}");
}

#[test]
fn the_optimistic_unchoke_moves_and_favours_new_peers() {
    for never_unchoked_first in [true, false] {
        let mut e = engine(8);
        e.config.upload_slots = 1;
        let mut new_picks = 0;
        for round in 0..40u64 {
            let now = t(1000 * round);
            let key = 100 + round;
            // An old peer that has been around, and a brand new one.
            if round == 0 {
                join(&mut e, now, 1, 1, 1, true);
                e.message(now, PeerKey(1), Message::HaveAll);
                e.message(now, PeerKey(1), Message::Interested);
                join(&mut e, now, 2, 2, 2, true);
                e.message(now, PeerKey(2), Message::HaveAll);
                e.message(now, PeerKey(2), Message::Interested);
            }
            join(&mut e, now + t(500), key, key as u16, key as u8, true);
            e.message(now + t(500), PeerKey(key), Message::HaveAll);
            e.message(now + t(500), PeerKey(key), Message::Interested);
            if !never_unchoked_first {
                // Every candidate has had a slot before: only the 3:1 weighting is left.
                for p in e.peers.values_mut() {
                    p.up.slot_lost_at.get_or_insert(now);
                }
            }
            e.choker.next_optimistic = now + t(500);
            e.rechoke(now + t(500));
            drain(&mut e);
            let opt = e
                .peers
                .iter()
                .find(|(_, p)| p.up.optimistic)
                .map(|(k, _)| k.0);
            if opt == Some(key) {
                new_picks += 1;
            }
            e.peer_closed(now + t(600), PeerKey(key), Reason::Eof);
            drain(&mut e);
        }
        if never_unchoked_first {
            // A peer we never unchoked goes first: always the newcomer, except perhaps in the
            // first round, where the old peer without the regular slot is one too.
            assert!(new_picks >= 39, "{new_picks} of 40");
        } else {
            // Weighted 3:1 against the one other choked peer: about three in four.
            assert!((22..=38).contains(&new_picks), "{new_picks} of 40");
        }
    }
}

#[test]
fn snubbing_peers_lose_their_regular_slot_while_we_download() {
    let mut e = engine(8);
    e.config.upload_slots = 1;
    for key in 1..=2u64 {
        join(&mut e, t(0), key, key as u16, key as u8, true);
        e.message(t(0), PeerKey(key), Message::HaveAll);
        e.message(t(0), PeerKey(key), Message::Interested);
    }
    e.peers
        .get_mut(&PeerKey(1))
        .unwrap()
        .rate
        .add(t(9), 10_000_000);
    e.peers.get_mut(&PeerKey(1)).unwrap().snubbed = true;
    e.tick(t(10));
    drain(&mut e);
    let p1 = &e.peers[&PeerKey(1)];
    assert!(
        p1.up.choking || p1.up.optimistic,
        "a snubbing peer has no regular slot"
    );
    assert!(!e.peers[&PeerKey(2)].up.choking);
}

#[test]
fn requests_are_served_within_the_window_and_cancels_honoured() {
    let mut e = seed_engine(64);
    e.config.upload_window = 2 * u64::from(BLOCK_LEN);
    interested(&mut e, 1, t(0));
    let k = PeerKey(1);
    let blocks: Vec<BlockRef> = (0..4).map(|p| e.picker.geometry().block(p, 0)).collect();
    for b in &blocks {
        e.message(t(1), k, Message::Request(*b));
    }
    let reads: Vec<BlockRef> = drain(&mut e)
        .iter()
        .filter_map(|a| match a {
            Action::Read { block, .. } => Some(*block),
            _ => None,
        })
        .collect();
    assert_eq!(reads, blocks[..2].to_vec(), "two blocks fit the window");
    // A cancel of a queued request is answered with a reject (BEP 6).
    e.message(t(1), k, Message::Cancel(blocks[3]));
    assert_eq!(
        drain(&mut e),
        vec![Action::Send(k, Message::Reject(blocks[3]))]
    );
    let data = Bytes::from(vec![7u8; BLOCK_LEN as usize]);
    e.block_read(t(2), k, blocks[0], data.clone());
    assert!(matches!(
        drain(&mut e).as_slice(),
        [Action::Send(_, Message::Piece { piece: 0, .. })]
    ));
    e.uploaded(t(2), k, u64::from(BLOCK_LEN));
    assert_eq!(e.stats().uploaded, u64::from(BLOCK_LEN));
    let next = drain(&mut e);
    assert!(
        next.contains(&Action::Read {
            key: k,
            block: blocks[2]
        }),
        "{next:?}"
    );
}

#[test]
fn requests_while_choked_out_of_range_or_flooding_are_refused() {
    let mut e = seed_engine(4);
    join(&mut e, t(0), 1, 1, 1, true);
    drain(&mut e);
    let k = PeerKey(1);
    let b = e.picker.geometry().block(0, 0);
    e.message(t(0), k, Message::Request(b));
    assert_eq!(
        drain(&mut e),
        vec![Action::Send(k, Message::Reject(b))],
        "choked: rejected"
    );
    e.message(t(0), k, Message::Interested);
    drain(&mut e);
    let bad = BlockRef {
        piece: 99,
        offset: 0,
        len: BLOCK_LEN,
    };
    e.message(t(0), k, Message::Request(bad));
    assert!(drain(&mut e).iter().any(|a| matches!(
        a,
        Action::Disconnect(_, Reason::Protocol(Violation::BadRequest(_)))
    )));
    interested(&mut e, 2, t(1));
    e.config.upload_window = 0;
    let k2 = PeerKey(2);
    let mut flood = Vec::new();
    for i in 0..=e.config.max_requests_in as u32 {
        // All different, all inside the torrent.
        let request = BlockRef {
            piece: i % 4,
            offset: (i / 4) * 64,
            len: 64,
        };
        e.message(t(1), k2, Message::Request(request));
        flood.extend(drain(&mut e));
    }
    assert!(flood.iter().any(|a| matches!(
        a,
        Action::Disconnect(_, Reason::Protocol(Violation::RequestFlood { .. }))
    )));
    assert!(e.peer(k2).is_none());
    let _ = addr(1);
}

#[test]
fn while_downloading_peers_that_gave_us_data_rank_above_those_that_never_did() {
    let mut e = engine(8);
    e.config.upload_slots = 2;
    for key in 1..=4u64 {
        join(&mut e, t(0), key, key as u16, key as u8, true);
        e.message(t(0), PeerKey(key), Message::HaveAll);
        e.message(t(0), PeerKey(key), Message::Interested);
    }
    // Nobody sends anything right now (every rate is zero), but 3 and 4 did, long ago.
    for key in [3u64, 4] {
        e.peers.get_mut(&PeerKey(key)).unwrap().received = key * 100_000;
    }
    drain(&mut e);
    e.tick(t(10));
    drain(&mut e);
    let regular = regular_holders(&e);
    assert_eq!(regular, vec![3, 4], "free riders (1, 2) rank last");
}

#[test]
fn a_peer_losing_interest_frees_its_own_slot_and_no_other_changes() {
    let mut e = seed_engine(4);
    for key in 1..=7 {
        interested(&mut e, key, t(0));
    }
    let before = holders(&e);
    assert_eq!(before.len(), e.config.upload_slots + 1);
    let regular = *before
        .iter()
        .find(|k| !e.peers[&PeerKey(**k)].up.optimistic)
        .unwrap();
    e.message(t(3), PeerKey(regular), Message::NotInterested);
    let acts = drain(&mut e);
    assert_eq!(choked(&acts), vec![PeerKey(regular)], "{acts:?}");
    let fresh = unchoked(&acts);
    assert_eq!(fresh.len(), 1, "one waiting peer takes the slot: {acts:?}");
    assert!(!before.contains(&fresh[0].0));
    let after = holders(&e);
    for k in before.iter().filter(|k| **k != regular) {
        assert!(after.contains(k), "holder {k} kept its slot");
    }
}

#[test]
fn the_request_queue_and_its_duplicate_index_agree() {
    let mut e = seed_engine(64);
    e.config.upload_window = 2 * u64::from(BLOCK_LEN);
    interested(&mut e, 1, t(0));
    let k = PeerKey(1);
    let agree = |e: &Engine| {
        let up = &e.peers[&k].up;
        let queue: std::collections::BTreeSet<BlockRef> = up.queue.iter().copied().collect();
        assert_eq!(queue, up.queued);
        assert_eq!(up.queue.len(), up.queued.len(), "no duplicates queued");
    };
    let blocks: Vec<BlockRef> = (0..8).map(|p| e.picker.geometry().block(p, 0)).collect();
    for b in blocks.iter().chain(&blocks) {
        e.message(t(1), k, Message::Request(*b));
        agree(&e);
    }
    assert_eq!(
        e.peers[&k].up.queue.len(),
        6,
        "two read, six waiting, none twice"
    );
    e.message(t(1), k, Message::Cancel(blocks[5]));
    agree(&e);
    // A cancel of something never queued changes nothing.
    e.message(t(1), k, Message::Cancel(e.picker.geometry().block(40, 0)));
    agree(&e);
    // A re-request after a cancel is queued again.
    e.message(t(1), k, Message::Request(blocks[5]));
    agree(&e);
    e.block_read(
        t(2),
        k,
        blocks[0],
        Bytes::from(vec![7u8; BLOCK_LEN as usize]),
    );
    e.uploaded(t(2), k, u64::from(BLOCK_LEN));
    agree(&e);
    e.config.upload_slots = 0;
    e.rechoke(t(20));
    agree(&e);
    assert!(e.peers[&k].up.queue.is_empty() || !e.peers[&k].up.choking);
    drain(&mut e);
}
