//! Every fault kind on real loopback sockets, as the client crate's [`Announcer`] experiences
//! it: during a window from 10 s to 40 s the announce fails the documented way (or gets no
//! peers), the other protocol is unaffected, and after the window the tracker answers again.
//! Time is paused, so the windows pass in virtual time.

mod common;

use bitswarm_client::net::HttpError;
use bitswarm_client::tracker::client::Error;
use bitswarm_client::tracker::{self, Event};
use common::{addr, cause, request, secs, Fixture};
use tokio::time::{sleep_until, Instant};
use tracker_mock::{Answer, Config, FaultKind, FaultWindow, Faults, Protocol};

/// How the announce inside the window must end.
enum Expect {
    /// An answer with no peers.
    NoPeers,
    /// An answer with the other peer, as if there were no fault.
    Unaffected,
    /// A failure the check accepts.
    Fails(fn(&Error) -> bool),
}

/// Runs the window script for `kind` on `protocol` and checks the outcome and the events.
async fn fault_then_recovery(protocol: Protocol, kind: FaultKind, expect: Expect, answer: Answer) {
    let start = Instant::now();
    let config = Config {
        faults: Faults {
            windows: vec![FaultWindow {
                from: secs(10),
                until: Some(secs(40)),
                kind,
                protocol: Some(protocol),
            }],
        },
        ..Config::default()
    };
    let fixture = Fixture::start(config).await;
    let (url, other_url) = match protocol {
        Protocol::Http => (fixture.http.clone(), fixture.udp.clone()),
        Protocol::Udp => (fixture.udp.clone(), fixture.http.clone()),
    };
    let mut a = fixture.announcer(&url, 1);
    let mut b = fixture.announcer(&url, 2);
    let mut bystander = fixture.announcer(&other_url, 3);
    a.announce(request(1, 6881, 5, Event::Started))
        .await
        .unwrap();
    // B announces before the window too, so over UDP it holds a connection id and the faulted
    // request is an announce, not a connect.
    b.announce(request(2, 6882, 5, Event::Started))
        .await
        .unwrap();

    tokio::time::sleep(secs(10)).await;
    let during = b.announce(request(2, 6882, 5, Event::None)).await;
    match expect {
        Expect::NoPeers => assert_eq!(during.unwrap().peers, []),
        Expect::Unaffected => assert_eq!(during.unwrap().peers, [addr("127.0.0.1:6881")]),
        Expect::Fails(check) => {
            let error = cause(during.unwrap_err());
            assert!(check(&error), "unexpected failure: {error}");
        }
    }
    assert!(start.elapsed() < secs(40), "the window must still be open");
    let elsewhere = bystander
        .announce(request(3, 6883, 5, Event::Started))
        .await;
    assert_eq!(elsewhere.unwrap().peers.len(), 2);

    sleep_until(start + secs(40)).await;
    let after = b.announce(request(2, 6882, 5, Event::None)).await.unwrap();
    assert_eq!(
        after.peers,
        [addr("127.0.0.1:6881"), addr("127.0.0.1:6883")]
    );

    let answered: Vec<Answer> = fixture
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.protocol == protocol)
        .map(|e| e.answered)
        .collect();
    let (first, rest) = answered.split_at(2);
    let (last, middle) = rest.split_last().unwrap();
    assert_eq!((first, *last), (&[Answer::Ok, Answer::Ok][..], Answer::Ok));
    // A client may retry within the window (UDP retransmits), so the fault may be seen more
    // than once, but at least once.
    assert!(
        !middle.is_empty() && middle.iter().all(|a| *a == answer),
        "{answered:?}"
    );
}

fn refused(error: &Error) -> bool {
    matches!(error, Error::Refused { message, .. } if message == "overloaded")
}

fn timed_out(error: &Error) -> bool {
    matches!(error, Error::Timeout { .. })
}

fn unparseable(error: &Error) -> bool {
    matches!(error, Error::Protocol { .. })
}

