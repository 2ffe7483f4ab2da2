//! The swarm bookkeeping on its own: registration, removal, replacement, expiry, counts and the
//! deterministic peer order.

use super::*;
use crate::test_support::{addr, secs};

const TIMEOUT: Duration = Duration::from_secs(100);

fn hash(n: u8) -> InfoHash {
    InfoHash([n; 20])
}

fn req(peer: u8, left: u64, event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: hash(1),
        peer_id: PeerId([peer; 20]),
        port: 0,
        uploaded: 0,
        downloaded: 0,
        left,
        event,
        numwant: None,
        key: 0,
        tracker_id: None,
    }
}

/// Peers of torrent 1 as seen by a peer id and address nobody uses.
fn all_peers(swarms: &Swarms, now: Duration) -> Vec<SocketAddr> {
    let stranger = (&PeerId([0xEE; 20]), addr("203.0.113.99:1"));
    swarms.peers(&hash(1), stranger, Family::Any, now, TIMEOUT, usize::MAX)
}

#[test]
fn peers_exclude_the_asker_and_come_sorted_by_address() {
    let mut swarms = Swarms::default();
    let now = secs(1);
    swarms.announce(
        now,
        TIMEOUT,
        addr("10.0.0.9:7000"),
        &req(1, 5, Event::Started),
    );
    swarms.announce(
        now,
        TIMEOUT,
        addr("[fd00::1]:7000"),
        &req(2, 5, Event::Started),
    );
    swarms.announce(
        now,
        TIMEOUT,
        addr("10.0.0.10:7000"),
        &req(3, 0, Event::Started),
    );
    swarms.announce(
        now,
        TIMEOUT,
        addr("10.0.0.9:6999"),
        &req(4, 5, Event::Started),
    );
    let me = (&PeerId([1; 20]), addr("10.0.0.9:7000"));
    let peers = swarms.peers(&hash(1), me, Family::Any, now, TIMEOUT, usize::MAX);
    assert_eq!(
        peers,
        [
            addr("10.0.0.9:6999"),
            addr("10.0.0.10:7000"),
            addr("[fd00::1]:7000")
        ]
    );
    let v4 = swarms.peers(&hash(1), me, Family::V4, now, TIMEOUT, usize::MAX);
    assert_eq!(v4, [addr("10.0.0.9:6999"), addr("10.0.0.10:7000")]);
    let v6 = swarms.peers(&hash(1), me, Family::V6, now, TIMEOUT, usize::MAX);
    assert_eq!(v6, [addr("[fd00::1]:7000")]);
    let two = swarms.peers(&hash(1), me, Family::Any, now, TIMEOUT, 2);
    assert_eq!(two, [addr("10.0.0.9:6999"), addr("10.0.0.10:7000")]);
    assert!(swarms
        .peers(&hash(2), me, Family::Any, now, TIMEOUT, 9)
        .is_empty());
}

#[test]
fn counts_split_seeders_from_leechers_and_follow_left() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 0, Event::Started),
    );
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 9, Event::Started),
    );
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.3:1"),
        &req(3, 9, Event::Started),
    );
    let counts = swarms.counts(&hash(1), secs(2), TIMEOUT);
    assert_eq!((counts.complete, counts.incomplete), (1, 2));
    swarms.announce(
        secs(3),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 0, Event::Completed),
    );
    let stats = swarms.stats(&hash(1), secs(3), TIMEOUT);
    assert_eq!(
        stats,
        ScrapeStats {
            complete: 2,
            downloaded: 1,
            incomplete: 1
        }
    );
    assert_eq!(
        swarms.stats(&hash(7), secs(3), TIMEOUT),
        ScrapeStats::default()
    );
}

#[test]
fn stopped_removes_the_peer_and_an_empty_swarm_is_forgotten() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 5, Event::Started),
    );
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 5, Event::Started),
    );
    swarms.announce(
        secs(2),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 5, Event::Stopped),
    );
    assert_eq!(
        swarms.list(&hash(1), secs(2), TIMEOUT),
        [(addr("10.0.0.2:1"), 5)]
    );
    swarms.announce(
        secs(2),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 5, Event::Stopped),
    );
    assert!(swarms.hashes().is_empty());
    // A stopped from a peer never seen changes nothing.
    swarms.announce(
        secs(3),
        TIMEOUT,
        addr("10.0.0.3:1"),
        &req(3, 5, Event::Stopped),
    );
    assert!(swarms.hashes().is_empty());
}

