//! The DHT task's timers run however busy its socket is: under a flood of pings (ten a second,
//! never a quiet second) and with nothing else due, the token secret still rotates, so a token
//! handed out at the start is refused after two rotation periods. On turmoil's simulated
//! network, so the eleven minutes take well under a second.

use std::net::SocketAddr;
use std::time::Duration;

use bitswarm_client::dht::krpc::{Body, Krpc, Query};
use bitswarm_client::dht::node::{DhtConfig, SECRET_PERIOD};
use bitswarm_client::dht::NodeId;
use bitswarm_client::shell::dht::{Dht, DhtSetup};
use sim::TurmoilNet;
use turmoil::net::UdpSocket;

const PORT: u16 = 6881;

async fn send(sock: &UdpSocket, to: SocketAddr, tid: &[u8], id: NodeId, query: Query) {
    let msg = Krpc {
        tid: tid.to_vec(),
        body: Body::Query { id, query },
        ip: None,
    };
    sock.send_to(&msg.encode(), to).await.expect("send");
}

/// The next message on `sock` with transaction id `tid` (ping answers in between are skipped).
async fn answer(sock: &UdpSocket, tid: &[u8]) -> Body {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, _) = sock.recv_from(&mut buf).await.expect("recv");
        let msg = Krpc::parse(&buf[..n]).expect("a well-formed answer");
        if msg.tid == tid {
            return msg.body;
        }
    }
}

#[test]
fn the_token_secret_rotates_under_a_ping_flood() -> turmoil::Result {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(20 * 60))
        .tick_duration(Duration::from_millis(10))
        .build();
    sim.host("node", || async {
        let setup = DhtSetup {
            bind: SocketAddr::from(([0, 0, 0, 0], PORT)),
            routers: Vec::new(),
            seed: 7,
            config: DhtConfig::default(),
            state: None,
        };
        let _dht = Dht::start(TurmoilNet::default(), setup).await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("prober", async {
        let node = SocketAddr::new(turmoil::lookup("node"), PORT);
        // Ten nodes query it, so its table is full enough that it never bootstraps again:
        // after the first (routerless) bootstrap gives up, nothing else is due.
        let mut socks = Vec::new();
        for k in 0..10u8 {
            let sock = UdpSocket::bind(("0.0.0.0", 7000 + u16::from(k))).await?;
            send(&sock, node, b"p0", NodeId([k + 1; 20]), Query::Ping).await;
            answer(&sock, b"p0").await;
            socks.push(sock);
        }
        let (sock, id) = (&socks[0], NodeId([1; 20]));
        let info_hash = NodeId([0x42; 20]);
        send(sock, node, b"gp", id, Query::GetPeers { info_hash }).await;
        let Body::Response(r) = answer(sock, b"gp").await else {
            panic!("get_peers was not answered");
        };
        let token = r.token.expect("a token");
        // The flood: a ping every 100 ms for two rotation periods and a minute.
        let end = tokio::time::Instant::now() + SECRET_PERIOD * 2 + Duration::from_secs(60);
        while tokio::time::Instant::now() < end {
            send(sock, node, b"fl", id, Query::Ping).await;
            answer(sock, b"fl").await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let announce = Query::AnnouncePeer {
            info_hash,
            port: 7777,
            implied_port: false,
            token,
        };
        send(sock, node, b"an", id, announce).await;
        match answer(sock, b"an").await {
            Body::Error { .. } => Ok(()),
            other => panic!("a token two periods old was taken: {other:?}"),
        }
    });
    sim.run()
}