#[tokio::test(start_paused = true)]
async fn http_failure() {
    let kind = FaultKind::Failure("overloaded".into());
    fault_then_recovery(
        Protocol::Http,
        kind,
        Expect::Fails(refused),
        Answer::Failure,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn udp_failure() {
    let kind = FaultKind::Failure("overloaded".into());
    fault_then_recovery(Protocol::Udp, kind, Expect::Fails(refused), Answer::Failure).await;
}

#[tokio::test(start_paused = true)]
async fn http_timeout_holds_until_the_client_gives_up() {
    let start = Instant::now();
    let expect = Expect::Fails(timed_out);
    fault_then_recovery(Protocol::Http, FaultKind::Timeout, expect, Answer::Timeout).await;
    assert!(start.elapsed() >= secs(40));
}

#[tokio::test(start_paused = true)]
async fn udp_timeout() {
    let expect = Expect::Fails(timed_out);
    fault_then_recovery(Protocol::Udp, FaultKind::Timeout, expect, Answer::Timeout).await;
}

#[tokio::test(start_paused = true)]
async fn http_garbage() {
    fn not_bencode(error: &Error) -> bool {
        matches!(
            error,
            Error::Protocol {
                source: tracker::Error::Bencode(_),
                ..
            }
        )
    }
    let expect = Expect::Fails(not_bencode);
    fault_then_recovery(Protocol::Http, FaultKind::Garbage, expect, Answer::Garbage).await;
}

#[tokio::test(start_paused = true)]
async fn udp_garbage() {
    let expect = Expect::Fails(unparseable);
    fault_then_recovery(Protocol::Udp, FaultKind::Garbage, expect, Answer::Garbage).await;
}

#[tokio::test(start_paused = true)]
async fn http_down_closes_without_a_response() {
    fn transport(error: &Error) -> bool {
        matches!(
            error,
            Error::Http {
                source: HttpError::Transport(_),
                ..
            }
        )
    }
    let expect = Expect::Fails(transport);
    fault_then_recovery(Protocol::Http, FaultKind::Down, expect, Answer::Down).await;
}

#[tokio::test(start_paused = true)]
async fn udp_down_is_silent() {
    let expect = Expect::Fails(timed_out);
    fault_then_recovery(Protocol::Udp, FaultKind::Down, expect, Answer::Down).await;
}

#[tokio::test(start_paused = true)]
async fn http_no_peers() {
    fault_then_recovery(
        Protocol::Http,
        FaultKind::NoPeers,
        Expect::NoPeers,
        Answer::NoPeers,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn udp_no_peers() {
    fault_then_recovery(
        Protocol::Udp,
        FaultKind::NoPeers,
        Expect::NoPeers,
        Answer::NoPeers,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn http_error_status() {
    fn status_503(error: &Error) -> bool {
        matches!(
            error,
            Error::Http {
                source: HttpError::Status(503),
                ..
            }
        )
    }
    let expect = Expect::Fails(status_503);
    let kind = FaultKind::HttpError(503);
    fault_then_recovery(Protocol::Http, kind, expect, Answer::HttpError(503)).await;
}

#[tokio::test(start_paused = true)]
async fn an_http_status_window_leaves_udp_alone() {
    let start = Instant::now();
    let config = Config {
        faults: Faults {
            windows: vec![FaultWindow {
                from: secs(0),
                until: None,
                kind: FaultKind::HttpError(500),
                protocol: None,
            }],
        },
        ..Config::default()
    };
    let fixture = Fixture::start(config).await;
    let mut over_udp = fixture.announcer(&fixture.udp, 1);
    over_udp
        .announce(request(1, 6881, 5, Event::Started))
        .await
        .unwrap();
    let mut over_http = fixture.announcer(&fixture.http, 2);
    let error = cause(
        over_http
            .announce(request(2, 6882, 5, Event::Started))
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(
            error,
            Error::Http {
                source: HttpError::Status(500),
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(start.elapsed(), secs(0));
}

#[tokio::test(start_paused = true)]
async fn udp_ignores_an_http_status_window() {
    let kind = FaultKind::HttpError(503);
    fault_then_recovery(Protocol::Udp, kind, Expect::Unaffected, Answer::Ok).await;
}

#[tokio::test(start_paused = true)]
async fn a_held_http_request_is_released_when_the_client_gives_up() {
    let config = Config {
        faults: Faults {
            windows: vec![FaultWindow {
                from: secs(0),
                until: None,
                kind: FaultKind::Timeout,
                protocol: None,
            }],
        },
        ..Config::default()
    };
    let fixture = Fixture::start(config).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    // The two serve loops.
    let idle = metrics.num_alive_tasks();
    let mut announcer = fixture.announcer(&fixture.http, 1);
    let error = cause(
        announcer
            .announce(request(1, 6881, 5, Event::Started))
            .await
            .unwrap_err(),
    );
    assert!(timed_out(&error), "{error}");
    // The window never ends, but the client closed its connection: hyper notices the EOF and
    // drops the held request with its connection task.
    tokio::time::sleep(secs(1)).await;
    assert_eq!(metrics.num_alive_tasks(), idle);
    assert_eq!(fixture.answered(), [Answer::Timeout]);
}
