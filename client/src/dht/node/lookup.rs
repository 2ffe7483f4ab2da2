//! Iterative lookups of a [`DhtNode`]: candidates by XOR distance, [`ALPHA`] queries in flight,
//! the end when the [`K`] closest live candidates have answered, and the announces after a
//! `get_peers` lookup that asked for them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{DhtAction, DhtNode, LookupId, ALPHA, MAX_CANDIDATES, MAX_LOOKUPS};
use crate::dht::id::NodeId;
use crate::dht::krpc::Query;
use crate::dht::routing::K;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CandState {
    New,
    Asked,
    Answered,
    Failed,
}

#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// `false` for a bootstrap router until it answers with its id.
    pub known: bool,
    pub state: CandState,
    pub token: Option<Vec<u8>>,
    /// When it was asked (for [`SLOW_AFTER`]).
    pub asked_at: Duration,
    /// Its id is one BEP 42 allows at its address (a router counts until it answers).
    pub verified: bool,
}

/// A query unanswered for this long stops counting against [`ALPHA`]: the lookup asks the
/// next candidate meanwhile (the slow one may still answer until the query timeout).
pub const SLOW_AFTER: Duration = Duration::from_secs(1);

/// Candidates a lookup takes from one IP address: a host cannot fill a lookup with made-up
/// nodes next to the target (the cheap Sybil attack), while a few nodes behind one address
/// (a NAT, or many simulated nodes on one host) still count.
pub const MAX_PER_IP: usize = 3;

/// Candidates a lookup takes whose ids BEP 42 does not allow at their addresses. Such ids can
/// be chosen freely, next to any target, from any number of addresses (a Sybil cluster spread
/// over many hosts); ids bound to addresses cannot. Older nodes without BEP 42 ids still take
/// part, but never more than half of the closest places.
pub const MAX_UNVERIFIED: usize = K / 2;

/// How long a lookup that found nobody to ask (an empty table) waits for the table to fill,
/// from a running bootstrap or the next one, before it ends with nothing.
pub const WAIT_FOR_TABLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub(super) struct Lookup {
    pub target: NodeId,
    pub started: Duration,
    /// `get_peers` (else `find_node`), announcing this port at the end if `Some`.
    pub get_peers: bool,
    pub announce: Option<u16>,
    pub cands: Vec<Candidate>,
    pub found: BTreeSet<SocketAddr>,
}

impl DhtNode {
    pub(super) fn start(
        &mut self,
        now: Duration,
        target: NodeId,
        get_peers: bool,
        announce: Option<u16>,
        seeds: Vec<(Option<NodeId>, SocketAddr)>,
    ) -> Option<LookupId> {
        if self.lookups.len() >= MAX_LOOKUPS {
            return None;
        }
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let mut lookup = Lookup {
            target,
            started: now,
            get_peers,
            announce,
            cands: Vec::new(),
            found: BTreeSet::new(),
        };
        for (i, (node, addr)) in seeds.into_iter().enumerate() {
            // Routers have no known id: they sort last until they answer with theirs.
            let mut far = target.0.map(|b| !b);
            far[19] = i as u8;
            let id = node.unwrap_or(NodeId(far));
            let verified = node.is_none_or(|n| super::verified(&self.config, &n, addr.ip()));
            add_candidate(&mut lookup, id, addr, self.id(), node.is_some(), verified);
        }
        self.lookups.insert(id, lookup);
        self.advance(now, id);
        Some(id)
    }

    /// Keeps [`ALPHA`] queries in flight among the closest candidates; ends the lookup when
    /// the [`K`] closest live ones have all answered (or nothing is left to ask).
    pub(super) fn advance(&mut self, now: Duration, lid: LookupId) {
        let Some(l) = self.lookups.get(&lid) else {
            return;
        };
        if l.cands.is_empty() && now.saturating_sub(l.started) < WAIT_FOR_TABLE {
            // Nobody to ask yet: a bootstrap (running, or the retry the shell makes) will
            // fill the table ([`DhtNode::seed_waiting`]); wait a while rather than end with
            // nothing.
            return;
        }
        let live: Vec<usize> = (0..l.cands.len())
            .filter(|&i| l.cands[i].state != CandState::Failed)
            .take(K)
            .collect();
        let asked = |c: &&Candidate| c.state == CandState::Asked;
        let in_flight = l
            .cands
            .iter()
            .filter(asked)
            .filter(|c| now.saturating_sub(c.asked_at) < SLOW_AFTER)
            .count();
        let waiting = l.cands.iter().filter(asked).count();
        let to_ask: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| l.cands[i].state == CandState::New)
            .take(ALPHA.saturating_sub(in_flight))
            .collect();
        let settled = live
            .iter()
            .all(|&i| l.cands[i].state == CandState::Answered);
        if to_ask.is_empty()
            && waiting == 0
            && (settled || live.iter().all(|&i| l.cands[i].state != CandState::New))
        {
            return self.finish(now, lid);
        }
        let (target, get_peers) = (l.target, l.get_peers);
        for i in to_ask {
            let Some(c) = self.lookups.get(&lid).map(|l| l.cands[i].clone()) else {
                return;
            };
            let query = if get_peers {
                Query::GetPeers { info_hash: target }
            } else {
                Query::FindNode { target }
            };
            let known = c.known.then_some(c.id);
            let sent = self.send_query(now, c.addr, known, Some(lid), query);
            if let Some(l) = self.lookups.get_mut(&lid) {
                l.cands[i].asked_at = now;
                l.cands[i].state = if sent {
                    CandState::Asked
                } else {
                    CandState::Failed
                };
            }
        }
    }

    /// Announces (if asked) to the closest nodes that gave tokens, and reports the end.
    fn finish(&mut self, now: Duration, lid: LookupId) {
        let Some(l) = self.lookups.remove(&lid) else {
            return;
        };
        if let Some(port) = l.announce {
            let closest = l
                .cands
                .iter()
                .filter(|c| c.state == CandState::Answered)
                .take(K);
            for c in closest {
                if let Some(token) = &c.token {
                    let query = Query::AnnouncePeer {
                        info_hash: l.target,
                        port,
                        implied_port: false,
                        token: token.clone(),
                    };
                    self.send_query(now, c.addr, Some(c.id), None, query);
                }
            }
        }
        self.actions.push_back(DhtAction::Done { lookup: lid });
    }
}

