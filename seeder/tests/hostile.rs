//! The hostile-peer behaviours seen from a scripted peer on loopback sockets: unrequested
//! blocks, shifted blocks, trickling, squatting, a request flood that is never read, and a
//! seeder that comes back under a new port and peer id after being hung up on.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_client::net::Net;
use bitswarm_client::tracker::client::{Announcer, Config};
use bitswarm_client::tracker::{AnnounceRequest, Event};
use bitswarm_client::wire::Message;
use bitswarm_client::{BlockRef, PeerId};
use common::raw::*;
use common::udp_tracker::tracker;
use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeder::{Behaviour, EventKind, PieceSet, SeedSwarm, SeederEvent};
use tokio::io::AsyncWriteExt;

async fn seeder(behaviour: Behaviour) -> (Arc<SeedSwarm>, SocketAddr, Recorder) {
    let (_, _, swarm) = setup(5);
    let rec = Recorder::default();
    let addr = start(&swarm, behaviour, 1, Some(rec.events())).await;
    (swarm, addr, rec)
}

#[tokio::test]
async fn unrequested_blocks_come_corrupted_piece_after_piece() {
    let pusher = Behaviour {
        unrequested_blocks_ms: Some(30),
        ..Behaviour::default()
    };
    let (swarm, addr, rec) = seeder(pusher).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    // Not interested, choked, nothing requested: the first block of each piece in turn.
    for piece in 0..3 {
        let (got, data) = piece_of(p.expect().await);
        assert_eq!(got, block(piece, 0));
        assert_eq!(differing(&data, &data_of(&swarm.content, got)), 1);
    }
    // Requests are still served honestly, between the pushes.
    p.send(&[Message::Interested, Message::Request(block(7, 2))])
        .await;
    let mut answered = false;
    while !answered {
        match p.expect().await {
            Message::Unchoke => {}
            msg => {
                let (got, data) = piece_of(msg);
                if got == block(7, 2) {
                    assert_eq!(data, data_of(&swarm.content, got));
                    answered = true;
                } else {
                    assert_eq!(got.offset, 0, "{got:?}");
                }
            }
        }
    }
    let pushed = rec
        .of(addr.port())
        .into_iter()
        .filter(|k| matches!(k, EventKind::Pushed { .. }))
        .count();
    assert!(pushed >= 3, "{pushed}");
}

#[tokio::test]
async fn shifted_blocks_carry_the_bytes_of_where_they_claim_to_be() {
    for (shift, asked, begin) in [
        (100, block(0, 0), 100),
        // The last block of a piece cannot move forward: clamped to where it was asked.
        (100, block(0, 3), 3 * 16384),
        (-100, block(0, 0), 0),
        (-100, block(2, 1), 16384 - 100),
    ] {
        let shifter = Behaviour {
            shift_begin: Some(shift),
            ..Behaviour::default()
        };
        let (swarm, addr, rec) = seeder(shifter).await;
        let mut p = Raw::connect(&swarm, addr, true).await;
        p.expect().await;
        p.send(&[Message::Interested, Message::Request(asked)])
            .await;
        assert_eq!(p.expect().await, Message::Unchoke);
        let (got, data) = piece_of(p.expect().await);
        let expected = BlockRef {
            offset: begin,
            ..asked
        };
        assert_eq!(got, expected, "shift {shift} of {asked:?}");
        assert_eq!(data, data_of(&swarm.content, expected));
        let moved = begin != asked.offset;
        let events = rec.of(addr.port());
        let shifted = events.iter().any(|k| {
            *k == EventKind::Shifted {
                piece: asked.piece,
                offset: asked.offset,
                begin,
                corrupted: false,
            }
        });
        assert_eq!(shifted, moved, "{events:?}");
    }
}

