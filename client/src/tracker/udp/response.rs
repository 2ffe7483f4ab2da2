//! UDP tracker answers (BEP 15): parsing what the tracker sends, and encoding it for the mock
//! tracker.

use std::net::SocketAddr;

use super::{action, concat, read_u32, read_u64};
use crate::tracker::peers::{encode_compact, PeerSet};
use crate::tracker::{AnnounceResponse, Error, ScrapeStats};

/// Bytes every answer starts with: action, transaction id.
const HEADER_LEN: usize = 8;
/// Bytes of a connect answer.
const CONNECT_LEN: usize = 16;
/// Bytes of an announce answer before its peers: header, interval, leechers, seeders.
const ANNOUNCE_HEADER_LEN: usize = 20;
/// Bytes of one torrent's counts in a scrape answer: seeders, completed, leechers.
const SCRAPE_ENTRY_LEN: usize = 12;

/// A tracker's answer, its transaction id already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The connection id to use for the next [`super::CONNECTION_ID_TTL`].
    Connect {
        /// Sent back in every announce and scrape request.
        connection_id: u64,
    },
    /// Peers and counts. UDP carries no minimum interval, tracker id, warning or external IP,
    /// so those fields are `None`; `complete` and `incomplete` are always `Some`.
    Announce(AnnounceResponse),
    /// Counts for each hash of the request, in the request's order.
    Scrape(Vec<ScrapeStats>),
    /// The tracker refused, with its message (invalid UTF-8 replaced).
    Error(String),
}

/// Parses the answer to the request with transaction id `expected_transaction`.
///
/// `ipv6` is the address family of our tracker socket: BEP 15 sends 18-byte IPv6 peer entries
/// to peers that reached it over IPv6, 6-byte IPv4 entries otherwise, with nothing in the
/// packet to tell them apart. A connect answer may be longer than 16 bytes (BEP 15 says "at
/// least"); an announce or scrape answer must end on a whole entry. Which variant comes back
/// is the tracker's choice: the caller checks it is the one its request expects (an error
/// answer may come to any request).
pub fn parse_response(
    packet: &[u8],
    expected_transaction: u32,
    ipv6: bool,
) -> Result<Response, Error> {
    let truncated = |what, need| Error::Truncated {
        what,
        len: packet.len(),
        need,
    };
    let (Some(act), Some(got)) = (read_u32(packet, 0), read_u32(packet, 4)) else {
        return Err(truncated("response", HEADER_LEN));
    };
    if got != expected_transaction {
        return Err(Error::TransactionMismatch {
            expected: expected_transaction,
            got,
        });
    }
    let body = packet.get(HEADER_LEN..).unwrap_or_default();
    match act {
        action::CONNECT => {
            let connection_id = read_u64(packet, 8).ok_or(truncated("connect", CONNECT_LEN))?;
            Ok(Response::Connect { connection_id })
        }
        action::ANNOUNCE => {
            let (Some(interval), Some(leechers), Some(seeders)) = (
                read_u32(packet, 8),
                read_u32(packet, 12),
                read_u32(packet, 16),
            ) else {
                return Err(truncated("announce", ANNOUNCE_HEADER_LEN));
            };
            let mut peers = PeerSet::default();
            let entries = packet.get(ANNOUNCE_HEADER_LEN..).unwrap_or_default();
            peers.add_compact("peers", entries, ipv6)?;
            Ok(Response::Announce(AnnounceResponse {
                interval: Some(interval),
                complete: Some(seeders),
                incomplete: Some(leechers),
                peers: peers.into_vec(),
                ..AnnounceResponse::default()
            }))
        }
        action::SCRAPE => {
            if body.len() % SCRAPE_ENTRY_LEN != 0 {
                return Err(Error::Malformed {
                    field: "scrape",
                    problem: format!(
                        "{} bytes of counts is not a multiple of {SCRAPE_ENTRY_LEN}",
                        body.len()
                    ),
                });
            }
            let stats = body.chunks_exact(SCRAPE_ENTRY_LEN).filter_map(|entry| {
                Some(ScrapeStats {
                    complete: read_u32(entry, 0)?,
                    downloaded: read_u32(entry, 4)?,
                    incomplete: read_u32(entry, 8)?,
                })
            });
            Ok(Response::Scrape(stats.collect()))
        }
        action::ERROR => Ok(Response::Error(String::from_utf8_lossy(body).into_owned())),
        other => Err(Error::UnknownAction(other)),
    }
}

/// A connect answer handing out `connection_id`.
pub fn encode_connect_response(transaction_id: u32, connection_id: u64) -> [u8; 16] {
    concat(&[
        &action::CONNECT.to_be_bytes(),
        &transaction_id.to_be_bytes(),
        &connection_id.to_be_bytes(),
    ])
}

/// An announce answer. Only peers of the socket's family (`ipv6`, as in [`parse_response`]) are
/// written; the others cannot be expressed in this packet and are skipped. The caller bounds
/// `peers` to what fits in a datagram.
pub fn encode_announce_response(
    transaction_id: u32,
    interval: u32,
    leechers: u32,
    seeders: u32,
    peers: &[SocketAddr],
    ipv6: bool,
) -> Vec<u8> {
    let mut packet = Vec::with_capacity(ANNOUNCE_HEADER_LEN + 18 * peers.len());
    for field in [
        action::ANNOUNCE,
        transaction_id,
        interval,
        leechers,
        seeders,
    ] {
        packet.extend_from_slice(&field.to_be_bytes());
    }
    for peer in peers.iter().filter(|peer| peer.is_ipv6() == ipv6) {
        encode_compact(peer, &mut packet);
    }
    packet
}

/// A scrape answer with one entry per torrent, in the request's order.
pub fn encode_scrape_response(transaction_id: u32, stats: &[ScrapeStats]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(HEADER_LEN + SCRAPE_ENTRY_LEN * stats.len());
    packet.extend_from_slice(&action::SCRAPE.to_be_bytes());
    packet.extend_from_slice(&transaction_id.to_be_bytes());
    for s in stats {
        for field in [s.complete, s.downloaded, s.incomplete] {
            packet.extend_from_slice(&field.to_be_bytes());
        }
    }
    packet
}

/// An error answer carrying `message`.
pub fn encode_error(transaction_id: u32, message: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(HEADER_LEN + message.len());
    packet.extend_from_slice(&action::ERROR.to_be_bytes());
    packet.extend_from_slice(&transaction_id.to_be_bytes());
    packet.extend_from_slice(message.as_bytes());
    packet
}
