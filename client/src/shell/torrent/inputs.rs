//! What each input does: [`super::Torrent::handle`] hands a deadline, tracker peers, a
//! finished disk job or a peer's event to the engine, and records what the simulator traces.

use std::time::Duration;

use tracing::{debug, warn};

use crate::engine::{Action, Checked, PeerKey};
use crate::net::Net;

use super::super::disk::DiskDone;
use super::super::observe::{self, Trace};
use super::super::Event;
use super::{Connection, Input, Torrent};

impl<N: Net> Torrent<'_, N> {
    /// Hands one input to the engine.
    pub(super) fn handle(&mut self, input: Input) {
        let now = self.now();
        match input {
            Input::Deadline => {
                self.last_tick = Some(now);
                self.engine.tick(now);
            }
            Input::TrackerPeers(addrs) => self.engine.add_peers(now, addrs),
            Input::Disk(done) => self.disk_done(now, done),
            Input::Peer(event) => self.peer_event(now, event),
        }
    }

    fn disk_done(&mut self, now: Duration, done: DiskDone) {
        match done {
            DiskDone::Written { block, result } => {
                self.pending_writes -= u64::from(block.len);
                match result {
                    Ok(()) => self.engine.block_written(now, block),
                    Err(e) => {
                        self.engine.write_failed(now, block);
                        self.fatal = Some(e);
                    }
                }
            }
            DiskDone::Checked(Ok(checked)) => self.engine.piece_checked(now, checked),
            DiskDone::Read { key, block, result } => match result {
                Ok(data) => self.engine.block_read(now, key, block, data),
                Err(e) => {
                    warn!(piece = block.piece, error = %e, "reading a block for a peer failed");
                    self.engine.read_failed(now, key, block);
                }
            },
            DiskDone::Checked(Err((piece, e))) => {
                warn!(piece, error = %e, "reading a piece back failed");
                let checked = Checked {
                    piece,
                    ok: false,
                    block_hashes: None,
                };
                self.engine.piece_checked(now, checked);
                self.fatal = Some(e);
            }
        }
    }

    fn peer_event(&mut self, now: Duration, event: Event) {
        match event {
            Event::Connected { key, hs, link } => {
                self.watch.record(Trace::Connected {
                    peer: hs.addr,
                    outgoing: hs.outgoing,
                    fast: hs.fast,
                });
                let addr = hs.addr;
                self.connections.insert(key, Connection { addr, link });
                self.engine.peer_connected(now, key, hs);
            }
            Event::DialFailed { addr, error } => {
                self.watch.record(Trace::DialFailed {
                    peer: addr,
                    error: &error,
                });
                self.engine.dial_failed(now, addr, &error);
            }
            Event::Message { key, msg } => {
                if let (true, Some(c)) = (self.watch.is_on(), self.connections.get(&key)) {
                    self.watch.record(Trace::Received {
                        peer: c.addr,
                        msg: &msg,
                    });
                }
                self.engine.message(now, key, msg);
            }
            Event::Uploaded { key, bytes } => self.engine.uploaded(now, key, bytes),
            Event::Closed { key, reason } => {
                debug!(?key, %reason, "peer closed");
                // A close racing our own disconnect is already handled.
                if self.connections.contains_key(&key) {
                    self.close(key, reason.clone(), false);
                    self.engine.peer_closed(now, key, reason);
                }
            }
        }
    }

    /// Records what the engine decided, in the order it decided it.
    pub(super) fn observe_action(&self, action: &Action) {
        if !self.watch.is_on() {
            return;
        }
        let peer = |key: &PeerKey| self.connections.get(key).map(|c| c.addr);
        let trace = match action {
            Action::Send(key, msg) => peer(key).map(|peer| Trace::Sent { peer, msg }),
            Action::Notice(n) => observe::of_notice(n, peer),
            _ => None,
        };
        if let Some(t) = trace {
            self.watch.record(t);
        }
    }
}