#[tokio::test]
async fn trickling_sends_a_byte_per_period_and_still_listens() {
    let trickler = Behaviour {
        trickle_ms: Some(10),
        ..Behaviour::default()
    };
    let (swarm, addr, _) = seeder(trickler).await;
    let start = Instant::now();
    let mut p = Raw::connect(&swarm, addr, true).await;
    // Interested is read while the have-all is still trickling out.
    p.send(&[Message::Interested]).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    assert_eq!(p.expect().await, Message::Unchoke);
    // 10 bytes: at least 9 pauses after the first byte.
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "{:?}",
        start.elapsed()
    );
    // A 20-byte block is a 33-byte message: at least 32 pauses.
    let small = BlockRef {
        piece: 3,
        offset: 500,
        len: 20,
    };
    let asked = Instant::now();
    p.send(&[Message::Request(small)]).await;
    let (got, data) = piece_of(p.expect().await);
    assert_eq!(got, small);
    assert_eq!(data, data_of(&swarm.content, small));
    assert!(
        asked.elapsed() >= Duration::from_millis(320),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test]
async fn a_squatter_has_nothing_and_keeps_the_connection_warm() {
    for fast in [true, false] {
        let squatter = Behaviour {
            pieces: PieceSet::List(Vec::new()),
            keepalive_ms: Some(50),
            ..Behaviour::default()
        };
        let (swarm, addr, _) = seeder(squatter).await;
        let mut p = Raw::connect(&swarm, addr, fast).await;
        if fast {
            assert_eq!(p.expect().await, Message::HaveNone);
        }
        // Without BEP 6 not even a bitfield: keep-alives are all that ever comes.
        for _ in 0..4 {
            assert_eq!(p.expect().await, Message::KeepAlive);
        }
        if fast {
            p.send(&[Message::Interested, Message::Request(block(0, 0))])
                .await;
            let mut seen = Vec::new();
            while seen.len() < 2 {
                match p.expect().await {
                    Message::KeepAlive => {}
                    other => seen.push(other),
                }
            }
            assert_eq!(seen, vec![Message::Unchoke, Message::Reject(block(0, 0))]);
        }
    }
}

#[tokio::test]
async fn a_flood_of_requests_is_never_read_and_still_ends() {
    let flooder = Behaviour {
        request_flood: Some(300),
        ..Behaviour::default()
    };
    let (swarm, addr, rec) = seeder(flooder).await;
    let mut p = Raw::connect(&swarm, addr, true).await;
    assert_eq!(p.expect().await, Message::HaveAll);
    assert_eq!(p.expect().await, Message::Interested);
    // Every block of the torrent in order (20 pieces of 4 blocks), round and round.
    let geometry = swarm.content.geometry();
    let cycle: Vec<BlockRef> = (0..geometry.piece_count())
        .flat_map(|piece| geometry.blocks(piece))
        .collect();
    assert_eq!(cycle.len(), 80);
    for i in 0..300 {
        assert_eq!(
            p.expect().await,
            Message::Request(cycle[i % cycle.len()]),
            "{i}"
        );
    }
    // It reads nothing: a peer writing answers (keep-alives will do) fills the socket
    // buffers and then blocks.
    let answers = vec![0u8; 1 << 20];
    let mut written = 0usize;
    let filled = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            p.stream.write_all(&answers).await.unwrap();
            written += answers.len();
        }
    });
    assert!(filled.await.is_err(), "a megabyte at a time went through");
    assert!(written < 256 << 20, "{written} bytes were read");
    // Meanwhile it probes with keep-alives, which is how it notices we hang up.
    assert_eq!(p.expect().await, Message::KeepAlive);
    drop(p);
    let port = addr.port();
    rec.wait_for(Duration::from_secs(10), |events| {
        events.iter().any(|e| {
            e.port == port
                && matches!(&e.kind, EventKind::Disconnected(why) if why.starts_with("write"))
        })
    })
    .await;
    let kinds = rec.of(port);
    assert!(
        kinds.contains(&EventKind::Flooded { requests: 300 }),
        "{kinds:?}"
    );
}

