//! Tests of the swarm alone: dial caps, backoffs, shunning, strikes, bounded memory.

use super::*;
use crate::engine::Violation;

fn addr(ip: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, ip], port))
}

fn t(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn id(n: u8) -> PeerId {
    PeerId([n; 20])
}

#[test]
fn dials_are_capped_per_second_and_half_open() {
    let config = Config {
        dials_per_second: 5,
        max_half_open: 3,
        ..Config::default()
    };
    let mut s = Swarm::new(&config);
    s.learn(t(0), (0..100).map(|p| addr(1, 1000 + p)));
    assert_eq!(s.due(t(0), 50, &config).len(), 3, "half-open cap");
    for a in (0..3).map(|p| addr(1, 1000 + p)) {
        s.dial_failed(t(0), a, &DialError::ConnectTimeout, &config);
    }
    assert_eq!(
        s.due(t(0), 50, &config).len(),
        2,
        "what is left of 5 tokens"
    );
    for a in (3..5).map(|p| addr(1, 1000 + p)) {
        s.dial_failed(t(0), a, &DialError::ConnectTimeout, &config);
    }
    assert!(s.due(t(0), 50, &config).is_empty(), "no tokens left");
    assert_eq!(
        s.next_dial_at(t(0), &config),
        Some(Duration::from_millis(200))
    );
    assert_eq!(s.due(Duration::from_millis(200), 50, &config).len(), 1);
}

#[test]
fn a_peer_closed_for_misbehaviour_is_not_dialled_again() {
    let config = Config::default();
    let mut s = Swarm::new(&config);
    let bad = addr(1, 1);
    s.learn(t(0), [bad]);
    assert_eq!(s.due(t(0), 10, &config), vec![bad]);
    s.connected(bad, true);
    let reason = Reason::Protocol(Violation::HaveOutOfRange { piece: 9, count: 1 });
    s.disconnected(t(1), bad, true, &reason, false);
    // A tracker naming it again changes nothing, nor does time short of the pause.
    s.learn(t(2), [bad]);
    assert!(s.due(t(60), 10, &config).is_empty());
    assert_eq!(
        s.admit(t(60), bad, &id(1), false, &config),
        Err(Reason::Shunned),
        "nor is it accepted"
    );
    s.learn(t(1) + MISBEHAVIOUR_PAUSE, [bad]);
    assert_eq!(s.due(t(1) + MISBEHAVIOUR_PAUSE, 10, &config), vec![bad]);
}

#[test]
fn a_peer_that_closed_on_us_is_redialled_with_growing_delays() {
    let config = Config::default();
    let mut s = Swarm::new(&config);
    let a = addr(1, 1);
    s.learn(t(0), [a]);
    let mut now = t(0);
    let mut waits = Vec::new();
    for _ in 0..4 {
        assert_eq!(s.due(now, 10, &config), vec![a]);
        s.connected(a, true);
        s.disconnected(now, a, true, &Reason::Eof, false);
        let next = s.next_dial_at(now, &config).unwrap();
        waits.push((next - now).as_secs());
        now = next;
    }
    assert_eq!(waits, vec![2, 4, 8, 16], "fruitless connections back off");
    s.connected(a, true);
    s.disconnected(now, a, true, &Reason::Eof, true);
    assert_eq!(s.next_dial_at(now, &config), Some(now + REDIAL_DELAY));
}

#[test]
fn a_banned_peer_returning_from_a_new_port_is_refused_then_paroled_then_banned_by_ip() {
    let config = Config::default();
    let mut s = Swarm::new(&config);
    let honest = addr(1, 100);
    s.connected(honest, false);
    s.prove(honest);
    assert!(s.ban(t(0), addr(1, 1), Some(id(1))));
    assert_eq!(
        s.admit(t(1), addr(1, 1), &id(9), false, &config),
        Err(Reason::Banned)
    );
    assert_eq!(
        s.admit(t(1), addr(1, 2), &id(1), false, &config),
        Err(Reason::Banned),
        "same id"
    );
    // A new port and id on the same IP: refused while the IP cools down...
    assert_eq!(
        s.admit(t(1), addr(1, 2), &id(2), false, &config),
        Err(Reason::Shunned)
    );
    // ...then admitted on parole.
    assert_eq!(s.admit(t(61), addr(1, 2), &id(2), false, &config), Ok(true));
    // Other IPs are untouched, and so is the proven neighbour on the struck IP.
    assert_eq!(s.admit(t(1), addr(2, 2), &id(3), false, &config), Ok(false));
    assert_eq!(s.admit(t(1), honest, &id(4), false, &config), Ok(false));
    s.ban(t(61), addr(1, 2), Some(id(2)));
    s.ban(t(200), addr(1, 3), Some(id(5)));
    let much_later = t(100_000);
    assert_eq!(
        s.admit(much_later, addr(1, 4), &id(6), false, &config),
        Err(Reason::Banned),
        "three strikes ban the IP for unproven endpoints"
    );
    assert_eq!(
        s.admit(much_later, honest, &id(4), false, &config),
        Ok(false)
    );
}

#[test]
fn incoming_connections_per_ip_are_limited() {
    let config = Config {
        max_per_ip: 2,
        ..Config::default()
    };
    let mut s = Swarm::new(&config);
    s.connected(addr(1, 1), false);
    s.connected(addr(1, 2), false);
    assert_eq!(
        s.admit(t(0), addr(1, 3), &id(3), false, &config),
        Err(Reason::TooManyPeers)
    );
    assert_eq!(s.admit(t(0), addr(2, 3), &id(3), false, &config), Ok(false));
    s.disconnected(t(0), addr(1, 1), false, &Reason::Eof, true);
    assert_eq!(s.admit(t(0), addr(1, 3), &id(3), false, &config), Ok(false));
}

#[test]
fn candidates_and_shunned_addresses_are_bounded_and_age() {
    let config = Config::default();
    let mut s = Swarm::new(&config);
    let many = (0..3 * MAX_CANDIDATES as u32)
        .map(|i| SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881)));
    s.learn(t(0), many);
    assert_eq!(s.candidate_count(), MAX_CANDIDATES);
    for i in 0..(MAX_SHUNNED as u32 + 10) {
        let a = SocketAddr::from(([11, (i >> 16) as u8, (i >> 8) as u8, i as u8], 1));
        s.dial_failed(
            t(0),
            a,
            &DialError::Handshake(crate::engine::HandshakeError::Ourselves),
            &config,
        );
    }
    assert_eq!(s.shunned.len(), MAX_SHUNNED);
    s.expire(CANDIDATE_TTL + t(1));
    assert_eq!(s.candidate_count(), 0, "nobody named them again");
}
