//! One UDP tracker (BEP 15) over [`Net`]: resolving its host, one socket of the right family,
//! the connect exchange with its connection id cached for [`CONNECTION_ID_TTL`], announce and
//! scrape, and retransmission on BEP 15's 15 × 2ⁿ s schedule within the caller's [`Limits`].
//!
//! Packets that are not the answer we wait for (another source address, another transaction id)
//! are dropped and the wait goes on: UDP gives no guarantee that what arrives is ours, and a late
//! answer to an earlier request must not fail the current one.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::{timeout_at, Instant};
use tracing::debug;

use super::tiers::Endpoint;
use super::Error;
use crate::net::{Net, Udp};
use crate::tracker::udp::{self, Response, CONNECTION_ID_TTL, MAX_SCRAPE_HASHES};
use crate::tracker::{self, AnnounceRequest, AnnounceResponse, ScrapeStats};
use crate::InfoHash;

/// How long a host name may take to resolve. System resolvers retry for up to ~30 s on a dead
/// DNS server; half of that is plenty for a live one, and the tracker is simply skipped.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(15);

/// The receive buffer: the largest UDP payload, so no answer is ever cut short (a cut announce
/// answer would end mid-peer and be rejected as malformed). Allocated when an operation first
/// waits for an answer and freed when it ends, so idle trackers hold none.
const RECV_BUF_LEN: usize = 65_536;

/// How much patience one operation (announce or scrape) gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How many times each request (connect, announce, scrape) is sent before the tracker is
    /// given up on; send `n` (from 0) waits [`udp::retransmit_timeout`]`(n)` for its answer.
    /// [`udp::MAX_ATTEMPTS`] is BEP 15's full schedule.
    pub attempts: u32,
    /// A bound on the whole operation, resolution and reconnection included, whatever
    /// `attempts` says.
    pub max_wait: Duration,
}

/// A UDP tracker client: one per tracker URL, kept for the session so its socket and connection
/// id are reused.
pub struct Client<N: Net> {
    /// The network everything goes through.
    net: N,
    /// The announce URL, for error messages.
    url: String,
    /// The host to resolve, as the URL gave it.
    host: String,
    /// The tracker's port.
    port: u16,
    /// Our socket and whether it is IPv6. One per tracker, bound on first use with the family of
    /// the tracker's address: BEP 15 decides the peer-entry size by that family. Closed when an
    /// operation fails, so a dead tracker does not hold a descriptor between rounds.
    socket: Option<(N::Udp, bool)>,
    /// The tracker's resolved address; forgotten after a timeout so the next operation
    /// resolves again, in case the tracker moved.
    peer: Option<SocketAddr>,
    /// The connection id and when it arrived; valid for [`CONNECTION_ID_TTL`].
    connection: Option<(u64, Instant)>,
    /// Where datagrams are received: empty between operations (see [`RECV_BUF_LEN`]).
    buf: Vec<u8>,
}