/// Announces a peer listening on `port` to the tracker at `url`, so seeders can find it.
async fn announce_listener(url: &str, swarm: &SeedSwarm, port: u16) {
    let tiers = vec![vec![url.to_string()]];
    let rng = ChaCha8Rng::seed_from_u64(3);
    let mut announcer = Announcer::new(net(), tiers, rng, Config::default());
    let request = AnnounceRequest {
        info_hash: swarm.info_hash,
        peer_id: RAW_PEER_ID,
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1,
        event: Event::Started,
        numwant: Some(0),
        key: 0,
        tracker_id: None,
    };
    announcer.announce(request).await.unwrap();
}

/// The peer ids the seeder on `port` rejoined with, in order.
fn rejoins(events: &[SeederEvent], port: u16) -> Vec<PeerId> {
    events
        .iter()
        .filter(|e| e.port == port)
        .filter_map(|e| match e.kind {
            EventKind::Rejoined { peer_id } => Some(peer_id),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_seeder_hung_up_on_dials_back_as_someone_else() {
    let (url, _log) = tracker().await;
    let content = content(5);
    let swarm = Arc::new(SeedSwarm::new(content, vec![vec![url.clone()]]));
    let rejoiner = Behaviour {
        rejoin_after_ms: Some(100),
        rejoin_max: Some(2),
        corrupt_pieces: vec![0],
        ..Behaviour::default()
    };
    let rec = Recorder::default();
    let addr = start(&swarm, rejoiner, 1, Some(rec.events())).await;
    let port = addr.port();
    // The seeder announces before it can know where we listen: the first rejoin has to ask
    // the tracker again.
    rec.wait_for(Duration::from_secs(5), |events| {
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Announced { ok: true, .. }))
    })
    .await;
    let mut listener = net().listen(loopback()).await.unwrap();
    announce_listener(&url, &swarm, listener.local_addr().unwrap().port()).await;

    let p = Raw::connect(&swarm, addr, true).await;
    let mut ids = vec![p.theirs.peer_id];
    drop(p);
    for round in 1..=2 {
        let (mut p, from) = Raw::accept(&mut listener, &swarm).await;
        // A new peer: a fresh id, from a fresh socket rather than its listening port.
        assert!(!ids.contains(&p.theirs.peer_id), "round {round}");
        assert!(p.theirs.peer_id.0.starts_with(b"-SD0100-"));
        assert_eq!(p.theirs.info_hash, swarm.info_hash);
        assert_ne!(from.port(), port);
        ids.push(p.theirs.peer_id);
        // With the same script: it still corrupts piece 0.
        assert_eq!(p.expect().await, Message::HaveAll);
        p.send(&[Message::Interested, Message::Request(block(0, 1))])
            .await;
        assert_eq!(p.expect().await, Message::Unchoke);
        let (got, data) = piece_of(p.expect().await);
        assert_eq!(differing(&data, &data_of(&swarm.content, got)), 1);
        drop(p);
    }
    // The budget is spent: nobody dials in again.
    let again = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(again.is_err(), "a third rejoin");
    let events = rec.all();
    assert_eq!(rejoins(&events, port), ids[1..].to_vec());
    // The first rejoin announced again to learn where we listen.
    let first_rejoin = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Rejoined { .. }))
        .unwrap();
    let announces = events[..first_rejoin]
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Announced { ok: true, .. }))
        .count();
    assert_eq!(announces, 2, "{events:#?}");
}

#[tokio::test]
async fn a_rejoin_without_a_tracker_fails_and_says_so() {
    let rejoiner = Behaviour {
        rejoin_after_ms: Some(0),
        rejoin_max: Some(2),
        ..Behaviour::default()
    };
    let (swarm, addr, rec) = seeder(rejoiner).await;
    drop(Raw::connect(&swarm, addr, true).await);
    let port = addr.port();
    let failed = |events: &[SeederEvent]| {
        events
            .iter()
            .filter(|e| e.port == port && matches!(e.kind, EventKind::RejoinFailed(_)))
            .count()
    };
    rec.wait_for(Duration::from_secs(5), |events| failed(events) == 2)
        .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(failed(&rec.all()), 2);
    assert!(rejoins(&rec.all(), port).is_empty());
}
