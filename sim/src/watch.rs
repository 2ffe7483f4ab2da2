//! The client's observer in a simulation: writes the trace and checks invariants as they happen.
//!
//! The trace has a line per connection and disconnection, choke and unchoke by a peer,
//! request and cancel sent, block and reject received (`PIECE/OFFSET`), failed piece, ban,
//! snub, announce and completion, each stamped with its simulated time.
//!
//! Checked on every event, not only at the end:
//! - no `have` for a piece before the client verified it;
//! - no `request` while the peer chokes us, except for its allowed-fast pieces;
//! - no `request` for a piece the client already verified;
//! - outstanding requests to a peer stay within the engine's cap;
//! - tracker events in order: `started` first, `completed` at most once and only after
//!   completion, `stopped` last.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bitswarm_client::geometry::BlockRef;
use bitswarm_client::shell::observe::{Observer, Trace};
use bitswarm_client::tracker::Event as TrackerEvent;
use bitswarm_client::wire::Message;

use crate::avail::Availability;
use crate::trace::Recorder;

/// What the client believes about one peer, rebuilt from the messages it exchanged.
#[derive(Default)]
struct PeerView {
    choking_us: bool,
    fast: bool,
    allowed_fast: BTreeSet<u32>,
    outstanding: BTreeSet<BlockRef>,
}

#[derive(Default)]
struct State {
    peers: BTreeMap<SocketAddr, PeerView>,
    verified: BTreeSet<u32>,
    complete: bool,
    announced_started: bool,
    announced_completed: bool,
    announced_stopped: bool,
    violations: Vec<String>,
    banned: BTreeSet<SocketAddr>,
    hash_failures: u64,
    snubs: u64,
    /// Block payload received in this session, every block counted.
    received: u64,
    /// Peers the client refused for breaking the protocol (bad handshake, bad frame).
    refused: BTreeSet<SocketAddr>,
    /// Peers the client closed for any misbehaviour (protocol errors, not reading, bans).
    dropped: BTreeSet<SocketAddr>,
    /// Connections the client dialled (made or failed).
    dials: u64,
    /// Announce rounds that failed (every tracker tried gave no answer or an error) while
    /// downloading; those after completion (the last ones on the way out wait only briefly)
    /// are not counted.
    failed_announces: u64,
    /// Simulated time of the first piece verified.
    first_verified_at: Option<std::time::Duration>,
    /// What the peers have, sampled for the report.
    avail: Availability,
}

/// The observer given to one simulated client.
pub struct ClientWatch {
    host: String,
    trace: Recorder,
    /// Outstanding requests allowed per peer (the engine's `max_queue`).
    max_outstanding: usize,
    state: Mutex<State>,
}

impl ClientWatch {
    /// The observer of client `host` of a torrent of `pieces` pieces.
    pub fn new(host: &str, trace: Recorder, max_outstanding: usize, pieces: usize) -> Arc<Self> {
        let state = State {
            avail: Availability::new(pieces),
            ..State::default()
        };
        Arc::new(ClientWatch {
            host: host.to_string(),
            trace,
            max_outstanding,
            state: Mutex::new(state),
        })
    }

    /// Piece availability as this client saw it, sampled over time.
    pub fn availability(&self) -> Vec<crate::avail::Sample> {
        self.state
            .lock()
            .map(|s| s.avail.samples().to_vec())
            .unwrap_or_default()
    }

