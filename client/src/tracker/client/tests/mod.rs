//! Tests of the tracker client on an in-memory network ([`FakeNet`]) under tokio's paused clock,
//! so timeouts and retransmissions are checked to the second without waiting; plus one test on
//! real loopback sockets. Split by subject: `http`, `udp`, `announcer`, `loopback`.

mod announcer;
mod http;
mod loopback;
mod udp;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::net::{HttpError, Listener, Net, Udp};
use crate::tracker::udp::{self as codec, Request};
use crate::tracker::{AnnounceRequest, Event};
use crate::{InfoHash, PeerId};

/// Where the fake network puts a client socket bound to `0.0.0.0:0`.
const CLIENT_V4: &str = "10.0.0.1";
/// Where the fake network puts a client socket bound to `[::]:0`.
const CLIENT_V6: &str = "fd00::1";

/// A datagram in flight: payload and source.
type Datagram = (Vec<u8>, SocketAddr);

/// What the fake HTTP server answers for one tracker URL.
#[derive(Debug, Clone)]
pub(super) enum HttpReply {
    /// A 2xx answer with this body.
    Body(Vec<u8>),
    /// A failure as the network layer reports it (status, transport).
    Fail(HttpError),
    /// Never answers, to exercise the timeout.
    Hang,
}

/// An in-memory network: UDP sockets are channels routed by address, names resolve from a
/// table, HTTP GETs answer from a table of base URLs. It is cheap to clone; clones share state.
#[derive(Clone, Default)]
pub(super) struct FakeNet {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Answers by URL without its query string.
    http: BTreeMap<String, HttpReply>,
    /// Every URL fetched, with the (virtual) time since the test began.
    http_log: Vec<(Duration, String)>,
    /// Host name to addresses.
    dns: BTreeMap<String, Vec<SocketAddr>>,
    /// Bound UDP sockets by address.
    sockets: BTreeMap<SocketAddr, mpsc::UnboundedSender<Datagram>>,
    /// The next port handed to a socket bound to port 0.
    next_port: u16,
    /// Client sockets (bound to port 0): how many were ever bound, how many are open now, and
    /// the most open at once, to check that dead trackers do not keep descriptors.
    client_binds: usize,
    client_open: usize,
    client_peak: usize,
    /// When the network was made, for log timestamps.
    start: Option<Instant>,
}

impl FakeNet {
    pub(super) fn new() -> Self {
        let net = FakeNet::default();
        {
            let mut inner = net.inner.lock().unwrap();
            inner.next_port = 40_000;
            inner.start = Some(Instant::now());
        }
        net
    }

    /// Makes GETs of `url` (plus any query) answer `reply`.
    pub(super) fn http(&self, url: &str, reply: HttpReply) {
        let mut inner = self.inner.lock().unwrap();
        inner.http.insert(url.to_owned(), reply);
    }

    /// Every URL fetched so far, with its time since the network was made.
    pub(super) fn http_log(&self) -> Vec<(Duration, String)> {
        self.inner.lock().unwrap().http_log.clone()
    }

    /// Makes `host` resolve to `addrs`.
    pub(super) fn dns(&self, host: &str, addrs: &[SocketAddr]) {
        let mut inner = self.inner.lock().unwrap();
        inner.dns.insert(host.to_owned(), addrs.to_vec());
    }

    /// Client sockets: (bound in total, open now, most open at once).
    pub(super) fn client_sockets(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock().unwrap();
        (inner.client_binds, inner.client_open, inner.client_peak)
    }

    fn elapsed(&self) -> Duration {
        let inner = self.inner.lock().unwrap();
        inner.start.map(|s| s.elapsed()).unwrap_or_default()
    }
}

/// One end of the in-memory UDP.
pub(super) struct FakeUdp {
    local: SocketAddr,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Datagram>>,
    net: FakeNet,
    /// Bound to port 0, so counted as a client socket.
    client: bool,
}

impl Drop for FakeUdp {
    /// Closing frees the address, as the real network does, and counts the socket closed.
    fn drop(&mut self) {
        if let Ok(mut inner) = self.net.inner.lock() {
            inner.sockets.remove(&self.local);
            if self.client {
                inner.client_open -= 1;
            }
        }
    }
}

