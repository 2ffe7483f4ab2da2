//! One DHT node, sans-IO: datagrams and the time come in; datagrams to send, peers found and
//! finished lookups come out. It answers `ping`, `find_node`, `get_peers` and `announce_peer`
//! (tokens from a rotating secret), and runs iterative lookups with [`ALPHA`] queries in
//! flight, which can end by announcing us to the closest nodes that gave a token.
//!
//! Hostile input costs little: a malformed query is answered with a KRPC error (or dropped
//! when it has no transaction id), a response counts only from the address its query went to
//! and with a transaction id we issued, queries per IP are rate limited, and every store
//! (pending queries, lookups, announced peers) is capped.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha1::{Digest, Sha1};

use super::id::NodeId;
use super::krpc::{Body, Krpc, Query, Response, ERROR_GENERIC, ERROR_PROTOCOL};
use super::routing::{Inserted, RoutingTable, K};

/// Queries in flight per lookup (BEP 5's alpha).
pub const ALPHA: usize = 3;

/// Candidates a lookup keeps, closest first.
pub(super) const MAX_CANDIDATES: usize = 4 * K;

/// Lookups running at once; more are refused.
pub const MAX_LOOKUPS: usize = 16;

/// Queries awaiting an answer at once (lookups, pings, bootstrap); more are not sent.
const MAX_PENDING: usize = 256;

/// Torrents we store peers for, and peers per torrent.
pub const MAX_TORRENTS: usize = 2000;
pub const MAX_PEERS_PER_TORRENT: usize = 100;

/// Peers given in one `get_peers` answer (fits a datagram).
const MAX_VALUES_SENT: usize = 50;

/// How long an announced peer is kept, and how often the token secret rotates (a token stays
/// valid for two periods).
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
pub const SECRET_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Settings a simulation or a test may change.
#[derive(Debug, Clone, Copy)]
pub struct DhtConfig {
    /// An unanswered query fails after this long.
    pub query_timeout: Duration,
    /// Queries answered per source IP per second; more are dropped.
    pub queries_per_ip: u32,
    /// BEP 42 exempts nodes on loopback, private and link-local addresses from the rule that
    /// binds ids to IPs. The simulator, whose hosts all have private addresses, turns the
    /// exemption off to hold its nodes to the rule as if their addresses were public.
    pub exempt_local: bool,
}

impl Default for DhtConfig {
    fn default() -> Self {
        DhtConfig {
            query_timeout: Duration::from_secs(5),
            queries_per_ip: 50,
            exempt_local: true,
        }
    }
}

/// Names a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What the node wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhtAction {
    /// Send this datagram.
    Send { to: SocketAddr, datagram: Vec<u8> },
    /// A `get_peers` lookup found these peers (more may follow).
    Peers {
        lookup: LookupId,
        peers: Vec<SocketAddr>,
    },
    /// A lookup ended (after its announces, if it was to announce).
    Done { lookup: LookupId },
    /// Nodes agree our address is `external`, for which BEP 42 does not allow our id: we took
    /// the new `id`, one it allows (keep it for the next run).
    NewId { id: NodeId, external: IpAddr },
}

#[derive(Debug, Clone)]
struct Pending {
    to: SocketAddr,
    node: Option<NodeId>,
    lookup: Option<LookupId>,
    sent_at: Duration,
}

/// A DHT node.
#[derive(Debug)]
pub struct DhtNode {
    config: DhtConfig,
    table: RoutingTable,
    rng: ChaCha8Rng,
    secrets: [[u8; 16]; 2],
    rotated_at: Duration,
    next_tid: u16,
    pending: BTreeMap<[u8; 2], Pending>,
    lookups: BTreeMap<LookupId, Lookup>,
    next_lookup: u64,
    store: BTreeMap<NodeId, Vec<(SocketAddr, Duration)>>,
    /// Queries per IP in the current second: (second, count).
    rates: BTreeMap<IpAddr, (u64, u32)>,
    /// Our address as other nodes see it (BEP 42's `ip`), once enough of them agree.
    external: Option<IpAddr>,
    /// Addresses answering nodes said we have, each with the IPs of the nodes that said so.
    ip_votes: BTreeMap<IpAddr, BTreeSet<IpAddr>>,
    actions: VecDeque<DhtAction>,
}

