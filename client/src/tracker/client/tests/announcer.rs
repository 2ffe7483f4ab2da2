//! The announcer: BEP 12 tier walking and promotion, mixed protocols, the lone-tracker and
//! `stopped` bounds, and the re-announce and retry timing it hands the caller.

use super::*;
use crate::net::HttpError;
use crate::tracker::client::{AnnounceError, Announcer, Config, Error, MAX_TRACKERS};
use crate::tracker::http::encode_announce_response;
use crate::tracker::AnnounceResponse;

const TRACKER: &str = "10.0.0.2:6969";
const UDP_URL: &str = "udp://10.0.0.2:6969/announce";

fn ok_body(interval: Option<u32>, min_interval: Option<u32>) -> Vec<u8> {
    encode_announce_response(
        &AnnounceResponse {
            interval,
            min_interval,
            peers: vec![addr("9.9.9.9:9")],
            ..AnnounceResponse::default()
        },
        true,
    )
}

fn urls(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("http://t{i}.test/announce"))
        .collect()
}

/// The trackers fetched, by URL without query, in order.
fn fetched(net: &FakeNet) -> Vec<String> {
    net.http_log()
        .into_iter()
        .map(|(_, url)| url.split_once('?').unwrap().0.to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn tiers_are_walked_in_order_and_the_answering_tracker_is_promoted() {
    let net = FakeNet::new();
    let first = urls(4);
    // Only t2 answers in the first tier; t9 in the second tier must never be needed.
    net.http(&first[2], HttpReply::Body(ok_body(Some(900), None)));
    net.http(
        "http://t9.test/announce",
        HttpReply::Body(ok_body(None, None)),
    );
    let tiers = vec![first.clone(), vec!["http://t9.test/announce".into()]];
    let mut announcer = Announcer::new(net.clone(), tiers.clone(), rng(42), Config::default());

    // The same seed shuffles the same way.
    let again = Announcer::new(net.clone(), tiers, rng(42), Config::default());
    assert_eq!(announcer.tiers(), again.tiers());
    let order: Vec<String> = announcer.tiers().urls()[0]
        .iter()
        .map(|u| u.to_string())
        .collect();
    let at = order.iter().position(|u| *u == first[2]).unwrap();
    // The seed is chosen so the answering tracker is not already first: failures come first.
    assert!(at > 0, "seed puts the answering tracker first: {order:?}");

    announcer.announce(request(Event::Started)).await.unwrap();
    // Tried in the shuffled order up to the one that answered.
    assert_eq!(fetched(&net), order[..=at]);
    // Promoted to the front, the others keeping their order.
    let mut promoted = vec![order[at].clone()];
    promoted.extend(order.iter().filter(|u| **u != first[2]).cloned());
    assert_eq!(announcer.tiers().urls()[0], promoted);
    assert_eq!(announcer.tiers().urls()[1], ["http://t9.test/announce"]);

    // Next time it is asked first, and alone.
    announcer.announce(request(Event::None)).await.unwrap();
    assert_eq!(fetched(&net)[at + 1..], [first[2].clone()]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_tier_falls_through_to_the_next() {
    let net = FakeNet::new();
    let first = urls(3);
    for url in &first {
        net.http(url, HttpReply::Fail(HttpError::Status(502)));
    }
    let second = vec![
        "http://a.test/announce".to_owned(),
        "http://b.test/announce".to_owned(),
    ];
    for url in &second {
        net.http(url, HttpReply::Body(ok_body(None, None)));
    }
    let tiers = vec![first.clone(), second.clone()];
    let mut announcer = Announcer::new(net.clone(), tiers, rng(5), Config::default());
    let second_first = announcer.tiers().urls()[1][0].to_owned();
    announcer.announce(request(Event::Started)).await.unwrap();
    let log = fetched(&net);
    assert_eq!(log.len(), 4);
    let mut tried_first: Vec<String> = log[..3].to_vec();
    tried_first.sort();
    assert_eq!(tried_first, first);
    assert_eq!(log[3], second_first);
    // A failed tracker is not demoted below its tier-mates: only success reorders.
    assert_eq!(announcer.tiers().urls()[0].len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_dead_udp_tracker_costs_45_seconds_before_the_next() {
    let net = FakeNet::new();
    let log = spawn_tracker(&net, addr(TRACKER), Box::new(|_, _| Vec::new())).await;
    let http = "http://b.test/announce";
    net.http(http, HttpReply::Body(ok_body(None, None)));
    let tiers = vec![vec![UDP_URL.to_owned()], vec![http.to_owned()]];
    let mut announcer = Announcer::new(net.clone(), tiers, rng(6), Config::default());
    let resp = announcer.announce(request(Event::Started)).await.unwrap();
    assert_eq!(resp.peers, [addr("9.9.9.9:9")]);
    assert_eq!(summary(&log), [(0, "C".to_owned()), (15, "C".to_owned())]);
    assert_eq!(net.http_log()[0].0, secs(45));
}

#[tokio::test(start_paused = true)]
async fn a_udp_refusal_falls_through_too() {
    let net = FakeNet::new();
    spawn_tracker(
        &net,
        addr(TRACKER),
        Box::new(|_, request| match request {
            Request::Connect { transaction_id } => {
                vec![Reply::Send(codec::encode_error(*transaction_id, "nope"))]
            }
            _ => Vec::new(),
        }),
    )
    .await;
    let http = "http://b.test/announce";
    net.http(http, HttpReply::Body(ok_body(None, None)));
    let tiers = vec![vec![UDP_URL.to_owned()], vec![http.to_owned()]];
    let mut announcer = Announcer::new(net.clone(), tiers, rng(6), Config::default());
    announcer.announce(request(Event::Started)).await.unwrap();
    assert_eq!(net.http_log()[0].0, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_lone_udp_tracker_gets_the_long_schedule_up_to_the_cap() {
    let net = FakeNet::new();
    let log = spawn_tracker(&net, addr(TRACKER), Box::new(|_, _| Vec::new())).await;
    let mut announcer = Announcer::new(net, vec![vec![UDP_URL.into()]], rng(7), Config::default());
    let started = Instant::now();
    let e = announcer
        .announce(request(Event::Started))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), secs(225));
    let times: Vec<u64> = summary(&log).iter().map(|(at, _)| *at).collect();
    assert_eq!(times, [0, 15, 45, 105]);
    let AnnounceError::AllFailed { failed: 1, last } = e else {
        panic!("unexpected {e:?}");
    };
    assert!(matches!(*last, Error::Timeout { after, .. } if after == secs(225)));
}

#[tokio::test(start_paused = true)]
async fn a_stopped_announce_gives_up_after_five_seconds() {
    let net = FakeNet::new();
    spawn_tracker(&net, addr(TRACKER), Box::new(|_, _| Vec::new())).await;
    net.http("http://slow.test/announce", HttpReply::Hang);
    let tiers = vec![
        vec![UDP_URL.into()],
        vec!["http://slow.test/announce".into()],
    ];
    let mut announcer = Announcer::new(net, tiers, rng(8), Config::default());
    let started = Instant::now();
    let e = announcer
        .announce(request(Event::Stopped))
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), secs(5));
    assert!(matches!(e, AnnounceError::StoppedTimeout(d) if d == secs(5)));
    assert_eq!(e.to_string(), "stopped announce unanswered after 5s");
}

#[tokio::test(start_paused = true)]
async fn no_usable_tracker_is_its_own_error() {
    let tiers = vec![vec!["wss://t.test".into(), "magnet:?xt=x".into()]];
    let mut announcer = Announcer::new(FakeNet::new(), tiers, rng(1), Config::default());
    assert!(announcer.tiers().is_empty());
    let e = announcer
        .announce(request(Event::Started))
        .await
        .unwrap_err();
    assert!(matches!(e, AnnounceError::NoTrackers));
}

#[tokio::test(start_paused = true)]
async fn next_interval_follows_the_tracker_within_bounds() {
    let net = FakeNet::new();
    let url = "http://t.test/announce";
    let mut announcer = Announcer::new(
        net.clone(),
        vec![vec![url.into()]],
        rng(1),
        Config::default(),
    );
    assert_eq!(announcer.next_interval(), secs(30 * 60));
    let cases = [
        ((Some(900), Some(60)), 900),
        ((Some(10), None), 30),
        ((Some(7200), None), 3600),
        ((Some(60), Some(120)), 120),
        ((None, None), 1800),
        ((Some(10), Some(100_000)), 3600),
    ];
    for ((interval, min_interval), expected) in cases {
        net.http(url, HttpReply::Body(ok_body(interval, min_interval)));
        announcer.announce(request(Event::None)).await.unwrap();
        assert_eq!(
            announcer.next_interval(),
            secs(expected),
            "interval {interval:?}, min interval {min_interval:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_and_success_resets() {
    let net = FakeNet::new();
    let url = "http://t.test/announce";
    let mut announcer = Announcer::new(
        net.clone(),
        vec![vec![url.into()]],
        rng(1),
        Config::default(),
    );
    let waits: Vec<u64> = (0..10)
        .map(|_| announcer.retry_after_failure().as_secs())
        .collect();
    assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
    for _ in 0..100 {
        announcer.retry_after_failure();
    }
    assert_eq!(announcer.retry_after_failure(), secs(1800));
    net.http(url, HttpReply::Body(ok_body(None, None)));
    announcer.announce(request(Event::None)).await.unwrap();
    assert_eq!(announcer.retry_after_failure(), secs(15));
}

#[tokio::test(start_paused = true)]
async fn thousands_of_dead_trackers_are_cut_and_hold_no_sockets() {
    let net = FakeNet::new();
    // 5000 UDP trackers in 500 tiers of 10, at addresses where nothing listens.
    let tiers: Vec<Vec<String>> = (0..500)
        .map(|tier| {
            (0..10)
                .map(|i| format!("udp://10.{}.{}.{i}:6969/announce", tier / 256, tier % 256))
                .collect()
        })
        .collect();
    let mut announcer = Announcer::new(net.clone(), tiers, rng(9), Config::default());
    assert_eq!(announcer.tiers().len(), MAX_TRACKERS);
    assert_eq!(
        announcer.tiers().urls().len(),
        7,
        "6 whole tiers and 4 of the 7th"
    );
    assert_eq!(
        announcer.udp_holdings(),
        (0, 0),
        "nothing bound or allocated up front"
    );

    let e = announcer
        .announce(request(Event::Started))
        .await
        .unwrap_err();
    assert!(
        matches!(e, AnnounceError::AllFailed { failed: 64, .. }),
        "{e:?}"
    );
    // One socket per tracker asked, each closed when its tracker timed out.
    let (binds, open, peak) = net.client_sockets();
    assert_eq!((binds, open, peak), (MAX_TRACKERS, 0, 1));
    assert_eq!(announcer.udp_holdings(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_live_udp_tracker_keeps_its_socket_but_not_its_buffer() {
    let net = FakeNet::new();
    spawn_tracker(&net, addr(TRACKER), well_behaved(vec![addr("1.1.1.1:1")])).await;
    let mut announcer = Announcer::new(
        net.clone(),
        vec![vec![UDP_URL.into()]],
        rng(10),
        Config::default(),
    );
    announcer.announce(request(Event::Started)).await.unwrap();
    assert_eq!(announcer.udp_holdings(), (1, 0));
    announcer.announce(request(Event::None)).await.unwrap();
    assert_eq!(net.client_sockets(), (1, 1, 1), "the socket is reused");
}
