//! The HTTP request handler without sockets, under tokio's paused clock: routing, both peer
//! models, scrapes, and every fault's reply.

use std::sync::Mutex;

use bitswarm_client::tracker::{AnnounceRequest, Error, Event, ScrapeStats};
use bitswarm_client::InfoHash;
use http_body_util::BodyExt;
use tokio::time::advance;

use super::*;
use crate::config::{Config, FaultWindow, Faults};
use crate::test_support::{addr, req, secs};
use crate::tracker::{Answer as Answered, TrackerEvent};

fn tracker(windows: Vec<FaultWindow>) -> (Arc<Tracker>, Arc<Mutex<Vec<TrackerEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let config = Config {
        min_interval: Some(60),
        faults: Faults { windows },
        ..Config::default()
    };
    let observer: crate::Observer = Arc::new(move |event| sink.lock().unwrap().push(event));
    (Tracker::new(config, Some(observer)), events)
}

/// The reply to `GET target` from `source`.
fn get(tracker: &Tracker, source: &str, target: &str) -> Reply {
    let uri: Uri = target.parse().unwrap();
    reply(tracker, source.parse().unwrap(), &Method::GET, &uri)
}

/// The status and body of a reply that sends something.
async fn sent(reply: Reply) -> (StatusCode, Vec<u8>) {
    let Reply::Send(response) = reply else {
        panic!("expected a response, got {reply:?}");
    };
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// The announce path and query for `req` (compact, as the client asks).
fn announce_target(req: &AnnounceRequest) -> String {
    codec::announce_url("/announce", req)
}

#[tokio::test(start_paused = true)]
async fn announces_answer_with_the_other_peers_counts_and_intervals() {
    let (tracker, events) = tracker(vec![]);
    let a = req(1, 6881, 10, Event::Started);
    let b = req(2, 6882, 0, Event::Started);
    sent(get(&tracker, "10.0.0.1", &announce_target(&a))).await;
    let (status, body) = sent(get(&tracker, "10.0.0.2", &announce_target(&b))).await;
    assert_eq!(status, StatusCode::OK);
    let resp = codec::parse_announce(&body).unwrap();
    assert_eq!(resp.peers, [addr("10.0.0.1:6881")]);
    assert_eq!((resp.complete, resp.incomplete), (Some(1), Some(1)));
    assert_eq!((resp.interval, resp.min_interval), (Some(1800), Some(60)));
    assert_eq!(resp.external_ip, Some("10.0.0.2".parse().unwrap()));
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].peer, addr("10.0.0.1:6881"));
    assert_eq!(
        (events[0].protocol, events[0].answered),
        (Protocol::Http, Answered::Ok)
    );
}

#[tokio::test(start_paused = true)]
async fn compact_zero_gives_the_dictionary_model_and_ipv6_goes_to_peers6() {
    let (tracker, _) = tracker(vec![]);
    let a = announce_target(&req(1, 6881, 1, Event::Started));
    let b = announce_target(&req(2, 6882, 1, Event::Started));
    sent(get(&tracker, "10.0.0.1", &a)).await;
    sent(get(&tracker, "fd00::1", &b)).await;
    let compact = announce_target(&req(3, 6883, 1, Event::Started));
    let (_, body) = sent(get(&tracker, "10.0.0.3", &compact)).await;
    let mut expected_v4 = b"5:peers6:".to_vec();
    expected_v4.extend_from_slice(&[10, 0, 0, 1, 0x1A, 0xE1]);
    assert!(body.windows(expected_v4.len()).any(|w| w == expected_v4));
    assert!(body.windows(10).any(|w| w == b"6:peers618"));
    let resp = codec::parse_announce(&body).unwrap();
    assert_eq!(resp.peers, [addr("10.0.0.1:6881"), addr("[fd00::1]:6882")]);

    let dict = compact.replace("compact=1", "compact=0");
    let (_, body) = sent(get(&tracker, "10.0.0.3", &dict)).await;
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(
        text.contains("5:peersld2:ip8:10.0.0.14:porti6881eed2:ip7:fd00::14:porti6882eee"),
        "{text}"
    );
    assert!(!text.contains("peers6"));
    let resp = codec::parse_announce(&body).unwrap();
    assert_eq!(resp.peers, [addr("10.0.0.1:6881"), addr("[fd00::1]:6882")]);
}

