//! Tracker protocols: the request and answer types shared by HTTP and UDP trackers, and their
//! pure codecs ([`http`] for BEP 3/7/23/24/48, [`udp`] for BEP 15). No sockets live here.
//!
//! The codecs speak to one tracker URL each and never touch a socket. The IO side, [`client`],
//! builds an [`AnnounceRequest`], encodes it with the codec of the tracker's scheme, turns the
//! bytes it gets back into an [`AnnounceResponse`], and walks multi-tracker tiers (BEP 12); the
//! engine never sees which protocol answered.

pub mod client;
pub mod http;
pub(crate) mod peers;
pub mod udp;

use std::net::{IpAddr, SocketAddr};

use crate::bencode::DecodeError;
use crate::{InfoHash, PeerId};

/// At most this many peers are kept from one tracker answer; the rest are dropped.
///
/// Trackers hand out `numwant` peers (50 by default, opentracker caps it at 200), so a real
/// answer is far below this. The bound exists for hostile or broken trackers: without it one
/// multi-megabyte HTTP body could flood the engine's peer list. 10 000 is also about what the
/// largest UDP datagram can carry (65 507 bytes / 6 bytes per IPv4 entry), so the two protocols
/// share one limit.
pub const MAX_PEERS: usize = 10_000;

/// Why we are announcing (BEP 3 `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Event {
    /// A regular re-announce at the tracker's interval.
    #[default]
    None,
    /// The first announce of this session.
    Started,
    /// The download just finished (sent once, not when starting already complete).
    Completed,
    /// We are leaving the swarm; the tracker may drop us from its peer list.
    Stopped,
}

impl Event {
    /// The number BEP 15 gives this event in a UDP announce (note: not declaration order).
    pub fn udp_code(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    /// The event with BEP 15 number `code`, if there is one.
    pub fn from_udp_code(code: u32) -> Option<Event> {
        match code {
            0 => Some(Event::None),
            1 => Some(Event::Completed),
            2 => Some(Event::Started),
            3 => Some(Event::Stopped),
            _ => None,
        }
    }

    /// The HTTP `event=` value; `None` for a regular announce, which omits the parameter.
    pub fn http_name(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }
}

/// One announce, independent of the tracker's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent we announce for.
    pub info_hash: InfoHash,
    /// Our peer id, so the tracker can tell our announces apart from other peers'.
    pub peer_id: PeerId,
    /// The TCP port we accept peer connections on; 0 if we do not listen.
    pub port: u16,
    /// Payload bytes sent to peers this session, for the tracker's ratio bookkeeping.
    pub uploaded: u64,
    /// Payload bytes received this session (verified or not), for the same bookkeeping.
    pub downloaded: u64,
    /// Bytes still missing; 0 makes the tracker count us as a seeder.
    pub left: u64,
    /// Why we announce now.
    pub event: Event,
    /// How many peers we would like; `None` lets the tracker choose (usually 50).
    pub numwant: Option<u32>,
    /// A per-session random number that lets the tracker recognise us when our IP changes.
    pub key: u32,
    /// The `tracker id` an HTTP tracker gave in an earlier answer, echoed back as it asks (BEP 3);
    /// UDP has no such field and ignores it.
    pub tracker_id: Option<String>,
}

/// What a tracker answered to an announce, independent of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds the tracker wants us to wait before the next regular announce.
    pub interval: Option<u32>,
    /// Seconds below which the tracker refuses re-announces (HTTP only).
    pub min_interval: Option<u32>,
    /// An id to send back in later announces to this tracker (HTTP only).
    pub tracker_id: Option<String>,
    /// Seeders in the swarm, as the tracker counts them.
    pub complete: Option<u32>,
    /// Leechers in the swarm, as the tracker counts them.
    pub incomplete: Option<u32>,
    /// A message the tracker wants shown to the user; the answer is still valid (HTTP only).
    pub warning: Option<String>,
    /// Our address as the tracker saw it (BEP 24), useful to learn our public IP (HTTP only).
    pub external_ip: Option<IpAddr>,
    /// Peers to try, IPv4 and IPv6, in the order given, without duplicates, without port 0 or
    /// unspecified addresses, and at most [`MAX_PEERS`] of them.
    pub peers: Vec<SocketAddr>,
}

/// A tracker's counts for one torrent, from a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders (peers with the whole torrent).
    pub complete: u32,
    /// How many times the tracker has seen a `completed` event: total finished downloads.
    pub downloaded: u32,
    /// Leechers (peers still downloading).
    pub incomplete: u32,
}

/// Everything that can be wrong with a tracker's answer, or with a request given to a codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The HTTP tracker refused the request and said why (its `failure reason`).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The HTTP body is not bencode.
    #[error(transparent)]
    Bencode(#[from] DecodeError),
    /// A field is present but unusable.
    #[error("tracker field `{field}`: {problem}")]
    Malformed {
        /// The field's name as the protocol spells it (`peers`, `interval`, `info_hash`, ...).
        field: &'static str,
        /// What is wrong with it, with the offending value or length.
        problem: String,
    },
    /// A field the protocol requires is absent.
    #[error("tracker message has no `{0}` field")]
    Missing(&'static str),
    /// A scrape answer lacks the torrent we asked about.
    #[error("scrape response has no entry for info-hash {0}")]
    NotScraped(InfoHash),
    /// A UDP packet is shorter than its action requires.
    #[error("udp {what} packet is {len} bytes, need at least {need}")]
    Truncated {
        /// Which packet it claimed to be.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The minimum length for that packet.
        need: usize,
    },
    /// A UDP answer carries another transaction id: a stray or late packet, which the caller
    /// should ignore rather than treat as the tracker failing.
    #[error("udp transaction id {got:#010x} does not match {expected:#010x}")]
    TransactionMismatch {
        /// The id of the request we are waiting on.
        expected: u32,
        /// The id in the packet.
        got: u32,
    },
    /// A UDP packet with an action number BEP 15 does not define.
    #[error("unknown udp action {0}")]
    UnknownAction(u32),
    /// A UDP connect request without the BEP 15 magic number.
    #[error("udp connect request has protocol id {0:#x}, expected {magic:#x}", magic = udp::PROTOCOL_ID)]
    BadProtocolId(u64),
    /// More info-hashes than one UDP scrape can carry; the caller must split them.
    #[error("udp scrape of {0} info-hashes, at most {max} fit in one request", max = udp::MAX_SCRAPE_HASHES)]
    TooManyHashes(usize),
}
