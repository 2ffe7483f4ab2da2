//! The UDP request handler without sockets, under tokio's paused clock: connection ids,
//! transaction ids, address families, and every fault's packet.

use std::sync::Mutex;

use bitswarm_client::tracker::udp::{parse_response, Response};
use bitswarm_client::tracker::{AnnounceRequest, Event};
use bitswarm_client::InfoHash;
use tokio::time::advance;

use super::*;
use crate::config::{Config, FaultWindow};
use crate::test_support::{addr, req, secs};
use crate::tracker::{Answer, TrackerEvent};

/// A tracker with `faults` (all on UDP), its connection ids, and the events it reports.
struct Harness {
    tracker: Arc<Tracker>,
    ids: ConnectionIds,
    events: Arc<Mutex<Vec<TrackerEvent>>>,
}

impl Harness {
    fn new(windows: Vec<FaultWindow>) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let config = Config {
            seed: 5,
            faults: crate::config::Faults { windows },
            ..Config::default()
        };
        let tracker = Tracker::new(
            config,
            Some(Arc::new(move |event| sink.lock().unwrap().push(event))),
        );
        Harness {
            ids: ConnectionIds::new(5),
            tracker,
            events,
        }
    }

    fn send(&mut self, packet: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
        handle(&self.tracker, &mut self.ids, packet, from)
    }

    /// Connects from `from` and returns the connection id.
    fn connect(&mut self, from: SocketAddr) -> u64 {
        let answer = self.send(&codec::connect_request(11), from).unwrap();
        match parse_response(&answer, 11, false).unwrap() {
            Response::Connect { connection_id } => connection_id,
            other => panic!("connect answered {other:?}"),
        }
    }

    /// Connects and announces `req` from `from`; the raw answer.
    fn announce(&mut self, from: SocketAddr, req: &AnnounceRequest) -> Option<Vec<u8>> {
        let id = self.connect(from);
        self.send(&codec::announce_request(id, 22, req), from)
    }

    fn answered(&self) -> Vec<Answer> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.answered)
            .collect()
    }
}

fn peers_of(answer: &[u8], v6: bool) -> (Vec<SocketAddr>, Option<u32>, Option<u32>) {
    match parse_response(answer, 22, v6).unwrap() {
        Response::Announce(resp) => (resp.peers, resp.complete, resp.incomplete),
        other => panic!("announce answered {other:?}"),
    }
}

fn window(from: u64, until: u64, kind: FaultKind) -> FaultWindow {
    FaultWindow {
        from: secs(from),
        until: Some(secs(until)),
        kind,
        protocol: Some(Protocol::Udp),
    }
}

#[tokio::test(start_paused = true)]
async fn two_peers_each_get_the_other_with_source_ip_and_announced_port() {
    let mut h = Harness::new(vec![]);
    let (a, b) = (addr("10.0.0.1:40000"), addr("10.0.0.2:40001"));
    let first = h.announce(a, &req(1, 6881, 10, Event::Started)).unwrap();
    assert_eq!(peers_of(&first, false), (vec![], Some(0), Some(1)));
    let second = h.announce(b, &req(2, 6882, 0, Event::Started)).unwrap();
    assert_eq!(
        peers_of(&second, false),
        (vec![addr("10.0.0.1:6881")], Some(1), Some(1))
    );
    let again = h.announce(a, &req(1, 6881, 10, Event::None)).unwrap();
    assert_eq!(peers_of(&again, false).0, [addr("10.0.0.2:6882")]);
    let events = h.events.lock().unwrap().clone();
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].peer, addr("10.0.0.2:6882"));
    assert_eq!((events[1].event, events[1].left), (Event::Started, 0));
    assert_eq!((events[1].answered, events[1].peers), (Answer::Ok, 1));
    assert_eq!(events[1].protocol, Protocol::Udp);
}