#[tokio::test(start_paused = true)]
async fn bad_requests_get_a_failure_reason_or_a_status() {
    let (tracker, events) = tracker(vec![]);
    let (status, body) = sent(get(&tracker, "10.0.0.1", "/announce?port=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        codec::parse_announce(&body),
        Err(Error::Failure(
            "tracker message has no `info_hash` field".into()
        ))
    );
    let (status, _) = sent(get(&tracker, "10.0.0.1", "/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let uri: Uri = "/announce".parse().unwrap();
    let post = reply(&tracker, "10.0.0.1".parse().unwrap(), &Method::POST, &uri);
    assert_eq!(sent(post).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let (_, body) = sent(get(&tracker, "10.0.0.1", "/scrape?info_hash=abc")).await;
    assert!(matches!(
        codec::parse_scrape(&body, &InfoHash([1; 20])),
        Err(Error::Failure(_))
    ));
    assert!(events.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn scrapes_count_the_named_torrents_or_all_of_them() {
    let (tracker, _) = tracker(vec![]);
    let seeder = announce_target(&req(1, 1, 0, Event::Completed));
    let leecher = announce_target(&req(2, 2, 5, Event::Started));
    let other = announce_target(&AnnounceRequest {
        info_hash: InfoHash([2; 20]),
        ..req(3, 3, 5, Event::Started)
    });
    sent(get(&tracker, "10.0.0.1", &seeder)).await;
    sent(get(&tracker, "10.0.0.2", &leecher)).await;
    sent(get(&tracker, "10.0.0.3", &other)).await;
    let named = codec::scrape_url("http://t/announce", &[InfoHash([1; 20])]).unwrap();
    let target = named.trim_start_matches("http://t");
    let (_, body) = sent(get(&tracker, "10.0.0.9", target)).await;
    let one = ScrapeStats {
        complete: 1,
        downloaded: 1,
        incomplete: 1,
    };
    assert_eq!(codec::parse_scrape(&body, &InfoHash([1; 20])), Ok(one));
    assert!(codec::parse_scrape(&body, &InfoHash([2; 20])).is_err());
    let (_, all) = sent(get(&tracker, "10.0.0.9", "/scrape")).await;
    assert_eq!(codec::parse_scrape(&all, &InfoHash([1; 20])), Ok(one));
    let two = codec::parse_scrape(&all, &InfoHash([2; 20])).unwrap();
    assert_eq!((two.complete, two.incomplete), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn every_fault_replies_as_documented_then_the_tracker_recovers() {
    let window = |from, until, kind| FaultWindow {
        from: secs(from),
        until: Some(secs(until)),
        kind,
        protocol: Some(Protocol::Http),
    };
    let (tracker, events) = tracker(vec![
        window(10, 20, FaultKind::Failure("overloaded".into())),
        window(20, 30, FaultKind::Garbage),
        window(30, 40, FaultKind::Timeout),
        window(40, 50, FaultKind::Down),
        window(50, 60, FaultKind::NoPeers),
        window(60, 70, FaultKind::HttpError(503)),
    ]);
    let start = Instant::now();
    let a = announce_target(&req(1, 6881, 5, Event::Started));
    let b = announce_target(&req(2, 6882, 5, Event::Started));
    sent(get(&tracker, "10.0.0.1", &a)).await;

    advance(secs(10)).await;
    let (status, body) = sent(get(&tracker, "10.0.0.2", &b)).await;
    assert_eq!(status, StatusCode::OK);
    let refusal = Err(Error::Failure("overloaded".into()));
    assert_eq!(codec::parse_announce(&body), refusal);
    let (_, body) = sent(get(&tracker, "10.0.0.2", "/scrape")).await;
    assert!(matches!(
        codec::parse_scrape(&body, &InfoHash([1; 20])),
        Err(Error::Failure(_))
    ));

    advance(secs(10)).await;
    let (status, body) = sent(get(&tracker, "10.0.0.2", &b)).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, GARBAGE_BODY));
    assert!(matches!(
        codec::parse_announce(&body),
        Err(Error::Bencode(_))
    ));

    advance(secs(10)).await;
    match get(&tracker, "10.0.0.2", &b) {
        Reply::Hold(until) => assert_eq!(until, Some(start + secs(40))),
        other => panic!("expected a hold, got {other:?}"),
    }
    advance(secs(10)).await;
    assert!(matches!(get(&tracker, "10.0.0.2", &b), Reply::Close));
    // Faulted announces leave the swarm alone.
    assert_eq!(tracker.swarm(&InfoHash([1; 20])).len(), 1);

    advance(secs(10)).await;
    let (_, body) = sent(get(&tracker, "10.0.0.2", &b)).await;
    let resp = codec::parse_announce(&body).unwrap();
    assert!(resp.peers.is_empty());
    assert_eq!(resp.incomplete, Some(2));

    advance(secs(10)).await;
    let (status, body) = sent(get(&tracker, "10.0.0.2", &b)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(codec::parse_announce(&body).is_err());

    advance(secs(10)).await;
    let (_, body) = sent(get(&tracker, "10.0.0.1", &a)).await;
    let peers = codec::parse_announce(&body).unwrap().peers;
    assert_eq!(peers, [addr("10.0.0.2:6882")]);

    let answered: Vec<Answered> = events.lock().unwrap().iter().map(|e| e.answered).collect();
    assert_eq!(
        answered,
        [
            Answered::Ok,
            Answered::Failure,
            Answered::Garbage,
            Answered::Timeout,
            Answered::Down,
            Answered::NoPeers,
            Answered::HttpError(503),
            Answered::Ok,
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_redirect_carries_the_query_and_leaves_the_swarm_alone() {
    let (tracker, events) = tracker(vec![FaultWindow {
        from: secs(0),
        until: None,
        kind: FaultKind::Redirect("http://moved:6969/announce".into()),
        protocol: None,
    }]);
    let a = announce_target(&req(1, 6881, 5, Event::Started));
    let Reply::Send(response) = get(&tracker, "10.0.0.1", &a) else {
        panic!("expected a response");
    };
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers().get(LOCATION).unwrap().to_str().unwrap();
    let query = a.split_once('?').unwrap().1;
    assert_eq!(location, format!("http://moved:6969/announce?{query}"));
    assert!(tracker.swarm(&InfoHash([1; 20])).is_empty());
    let answered: Vec<Answered> = events.lock().unwrap().iter().map(|e| e.answered).collect();
    assert_eq!(answered, [Answered::Redirect]);
    // A UDP announce is not redirected: the fault is HTTP's alone.
    let kind = FaultKind::Redirect("http://moved:6969/announce".into());
    assert!(kind.applies_to(Protocol::Http) && !kind.applies_to(Protocol::Udp));
}

#[test]
fn a_redirect_goes_to_an_http_url() {
    let mut config = Config::default();
    config.faults.windows.push(FaultWindow {
        from: secs(0),
        until: None,
        kind: FaultKind::Redirect("file:///etc/passwd".into()),
        protocol: None,
    });
    assert!(matches!(
        config.validate(),
        Err(crate::config::ConfigError::NotAnHttpUrl { index: 0 })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_held_request_lets_go_when_its_window_ends() {
    let started = Instant::now();
    hold(Some(started + secs(7))).await;
    assert_eq!(started.elapsed(), secs(7));
    let forever = tokio::time::timeout(secs(3600), hold(None)).await;
    assert!(forever.is_err());
}

#[test]
fn compact_unless_the_first_compact_parameter_is_zero() {
    assert!(compact(""));
    assert!(compact("port=1&compact=1"));
    assert!(!compact("port=1&compact=0"));
    assert!(!compact("compact=0&compact=1"));
    assert!(compact("compact=1&compact=0"));
    assert!(compact("nocompact=0"));
}