    /// Invariant violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.violations.clone())
            .unwrap_or_default()
    }

    /// Pieces that failed their hash check, and peers snubbed, so far.
    /// Block payload this session received (duplicates and discarded blocks included).
    pub fn received(&self) -> u64 {
        self.state.lock().map(|s| s.received).unwrap_or_default()
    }

    pub fn counts(&self) -> (u64, u64) {
        self.state
            .lock()
            .map(|s| (s.hash_failures, s.snubs))
            .unwrap_or_default()
    }

    /// Peers the client dropped or refused for a protocol error.
    pub fn refused(&self) -> BTreeSet<SocketAddr> {
        self.state
            .lock()
            .map(|s| s.refused.clone())
            .unwrap_or_default()
    }

    /// Pieces the client verified (downloaded and checked) in this run of it.
    pub fn verified_count(&self) -> usize {
        self.state.lock().map(|s| s.verified.len()).unwrap_or(0)
    }

    /// Whether the client has verified every piece.
    pub fn is_complete(&self) -> bool {
        self.state.lock().map(|s| s.complete).unwrap_or(false)
    }

    /// Peers the client closed for misbehaviour of any kind.
    pub fn dropped(&self) -> BTreeSet<SocketAddr> {
        self.state
            .lock()
            .map(|s| s.dropped.clone())
            .unwrap_or_default()
    }

    /// When the client verified its first piece, in simulated time.
    pub fn first_verified_at(&self) -> Option<std::time::Duration> {
        self.state.lock().ok().and_then(|s| s.first_verified_at)
    }

    /// Dials the client made, successful or not.
    pub fn dials(&self) -> u64 {
        self.state.lock().map(|s| s.dials).unwrap_or_default()
    }

    /// Announce rounds that failed in this run before it completed.
    pub fn failed_announces(&self) -> u64 {
        self.state
            .lock()
            .map(|s| s.failed_announces)
            .unwrap_or_default()
    }

    /// Peers the client banned.
    pub fn banned(&self) -> BTreeSet<SocketAddr> {
        self.state
            .lock()
            .map(|s| s.banned.clone())
            .unwrap_or_default()
    }

    fn violate(&self, state: &mut State, what: String) {
        self.trace
            .record(&self.host, format_args!("VIOLATION {what}"));
        state.violations.push(what);
    }
}

