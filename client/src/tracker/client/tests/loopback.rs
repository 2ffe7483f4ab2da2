//! The real thing on 127.0.0.1: [`TokioNet`] sockets against a tiny UDP tracker built from the
//! codec's own encoders, proving the client works outside the fake network.

use super::*;
use crate::net::TokioNet;
use crate::tracker::client::udp::{Client, Limits};
use crate::tracker::client::{Announcer, Config};

/// A UDP tracker on loopback that hands out connection id 42 and answers every announce with
/// two peers. Returns its address.
async fn spawn_loopback_tracker(net: &TokioNet) -> SocketAddr {
    let socket = net.bind_udp(addr("127.0.0.1:0")).await.unwrap();
    let local = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0; 2048];
        loop {
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            let answer = match codec::parse_request(&buf[..len]) {
                Ok(Request::Connect { transaction_id }) => {
                    codec::encode_connect_response(transaction_id, 42).to_vec()
                }
                Ok(Request::Announce {
                    connection_id: 42,
                    transaction_id,
                    req,
                }) => {
                    let peers = [addr("192.0.2.1:6881"), SocketAddr::new(from.ip(), req.port)];
                    codec::encode_announce_response(transaction_id, 600, 1, 2, &peers, false)
                }
                Ok(Request::Announce { transaction_id, .. }) => {
                    codec::encode_error(transaction_id, "bad connection id")
                }
                _ => continue,
            };
            socket.send_to(&answer, from).await.unwrap();
        }
    });
    local
}

#[tokio::test]
async fn udp_announce_over_real_loopback_sockets() {
    let net = TokioNet::new().unwrap();
    let tracker = spawn_loopback_tracker(&net).await;
    let url = format!("udp://127.0.0.1:{}/announce", tracker.port());
    let limits = Limits {
        attempts: 2,
        max_wait: secs(10),
    };
    let run = async {
        let mut client = Client::new(net.clone(), &url).unwrap();
        let resp = client
            .announce(&request(Event::Started), &mut rng(1), limits)
            .await
            .unwrap();
        assert_eq!(resp.interval, Some(600));
        assert_eq!((resp.complete, resp.incomplete), (Some(2), Some(1)));
        assert_eq!(resp.peers, [addr("192.0.2.1:6881"), addr("127.0.0.1:6881")]);

        let mut announcer = Announcer::new(
            net.clone(),
            vec![vec![url.clone()]],
            rng(2),
            Config::default(),
        );
        let resp = announcer.announce(request(Event::None)).await.unwrap();
        assert_eq!(resp.peers.len(), 2);
        assert_eq!(announcer.next_interval(), secs(600));
    };
    // Real time: a lost loopback datagram would mean a 15 s retransmission, so bound the test.
    tokio::time::timeout(secs(60), run).await.unwrap();
}

/// An HTTP server on loopback whose paths say what to do: `/loop` redirects to itself,
/// `/file` and `/ftp` redirect to those schemes, `/hopN` redirects to `/hop(N-1)`, and `/hop0`
/// answers an announce. One request per connection. Returns its base URL and a count of the
/// requests it served.
async fn spawn_redirecting_server(net: &TokioNet) -> (String, Arc<Mutex<usize>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = net.listen(addr("127.0.0.1:0")).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(Mutex::new(0));
    let (task_base, task_hits) = (base.clone(), Arc::clone(&hits));
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            *task_hits.lock().unwrap() += 1;
            let line = String::from_utf8_lossy(&request).into_owned();
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let path = path.split('?').next().unwrap_or("/").to_owned();
            let location = match path.as_str() {
                "/loop" => Some(format!("{task_base}/loop")),
                "/file" => Some("file:///etc/passwd".to_owned()),
                "/ftp" => Some("ftp://127.0.0.1/announce".to_owned()),
                "/hop0" => None,
                hop => {
                    let n: u32 = hop.trim_start_matches("/hop").parse().unwrap();
                    Some(format!("{task_base}/hop{}", n - 1))
                }
            };
            let answer = match location {
                Some(to) => format!(
                    "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                )
                .into_bytes(),
                None => {
                    let body = crate::tracker::http::encode_announce_response(
                        &crate::tracker::AnnounceResponse {
                            interval: Some(900),
                            ..Default::default()
                        },
                        true,
                    );
                    let mut head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    head.extend_from_slice(&body);
                    head
                }
            };
            stream.write_all(&answer).await.unwrap();
            stream.shutdown().await.unwrap();
        }
    });
    (base, hits)
}

#[tokio::test]
async fn http_redirects_are_few_and_http_only() {
    use crate::tracker::client::http;

    let net = TokioNet::new().unwrap();
    let (base, hits) = spawn_redirecting_server(&net).await;
    let announce = |path: &str| {
        let url = format!("{base}{path}");
        let net = net.clone();
        async move { http::announce(&net, &url, &request(Event::Started), secs(20)).await }
    };
    let served = || *hits.lock().unwrap();
    let run = async {
        // Three hops are followed.
        let resp = announce("/hop3").await.unwrap();
        assert_eq!(resp.interval, Some(900));
        assert_eq!(served(), 4);

        // A loop is given up after the first request and three redirects.
        let e = announce("/loop").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("tracker {base}/loop: http redirect not followed: more than 3 redirects")
        );
        assert_eq!(served(), 8);

        for scheme in ["file", "ftp"] {
            let e = announce(&format!("/{scheme}")).await.unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "tracker {base}/{scheme}: http redirect not followed: \
                     redirect to a `{scheme}` url"
                )
            );
        }
        assert_eq!(served(), 10);
    };
    // Real sockets: bound the test so a regression that follows forever fails, not hangs.
    tokio::time::timeout(secs(60), run).await.unwrap();
}
