//! The real client downloading from synthetic seeders on loopback sockets: every behaviour
//! either still lets the download complete with the right bytes, or is refused as it should be.

mod common;

use std::time::Duration;

use common::*;
use seeder::{Behaviour, DropMode, EventKind, LieMode, PieceSet};

fn honest() -> Behaviour {
    Behaviour::default()
}

#[tokio::test]
async fn honest_seeder_gives_the_generated_bytes() {
    let (content, meta, swarm) = setup(1);
    let rec = Recorder::default();
    let addr = start(&swarm, honest(), 1, Some(rec.events())).await;
    let (summary, dir, _) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert_eq!((summary.banned, summary.wasted), (0, 0));
    assert_eq!(summary.downloaded, meta.info.total_length());
    let (served, corrupted) = rec.served(addr.port());
    assert_eq!(
        served as u32,
        (0..meta.info.pieces.len() as u32)
            .map(|p| meta.info.geometry().block_count(p))
            .sum::<u32>()
    );
    assert_eq!(corrupted, 0);
    let kinds = rec.of(addr.port());
    assert_eq!(kinds.first(), Some(&EventKind::Listening));
    assert!(kinds.contains(&EventKind::Connected) && kinds.contains(&EventKind::Unchoked));
}

#[tokio::test]
async fn a_corrupting_seeder_is_banned() {
    let (content, meta, swarm) = setup(2);
    let rec = Recorder::default();
    let bad = Behaviour {
        corrupt_rate: 0.5,
        ..honest()
    };
    let mut peers = vec![start(&swarm, bad, 20, Some(rec.events())).await];
    for seed in [21, 22] {
        peers.push(start(&swarm, honest(), seed, Some(rec.events())).await);
    }
    let (summary, dir, _) = download(&meta, peers.clone(), |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert!(summary.banned >= 1, "{summary:?}");
    assert!(summary.wasted > 0, "{summary:?}");
    assert!(rec.served(peers[0].port()).1 > 0);
}

#[tokio::test]
async fn corrupt_every_flips_one_served_block_in_n_at_a_fixed_phase() {
    let (content, meta, swarm) = setup(4);
    let rec = Recorder::default();
    let flaky = Behaviour {
        corrupt_every: Some(7),
        ..honest()
    };
    let peers = vec![
        start(&swarm, flaky, 40, Some(rec.events())).await,
        start(&swarm, honest(), 41, Some(rec.events())).await,
    ];
    let (summary, dir, _) = download(&meta, peers.clone(), |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    let corrupted: Vec<usize> = rec
        .of(peers[0].port())
        .into_iter()
        .filter_map(|kind| match kind {
            EventKind::Served { corrupted, .. } => Some(corrupted),
            _ => None,
        })
        .enumerate()
        .filter_map(|(k, corrupted)| corrupted.then_some(k))
        .collect();
    assert!(!corrupted.is_empty(), "{summary:?}");
    assert!(
        corrupted[0] < 7,
        "first flip within the first period: {corrupted:?}"
    );
    assert!(
        corrupted.windows(2).all(|w| w[1] - w[0] == 7),
        "one block in seven: {corrupted:?}"
    );
}

#[tokio::test]
async fn partial_seeders_together_have_everything() {
    let (content, meta, swarm) = setup(3);
    let rec = Recorder::default();
    let stripe = Behaviour {
        pieces: PieceSet::Stripe,
        ..honest()
    };
    let mut peers = Vec::new();
    for i in 0..3 {
        let events = Some(rec.events());
        peers.push(start_in_group(&swarm, stripe.clone(), 30 + u64::from(i), i, 3, events).await);
    }
    let (summary, dir, _) = download(&meta, peers.clone(), |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    for (i, peer) in peers.iter().enumerate() {
        for kind in rec.of(peer.port()) {
            if let EventKind::Served { piece, .. } = kind {
                assert_eq!(piece as usize % 3, i, "seeder {i} served piece {piece}");
            }
        }
    }
}

#[tokio::test]
async fn a_rate_limited_seeder_is_slow() {
    let (content, meta, swarm) = setup(4);
    // 1.3 MiB at 512 KiB/s: about 2.4 s once the 128 KiB burst is spent.
    let slow = Behaviour {
        rate: Some(512 * 1024),
        ..honest()
    };
    let addr = start(&swarm, slow, 4, None).await;
    let (summary, dir, took) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert!(took >= Duration::from_millis(1800), "took {took:?}");
}

#[tokio::test]
async fn a_seeder_that_never_unchokes_is_routed_around() {
    let (content, meta, swarm) = setup(5);
    let rec = Recorder::default();
    let choker = Behaviour {
        never_unchoke: true,
        ..honest()
    };
    let stubborn = start(&swarm, choker, 50, Some(rec.events())).await;
    let good = start(&swarm, honest(), 51, None).await;
    let (summary, dir, _) = download(&meta, vec![stubborn, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    let kinds = rec.of(stubborn.port());
    assert!(kinds.contains(&EventKind::Connected), "{kinds:?}");
    assert!(!kinds.contains(&EventKind::Unchoked));
    assert_eq!(rec.served(stubborn.port()).0, 0);
}

#[tokio::test]
async fn allowed_fast_pieces_are_served_while_choked() {
    let (content, meta, swarm) = setup(6);
    let rec = Recorder::default();
    let pieces = meta.info.pieces.len() as u32;
    let choker = Behaviour {
        never_unchoke: true,
        allowed_fast: (0..pieces).collect(),
        ..honest()
    };
    let addr = start(&swarm, choker, 60, Some(rec.events())).await;
    let (summary, dir, _) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert!(!rec.of(addr.port()).contains(&EventKind::Unchoked));
}

#[tokio::test]
async fn a_lying_bitfield_that_ignores_requests_is_routed_around() {
    let (content, meta, swarm) = setup(7);
    let liar = Behaviour {
        lie_fraction: 0.5,
        lie_mode: LieMode::Ignore,
        ..honest()
    };
    let peers = vec![
        start(&swarm, liar, 70, None).await,
        start(&swarm, honest(), 71, None).await,
    ];
    let (summary, dir, _) = download(&meta, peers, |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
}

#[tokio::test]
async fn a_lying_bitfield_that_rejects_is_routed_around() {
    let (content, meta, swarm) = setup(8);
    let rec = Recorder::default();
    let liar = Behaviour {
        lie_fraction: 0.5,
        lie_mode: LieMode::Reject,
        ..honest()
    };
    let bad = start(&swarm, liar, 80, Some(rec.events())).await;
    let good = start(&swarm, honest(), 81, None).await;
    let (summary, dir, _) = download(&meta, vec![bad, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    let rejected = rec
        .of(bad.port())
        .iter()
        .filter(|k| matches!(k, EventKind::Rejected { .. }))
        .count();
    assert!(rejected > 0);
}

#[tokio::test]
async fn a_wrong_info_hash_is_refused() {
    let (content, meta, swarm) = setup(9);
    let rec = Recorder::default();
    let impostor = Behaviour {
        wrong_info_hash: true,
        ..honest()
    };
    let bad = start(&swarm, impostor, 90, Some(rec.events())).await;
    let good = start(&swarm, honest(), 91, None).await;
    let (summary, dir, _) = download(&meta, vec![bad, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    rec.wait_for(Duration::from_secs(15), |events| {
        events
            .iter()
            .any(|e| e.kind == EventKind::Disconnected("sent a wrong info-hash".into()))
    })
    .await;
    assert_eq!(rec.served(bad.port()).0, 0);
}

#[tokio::test]
async fn a_stalling_seeder_is_snubbed() {
    let (content, meta, swarm) = setup(10);
    let rec = Recorder::default();
    let staller = Behaviour {
        stall_after_blocks: Some(3),
        ..honest()
    };
    let bad = start(&swarm, staller, 100, Some(rec.events())).await;
    let good = start(&swarm, honest(), 101, None).await;
    let (summary, dir, _) = download(&meta, vec![bad, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert!(rec.of(bad.port()).contains(&EventKind::Stalled));
    assert!(rec.served(bad.port()).0 <= 3);
}

async fn dropping(mode: DropMode, seed: u64) {
    let (content, meta, swarm) = setup(seed);
    let rec = Recorder::default();
    let dropper = Behaviour {
        drop_after_blocks: Some(5),
        drop_mode: mode,
        ..honest()
    };
    let bad = start(&swarm, dropper, seed * 10, Some(rec.events())).await;
    let good = start(&swarm, honest(), seed * 10 + 1, None).await;
    let (summary, dir, _) = download(&meta, vec![bad, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    // The cut may come after the download finished elsewhere (a RST waits 200 ms first).
    rec.wait_for(Duration::from_secs(5), |events| {
        events.iter().any(|e| e.kind == EventKind::Dropped(mode))
    })
    .await;
    let kinds = rec.of(bad.port());
    // Every connection is cut after at most 5 whole blocks.
    let connections = kinds.iter().filter(|k| **k == EventKind::Connected).count();
    assert!(rec.served(bad.port()).0 <= 5 * connections);
}

#[tokio::test]
async fn a_fin_mid_piece_is_survived() {
    dropping(DropMode::Fin, 11).await;
}

#[tokio::test]
async fn a_rst_mid_piece_is_survived() {
    dropping(DropMode::Rst, 12).await;
}

#[tokio::test]
async fn choke_flapping_still_completes() {
    let (content, meta, swarm) = setup(13);
    let rec = Recorder::default();
    let flapper = Behaviour {
        choke_flap_ms: Some(40),
        ..honest()
    };
    let addr = start(&swarm, flapper, 130, Some(rec.events())).await;
    let (summary, dir, _) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    let kinds = rec.of(addr.port());
    let chokes = kinds.iter().filter(|k| **k == EventKind::Choked).count();
    let unchokes = kinds.iter().filter(|k| **k == EventKind::Unchoked).count();
    assert!(
        chokes >= 1 && unchokes >= chokes,
        "{chokes} chokes, {unchokes} unchokes"
    );
}

#[tokio::test]
async fn garbage_and_oversized_messages_are_refused() {
    let (content, meta, swarm) = setup(14);
    let rec = Recorder::default();
    let garbage = Behaviour {
        garbage_after_handshake: true,
        ..honest()
    };
    let oversized = Behaviour {
        oversized_message: true,
        ..honest()
    };
    let peers = vec![
        start(&swarm, garbage, 140, Some(rec.events())).await,
        start(&swarm, oversized, 141, Some(rec.events())).await,
        start(&swarm, honest(), 142, None).await,
    ];
    let (summary, dir, _) = download(&meta, peers, |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    // The client hangs up on both rather than waiting for them.
    rec.wait_for(Duration::from_secs(5), |events| {
        ["sent garbage", "sent an oversized message"]
            .iter()
            .all(|why| {
                events
                    .iter()
                    .any(|e| e.kind == EventKind::Disconnected(why.to_string()))
            })
    })
    .await;
}

#[tokio::test]
async fn a_late_joiner_is_dialled_again() {
    let (content, meta, swarm) = setup(15);
    let rec = Recorder::default();
    let late = Behaviour {
        join_at_ms: Some(500),
        ..honest()
    };
    let addr = start(&swarm, late, 150, Some(rec.events())).await;
    let (summary, dir, took) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    assert!(took >= Duration::from_millis(500), "{took:?}");
}

#[tokio::test]
async fn an_early_leaver_closes_everything() {
    let (content, meta, swarm) = setup(16);
    let rec = Recorder::default();
    // Too slow to finish before it leaves; the only other seeder joins after that.
    let leaver = Behaviour {
        leave_at_ms: Some(300),
        rate: Some(256 * 1024),
        ..honest()
    };
    let late = Behaviour {
        join_at_ms: Some(800),
        ..honest()
    };
    let gone = start(&swarm, leaver, 160, Some(rec.events())).await;
    let good = start(&swarm, late, 161, None).await;
    let (summary, dir, _) = download(&meta, vec![gone, good], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
    let kinds = rec.of(gone.port());
    let left = kinds.iter().position(|k| *k == EventKind::Left).unwrap();
    // Its connection ended with it, and nothing was served after.
    assert_eq!(
        kinds[left - 1],
        EventKind::Disconnected("seeder left".into()),
        "{kinds:?}"
    );
    assert!(kinds[left..]
        .iter()
        .all(|k| !matches!(k, EventKind::Served { .. })));
    // It no longer listens.
    let refused = bitswarm_client::net::Net::connect(&net(), gone).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_seeder_without_fast_extension_still_serves() {
    let (content, meta, swarm) = setup(17);
    let plain = Behaviour {
        fast: false,
        pieces: PieceSet::Fraction(1.0),
        ..honest()
    };
    let addr = start(&swarm, plain, 170, None).await;
    let (summary, dir, _) = download(&meta, vec![addr], |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);
}
