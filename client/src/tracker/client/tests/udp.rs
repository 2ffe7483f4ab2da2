//! UDP trackers (BEP 15) on the in-memory network: the connect/announce exchange, connection id
//! reuse and renewal, retransmission timing, stray packets, error answers, IPv6 and scrape.

use super::*;
use crate::tracker::client::udp::{Client, Limits};
use crate::tracker::client::Error;
use crate::tracker::ScrapeStats;

const TRACKER: &str = "10.0.0.2:6969";
const URL: &str = "udp://tracker.test:6969/announce";

const TWO: Limits = Limits {
    attempts: 2,
    max_wait: Duration::from_secs(225),
};

async fn setup(script: Script) -> (FakeNet, Arc<Mutex<Vec<Seen>>>, Client<FakeNet>) {
    let net = FakeNet::new();
    net.dns("tracker.test", &[addr(TRACKER)]);
    let log = spawn_tracker(&net, addr(TRACKER), script).await;
    let client = Client::new(net.clone(), URL).unwrap();
    (net, log, client)
}

fn peers_v4() -> Vec<SocketAddr> {
    vec![addr("1.1.1.1:1"), addr("2.2.2.2:2")]
}

fn s(at: u64, what: &str) -> (u64, String) {
    (at, what.to_owned())
}

#[tokio::test(start_paused = true)]
async fn connect_then_announce() {
    let (_net, log, mut client) = setup(well_behaved(peers_v4())).await;
    let mut req = request(Event::Started);
    req.key = 0x1234_5678;
    let resp = client.announce(&req, &mut rng(1), TWO).await.unwrap();
    assert_eq!(resp.peers, peers_v4());
    assert_eq!(resp.interval, Some(1800));
    assert_eq!((resp.complete, resp.incomplete), (Some(5), Some(3)));
    assert_eq!(summary(&log), [s(0, "C"), s(0, "A1")]);
    let seen = log.lock().unwrap()[1].clone();
    assert_eq!(seen.from.ip().to_string(), CLIENT_V4);
    let Request::Announce { req: sent, .. } = seen.request else {
        panic!("not an announce: {seen:?}");
    };
    assert_eq!(
        sent,
        AnnounceRequest {
            tracker_id: None,
            ..req
        }
    );
}

#[tokio::test(start_paused = true)]
async fn connection_id_is_reused_for_a_minute_then_renewed() {
    let (_net, log, mut client) = setup(well_behaved(peers_v4())).await;
    let mut rng = rng(2);
    let req = request(Event::None);
    client.announce(&req, &mut rng, TWO).await.unwrap();
    tokio::time::sleep(secs(30)).await;
    client.announce(&req, &mut rng, TWO).await.unwrap();
    tokio::time::sleep(secs(31)).await;
    client.announce(&req, &mut rng, TWO).await.unwrap();
    assert_eq!(
        summary(&log),
        [s(0, "C"), s(0, "A1"), s(30, "A1"), s(61, "C"), s(61, "A2")]
    );
}

#[tokio::test(start_paused = true)]
async fn lost_packets_are_resent_after_15_then_30_seconds() {
    // The first two connects and the first announce are lost.
    let mut inner = well_behaved(peers_v4());
    let script: Script = Box::new(move |index, request| {
        if matches!(index, 0 | 1 | 3) {
            return Vec::new();
        }
        inner(index, request)
    });
    let (_net, log, mut client) = setup(script).await;
    let three = Limits { attempts: 3, ..TWO };
    let started = Instant::now();
    client
        .announce(&request(Event::None), &mut rng(3), three)
        .await
        .unwrap();
    assert_eq!(
        summary(&log),
        [s(0, "C"), s(15, "C"), s(45, "C"), s(45, "A1"), s(60, "A1")]
    );
    assert_eq!(started.elapsed(), secs(60));
    // A retransmission repeats the request as it was, transaction id included, so a late
    // answer to the first send would still be accepted.
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[0].request, seen[1].request);
    assert_eq!(seen[3].request, seen[4].request);
}