impl DhtNode {
    pub fn new(id: NodeId, config: DhtConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let secrets = [rng.gen(), rng.gen()];
        DhtNode {
            config,
            table: RoutingTable::new(id),
            rng,
            secrets,
            rotated_at: Duration::ZERO,
            next_tid: 0,
            pending: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            store: BTreeMap::new(),
            rates: BTreeMap::new(),
            external: None,
            ip_votes: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.table.own_id()
    }

    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    pub fn next_action(&mut self) -> Option<DhtAction> {
        self.actions.pop_front()
    }

    /// Joins the network through `routers` (addresses only): a lookup of our own id.
    pub fn bootstrap(&mut self, now: Duration, routers: &[SocketAddr]) -> Option<LookupId> {
        let own = self.id();
        let seeds = routers.iter().map(|&addr| (None, addr)).collect();
        self.start(now, own, false, None, seeds)
    }

    /// Looks for peers of `info_hash`; announces `announce` (our port) to the closest nodes
    /// at the end if given. `None` when too many lookups run already.
    pub fn get_peers(
        &mut self,
        now: Duration,
        info_hash: NodeId,
        announce: Option<u16>,
    ) -> Option<LookupId> {
        let seeds = self.seed_candidates(&info_hash);
        self.start(now, info_hash, true, announce, seeds)
    }

    pub(super) fn seed_candidates(&self, target: &NodeId) -> Vec<(Option<NodeId>, SocketAddr)> {
        self.table
            .closest(target, MAX_CANDIDATES)
            .into_iter()
            .map(|e| (Some(e.id), e.addr))
            .collect()
    }

    /// A datagram from `from`.
    pub fn datagram(&mut self, now: Duration, from: SocketAddr, bytes: &[u8]) {
        match Krpc::parse(bytes) {
            Ok(msg) => match msg.body {
                Body::Query { id, query } => self.on_query(now, from, msg.tid, id, query),
                Body::Response(r) => self.on_response(now, from, &msg.tid, r, msg.ip),
                Body::Error { .. } => self.on_error(now, from, &msg.tid),
            },
            Err(m) => {
                self.garbled(now, from, m.tid.as_deref());
                let code = m.code();
                if let Some(tid) = m.tid {
                    if self.allow(now, from.ip()) {
                        let message = m.error.to_string();
                        self.reply(from, tid, Body::Error { code, message });
                    }
                }
            }
        }
    }

    /// A malformed datagram from `from`. If we await an answer from there, this was it: the
    /// query (the one its transaction id names, else every one to `from`) fails now rather
    /// than at its timeout, and its lookup moves on.
    fn garbled(&mut self, now: Duration, from: SocketAddr, tid: Option<&[u8]>) {
        let named = tid
            .and_then(|t| <[u8; 2]>::try_from(t).ok())
            .filter(|k| self.pending.get(k).is_some_and(|p| p.to == from));
        let keys: Vec<[u8; 2]> = match named {
            Some(k) => vec![k],
            None => self
                .pending
                .iter()
                .filter(|(_, p)| p.to == from)
                .map(|(k, _)| *k)
                .collect(),
        };
        for k in keys {
            if let Some(p) = self.pending.remove(&k) {
                self.query_failed(now, p);
            }
        }
    }

    /// Whether a query from `ip` is within its rate.
    fn allow(&mut self, now: Duration, ip: IpAddr) -> bool {
        let sec = now.as_secs();
        if self.rates.len() > 10_000 {
            self.rates.retain(|_, (s, _)| *s == sec);
        }
        let entry = self.rates.entry(ip).or_insert((sec, 0));
        if entry.0 != sec {
            *entry = (sec, 0);
        }
        entry.1 += 1;
        entry.1 <= self.config.queries_per_ip
    }

    fn reply(&mut self, to: SocketAddr, tid: Vec<u8>, body: Body) {
        let msg = Krpc {
            tid,
            body,
            ip: Some(to),
        };
        let datagram = msg.encode();
        self.actions.push_back(DhtAction::Send { to, datagram });
    }

    fn on_query(
        &mut self,
        now: Duration,
        from: SocketAddr,
        tid: Vec<u8>,
        id: NodeId,
        query: Query,
    ) {
        if !self.allow(now, from.ip()) {
            return;
        }
        self.table.insert(now, id, from, true);
        let own = Some(self.id());
        let body = match query {
            Query::Ping => Body::Response(Response {
                id: own,
                ..Response::default()
            }),
            Query::FindNode { target } => Body::Response(Response {
                id: own,
                nodes: self.closest_pairs(&target),
                ..Response::default()
            }),
            Query::GetPeers { info_hash } => {
                let values = self.stored(now, &info_hash);
                let nodes = if values.is_empty() {
                    self.closest_pairs(&info_hash)
                } else {
                    Vec::new()
                };
                Body::Response(Response {
                    id: own,
                    nodes,
                    values,
                    token: Some(self.token(from.ip(), 0).to_vec()),
                })
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => match self.on_announce(now, from, info_hash, port, implied_port, &token) {
                Ok(()) => Body::Response(Response {
                    id: own,
                    ..Response::default()
                }),
                Err((code, message)) => Body::Error {
                    code,
                    message: message.to_string(),
                },
            },
        };
        self.reply(from, tid, body);
    }

    /// Stores an announced peer if its token is one we gave its IP; else the error to answer.
    fn on_announce(
        &mut self,
        now: Duration,
        from: SocketAddr,
        info_hash: NodeId,
        port: u16,
        implied_port: bool,
        token: &[u8],
    ) -> Result<(), (i64, &'static str)> {
        if !(0..2).any(|s| self.token(from.ip(), s).as_slice() == token) {
            return Err((ERROR_PROTOCOL, "bad token"));
        }
        let port = if implied_port { from.port() } else { port };
        if port == 0 {
            return Err((ERROR_PROTOCOL, "port 0"));
        }
        if !self.remember(now, info_hash, SocketAddr::new(from.ip(), port)) {
            return Err((ERROR_GENERIC, "storage full"));
        }
        Ok(())
    }

    fn closest_pairs(&self, target: &NodeId) -> Vec<(NodeId, SocketAddr)> {
        self.table
            .closest(target, K)
            .into_iter()
            .map(|e| (e.id, e.addr))
            .collect()
    }

    /// Peers stored for `info_hash`, fresh ones, at most a datagram's worth.
    fn stored(&self, now: Duration, info_hash: &NodeId) -> Vec<SocketAddr> {
        self.store
            .get(info_hash)
            .map(|peers| {
                peers
                    .iter()
                    .filter(|(_, at)| now.saturating_sub(*at) < PEER_TTL)
                    .map(|(a, _)| *a)
                    .take(MAX_VALUES_SENT)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stores an announced peer; `false` when the store is full.
    fn remember(&mut self, now: Duration, info_hash: NodeId, peer: SocketAddr) -> bool {
        if !self.store.contains_key(&info_hash) && self.store.len() >= MAX_TORRENTS {
            return false;
        }
        let peers = self.store.entry(info_hash).or_default();
        if let Some(p) = peers.iter_mut().find(|(a, _)| *a == peer) {
            p.1 = now;
        } else if peers.len() >= MAX_PEERS_PER_TORRENT {
            // The stalest entry makes room.
            if let Some(oldest) = peers.iter_mut().min_by_key(|(_, at)| *at) {
                *oldest = (peer, now);
            }
        } else {
            peers.push((peer, now));
        }
        true
    }

    /// The token for `ip` under the current (`which` 0) or previous (1) secret.
    fn token(&self, ip: IpAddr, which: usize) -> [u8; 8] {
        let mut h = Sha1::new();
        h.update(self.secrets[which]);
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        let digest = h.finalize();
        let mut t = [0u8; 8];
        t.copy_from_slice(&digest[..8]);
        t
    }

    /// Takes the pending query `tid` if it went to `from`; answers from elsewhere are spoofs.
    fn take_pending(&mut self, from: SocketAddr, tid: &[u8]) -> Option<Pending> {
        let key = <[u8; 2]>::try_from(tid).ok()?;
        if self.pending.get(&key)?.to != from {
            return None;
        }
        self.pending.remove(&key)
    }

    fn on_response(
        &mut self,
        now: Duration,
        from: SocketAddr,
        tid: &[u8],
        r: Response,
        seen_as: Option<SocketAddr>,
    ) {
        let Some(p) = self.take_pending(from, tid) else {
            return;
        };
        let Some(id) = r.id else {
            return self.query_failed(now, p);
        };
        if let Some(seen_as) = seen_as {
            self.vote_external(now, from.ip(), seen_as.ip());
        }
        if let Inserted::PingFirst(qid, qaddr) = self.table.insert(now, id, from, true) {
            self.ping(now, qid, qaddr);
        }
        self.seed_waiting(now);
        let Some(lid) = p.lookup else {
            return;
        };
        let own = self.id();
        let Some(lookup) = self.lookups.get_mut(&lid) else {
            return;
        };
        if let Some(c) = lookup.cands.iter_mut().find(|c| c.addr == from) {
            let fits = verified(&self.config, &id, from.ip());
            if c.known && c.id != id && !fits {
                // Not the node it was named as, and under an id BEP 42 does not allow there:
                // its place (by the named id) and its answer are both suspect, so neither
                // counts. (A node that moved to an id BEP 42 allows is one that learned its
                // address, as ours does; it counts under its new id.)
                c.state = CandState::Failed;
                return self.advance(now, lid);
            }
            c.id = id;
            c.verified = fits;
            c.known = true;
            c.state = CandState::Answered;
            c.token = r.token;
        }
        // Our socket talks `from`'s address family: nodes of the other one are not for us.
        for (nid, naddr) in r
            .nodes
            .into_iter()
            .filter(|(_, a)| a.is_ipv6() == from.is_ipv6())
        {
            let verified = verified(&self.config, &nid, naddr.ip());
            add_candidate(lookup, nid, naddr, own, true, verified);
        }
        lookup.cands.sort_by_key(|c| c.id.distance(&lookup.target));
        if lookup.get_peers {
            let new: Vec<SocketAddr> = r
                .values
                .into_iter()
                .filter(|v| lookup.found.insert(*v))
                .collect();
            if !new.is_empty() {
                self.actions.push_back(DhtAction::Peers {
                    lookup: lid,
                    peers: new,
                });
            }
        }
        self.advance(now, lid);
    }

    fn on_error(&mut self, now: Duration, from: SocketAddr, tid: &[u8]) {
        if let Some(p) = self.take_pending(from, tid) {
            self.query_failed(now, p);
        }
    }

    fn query_failed(&mut self, now: Duration, p: Pending) {
        if let Some(node) = p.node {
            self.table.failed(&node);
        }
        if let Some(lid) = p.lookup {
            if let Some(l) = self.lookups.get_mut(&lid) {
                if let Some(c) = l.cands.iter_mut().find(|c| c.addr == p.to) {
                    c.state = CandState::Failed;
                }
            }
            self.advance(now, lid);
        }
    }

    /// Fails queries that timed out, rotates the token secret, forgets stale peers, and
    /// refreshes buckets nobody touched for a while.
    pub fn tick(&mut self, now: Duration) {
        let timeout = self.config.query_timeout;
        let late: Vec<[u8; 2]> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.sent_at) >= timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in late {
            if let Some(p) = self.pending.remove(&k) {
                self.query_failed(now, p);
            }
        }
        // Slow queries free their lookup's slot: ask the next candidates.
        let running: Vec<LookupId> = self.lookups.keys().copied().collect();
        for lid in running {
            self.advance(now, lid);
        }
        if now.saturating_sub(self.rotated_at) >= SECRET_PERIOD {
            self.secrets[1] = self.secrets[0];
            self.secrets[0] = self.rng.gen();
            self.rotated_at = now;
            for peers in self.store.values_mut() {
                peers.retain(|(_, at)| now.saturating_sub(*at) < PEER_TTL);
            }
            self.store.retain(|_, peers| !peers.is_empty());
        }
        if !self.table.is_empty() {
            for bucket in self.table.due_for_refresh(now) {
                let target = self.table.id_in_bucket(bucket, self.rng.gen());
                let seeds = self.seed_candidates(&target);
                let _ = self.start(now, target, false, None, seeds);
            }
        }
    }

    /// When [`DhtNode::tick`] next has work: a lookup's query turning slow, the oldest
    /// query's timeout, or a lookup with nobody to ask giving up.
    pub fn next_deadline(&self, now: Duration) -> Option<Duration> {
        let t = self.config.query_timeout;
        let timeout = self.pending.values().map(|p| p.sent_at + t).min();
        let slow = self
            .pending
            .values()
            .filter(|p| p.lookup.is_some())
            .map(|p| p.sent_at + lookup::SLOW_AFTER)
            .filter(|at| *at > now)
            .min();
        let give_up = self
            .lookups
            .values()
            .filter(|l| l.cands.is_empty())
            .map(|l| l.started + lookup::WAIT_FOR_TABLE)
            .min();
        timeout.into_iter().chain(slow).chain(give_up).min()
    }

    fn ping(&mut self, now: Duration, id: NodeId, addr: SocketAddr) {
        self.send_query(now, addr, Some(id), None, Query::Ping);
    }

    /// Sends a query; `false` when too many are pending.
    fn send_query(
        &mut self,
        now: Duration,
        to: SocketAddr,
        node: Option<NodeId>,
        lookup: Option<LookupId>,
        query: Query,
    ) -> bool {
        if self.pending.len() >= MAX_PENDING {
            return false;
        }
        let tid = loop {
            let tid = self.next_tid.to_be_bytes();
            self.next_tid = self.next_tid.wrapping_add(1);
            if !self.pending.contains_key(&tid) {
                break tid;
            }
        };
        self.pending.insert(
            tid,
            Pending {
                to,
                node,
                lookup,
                sent_at: now,
            },
        );
        let body = Body::Query {
            id: self.id(),
            query,
        };
        let datagram = Krpc {
            tid: tid.to_vec(),
            body,
            ip: None,
        }
        .encode();
        self.actions.push_back(DhtAction::Send { to, datagram });
        true
    }
}

mod identity;
mod lookup;

use identity::verified;
use lookup::{add_candidate, CandState, Lookup};

#[cfg(test)]
mod tests;
