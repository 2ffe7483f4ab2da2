//! The UDP tracker protocol (BEP 15): fixed-layout big-endian packets, retransmission timing,
//! and both directions of every packet so the mock tracker can share the codec.
//!
//! A session is: connect (get a connection id valid for [`CONNECTION_ID_TTL`]), then announce or
//! scrape with that id. Every request carries a transaction id the caller picks from its seeded
//! RNG; answers are matched on it, and a mismatch is
//! [`Error::TransactionMismatch`](super::Error::TransactionMismatch) so stray packets can be
//! dropped without failing the exchange. Requests are in `request`, answers in `response`; both
//! are re-exported here.

mod request;
mod response;

use std::time::Duration;

pub use request::{announce_request, connect_request, parse_request, scrape_request, Request};
pub use response::{
    encode_announce_response, encode_connect_response, encode_error, encode_scrape_response,
    parse_response, Response,
};

/// The magic number opening every connect request (BEP 15), so a tracker can tell a real
/// connect from a packet that happens to land on its port.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Action numbers, the second field of every packet (BEP 15).
pub mod action {
    /// Get a connection id.
    pub const CONNECT: u32 = 0;
    /// Announce and get peers.
    pub const ANNOUNCE: u32 = 1;
    /// Get swarm counts for up to [`super::MAX_SCRAPE_HASHES`] torrents.
    pub const SCRAPE: u32 = 2;
    /// The tracker refuses; the rest of the packet is a message.
    pub const ERROR: u32 = 3;
}

/// The most info-hashes one scrape request may carry: BEP 15 says about 74 fit in a packet
/// (74 × 20 + 16 = 1496 bytes, just under a 1500-byte Ethernet MTU).
pub const MAX_SCRAPE_HASHES: usize = 74;

/// How long a connection id may be used after the connect answer arrives (BEP 15: one minute
/// for clients; trackers accept it for two, which leaves room for delays).
pub const CONNECTION_ID_TTL: Duration = Duration::from_secs(60);

/// How many times a request is sent before the tracker is given up on: BEP 15's timeouts run
/// for n = 0 through 8, so nine sends spanning 15 × (2⁹ − 1) s, about two hours, in total.
pub const MAX_ATTEMPTS: u32 = 9;

/// How long to wait for an answer to the send numbered `attempt` (0 for the first): BEP 15's
/// 15 × 2ⁿ seconds. Attempts past the last ([`MAX_ATTEMPTS`] − 1) get the last, longest timeout
/// rather than overflowing.
pub fn retransmit_timeout(attempt: u32) -> Duration {
    let n = attempt.min(MAX_ATTEMPTS - 1);
    Duration::from_secs(15 << n)
}

/// The big-endian `u16` at `at`, if the packet is long enough.
fn read_u16(packet: &[u8], at: usize) -> Option<u16> {
    let bytes = packet.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(bytes.try_into().ok()?))
}

/// The big-endian `u32` at `at`, if the packet is long enough.
fn read_u32(packet: &[u8], at: usize) -> Option<u32> {
    let bytes = packet.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// The big-endian `u64` at `at`, if the packet is long enough.
fn read_u64(packet: &[u8], at: usize) -> Option<u64> {
    let bytes = packet.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The 20 bytes at `at`, if the packet is long enough.
fn read_20(packet: &[u8], at: usize) -> Option<[u8; 20]> {
    packet.get(at..at.checked_add(20)?)?.try_into().ok()
}

/// Lays `parts` end to end in a fixed-size packet. Every caller passes parts summing to exactly
/// `N` (the tests check each packet's length and bytes), so nothing is cut or left zero.
fn concat<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut out = [0u8; N];
    let bytes = parts.iter().flat_map(|part| part.iter());
    for (slot, byte) in out.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    out
}

#[cfg(test)]
mod tests;
