//! A minimal UDP tracker on loopback, built from the client's own BEP 15 codec: it hands
//! every announcer the others it knows, until they announce `stopped`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bitswarm_client::net::Net;
use bitswarm_client::tracker::udp::{
    encode_announce_response, encode_connect_response, parse_request, Request,
};
use bitswarm_client::tracker::{AnnounceRequest, Event};

use super::{loopback, net};

pub type Log = Arc<Mutex<Vec<(SocketAddr, AnnounceRequest)>>>;

/// A UDP tracker on loopback that hands every announcer the others it knows (until they
/// announce `stopped`); returns its URL and the log of announces.
pub async fn tracker() -> (String, Log) {
    let socket = net().bind_udp(loopback()).await.unwrap();
    let url = format!("udp://{}", socket.local_addr().unwrap());
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        let mut swarm: BTreeMap<[u8; 20], SocketAddr> = BTreeMap::new();
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let answer = match parse_request(&buf[..n]) {
                Ok(Request::Connect { transaction_id }) => {
                    encode_connect_response(transaction_id, 42).to_vec()
                }
                Ok(Request::Announce {
                    transaction_id,
                    req,
                    ..
                }) => {
                    seen.lock().unwrap().push((from, req.clone()));
                    if req.event == Event::Stopped {
                        swarm.remove(&req.peer_id.0);
                    } else {
                        swarm.insert(req.peer_id.0, SocketAddr::new(from.ip(), req.port));
                    }
                    let others: Vec<SocketAddr> = swarm
                        .iter()
                        .filter(|(id, _)| **id != req.peer_id.0)
                        .map(|(_, addr)| *addr)
                        .collect();
                    encode_announce_response(transaction_id, 1800, 0, 0, &others, false)
                }
                _ => continue,
            };
            let _ = socket.send_to(&answer, from).await;
        }
    });
    (url, log)
}