/// What an operation sends once it has a connection id.
#[derive(Clone, Copy)]
enum Call<'a> {
    Announce(&'a AnnounceRequest),
    Scrape(&'a [InfoHash]),
}

/// The bounds of one running operation.
struct Op {
    /// When the operation began, to report how long it waited.
    started: Instant,
    /// When it must give up.
    deadline: Instant,
    /// Sends per request, from [`Limits::attempts`].
    attempts: u32,
}

impl<N: Net> Client<N> {
    /// A client for the tracker at `url`, which must be a `udp://host:port` URL. Nothing is
    /// resolved or bound until the first operation.
    pub fn new(net: N, url: &str) -> Result<Self, Error> {
        match Endpoint::parse(url)? {
            Endpoint::Udp { host, port } => Ok(Self::from_parts(net, url, host, port)),
            Endpoint::Http => Err(Error::UnsupportedScheme {
                url: url.to_owned(),
                scheme: "http".into(),
            }),
        }
    }

    /// A client for an already-parsed UDP endpoint.
    pub(super) fn from_parts(net: N, url: &str, host: String, port: u16) -> Self {
        Client {
            net,
            url: url.to_owned(),
            host,
            port,
            socket: None,
            peer: None,
            connection: None,
            buf: Vec::new(),
        }
    }

    /// The tracker's announce URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the client holds a socket or a receive buffer, which it should only between
    /// successful operations (the socket) or during one (the buffer).
    #[cfg(test)]
    pub(crate) fn holds(&self) -> (bool, bool) {
        (self.socket.is_some(), !self.buf.is_empty())
    }

    /// Announces `req` (its `tracker_id` is ignored: UDP has no such field). Transaction ids
    /// come from `rng`.
    pub async fn announce(
        &mut self,
        req: &AnnounceRequest,
        rng: &mut ChaCha8Rng,
        limits: Limits,
    ) -> Result<AnnounceResponse, Error> {
        match self.run(Call::Announce(req), rng, limits).await? {
            Response::Announce(resp) => Ok(resp),
            other => Err(self.unexpected("announce", &other)),
        }
    }

    /// Scrapes `hashes`, returning their counts in the same order. More than
    /// [`MAX_SCRAPE_HASHES`] are asked in several requests.
    pub async fn scrape(
        &mut self,
        hashes: &[InfoHash],
        rng: &mut ChaCha8Rng,
        limits: Limits,
    ) -> Result<Vec<ScrapeStats>, Error> {
        let mut all = Vec::with_capacity(hashes.len());
        for chunk in hashes.chunks(MAX_SCRAPE_HASHES) {
            let stats = match self.run(Call::Scrape(chunk), rng, limits).await? {
                Response::Scrape(stats) => stats,
                other => return Err(self.unexpected("scrape", &other)),
            };
            if stats.len() != chunk.len() {
                return Err(self.protocol(tracker::Error::Malformed {
                    field: "scrape",
                    problem: format!("{} entries for {} info-hashes", stats.len(), chunk.len()),
                }));
            }
            all.extend(stats);
        }
        Ok(all)
    }

    /// Runs one operation and, when it fails, forgets what may be stale or wasteful: the
    /// address (the tracker may have moved), the connection id, and the socket (a tracker that
    /// does not answer must not hold a descriptor until the next round). The receive buffer is
    /// freed either way.
    async fn run(
        &mut self,
        call: Call<'_>,
        rng: &mut ChaCha8Rng,
        limits: Limits,
    ) -> Result<Response, Error> {
        let started = tokio::time::Instant::now();
        let op = Op {
            started,
            // A caller's "forever" (`Duration::MAX`) must not overflow the clock: a year will do.
            deadline: started
                .checked_add(limits.max_wait)
                .unwrap_or(started + Duration::from_secs(365 * 24 * 3600)),
            attempts: limits.attempts,
        };
        let result = self.call(call, rng, &op).await;
        self.buf = Vec::new();
        if result.is_err() {
            self.socket = None;
            self.peer = None;
            self.connection = None;
        }
        result
    }

    /// Sends `call` with a valid connection id and waits for its answer.
    ///
    /// The connection id is reused while younger than [`CONNECTION_ID_TTL`]. If it expires while
    /// we wait for retransmissions, we reconnect before the next send (BEP 15), still counting
    /// sends against `attempts`. If the tracker answers a request that used a cached id with an
    /// error, the id may have been invalidated on its side (a restart, a shorter TTL): we
    /// reconnect once and ask again before believing the error.
    async fn call(
        &mut self,
        call: Call<'_>,
        rng: &mut ChaCha8Rng,
        op: &Op,
    ) -> Result<Response, Error> {
        let peer = self.prepare(op).await?;
        let mut sent = 0;
        let mut may_reconnect_on_error = true;
        loop {
            if sent >= op.attempts {
                return Err(self.timeout(op));
            }
            let (connection_id, cached) = match self.valid_connection() {
                Some(id) => (id, true),
                None => (self.connect(rng, op, peer).await?, false),
            };
            let transaction_id: u32 = rng.gen();
            let packet = match call {
                Call::Announce(req) => {
                    udp::announce_request(connection_id, transaction_id, req).to_vec()
                }
                Call::Scrape(hashes) => udp::scrape_request(connection_id, transaction_id, hashes)
                    .map_err(|e| self.protocol(e))?,
            };
            loop {
                if sent >= op.attempts || tokio::time::Instant::now() >= op.deadline {
                    return Err(self.timeout(op));
                }
                self.send(&packet, peer).await?;
                let wait = udp::retransmit_timeout(sent);
                sent += 1;
                match self.receive(transaction_id, peer, wait, op).await? {
                    Some(Response::Error(message)) if cached && may_reconnect_on_error => {
                        debug!(tracker = %self.url, %message, "error with a cached connection id, reconnecting");
                        self.connection = None;
                        may_reconnect_on_error = false;
                        sent = 0;
                        break;
                    }
                    Some(Response::Error(message)) => return Err(self.refused(message)),
                    Some(answer) => return Ok(answer),
                    None if self.valid_connection().is_none() => {
                        debug!(tracker = %self.url, "connection id expired while waiting");
                        break;
                    }
                    None => {}
                }
            }
        }
    }

    /// Gets a fresh connection id.
    async fn connect(
        &mut self,
        rng: &mut ChaCha8Rng,
        op: &Op,
        peer: SocketAddr,
    ) -> Result<u64, Error> {
        let transaction_id: u32 = rng.gen();
        let packet = udp::connect_request(transaction_id);
        for attempt in 0..op.attempts {
            if tokio::time::Instant::now() >= op.deadline {
                break;
            }
            self.send(&packet, peer).await?;
            let wait = udp::retransmit_timeout(attempt);
            match self.receive(transaction_id, peer, wait, op).await? {
                Some(Response::Connect { connection_id }) => {
                    self.connection = Some((connection_id, tokio::time::Instant::now()));
                    return Ok(connection_id);
                }
                Some(Response::Error(message)) => return Err(self.refused(message)),
                Some(other) => return Err(self.unexpected("connect", &other)),
                None => {}
            }
        }
        Err(self.timeout(op))
    }

    /// The cached connection id, if it is still young enough to use.
    fn valid_connection(&self) -> Option<u64> {
        let (id, since) = self.connection?;
        (since.elapsed() < CONNECTION_ID_TTL).then_some(id)
    }

    /// Resolves the tracker if needed and makes sure we have a socket of its address family.
    async fn prepare(&mut self, op: &Op) -> Result<SocketAddr, Error> {
        let peer = match self.peer {
            Some(peer) => peer,
            None => {
                let until = op
                    .deadline
                    .min(tokio::time::Instant::now() + RESOLVE_TIMEOUT);
                let addrs = match timeout_at(until, self.net.resolve(&self.host, self.port)).await {
                    Err(_) => return Err(self.timeout(op)),
                    Ok(Err(e)) => return Err(self.resolve_error(e.to_string())),
                    Ok(Ok(addrs)) => addrs,
                };
                // The resolver's first choice: it already orders addresses by preference
                // (RFC 6724), and taking the first keeps the simulation deterministic.
                let peer = *addrs
                    .first()
                    .ok_or_else(|| self.resolve_error("no addresses".into()))?;
                self.peer = Some(peer);
                self.connection = None;
                peer
            }
        };
        let v6 = peer.is_ipv6();
        if !matches!(self.socket, Some((_, family)) if family == v6) {
            let local = if v6 {
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
            } else {
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
            };
            let socket = self
                .net
                .bind_udp(local)
                .await
                .map_err(|source| self.io_error(source))?;
            self.socket = Some((socket, v6));
            // Trackers tie connection ids to the client's address, which just changed.
            self.connection = None;
        }
        Ok(peer)
    }

    /// Sends `packet` to the tracker.
    async fn send(&self, packet: &[u8], peer: SocketAddr) -> Result<(), Error> {
        let Some((socket, _)) = &self.socket else {
            return Err(self.io_error(std::io::ErrorKind::NotConnected.into()));
        };
        socket
            .send_to(packet, peer)
            .await
            .map_err(|source| self.io_error(source))?;
        Ok(())
    }

    /// Waits up to `wait` (and never past the operation's deadline) for the answer to
    /// `transaction_id` from `peer`; `None` when the time runs out. Other packets are dropped.
    async fn receive(
        &mut self,
        transaction_id: u32,
        peer: SocketAddr,
        wait: Duration,
        op: &Op,
    ) -> Result<Option<Response>, Error> {
        let until = op.deadline.min(tokio::time::Instant::now() + wait);
        if self.buf.is_empty() {
            self.buf = vec![0; RECV_BUF_LEN];
        }
        let Some((socket, v6)) = &self.socket else {
            return Err(self.io_error(std::io::ErrorKind::NotConnected.into()));
        };
        loop {
            let (len, from) = match timeout_at(until, socket.recv_from(&mut self.buf)).await {
                Err(_) => return Ok(None),
                Ok(Err(source)) => {
                    return Err(Error::Io {
                        url: self.url.clone(),
                        source,
                    })
                }
                Ok(Ok(got)) => got,
            };
            if from != peer {
                debug!(tracker = %self.url, %from, "dropping datagram from another address");
                continue;
            }
            let packet = self.buf.get(..len).unwrap_or_default();
            match udp::parse_response(packet, transaction_id, *v6) {
                Ok(answer) => return Ok(Some(answer)),
                Err(e @ tracker::Error::TransactionMismatch { .. }) => {
                    debug!(tracker = %self.url, "dropping datagram: {e}");
                }
                Err(source) => {
                    return Err(Error::Protocol {
                        url: self.url.clone(),
                        source,
                    })
                }
            }
        }
    }

    fn timeout(&self, op: &Op) -> Error {
        Error::Timeout {
            url: self.url.clone(),
            after: op.started.elapsed(),
        }
    }

    fn refused(&self, message: String) -> Error {
        Error::Refused {
            url: self.url.clone(),
            message,
        }
    }

    fn protocol(&self, source: tracker::Error) -> Error {
        Error::Protocol {
            url: self.url.clone(),
            source,
        }
    }

    fn resolve_error(&self, reason: String) -> Error {
        Error::Resolve {
            url: self.url.clone(),
            reason,
        }
    }

    fn io_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            url: self.url.clone(),
            source,
        }
    }

    fn unexpected(&self, expected: &'static str, got: &Response) -> Error {
        Error::UnexpectedAnswer {
            url: self.url.clone(),
            expected,
            got: match got {
                Response::Connect { .. } => "connect",
                Response::Announce(_) => "announce",
                Response::Scrape(_) => "scrape",
                Response::Error(_) => "error",
            },
        }
    }
}
