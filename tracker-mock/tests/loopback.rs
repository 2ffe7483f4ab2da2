//! The tracker on real 127.0.0.1 sockets, spoken to by the client crate's own [`Announcer`]
//! over HTTP and UDP: peers find each other, `stopped` removes, scrapes count, `numwant` cuts,
//! order is fixed. Time is paused: loopback I/O completes without the clock moving, so the
//! virtual timestamps in the events are exact.

mod common;

use bitswarm_client::net::Net;
use bitswarm_client::tracker::{http as codec, AnnounceRequest, Event, ScrapeStats};
use common::{addr, request, secs, Fixture, HASH};
use tracker_mock::{Answer, Config, Protocol};

/// The announce URL of the protocol under test.
fn url(fixture: &Fixture, protocol: Protocol) -> String {
    match protocol {
        Protocol::Http => fixture.http.clone(),
        Protocol::Udp => fixture.udp.clone(),
    }
}

async fn two_peers_get_each_other_and_stopped_removes(protocol: Protocol) {
    let fixture = Fixture::start(Config::default()).await;
    let url = url(&fixture, protocol);
    let mut a = fixture.announcer(&url, 1);
    let mut b = fixture.announcer(&url, 2);

    let first = a
        .announce(request(1, 6881, 100, Event::Started))
        .await
        .unwrap();
    assert!(first.peers.is_empty(), "{first:?}");
    assert_eq!((first.complete, first.incomplete), (Some(0), Some(1)));
    assert_eq!(first.interval, Some(1800));

    let second = b
        .announce(request(2, 6882, 0, Event::Started))
        .await
        .unwrap();
    assert_eq!(second.peers, [addr("127.0.0.1:6881")]);
    assert_eq!((second.complete, second.incomplete), (Some(1), Some(1)));

    tokio::time::sleep(secs(60)).await;
    let again = a.announce(request(1, 6881, 50, Event::None)).await.unwrap();
    assert_eq!(again.peers, [addr("127.0.0.1:6882")]);
    assert_eq!(
        fixture.tracker.swarm(&HASH),
        [(addr("127.0.0.1:6881"), 50), (addr("127.0.0.1:6882"), 0)]
    );

    b.announce(request(2, 6882, 0, Event::Stopped))
        .await
        .unwrap();
    assert_eq!(fixture.tracker.swarm(&HASH), [(addr("127.0.0.1:6881"), 50)]);
    let alone = a.announce(request(1, 6881, 50, Event::None)).await.unwrap();
    assert!(alone.peers.is_empty());
    assert_eq!((alone.complete, alone.incomplete), (Some(0), Some(1)));

    let events = fixture.events.lock().unwrap().clone();
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.at.as_secs(), e.peer.port(), e.event, e.answered, e.peers))
        .collect();
    assert_eq!(
        summary,
        [
            (0, 6881, Event::Started, Answer::Ok, 0),
            (0, 6882, Event::Started, Answer::Ok, 1),
            (60, 6881, Event::None, Answer::Ok, 1),
            (60, 6882, Event::Stopped, Answer::Ok, 0),
            (60, 6881, Event::None, Answer::Ok, 0),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e.protocol == protocol && e.info_hash == HASH));
}

#[tokio::test(start_paused = true)]
async fn http_two_peers_get_each_other_and_stopped_removes() {
    two_peers_get_each_other_and_stopped_removes(Protocol::Http).await;
}

#[tokio::test(start_paused = true)]
async fn udp_two_peers_get_each_other_and_stopped_removes() {
    two_peers_get_each_other_and_stopped_removes(Protocol::Udp).await;
}

async fn numwant_cuts_a_list_sorted_by_address(protocol: Protocol) {
    let config = Config {
        max_numwant: 5,
        ..Config::default()
    };
    let fixture = Fixture::start(config).await;
    let url = url(&fixture, protocol);
    // Ports announced out of order, so sorting is visible.
    let ports = [7009, 7002, 7007, 7001, 7005, 7008, 7003, 7006, 7004];
    for (i, port) in ports.iter().enumerate() {
        let n = u8::try_from(i).unwrap() + 1;
        let mut announcer = fixture.announcer(&url, u64::from(n));
        announcer
            .announce(request(n, *port, 1, Event::Started))
            .await
            .unwrap();
    }
    let mut me = fixture.announcer(&url, 99);
    let ask = |numwant| AnnounceRequest {
        numwant,
        ..request(99, 7000, 1, Event::None)
    };
    let three = me.announce(ask(Some(3))).await.unwrap();
    let expected: Vec<_> = (7001..=7003)
        .map(|p| addr(&format!("127.0.0.1:{p}")))
        .collect();
    assert_eq!(three.peers, expected);
    // Without numwant, and asking above the cap, the configured maximum applies.
    let capped: Vec<_> = (7001..=7005)
        .map(|p| addr(&format!("127.0.0.1:{p}")))
        .collect();
    assert_eq!(me.announce(ask(None)).await.unwrap().peers, capped);
    assert_eq!(me.announce(ask(Some(500))).await.unwrap().peers, capped);
    // Asking again gives the same list: nothing is shuffled.
    assert_eq!(me.announce(ask(Some(3))).await.unwrap().peers, expected);
    assert_eq!(three.incomplete, Some(10));
}