impl DhtNode {
    /// Seeds the lookups that started with nobody to ask from the table, which has grown.
    pub(super) fn seed_waiting(&mut self, now: Duration) {
        let waiting: Vec<LookupId> = self
            .lookups
            .iter()
            .filter(|(_, l)| l.cands.is_empty())
            .map(|(id, _)| *id)
            .collect();
        let own = self.id();
        let config = self.config;
        for lid in waiting {
            let Some(target) = self.lookups.get(&lid).map(|l| l.target) else {
                continue;
            };
            let seeds = self.seed_candidates(&target);
            if let Some(l) = self.lookups.get_mut(&lid) {
                for (id, addr) in seeds {
                    if let Some(id) = id {
                        let verified = super::verified(&config, &id, addr.ip());
                        add_candidate(l, id, addr, own, true, verified);
                    }
                }
            }
            self.advance(now, lid);
        }
    }
}

/// Adds a candidate unless it is us, already known by address, or the list is full of
/// closer ones. A candidate of a capped kind (one more from an address that has
/// [`MAX_PER_IP`], one more unverified beyond [`MAX_UNVERIFIED`]) takes the place of the
/// farthest not yet asked of its kind if it is closer, so a cap keeps the closest, not the
/// first seen.
pub(super) fn add_candidate(
    l: &mut Lookup,
    id: NodeId,
    addr: SocketAddr,
    own: NodeId,
    known: bool,
    verified: bool,
) {
    if id == own || l.cands.iter().any(|c| c.addr == addr || c.id == id) {
        return;
    }
    let Some(by_ip) = room(l, &id, MAX_PER_IP, |c| c.addr.ip() == addr.ip()) else {
        return;
    };
    let by_bep42 = if verified {
        Room::Free
    } else {
        let Some(r) = room(l, &id, MAX_UNVERIFIED, |c| !c.verified) else {
            return;
        };
        r
    };
    let mut drop: Vec<usize> = [by_ip, by_bep42]
        .into_iter()
        .filter_map(|r| match r {
            Room::Free => None,
            Room::Replace(i) => Some(i),
        })
        .collect();
    drop.sort_unstable();
    drop.dedup();
    for i in drop.into_iter().rev() {
        l.cands.remove(i);
    }
    let cand = Candidate {
        id,
        addr,
        known,
        state: CandState::New,
        token: None,
        asked_at: Duration::ZERO,
        verified,
    };
    if l.cands.len() < MAX_CANDIDATES {
        l.cands.push(cand);
    } else if let Some(worst) = l.cands.last() {
        if worst.state == CandState::New && id.distance(&l.target) < worst.id.distance(&l.target) {
            l.cands.pop();
            l.cands.push(cand);
        }
    }
    l.cands.sort_by_key(|c| c.id.distance(&l.target));
}

/// Where a capped newcomer fits.
#[derive(Clone, Copy)]
enum Room {
    Free,
    /// In place of this candidate (its kind's farthest not yet asked, farther than it).
    Replace(usize),
}

/// Where a newcomer `id` of the kind `same` picks out fits under `cap`; `None` if nowhere.
fn room(l: &Lookup, id: &NodeId, cap: usize, same: impl Fn(&Candidate) -> bool) -> Option<Room> {
    if l.cands.iter().filter(|c| same(c)).count() < cap {
        return Some(Room::Free);
    }
    let target = l.target;
    let (i, far) = l
        .cands
        .iter()
        .enumerate()
        .filter(|(_, c)| same(c) && c.state == CandState::New)
        .max_by_key(|(_, c)| c.id.distance(&target))
        .map(|(i, c)| (i, c.id.distance(&target)))?;
    (id.distance(&target) < far).then_some(Room::Replace(i))
}
