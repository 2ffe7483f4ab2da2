//! What seeders report as they run, for the simulator's trace: one small value per event,
//! handed to a callback, so a seeder without an observer pays nothing but a branch.

use std::net::SocketAddr;
use std::sync::Arc;

use bitswarm_client::tracker::Event as TrackerEvent;
use bitswarm_client::PeerId;

use crate::behaviour::DropMode;

/// The observer a seeder reports to. Called inline from the seeder's tasks: keep it quick.
pub type Events = Arc<dyn Fn(SeederEvent) + Send + Sync>;

/// One thing that happened at a seeder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeederEvent {
    /// The seeder's listening port, which names it (many seeders share one host).
    pub port: u16,
    /// The remote peer; for events about the seeder itself (listening, leaving, announcing),
    /// the seeder's own listening address.
    pub peer: SocketAddr,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`SeederEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The seeder joined: it listens from now on.
    Listening,
    /// The seeder left: its connections are closed and it no longer listens.
    Left,
    /// An announce to the trackers finished (`ok`: some tracker answered).
    Announced { event: TrackerEvent, ok: bool },
    /// A peer connected (before its handshake).
    Connected,
    /// A connection ended, and why ("seeder left" when the seeder's leaving ended it).
    Disconnected(String),
    /// The seeder choked the peer.
    Choked,
    /// The seeder unchoked the peer.
    Unchoked,
    /// The seeder sent a block, deliberately corrupted or not.
    Served {
        piece: u32,
        offset: u32,
        corrupted: bool,
    },
    /// The seeder sent a BEP 6 reject for a request.
    Rejected { piece: u32, offset: u32 },
    /// The connection stalled on purpose: nothing more is read or written.
    Stalled,
    /// The seeder cut the connection in the middle of a block.
    Dropped(DropMode),
    /// The seeder sent a block nobody asked for, corrupted (`unrequested_blocks_ms`).
    Pushed { piece: u32, offset: u32 },
    /// The seeder answered the request for `piece` at `offset` with the right bytes of the
    /// block at `begin` instead (`shift_begin`), deliberately corrupted or not. Sent instead
    /// of `Served` for such a block.
    Shifted {
        piece: u32,
        offset: u32,
        begin: u32,
        corrupted: bool,
    },
    /// The seeder dialled back in after a peer hung up on it (`rejoin_after_ms`): `peer` is
    /// the address dialled (where that peer listens), `peer_id` the fresh id it handshakes
    /// with. The connection's own `Connected` follows.
    Rejoined { peer_id: PeerId },
    /// A rejoin attempt found no address to dial or could not connect; `peer` is the address
    /// it was for.
    RejoinFailed(String),
    /// The seeder started sending `requests` block requests and will never read this
    /// connection again (`request_flood`).
    Flooded { requests: u32 },
    /// A free rider (`free_ride`) received a block it had asked for and did not have yet.
    Received { piece: u32, offset: u32, len: u32 },
    /// A free rider has received every block of the torrent.
    Complete,
}