#[tokio::test(start_paused = true)]
async fn http_numwant_cuts_a_list_sorted_by_address() {
    numwant_cuts_a_list_sorted_by_address(Protocol::Http).await;
}

#[tokio::test(start_paused = true)]
async fn udp_numwant_cuts_a_list_sorted_by_address() {
    numwant_cuts_a_list_sorted_by_address(Protocol::Udp).await;
}

async fn scrape_counts_seeders_leechers_and_completions(protocol: Protocol) {
    let fixture = Fixture::start(Config::default()).await;
    let url = url(&fixture, protocol);
    let other = bitswarm_client::InfoHash([0x22; 20]);
    let mut a = fixture.announcer(&url, 1);
    let mut b = fixture.announcer(&url, 2);
    a.announce(request(1, 6881, 10, Event::Started))
        .await
        .unwrap();
    b.announce(request(2, 6882, 10, Event::Started))
        .await
        .unwrap();
    b.announce(request(2, 6882, 0, Event::Completed))
        .await
        .unwrap();
    let stats = a.scrape(&[HASH, other]).await.unwrap();
    let expected = ScrapeStats {
        complete: 1,
        downloaded: 1,
        incomplete: 1,
    };
    assert_eq!(stats, [expected, ScrapeStats::default()]);
}

#[tokio::test(start_paused = true)]
async fn http_scrape_counts_seeders_leechers_and_completions() {
    scrape_counts_seeders_leechers_and_completions(Protocol::Http).await;
}

#[tokio::test(start_paused = true)]
async fn udp_scrape_counts_seeders_leechers_and_completions() {
    scrape_counts_seeders_leechers_and_completions(Protocol::Udp).await;
}

#[tokio::test(start_paused = true)]
async fn http_and_udp_share_one_swarm() {
    let fixture = Fixture::start(Config::default()).await;
    let mut over_http = fixture.announcer(&fixture.http, 1);
    let mut over_udp = fixture.announcer(&fixture.udp, 2);
    over_http
        .announce(request(1, 6881, 1, Event::Started))
        .await
        .unwrap();
    let resp = over_udp
        .announce(request(2, 6882, 1, Event::Started))
        .await
        .unwrap();
    assert_eq!(resp.peers, [addr("127.0.0.1:6881")]);
    let protocols: Vec<_> = fixture
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.protocol)
        .collect();
    assert_eq!(protocols, [Protocol::Http, Protocol::Udp]);
}

#[tokio::test(start_paused = true)]
async fn http_compact_and_dictionary_models_carry_the_same_peers() {
    let fixture = Fixture::start(Config::default()).await;
    let mut a = fixture.announcer(&fixture.http, 1);
    a.announce(request(1, 6881, 1, Event::Started))
        .await
        .unwrap();
    a.announce(request(3, 6883, 1, Event::Started))
        .await
        .unwrap();
    let me = request(2, 6882, 1, Event::Started);
    let compact_url = codec::announce_url(&fixture.http, &me);
    let dict_url = compact_url.replace("compact=1", "compact=0");

    let compact = fixture.net.http_get(&compact_url).await.unwrap();
    let dict = fixture.net.http_get(&dict_url).await.unwrap();
    let expected = [addr("127.0.0.1:6881"), addr("127.0.0.1:6883")];
    assert_eq!(codec::parse_announce(&compact).unwrap().peers, expected);
    assert_eq!(codec::parse_announce(&dict).unwrap().peers, expected);
    let has = |body: &[u8], needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(has(&compact, b"5:peers12:"));
    assert!(has(&dict, b"5:peersld2:ip9:127.0.0.14:porti6881ee"));
}
