//! UDP tracker requests (BEP 15): encoding what the client sends, and parsing it back on the
//! tracker side.

use super::{
    action, concat, read_20, read_u16, read_u32, read_u64, MAX_SCRAPE_HASHES, PROTOCOL_ID,
};
use crate::tracker::{AnnounceRequest, Error, Event};
use crate::{InfoHash, PeerId};

/// Bytes every request starts with: connection id, action, transaction id.
const HEADER_LEN: usize = 16;
/// Bytes of an announce request (without BEP 41 extensions, which we neither send nor read).
const ANNOUNCE_LEN: usize = 98;
/// `num_want` meaning "the tracker's default" (-1 as a signed 32-bit number).
const NUM_WANT_DEFAULT: u32 = u32::MAX;

/// A request as the tracker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Asks for a connection id.
    Connect {
        /// Echoed in the answer.
        transaction_id: u32,
    },
    /// An announce. The packet's `ip` field is not kept: we always send 0 ("use the source
    /// address"), and a tracker should not trust it anyway.
    Announce {
        /// The id from an earlier connect answer.
        connection_id: u64,
        /// Echoed in the answer.
        transaction_id: u32,
        /// The announce itself; `tracker_id` is always `None` (UDP has no such field), and a
        /// negative `num_want` reads as `None`.
        req: AnnounceRequest,
    },
    /// A scrape of several torrents.
    Scrape {
        /// The id from an earlier connect answer.
        connection_id: u64,
        /// Echoed in the answer.
        transaction_id: u32,
        /// The torrents asked about, in order; the answer lists counts in the same order.
        hashes: Vec<InfoHash>,
    },
}

/// A connect request: the protocol id, action 0 and the transaction id.
pub fn connect_request(transaction_id: u32) -> [u8; 16] {
    concat(&[
        &PROTOCOL_ID.to_be_bytes(),
        &action::CONNECT.to_be_bytes(),
        &transaction_id.to_be_bytes(),
    ])
}

/// An announce request. The `ip` field is 0 (the tracker uses the packet's source address);
/// `num_want` is -1 when `req.numwant` is `None`, and a wish above `i32::MAX` is sent as
/// `i32::MAX` so it is not read as negative. `req.tracker_id` has no place here.
pub fn announce_request(
    connection_id: u64,
    transaction_id: u32,
    req: &AnnounceRequest,
) -> [u8; 98] {
    let num_want = req
        .numwant
        .map_or(NUM_WANT_DEFAULT, |n| n.min(i32::MAX.unsigned_abs()));
    concat(&[
        &connection_id.to_be_bytes(),
        &action::ANNOUNCE.to_be_bytes(),
        &transaction_id.to_be_bytes(),
        &req.info_hash.0,
        &req.peer_id.0,
        &req.downloaded.to_be_bytes(),
        &req.left.to_be_bytes(),
        &req.uploaded.to_be_bytes(),
        &req.event.udp_code().to_be_bytes(),
        &0u32.to_be_bytes(),
        &req.key.to_be_bytes(),
        &num_want.to_be_bytes(),
        &req.port.to_be_bytes(),
    ])
}

/// A scrape request for `hashes`, at most [`MAX_SCRAPE_HASHES`] of them; larger sets must be
/// split by the caller, hence [`Error::TooManyHashes`].
pub fn scrape_request(
    connection_id: u64,
    transaction_id: u32,
    hashes: &[InfoHash],
) -> Result<Vec<u8>, Error> {
    if hashes.len() > MAX_SCRAPE_HASHES {
        return Err(Error::TooManyHashes(hashes.len()));
    }
    let mut packet = Vec::with_capacity(HEADER_LEN + 20 * hashes.len());
    packet.extend_from_slice(&connection_id.to_be_bytes());
    packet.extend_from_slice(&action::SCRAPE.to_be_bytes());
    packet.extend_from_slice(&transaction_id.to_be_bytes());
    for hash in hashes {
        packet.extend_from_slice(&hash.0);
    }
    Ok(packet)
}

/// Parses a request, as a tracker receiving it does. Bytes after a connect or announce request
/// are ignored (BEP 41 puts options there); a scrape's hashes must fill the packet exactly.
pub fn parse_request(packet: &[u8]) -> Result<Request, Error> {
    let truncated = |what, need| Error::Truncated {
        what,
        len: packet.len(),
        need,
    };
    let (Some(connection_id), Some(act), Some(transaction_id)) = (
        read_u64(packet, 0),
        read_u32(packet, 8),
        read_u32(packet, 12),
    ) else {
        return Err(truncated("request", HEADER_LEN));
    };
    match act {
        action::CONNECT if connection_id != PROTOCOL_ID => Err(Error::BadProtocolId(connection_id)),
        action::CONNECT => Ok(Request::Connect { transaction_id }),
        action::ANNOUNCE => {
            let req = announce_fields(packet).ok_or(truncated("announce", ANNOUNCE_LEN))??;
            Ok(Request::Announce {
                connection_id,
                transaction_id,
                req,
            })
        }
        action::SCRAPE => {
            let body = packet.get(HEADER_LEN..).unwrap_or_default();
            if body.len() % 20 != 0 {
                return Err(Error::Malformed {
                    field: "info_hash",
                    problem: format!("{} bytes of hashes is not a multiple of 20", body.len()),
                });
            }
            let hashes = body
                .chunks_exact(20)
                .filter_map(|chunk| chunk.try_into().ok().map(InfoHash))
                .collect();
            Ok(Request::Scrape {
                connection_id,
                transaction_id,
                hashes,
            })
        }
        other => Err(Error::UnknownAction(other)),
    }
}

/// The announce fields after the header; `None` if the packet is too short, an error for an
/// event number BEP 15 does not define.
fn announce_fields(packet: &[u8]) -> Option<Result<AnnounceRequest, Error>> {
    let event_code = read_u32(packet, 80)?;
    let num_want = read_u32(packet, 92)?;
    let req = AnnounceRequest {
        info_hash: InfoHash(read_20(packet, 16)?),
        peer_id: PeerId(read_20(packet, 36)?),
        downloaded: read_u64(packet, 56)?,
        left: read_u64(packet, 64)?,
        uploaded: read_u64(packet, 72)?,
        event: Event::None,
        key: read_u32(packet, 88)?,
        // Every negative number, not only -1, leaves the choice to the tracker.
        numwant: (num_want <= i32::MAX.unsigned_abs()).then_some(num_want),
        port: read_u16(packet, 96)?,
        tracker_id: None,
    };
    Some(match Event::from_udp_code(event_code) {
        Some(event) => Ok(AnnounceRequest { event, ..req }),
        None => Err(Error::Malformed {
            field: "event",
            problem: format!("unknown event number {event_code}"),
        }),
    })
}
