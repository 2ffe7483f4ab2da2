//! Engine tests of peer exchange: what we tell each PEX peer and when, and what we accept.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::tests::{drain, engine, t};
use super::*;
use crate::wire::{ExtendedHandshake, Message, PexMessage, OUR_UT_PEX_ID, PEX_REACHABLE};

/// The id our test peers ask `ut_pex` messages to be sent with.
const THEIR_PEX: u8 = 7;

fn at(ip: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, ip], port))
}

/// Connects `key` from `addr` (dialled by us if `outgoing`) and reads its extended handshake,
/// which offers PEX if `pex` and names its listen port if `port`.
fn join(
    e: &mut Engine,
    now: Duration,
    key: u64,
    addr: SocketAddr,
    outgoing: bool,
    pex: bool,
    port: Option<u16>,
) {
    let hs = Handshaken {
        addr,
        peer_id: crate::PeerId([key as u8; 20]),
        fast: true,
        extended: true,
        outgoing,
    };
    e.peer_connected(now, PeerKey(key), hs);
    let ext = ExtendedHandshake {
        extensions: if pex {
            [("ut_pex".to_string(), THEIR_PEX)].into()
        } else {
            Default::default()
        },
        port,
        ..ExtendedHandshake::default()
    };
    let payload = Bytes::from(ext.encode());
    e.message(now, PeerKey(key), Message::Extended { id: 0, payload });
}

/// The PEX messages sent to `key` among `actions`.
fn pex_to(actions: &[Action], key: u64) -> Vec<PexMessage> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(
                k,
                Message::Extended {
                    id: THEIR_PEX,
                    payload,
                },
            ) if *k == PeerKey(key) => Some(PexMessage::parse(payload).expect("our PEX parses")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pex_peer_hears_whom_we_know_at_most_once_a_minute() {
    let mut e = engine(8);
    let now = t(1);
    join(&mut e, now, 1, at(1, 6881), true, true, None);
    join(&mut e, now, 2, at(2, 50000), false, false, Some(7000));
    join(&mut e, now, 3, at(3, 50001), false, true, None);
    drain(&mut e);
    e.tick(now);
    let acts = drain(&mut e);
    // Peer 1 hears of peer 2 (its listen port) but not of peer 3 (unknown port) or itself.
    let to1 = pex_to(&acts, 1);
    assert_eq!(to1.len(), 1, "{to1:?}");
    assert_eq!(to1[0].added, vec![(at(2, 7000), 0)]);
    // Peer 3 hears of peer 1, reachable because we dialled it, and of peer 2.
    let to3 = pex_to(&acts, 3);
    assert_eq!(
        to3[0].added,
        vec![(at(1, 6881), PEX_REACHABLE), (at(2, 7000), 0)]
    );
    assert!(pex_to(&acts, 2).is_empty(), "peer 2 does not speak PEX");

    e.peer_closed(t(20), PeerKey(2), Reason::Eof);
    e.tick(t(30));
    assert!(
        pex_to(&drain(&mut e), 1).is_empty(),
        "not again within the minute"
    );
    e.tick(now + pex::PEX_INTERVAL);
    let to1 = pex_to(&drain(&mut e), 1);
    assert_eq!(to1.len(), 1);
    assert_eq!(to1[0].dropped, vec![at(2, 7000)]);
    assert!(to1[0].added.is_empty());
    assert!(e
        .next_timeout(t(62))
        .is_some_and(|d| d <= now + pex::PEX_INTERVAL * 2));
}

#[test]
fn what_a_peer_tells_us_is_capped_filtered_and_rate_limited() {
    let mut e = engine(8);
    let now = t(1);
    join(&mut e, now, 1, at(1, 6881), true, true, None);
    drain(&mut e);
    let mut added: Vec<(SocketAddr, u8)> = (0..120).map(|i| (at(100, 1000 + i), 0)).collect();
    added.insert(0, (SocketAddr::from(([0, 0, 0, 0], 1)), 0));
    added.insert(0, (at(9, 0), 0));
    let payload = PexMessage {
        added,
        dropped: Vec::new(),
    }
    .encode();
    e.message(
        now,
        PeerKey(1),
        Message::Extended {
            id: OUR_UT_PEX_ID,
            payload: payload.clone(),
        },
    );
    e.tick(now);
    let dials: Vec<SocketAddr> = drain(&mut e)
        .into_iter()
        .filter_map(|a| match a {
            Action::Connect(addr) => Some(addr),
            _ => None,
        })
        .collect();
    assert!(!dials.is_empty(), "learned peers are dialled");
    assert!(
        dials
            .iter()
            .all(|a| a.port() >= 1000 && a.port() < 1000 + pex::MAX_PEX_PER_MESSAGE as u16),
        "{dials:?}"
    );
    assert_eq!(e.swarm.candidate_count(), pex::MAX_PEX_PER_MESSAGE);

    // A second message within the gap is ignored, one after it counts.
    let more = PexMessage {
        added: vec![(at(101, 5), 0)],
        dropped: Vec::new(),
    }
    .encode();
    e.message(
        t(30),
        PeerKey(1),
        Message::Extended {
            id: OUR_UT_PEX_ID,
            payload: more.clone(),
        },
    );
    assert_eq!(e.swarm.candidate_count(), pex::MAX_PEX_PER_MESSAGE);
    e.message(
        now + pex::PEX_MIN_GAP,
        PeerKey(1),
        Message::Extended {
            id: OUR_UT_PEX_ID,
            payload: more,
        },
    );
    assert_eq!(e.swarm.candidate_count(), 1 + pex::MAX_PEX_PER_MESSAGE);
}
