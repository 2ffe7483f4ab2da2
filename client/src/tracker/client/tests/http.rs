//! HTTP trackers: what each kind of failure becomes, and that every one of them falls through to
//! the next tracker.

use super::*;
use crate::net::HttpError;
use crate::tracker::client::{http, AnnounceError, Announcer, Config, Error, HTTP_TIMEOUT};
use crate::tracker::http::{encode_announce_response, encode_failure, encode_scrape_response};
use crate::tracker::{AnnounceResponse, ScrapeStats};

const A: &str = "http://a.test/announce";
const B: &str = "http://b.test/announce";

fn answer(peers: &[&str], tracker_id: Option<&str>) -> Vec<u8> {
    encode_announce_response(
        &AnnounceResponse {
            interval: Some(900),
            min_interval: Some(60),
            tracker_id: tracker_id.map(str::to_owned),
            complete: Some(4),
            incomplete: Some(2),
            peers: peers.iter().map(|p| addr(p)).collect(),
            ..AnnounceResponse::default()
        },
        true,
    )
}

#[tokio::test(start_paused = true)]
async fn success_is_parsed() {
    let net = FakeNet::new();
    net.http(A, HttpReply::Body(answer(&["1.2.3.4:5", "[::1]:6"], None)));
    let resp = http::announce(&net, A, &request(Event::Started), HTTP_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(resp.interval, Some(900));
    assert_eq!(resp.min_interval, Some(60));
    assert_eq!(resp.peers, [addr("1.2.3.4:5"), addr("[::1]:6")]);
    let log = net.http_log();
    assert_eq!(log.len(), 1);
    assert!(log[0]
        .1
        .starts_with("http://a.test/announce?info_hash=%AB%AB"));
    assert!(log[0].1.contains("&event=started"));
}

#[tokio::test(start_paused = true)]
async fn each_failure_names_the_tracker() {
    let net = FakeNet::new();
    let req = request(Event::None);
    let run = |reply| {
        let net = net.clone();
        let req = req.clone();
        async move {
            net.http(A, reply);
            http::announce(&net, A, &req, HTTP_TIMEOUT)
                .await
                .unwrap_err()
        }
    };

    let e = run(HttpReply::Body(encode_failure("torrent not registered"))).await;
    assert!(
        matches!(&e, Error::Refused { url, message } if url == A && message == "torrent not registered")
    );
    assert_eq!(
        e.to_string(),
        "tracker http://a.test/announce: refused: torrent not registered"
    );

    let e = run(HttpReply::Body(b"<html>502 bad gateway</html>".to_vec())).await;
    assert!(matches!(
        &e,
        Error::Protocol { url, source: crate::tracker::Error::Bencode(_) } if url == A
    ));

    let e = run(HttpReply::Fail(HttpError::Status(500))).await;
    assert!(matches!(
        &e,
        Error::Http {
            source: HttpError::Status(500),
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "tracker http://a.test/announce: http status 500"
    );

    let started = Instant::now();
    let e = run(HttpReply::Hang).await;
    assert_eq!(started.elapsed(), HTTP_TIMEOUT);
    assert!(matches!(&e, Error::Timeout { after, .. } if *after == HTTP_TIMEOUT));
    assert_eq!(
        e.to_string(),
        "tracker http://a.test/announce: no answer after 20s"
    );
}

#[tokio::test(start_paused = true)]
async fn every_failure_falls_through_to_the_next_tracker() {
    let failures = [
        HttpReply::Body(encode_failure("go away")),
        HttpReply::Body(b"garbage".to_vec()),
        HttpReply::Fail(HttpError::Status(500)),
        HttpReply::Fail(HttpError::Transport("connection reset".into())),
        HttpReply::Hang,
    ];
    for failure in failures {
        let hangs = matches!(failure, HttpReply::Hang);
        let net = FakeNet::new();
        net.http(A, failure);
        net.http(B, HttpReply::Body(answer(&["5.6.7.8:9"], None)));
        // One tracker per tier: tier order is fixed, so A is always tried first.
        let tiers = vec![vec![A.to_owned()], vec![B.to_owned()]];
        let mut announcer = Announcer::new(net.clone(), tiers, rng(1), Config::default());
        let resp = announcer.announce(request(Event::Started)).await.unwrap();
        assert_eq!(resp.peers, [addr("5.6.7.8:9")]);
        let log = net.http_log();
        assert_eq!(log.len(), 2);
        assert!(log[0].1.starts_with(A) && log[1].1.starts_with(B));
        let b_asked_at = if hangs { HTTP_TIMEOUT } else { Duration::ZERO };
        assert_eq!(log[1].0, b_asked_at);
    }
}

#[tokio::test(start_paused = true)]
async fn all_failing_is_one_error_counting_them() {
    let net = FakeNet::new();
    net.http(A, HttpReply::Fail(HttpError::Status(503)));
    let tiers = vec![vec![A.to_owned()], vec![B.to_owned()]];
    let mut announcer = Announcer::new(net.clone(), tiers, rng(1), Config::default());
    let e = announcer.announce(request(Event::None)).await.unwrap_err();
    assert!(matches!(&e, AnnounceError::AllFailed { failed: 2, .. }));
    assert_eq!(
        e.to_string(),
        "every tracker failed (2 tried), the last with: tracker http://b.test/announce: http: connection refused"
    );
}

#[tokio::test(start_paused = true)]
async fn tracker_id_and_key_are_sent_back() {
    let net = FakeNet::new();
    net.http(A, HttpReply::Body(answer(&[], Some("tid-1"))));
    let mut announcer =
        Announcer::new(net.clone(), vec![vec![A.into()]], rng(9), Config::default());
    let key = format!("&key={:08X}", announcer.key());
    announcer.announce(request(Event::Started)).await.unwrap();
    // The second answer has no tracker id: the first one must still be echoed (BEP 3).
    net.http(A, HttpReply::Body(answer(&[], None)));
    announcer.announce(request(Event::None)).await.unwrap();
    announcer.announce(request(Event::None)).await.unwrap();
    let log = net.http_log();
    assert!(log.iter().all(|(_, url)| url.contains(&key)));
    assert!(!log[0].1.contains("trackerid"));
    assert!(log[1].1.ends_with("&trackerid=tid-1"));
    assert!(log[2].1.ends_with("&trackerid=tid-1"));
}

#[tokio::test(start_paused = true)]
async fn scrape_uses_the_bep48_url() {
    let net = FakeNet::new();
    let hash = InfoHash([0xab; 20]);
    let stats = ScrapeStats {
        complete: 3,
        downloaded: 10,
        incomplete: 1,
    };
    net.http(
        "http://a.test/scrape",
        HttpReply::Body(encode_scrape_response(&[(hash, stats)])),
    );
    assert_eq!(
        http::scrape(&net, A, &[hash], HTTP_TIMEOUT).await.unwrap(),
        [stats]
    );
    let e = http::scrape(&net, "http://a.test/tracker", &[hash], HTTP_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoScrape { .. }));
    // Through the announcer: the tracker without a scrape URL is skipped.
    let tiers = vec![vec!["http://a.test/tracker".into()], vec![A.into()]];
    let mut announcer = Announcer::new(net.clone(), tiers, rng(1), Config::default());
    assert_eq!(announcer.scrape(&[hash]).await.unwrap(), [stats]);
}
