//! Seeders announcing themselves: a group started with `spawn_many_at` is found by the real
//! client through a minimal UDP tracker (built from the client's own BEP 15 codec), and a
//! leaving seeder says `stopped`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitswarm_client::net::Net;
use bitswarm_client::tracker::Event;
use common::udp_tracker::tracker;
use common::*;
use seeder::{Behaviour, EventKind, PieceSet, Spec};

/// A port `p` such that `p..p + n` are free on loopback (at the time of asking).
async fn free_ports(n: u16) -> u16 {
    for _ in 0..50 {
        let probe = net().listen(loopback()).await.unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base.checked_add(n).is_none() {
            continue;
        }
        let mut held = Vec::new();
        for port in base..base + n {
            match net().listen(SocketAddr::from(([127, 0, 0, 1], port))).await {
                Ok(l) => held.push(l),
                Err(_) => break,
            }
        }
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

async fn wait_until(limit: Duration, what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_group_found_through_the_tracker_serves_the_torrent() {
    let (url, log) = tracker().await;
    let trackers = vec![vec![url]];
    let content = content(21);
    let meta = content.metainfo(&trackers);
    let base_port = free_ports(3).await;
    let spec = Spec {
        count: 3,
        base_port,
        behaviour: Behaviour {
            pieces: PieceSet::Stripe,
            ..Behaviour::default()
        },
    };
    let ip = [127, 0, 0, 1].into();
    let rec = Recorder::default();
    let handles = seeder::spawn_many_at(
        net(),
        ip,
        Arc::clone(&content),
        &spec,
        &trackers,
        7,
        Some(rec.events()),
    )
    .unwrap();
    wait_until(Duration::from_secs(10), "three started announces", || {
        log.lock().unwrap().len() >= 3
    })
    .await;

    let (summary, dir, _) = download(&meta, Vec::new(), |_| {}).await;
    assert_complete(&summary, dir.path(), &meta, &content);

    let announces = log.lock().unwrap().clone();
    let mut seeders: Vec<(u16, [u8; 20])> = announces
        .iter()
        .filter(|(_, r)| r.peer_id.0.starts_with(b"-SD0100-"))
        .map(|(_, r)| {
            assert_eq!((r.event, r.left, r.numwant), (Event::Started, 0, Some(0)));
            assert_eq!(r.info_hash, meta.info_hash);
            (r.port, r.peer_id.0)
        })
        .collect();
    seeders.sort();
    let ports: Vec<u16> = seeders.iter().map(|(p, _)| *p).collect();
    assert_eq!(ports, vec![base_port, base_port + 1, base_port + 2]);
    assert!(seeders[0].1 != seeders[1].1 && seeders[1].1 != seeders[2].1);
    for port in ports {
        let ok = EventKind::Announced {
            event: Event::Started,
            ok: true,
        };
        assert!(rec.of(port).contains(&ok));
    }
    for h in handles {
        h.abort();
    }
}

#[tokio::test]
async fn a_leaving_seeder_announces_stopped() {
    let (url, log) = tracker().await;
    let content = content(22);
    let swarm = Arc::new(seeder::SeedSwarm::new(content, vec![vec![url]]));
    let rec = Recorder::default();
    let leaver = Behaviour {
        leave_at_ms: Some(300),
        ..Behaviour::default()
    };
    let addr = start(&swarm, leaver, 3, Some(rec.events())).await;
    rec.wait_for(Duration::from_secs(10), |events| {
        events.iter().any(|e| {
            e.kind
                == EventKind::Announced {
                    event: Event::Stopped,
                    ok: true,
                }
        })
    })
    .await;
    let events: Vec<Event> = log.lock().unwrap().iter().map(|(_, r)| r.event).collect();
    assert_eq!(events, vec![Event::Started, Event::Stopped]);
    let kinds = rec.of(addr.port());
    let left = kinds.iter().position(|k| *k == EventKind::Left).unwrap();
    let stopped = kinds
        .iter()
        .position(|k| {
            matches!(
                k,
                EventKind::Announced {
                    event: Event::Stopped,
                    ..
                }
            )
        })
        .unwrap();
    assert!(left < stopped, "{kinds:?}");
}
