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