impl Observer for ClientWatch {
    fn record(&self, event: Trace<'_>) {
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        let s = &mut *guard;
        match event {
            Trace::Connected {
                peer,
                outgoing,
                fast,
            } => {
                let dir = if outgoing { "out" } else { "in" };
                if outgoing {
                    s.dials += 1;
                }
                self.trace
                    .record(&self.host, format_args!("connect {peer} {dir}"));
                s.peers.insert(
                    peer,
                    PeerView {
                        choking_us: true,
                        fast,
                        ..PeerView::default()
                    },
                );
            }
            Trace::DialFailed { peer, error } => {
                self.trace
                    .record(&self.host, format_args!("dial-failed {peer}: {error}"));
                s.dials += 1;
                if error.is_protocol_error() {
                    s.refused.insert(peer);
                    s.dropped.insert(peer);
                }
            }
            Trace::Disconnected {
                peer,
                reason,
                by_us,
            } => {
                let who = if by_us { "us" } else { "peer" };
                self.trace.record(
                    &self.host,
                    format_args!("disconnect {peer} by {who}: {reason}"),
                );
                if reason.is_protocol_error() {
                    s.refused.insert(peer);
                }
                if by_us && reason.is_misbehaviour() {
                    s.dropped.insert(peer);
                }
                s.peers.remove(&peer);
                s.avail.on_gone(peer, now_s());
            }
            Trace::Received { peer, msg } => {
                s.avail.on_message(peer, msg, now_s());
                let Some(view) = s.peers.get_mut(&peer) else {
                    return;
                };
                match msg {
                    Message::Choke => {
                        view.choking_us = true;
                        if !view.fast {
                            view.outstanding.clear();
                        }
                        self.trace
                            .record(&self.host, format_args!("choked-by {peer}"));
                    }
                    Message::Unchoke => {
                        view.choking_us = false;
                        self.trace
                            .record(&self.host, format_args!("unchoked-by {peer}"));
                    }
                    Message::AllowedFast(p) => {
                        view.allowed_fast.insert(*p);
                    }
                    Message::Reject(b) => {
                        view.outstanding.remove(b);
                        view.allowed_fast.remove(&b.piece);
                        self.trace.record(
                            &self.host,
                            format_args!("rejected-by {peer} {}/{}", b.piece, b.offset),
                        );
                    }
                    Message::Piece {
                        piece,
                        offset,
                        data,
                    } => {
                        view.outstanding.remove(&BlockRef {
                            piece: *piece,
                            offset: *offset,
                            len: data.len() as u32,
                        });
                        self.trace
                            .record(&self.host, format_args!("block {peer} {piece}/{offset}"));
                        s.received += data.len() as u64;
                    }
                    _ => {}
                }
            }
            Trace::Sent { peer, msg } => {
                let mut problems = Vec::new();
                match msg {
                    Message::Request(b) => {
                        self.trace.record(
                            &self.host,
                            format_args!("request {peer} {}/{}", b.piece, b.offset),
                        );
                        if let Some(view) = s.peers.get_mut(&peer) {
                            if view.choking_us && !view.allowed_fast.contains(&b.piece) {
                                problems.push(format!("request {b:?} to {peer} while choked"));
                            }
                            view.outstanding.insert(*b);
                            if view.outstanding.len() > self.max_outstanding {
                                problems.push(format!(
                                    "{} requests outstanding to {peer}, cap {}",
                                    view.outstanding.len(),
                                    self.max_outstanding
                                ));
                            }
                        }
                        if s.verified.contains(&b.piece) {
                            problems.push(format!("request for verified piece {}", b.piece));
                        }
                    }
                    Message::Cancel(b) => {
                        self.trace.record(
                            &self.host,
                            format_args!("cancel {peer} {}/{}", b.piece, b.offset),
                        );
                        if let Some(view) = s.peers.get_mut(&peer) {
                            view.outstanding.remove(b);
                        }
                    }
                    Message::Have(p) if !s.verified.contains(p) => {
                        problems.push(format!("have {p} sent before verification"));
                    }
                    _ => {}
                }
                for p in problems {
                    self.violate(s, p);
                }
            }
            Trace::PieceVerified(p) => {
                self.trace.record(&self.host, format_args!("verified {p}"));
                s.verified.insert(p);
                if s.first_verified_at.is_none() {
                    s.first_verified_at = turmoil::sim_elapsed();
                }
            }
            Trace::PieceFailed(p) => {
                self.trace
                    .record(&self.host, format_args!("piece-failed {p}"));
                s.hash_failures += 1;
            }
            Trace::Banned(addr) => {
                self.trace.record(&self.host, format_args!("ban {addr}"));
                s.banned.insert(addr);
            }
            Trace::Snubbed(addr) => {
                self.trace
                    .record(&self.host, format_args!("snubbed {addr}"));
                s.snubs += 1;
            }
            Trace::Announced { event, result } => {
                let ok = result.is_ok();
                s.failed_announces += u64::from(!ok && !s.complete);
                match result {
                    Ok(n) => self
                        .trace
                        .record(&self.host, format_args!("announce {event:?} ok peers={n}")),
                    Err(e) => self
                        .trace
                        .record(&self.host, format_args!("announce {event:?} failed: {e}")),
                }
                let problem = if s.announced_stopped {
                    Some(format!("announce {event:?} after stopped"))
                } else if !s.announced_started
                    && event != TrackerEvent::Started
                    && event != TrackerEvent::Stopped
                {
                    Some(format!("announce {event:?} before a successful started"))
                } else if event == TrackerEvent::Completed && (!s.complete || s.announced_completed)
                {
                    Some("completed announced twice or before completion".to_string())
                } else {
                    None
                };
                if let Some(p) = problem {
                    self.violate(s, p);
                }
                if ok {
                    match event {
                        TrackerEvent::Started => s.announced_started = true,
                        TrackerEvent::Completed => s.announced_completed = true,
                        TrackerEvent::Stopped => s.announced_stopped = true,
                        TrackerEvent::None => {}
                    }
                }
            }
            Trace::Complete => {
                self.trace.record(&self.host, "complete");
                s.complete = true;
            }
            Trace::MetadataVerified { bytes } => {
                self.trace
                    .record(&self.host, format_args!("metadata verified {bytes} bytes"));
            }
            Trace::MetadataDropped { peer, fault } => {
                self.trace
                    .record(&self.host, format_args!("metadata-drop {peer}: {fault}"));
                s.dropped.insert(peer);
            }
        }
    }
}

/// The simulated time in seconds (0 outside a simulation).
fn now_s() -> f64 {
    turmoil::sim_elapsed().unwrap_or_default().as_secs_f64()
}