#[tokio::test(start_paused = true)]
async fn a_silent_tracker_times_out_after_the_attempts() {
    let (_net, log, mut client) = setup(Box::new(|_, _| Vec::new())).await;
    let started = Instant::now();
    let e = client
        .announce(&request(Event::None), &mut rng(4), TWO)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), secs(45));
    assert!(matches!(&e, Error::Timeout { after, .. } if *after == secs(45)));
    assert_eq!(summary(&log), [s(0, "C"), s(15, "C")]);
    // The cap bounds a long schedule: nine attempts, but only 100 s allowed.
    let capped = Limits {
        attempts: 9,
        max_wait: secs(100),
    };
    let started = Instant::now();
    client
        .announce(&request(Event::None), &mut rng(4), capped)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), secs(100));
    let times: Vec<u64> = summary(&log).iter().skip(2).map(|(at, _)| *at).collect();
    assert_eq!(times, [45, 60, 90]);
}

#[tokio::test(start_paused = true)]
async fn stray_packets_are_ignored() {
    // Each connect is answered first with a wrong transaction id, then with the right one from
    // another port, then properly: only the last may be taken.
    let mut inner = well_behaved(peers_v4());
    let script: Script = Box::new(move |index, request| match request {
        Request::Connect { transaction_id } => {
            let wrong = codec::encode_connect_response(transaction_id ^ 1, 77).to_vec();
            let elsewhere = codec::encode_connect_response(*transaction_id, 88).to_vec();
            let mut replies = vec![Reply::Send(wrong), Reply::SendFromElsewhere(elsewhere)];
            replies.extend(inner(index, request));
            replies
        }
        _ => inner(index, request),
    });
    let (_net, log, mut client) = setup(script).await;
    let started = Instant::now();
    client
        .announce(&request(Event::None), &mut rng(5), TWO)
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(summary(&log), [s(0, "C"), s(0, "A1")]);
}

#[tokio::test(start_paused = true)]
async fn an_error_answer_is_a_refusal_with_the_message() {
    let mut inner = well_behaved(peers_v4());
    let script: Script = Box::new(move |index, request| match request {
        Request::Announce { transaction_id, .. } => vec![Reply::Send(codec::encode_error(
            *transaction_id,
            "unregistered torrent",
        ))],
        _ => inner(index, request),
    });
    let (_net, log, mut client) = setup(script).await;
    let e = client
        .announce(&request(Event::None), &mut rng(6), TWO)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Refused { message, .. } if message == "unregistered torrent"));
    assert_eq!(
        e.to_string(),
        "tracker udp://tracker.test:6969/announce: refused: unregistered torrent"
    );
    // The connection id was fresh, so the error is believed without reconnecting.
    assert_eq!(summary(&log), [s(0, "C"), s(0, "A1")]);

    let (_net, _log, mut client) = setup(Box::new(|_, request| match request {
        Request::Connect { transaction_id } => {
            vec![Reply::Send(codec::encode_error(*transaction_id, "banned"))]
        }
        _ => Vec::new(),
    }))
    .await;
    let e = client
        .announce(&request(Event::None), &mut rng(6), TWO)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Refused { message, .. } if message == "banned"));
}

#[tokio::test(start_paused = true)]
async fn an_invalidated_connection_id_is_renewed_once() {
    // The tracker "restarts" after its first announce and no longer knows connection id 1.
    let mut inner = well_behaved(peers_v4());
    let script: Script = Box::new(move |index, request| match request {
        Request::Announce {
            connection_id: 1,
            transaction_id,
            ..
        } if index > 1 => vec![Reply::Send(codec::encode_error(
            *transaction_id,
            "connection id expired",
        ))],
        _ => inner(index, request),
    });
    let (_net, log, mut client) = setup(script).await;
    let mut rng = rng(7);
    client
        .announce(&request(Event::None), &mut rng, TWO)
        .await
        .unwrap();
    tokio::time::sleep(secs(10)).await;
    let resp = client
        .announce(&request(Event::None), &mut rng, TWO)
        .await
        .unwrap();
    assert_eq!(resp.peers, peers_v4());
    assert_eq!(
        summary(&log),
        [s(0, "C"), s(0, "A1"), s(10, "A1"), s(10, "C"), s(10, "A2")]
    );
}