#[test]
fn a_swarm_with_completions_is_kept_for_its_download_count() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 0, Event::Completed),
    );
    swarms.announce(
        secs(2),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 0, Event::Stopped),
    );
    assert_eq!(swarms.hashes(), [hash(1)]);
    assert_eq!(swarms.stats(&hash(1), secs(2), TIMEOUT).downloaded, 1);
}

#[test]
fn a_new_peer_id_at_a_known_address_replaces_the_old_entry() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 5, Event::Started),
    );
    swarms.announce(
        secs(2),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(2, 3, Event::Started),
    );
    assert_eq!(
        swarms.list(&hash(1), secs(2), TIMEOUT),
        [(addr("10.0.0.1:1"), 3)]
    );
    // The same peer id moving to a new port is one entry too.
    swarms.announce(
        secs(3),
        TIMEOUT,
        addr("10.0.0.1:2"),
        &req(2, 1, Event::None),
    );
    assert_eq!(
        swarms.list(&hash(1), secs(3), TIMEOUT),
        [(addr("10.0.0.1:2"), 1)]
    );
}

#[test]
fn silent_peers_expire_after_the_timeout() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(0),
        TIMEOUT,
        addr("10.0.0.1:1"),
        &req(1, 5, Event::Started),
    );
    swarms.announce(
        secs(50),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 5, Event::Started),
    );
    assert_eq!(all_peers(&swarms, secs(99)).len(), 2);
    assert_eq!(all_peers(&swarms, secs(100)), [addr("10.0.0.2:1")]);
    assert_eq!(swarms.counts(&hash(1), secs(100), TIMEOUT).incomplete, 1);
    // A re-announce keeps a peer alive.
    swarms.announce(
        secs(120),
        TIMEOUT,
        addr("10.0.0.2:1"),
        &req(2, 5, Event::None),
    );
    assert_eq!(all_peers(&swarms, secs(200)), [addr("10.0.0.2:1")]);
    // An announce also drops expired entries for good.
    swarms.announce(
        secs(300),
        TIMEOUT,
        addr("10.0.0.3:1"),
        &req(3, 5, Event::None),
    );
    assert_eq!(swarms.list(&hash(1), Duration::ZERO, TIMEOUT).len(), 1);
}

#[test]
fn peers_on_port_zero_are_counted_but_never_handed_out() {
    let mut swarms = Swarms::default();
    swarms.announce(
        secs(1),
        TIMEOUT,
        addr("10.0.0.1:0"),
        &req(1, 5, Event::Started),
    );
    assert!(all_peers(&swarms, secs(1)).is_empty());
    assert_eq!(swarms.counts(&hash(1), secs(1), TIMEOUT).incomplete, 1);
}

proptest::proptest! {
    /// Whatever the announces, no peer list repeats an address, contains the asker, or breaks
    /// the sorted order, and the counts match the listing.
    #[test]
    fn peer_lists_are_sorted_unique_and_consistent(
        announces in proptest::collection::vec((0u8..6, 0u8..4, 1u16..4, 0u64..2, 0u8..4), 0..40)
    ) {
        let mut swarms = Swarms::default();
        for (i, (peer, host, port, left, event)) in announces.iter().enumerate() {
            let event = [Event::None, Event::Started, Event::Completed, Event::Stopped][usize::from(*event)];
            let at = SocketAddr::from(([10, 0, 0, *host], *port));
            swarms.announce(secs(i as u64), TIMEOUT, at, &req(*peer, *left, event));
        }
        let now = secs(announces.len() as u64);
        let list = swarms.list(&hash(1), now, TIMEOUT);
        let addrs: Vec<SocketAddr> = list.iter().map(|(a, _)| *a).collect();
        let mut sorted = addrs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        proptest::prop_assert_eq!(&sorted, &addrs);
        for me in &addrs {
            let peers = swarms.peers(&hash(1), (&PeerId([0xEE; 20]), *me), Family::Any, now, TIMEOUT, usize::MAX);
            proptest::prop_assert!(!peers.contains(me));
            proptest::prop_assert_eq!(peers.len() + 1, addrs.len());
        }
        let counts = swarms.counts(&hash(1), now, TIMEOUT);
        let seeders = list.iter().filter(|(_, left)| *left == 0).count();
        proptest::prop_assert_eq!(counts.complete as usize, seeders);
        proptest::prop_assert_eq!((counts.complete + counts.incomplete) as usize, list.len());
    }
}