impl Udp for FakeUdp {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        let route = self.net.inner.lock().unwrap().sockets.get(&addr).cloned();
        // Like the real network, a datagram to nowhere vanishes without an error.
        if let Some(tx) = route {
            let _ = tx.send((buf.to_vec(), self.local));
        }
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (data, from) = self
            .rx
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(|| io::Error::other("socket closed"))?;
        let len = data.len().min(buf.len());
        buf[..len].copy_from_slice(&data[..len]);
        Ok((len, from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The tracker client never uses TCP; this listener exists only to satisfy [`Net`].
pub(super) struct NoListener;

impl Listener for NoListener {
    type Stream = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Net for FakeNet {
    type Stream = DuplexStream;
    type Listener = NoListener;
    type Udp = FakeUdp;

    fn local_ips(&self) -> Vec<std::net::IpAddr> {
        Vec::new()
    }

    async fn connect(&self, _addr: SocketAddr) -> io::Result<DuplexStream> {
        Err(io::ErrorKind::ConnectionRefused.into())
    }

    async fn listen(&self, _addr: SocketAddr) -> io::Result<NoListener> {
        Ok(NoListener)
    }

    async fn join_multicast(&self, _group: SocketAddr) -> io::Result<FakeUdp> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no multicast here",
        ))
    }

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<FakeUdp> {
        let mut inner = self.inner.lock().unwrap();
        let client = addr.port() == 0;
        let local = if !client {
            addr
        } else {
            let ip = if addr.is_ipv6() { CLIENT_V6 } else { CLIENT_V4 };
            inner.next_port += 1;
            SocketAddr::new(ip.parse().unwrap(), inner.next_port)
        };
        if inner.sockets.contains_key(&local) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        inner.sockets.insert(local, tx);
        if client {
            inner.client_binds += 1;
            inner.client_open += 1;
            inner.client_peak = inner.client_peak.max(inner.client_open);
        }
        Ok(FakeUdp {
            local,
            rx: tokio::sync::Mutex::new(rx),
            net: self.clone(),
            client,
        })
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let inner = self.inner.lock().unwrap();
        let addrs = inner.dns.get(host).ok_or(io::ErrorKind::NotFound)?;
        Ok(addrs
            .iter()
            .map(|a| SocketAddr::new(a.ip(), port))
            .collect())
    }

    async fn http_get(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let reply = {
            let elapsed = self.elapsed();
            let mut inner = self.inner.lock().unwrap();
            inner.http_log.push((elapsed, url.to_owned()));
            let base = url.split_once('?').map_or(url, |(base, _)| base);
            inner.http.get(base).cloned()
        };
        match reply {
            Some(HttpReply::Body(body)) => Ok(body),
            Some(HttpReply::Fail(e)) => Err(e),
            Some(HttpReply::Hang) => std::future::pending().await,
            None => Err(HttpError::Transport("connection refused".into())),
        }
    }
}

/// A request as the fake tracker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    /// Virtual time since the tracker started.
    pub at: Duration,
    /// The sender.
    pub from: SocketAddr,
    /// What was asked.
    pub request: Request,
}

/// What the fake tracker does with a request.
pub(super) enum Reply {
    /// Answers with this datagram.
    Send(Vec<u8>),
    /// Sends this datagram from another address of the tracker's host (port + 1), which the
    /// client must ignore.
    SendFromElsewhere(Vec<u8>),
}

/// The tracker's behaviour: given the request's index (from 0) and the request, the datagrams to
/// send back, in order (none: the request is "lost").
pub(super) type Script = Box<dyn FnMut(usize, &Request) -> Vec<Reply> + Send>;

/// Starts a scripted UDP tracker on `addr`; the returned log fills as requests arrive.
pub(super) async fn spawn_tracker(
    net: &FakeNet,
    addr: SocketAddr,
    mut script: Script,
) -> Arc<Mutex<Vec<Seen>>> {
    let socket = net.bind_udp(addr).await.unwrap();
    let elsewhere = net
        .bind_udp(SocketAddr::new(addr.ip(), addr.port() + 1))
        .await
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let task_log = Arc::clone(&log);
    let start = Instant::now();
    tokio::spawn(async move {
        let mut buf = vec![0; 2048];
        for index in 0.. {
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            let request = codec::parse_request(&buf[..len]).unwrap();
            task_log.lock().unwrap().push(Seen {
                at: start.elapsed(),
                from,
                request: request.clone(),
            });
            for reply in script(index, &request) {
                match reply {
                    Reply::Send(packet) => socket.send_to(&packet, from).await.unwrap(),
                    Reply::SendFromElsewhere(packet) => {
                        elsewhere.send_to(&packet, from).await.unwrap()
                    }
                };
            }
        }
    });
    log
}

/// A script for a well-behaved tracker: connection ids 1, 2, 3... one per connect, and
/// announces answered with `peers` (interval 1800, 3 leechers, 5 seeders).
pub(super) fn well_behaved(peers: Vec<SocketAddr>) -> Script {
    let mut next_id = 0;
    Box::new(move |_, request| match request {
        Request::Connect { transaction_id } => {
            next_id += 1;
            vec![Reply::Send(
                codec::encode_connect_response(*transaction_id, next_id).to_vec(),
            )]
        }
        Request::Announce { transaction_id, .. } => {
            vec![Reply::Send(announce_answer(*transaction_id, &peers))]
        }
        Request::Scrape { .. } => Vec::new(),
    })
}

/// An announce answer carrying `peers`, with the family taken from the peers.
pub(super) fn announce_answer(transaction_id: u32, peers: &[SocketAddr]) -> Vec<u8> {
    let v6 = peers.first().is_some_and(SocketAddr::is_ipv6);
    codec::encode_announce_response(transaction_id, 1800, 3, 5, peers, v6)
}

/// The request every test announces, with a placeholder key the announcer overwrites.
pub(super) fn request(event: Event) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0xab; 20]),
        peer_id: PeerId::ours([7; 12]),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event,
        numwant: Some(50),
        key: 0,
        tracker_id: None,
    }
}

pub(super) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The kinds of requests in a tracker log, compactly: `C` connect, `A<id>` announce with its
/// connection id, `S<id>` scrape; with arrival seconds.
pub(super) fn summary(log: &Mutex<Vec<Seen>>) -> Vec<(u64, String)> {
    log.lock()
        .unwrap()
        .iter()
        .map(|seen| {
            let what = match &seen.request {
                Request::Connect { .. } => "C".to_owned(),
                Request::Announce { connection_id, .. } => format!("A{connection_id}"),
                Request::Scrape { connection_id, .. } => format!("S{connection_id}"),
            };
            (seen.at.as_secs(), what)
        })
        .collect()
}