#[tokio::test(start_paused = true)]
async fn ipv6_tracker_gets_a_v6_socket_and_v6_peers() {
    let net = FakeNet::new();
    let tracker = addr("[fd00::2]:6969");
    net.dns("tracker6.test", &[tracker]);
    let peers = vec![addr("[2001:db8::1]:6881"), addr("[2001:db8::2]:51413")];
    let log = spawn_tracker(&net, tracker, well_behaved(peers.clone())).await;
    let mut client = Client::new(net.clone(), "udp://tracker6.test:6969").unwrap();
    let resp = client
        .announce(&request(Event::None), &mut rng(8), TWO)
        .await
        .unwrap();
    assert_eq!(resp.peers, peers);
    let from = log.lock().unwrap()[0].from;
    assert_eq!(from.ip().to_string(), CLIENT_V6);
}

#[tokio::test(start_paused = true)]
async fn scrape_returns_counts_in_order() {
    let stats = |n| ScrapeStats {
        complete: n,
        downloaded: n * 10,
        incomplete: n + 1,
    };
    let mut inner = well_behaved(Vec::new());
    let script: Script = Box::new(move |index, request| match request {
        Request::Scrape {
            transaction_id,
            hashes,
            ..
        } => {
            let counts: Vec<ScrapeStats> =
                hashes.iter().map(|h| stats(u32::from(h.0[0]))).collect();
            vec![Reply::Send(codec::encode_scrape_response(
                *transaction_id,
                &counts,
            ))]
        }
        _ => inner(index, request),
    });
    let (_net, log, mut client) = setup(script).await;
    let hashes = [InfoHash([2; 20]), InfoHash([9; 20])];
    let got = client.scrape(&hashes, &mut rng(10), TWO).await.unwrap();
    assert_eq!(got, [stats(2), stats(9)]);
    assert_eq!(summary(&log), [s(0, "C"), s(0, "S1")]);
}

#[tokio::test(start_paused = true)]
async fn unresolvable_host_is_an_error_naming_it() {
    let net = FakeNet::new();
    let mut client = Client::new(net, "udp://nowhere.test:1/announce").unwrap();
    let e = client
        .announce(&request(Event::None), &mut rng(11), TWO)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Resolve { url, .. } if url == "udp://nowhere.test:1/announce"));
    assert!(matches!(
        Client::new(FakeNet::new(), "http://a.test/announce"),
        Err(Error::UnsupportedScheme { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_failed_operation_closes_the_socket_and_frees_the_buffer() {
    let (net, log, mut client) = setup(Box::new(|_, _| Vec::new())).await;
    assert_eq!(client.holds(), (false, false), "nothing until first use");
    client
        .announce(&request(Event::None), &mut rng(5), TWO)
        .await
        .unwrap_err();
    assert_eq!(client.holds(), (false, false));
    assert_eq!(net.client_sockets(), (1, 0, 1));
    // The next try binds afresh.
    client
        .announce(&request(Event::None), &mut rng(5), TWO)
        .await
        .unwrap_err();
    assert_eq!(net.client_sockets(), (2, 0, 1));
    let ports: Vec<u16> = log.lock().unwrap().iter().map(|s| s.from.port()).collect();
    assert_eq!(ports.len(), 4);
    assert!(ports[0] == ports[1] && ports[1] != ports[2] && ports[2] == ports[3]);
}
