//! Watching a running torrent from outside: every connection, message and decision, in order.
//!
//! Real runs pass no observer and pay nothing. The simulator records these events as its trace
//! and checks invariants on them while the run goes (no `have` before verification, no request
//! while choked, tracker events in order, ...), so they describe what the client did, not what
//! it meant to do.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::engine::{DialError, Notice, Reason};
use crate::tracker::Event as TrackerEvent;
use crate::wire::Message;

/// One observable event of a torrent.
#[derive(Debug, Clone, Copy)]
pub enum Trace<'a> {
    /// A connection finished its handshake.
    Connected {
        peer: SocketAddr,
        outgoing: bool,
        /// The peer speaks BEP 6 (its choke does not cancel requests implicitly).
        fast: bool,
    },
    /// A dial failed (refused, timed out, bad handshake), and why.
    DialFailed {
        peer: SocketAddr,
        error: &'a DialError,
    },
    /// A connection ended; `by_us` when the torrent closed it.
    Disconnected {
        peer: SocketAddr,
        reason: &'a Reason,
        by_us: bool,
    },
    /// A message from a peer, before the engine sees it.
    Received {
        peer: SocketAddr,
        msg: &'a Message,
    },
    /// A message to a peer, as it is queued for sending.
    Sent {
        peer: SocketAddr,
        msg: &'a Message,
    },
    PieceVerified(u32),
    PieceFailed(u32),
    Banned(SocketAddr),
    Snubbed(SocketAddr),
    /// An announce round ended: `Ok(peers received)` or the error.
    Announced {
        event: TrackerEvent,
        result: Result<usize, &'a str>,
    },
    /// Every piece is verified and on disk.
    Complete,
    /// A magnet link's info dictionary arrived and its hash is the info-hash.
    MetadataVerified {
        bytes: usize,
    },
    /// A peer was dropped while fetching metadata, and why.
    MetadataDropped {
        peer: SocketAddr,
        fault: &'a crate::metadata::Fault,
    },
}

/// Receives [`Trace`] events, in the order they happen, from the torrent's tasks.
pub trait Observer: Send + Sync + 'static {
    fn record(&self, event: Trace<'_>);
}

/// An optional observer, cheap to clone and to call when absent.
#[derive(Clone, Default)]
pub struct Watch(pub Option<Arc<dyn Observer>>);

impl Watch {
    pub fn record(&self, event: Trace<'_>) {
        if let Some(o) = &self.0 {
            o.record(event);
        }
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Watch(on)"
        } else {
            "Watch(off)"
        })
    }
}

/// The observer's view of an engine notice (peers named by address, through `addr_of`);
/// `None` for notices the trace shows otherwise (choke state is in the messages themselves).
pub fn of_notice<'a>(
    n: &Notice,
    addr_of: impl Fn(&crate::engine::PeerKey) -> Option<SocketAddr>,
) -> Option<Trace<'a>> {
    Some(match n {
        Notice::PieceVerified(p) => Trace::PieceVerified(*p),
        Notice::PieceFailed(p) => Trace::PieceFailed(*p),
        Notice::Banned(addr) => Trace::Banned(*addr),
        Notice::Snubbed(key) => Trace::Snubbed(addr_of(key)?),
        Notice::Complete => Trace::Complete,
        Notice::Choked(_) | Notice::Unchoked(_) => return None,
    })
}