#[tokio::test(start_paused = true)]
async fn the_transaction_id_is_echoed_and_the_interval_sent() {
    let mut h = Harness::new(vec![]);
    let from = addr("10.0.0.1:40000");
    let id = h.connect(from);
    let answer = h
        .send(
            &codec::announce_request(id, 0xABCD_0123, &req(1, 1, 1, Event::None)),
            from,
        )
        .unwrap();
    assert_eq!(answer[4..8], 0xABCD_0123u32.to_be_bytes());
    match parse_response(&answer, 0xABCD_0123, false).unwrap() {
        Response::Announce(resp) => assert_eq!(resp.interval, Some(1800)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn connection_ids_are_checked_for_issuer_address_and_age() {
    let mut h = Harness::new(vec![]);
    let from = addr("10.0.0.1:40000");
    let id = h.connect(from);
    let packet = codec::announce_request(id, 22, &req(1, 1, 1, Event::None));
    let refused = |answer: Option<Vec<u8>>| {
        parse_response(&answer.unwrap(), 22, false).unwrap()
            == Response::Error(BAD_CONNECTION_ID.into())
    };
    assert!(refused(h.send(&packet, addr("10.0.0.1:40001"))));
    assert!(refused(h.send(
        &codec::announce_request(id ^ 1, 22, &req(1, 1, 1, Event::None)),
        from
    )));
    assert!(!refused(h.send(&packet, from)));
    advance(CONNECTION_ID_LIFETIME).await;
    assert!(refused(h.send(&packet, from)));
    let scrape = codec::scrape_request(id, 22, &[InfoHash([1; 20])]).unwrap();
    assert!(refused(h.send(&scrape, from)));
    assert_eq!(
        h.answered(),
        [
            Answer::Rejected,
            Answer::Rejected,
            Answer::Ok,
            Answer::Rejected
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_ipv6_client_gets_only_ipv6_peers_and_a_v4_mapped_one_only_ipv4() {
    let mut h = Harness::new(vec![]);
    h.announce(addr("10.0.0.1:1"), &req(1, 6881, 1, Event::Started));
    h.announce(addr("[fd00::1]:1"), &req(2, 6882, 1, Event::Started));
    h.announce(
        addr("[::ffff:10.0.0.3]:1"),
        &req(3, 6883, 1, Event::Started),
    );
    let v6 = h.announce(addr("[fd00::4]:1"), &req(4, 6884, 1, Event::Started));
    assert_eq!(peers_of(&v6.unwrap(), true).0, [addr("[fd00::1]:6882")]);
    // The mapped client was registered under its plain IPv4 address.
    let v4 = h.announce(addr("10.0.0.5:1"), &req(5, 6885, 1, Event::Started));
    assert_eq!(
        peers_of(&v4.unwrap(), false).0,
        [addr("10.0.0.1:6881"), addr("10.0.0.3:6883")]
    );
}

#[tokio::test(start_paused = true)]
async fn scrape_answers_every_hash_in_order() {
    let mut h = Harness::new(vec![]);
    let from = addr("10.0.0.1:1");
    h.announce(from, &req(1, 6881, 0, Event::Completed));
    let id = h.connect(from);
    let hashes = [InfoHash([9; 20]), InfoHash([1; 20])];
    let answer = h.send(&codec::scrape_request(id, 22, &hashes).unwrap(), from);
    let expected = vec![
        ScrapeStats::default(),
        ScrapeStats {
            complete: 1,
            downloaded: 1,
            incomplete: 0,
        },
    ];
    assert_eq!(
        parse_response(&answer.unwrap(), 22, false).unwrap(),
        Response::Scrape(expected)
    );
    let none = h.send(&codec::scrape_request(id, 23, &[]).unwrap(), from);
    assert_eq!(
        parse_response(&none.unwrap(), 23, false).unwrap(),
        Response::Scrape(vec![])
    );
}

#[tokio::test(start_paused = true)]
async fn packets_that_are_not_requests_get_no_answer() {
    let mut h = Harness::new(vec![]);
    let from = addr("10.0.0.1:1");
    assert_eq!(h.send(b"", from), None);
    assert_eq!(h.send(b"GET / HTTP/1.1\r\n\r\n", from), None);
    let mut connect = codec::connect_request(1);
    connect[0] ^= 0xFF;
    assert_eq!(h.send(&connect, from), None);
    assert!(h.answered().is_empty());
}

#[tokio::test(start_paused = true)]
async fn faults_apply_in_their_window_then_the_tracker_recovers() {
    let mut h = Harness::new(vec![
        window(10, 20, FaultKind::Failure("overloaded".into())),
        window(20, 30, FaultKind::Garbage),
        window(30, 40, FaultKind::Timeout),
        window(40, 50, FaultKind::Down),
        window(50, 60, FaultKind::NoPeers),
        window(60, 70, FaultKind::HttpError(503)),
    ]);
    let (a, b) = (addr("10.0.0.1:1"), addr("10.0.0.2:1"));
    h.announce(a, &req(1, 6881, 5, Event::Started)).unwrap();
    let id = h.connect(b);
    let announce = |event| codec::announce_request(id, 22, &req(2, 6882, 5, event));

    advance(secs(10)).await;
    // Connect requests share the fault: a refusal, then garbage.
    let refusal = h.send(&codec::connect_request(11), b).unwrap();
    assert_eq!(
        parse_response(&refusal, 11, false).unwrap(),
        Response::Error("overloaded".into())
    );
    let failure = h.send(&announce(Event::Started), b).unwrap();
    assert_eq!(
        parse_response(&failure, 22, false).unwrap(),
        Response::Error("overloaded".into())
    );

    advance(secs(10)).await;
    let junk = h.send(&codec::connect_request(11), b).unwrap();
    assert_eq!(
        junk,
        [&0u32.to_be_bytes()[..], &11u32.to_be_bytes(), GARBAGE_TAIL].concat()
    );
    assert!(parse_response(&junk, 11, false).is_err());
    let junk = h.send(&announce(Event::Started), b).unwrap();
    assert_eq!(
        junk,
        [&1u32.to_be_bytes()[..], &22u32.to_be_bytes(), GARBAGE_TAIL].concat()
    );
    assert!(parse_response(&junk, 22, false).is_err());
    let scrape = codec::scrape_request(id, 33, &[InfoHash([1; 20])]).unwrap();
    assert!(parse_response(&h.send(&scrape, b).unwrap(), 33, false).is_err());

    // Timeout and down are silent, to connects, announces and scrapes alike; the connection id
    // is not even looked at.
    advance(secs(10)).await;
    assert_eq!(h.send(&codec::connect_request(11), b), None);
    assert_eq!(h.send(&announce(Event::Started), b), None);
    advance(secs(10)).await;
    assert_eq!(h.send(&codec::connect_request(11), b), None);
    assert_eq!(
        h.send(
            &codec::announce_request(7, 22, &req(2, 6882, 5, Event::Started)),
            b
        ),
        None
    );
    assert_eq!(h.send(&scrape, b), None);

    // So far b was never registered: faulted announces leave the swarm alone.
    assert_eq!(h.tracker.swarm(&InfoHash([1; 20])).len(), 1);

    advance(secs(10)).await;
    let empty = h.announce(b, &req(2, 6882, 5, Event::Started)).unwrap();
    assert_eq!(peers_of(&empty, false), (vec![], Some(0), Some(2)));

    // An HTTP status means nothing to UDP: back to normal, and b (registered under no-peers)
    // is visible to a.
    advance(secs(10)).await;
    let back = h.announce(a, &req(1, 6881, 5, Event::None)).unwrap();
    assert_eq!(peers_of(&back, false).0, [addr("10.0.0.2:6882")]);

    assert_eq!(
        h.answered(),
        [
            Answer::Ok,
            Answer::Failure,
            Answer::Garbage,
            Answer::Timeout,
            Answer::Down,
            Answer::NoPeers,
            Answer::Ok,
        ]
    );
    let at: Vec<u64> = h
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.at.as_secs())
        .collect();
    assert_eq!(at, [0, 10, 20, 30, 40, 50, 60]);
}

#[tokio::test(start_paused = true)]
async fn numwant_is_capped_by_the_configuration() {
    let mut h = Harness::new(vec![]);
    for i in 1..=60u8 {
        h.announce(
            addr(&format!("10.0.1.{i}:1")),
            &req(i, 7000, 1, Event::Started),
        );
    }
    let me = addr("10.0.0.1:1");
    let mut ask = |numwant| {
        let r = AnnounceRequest {
            numwant,
            ..req(99, 7000, 1, Event::None)
        };
        peers_of(&h.announce(me, &r).unwrap(), false).0
    };
    assert_eq!(ask(None).len(), 50);
    assert_eq!(
        ask(Some(3)),
        [
            addr("10.0.1.1:7000"),
            addr("10.0.1.2:7000"),
            addr("10.0.1.3:7000")
        ]
    );
    assert_eq!(ask(Some(0)), []);
    assert_eq!(ask(Some(1000)).len(), 50);
}
