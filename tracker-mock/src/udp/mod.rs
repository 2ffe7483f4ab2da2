//! The UDP front end (BEP 15): connect, announce and scrape over any [`Net`]'s UDP socket,
//! with connection ids checked ([`ids`]) and transaction ids echoed.
//!
//! Packets that do not parse as requests are dropped without an answer, as real trackers do:
//! with no trustworthy transaction id there is nobody to address an error to.

mod ids;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::{Net, Udp};
use bitswarm_client::tracker::udp::{self as codec, action, Request};
use bitswarm_client::tracker::ScrapeStats;
use tracing::{debug, warn};

use crate::config::{FaultKind, Protocol};
use crate::swarm::Family;
use crate::tracker::Tracker;
use ids::ConnectionIds;

pub use ids::LIFETIME as CONNECTION_ID_LIFETIME;

/// The receive buffer: the largest UDP payload, so no request is ever cut short.
const RECV_BUF_LEN: usize = 65_536;

/// The most peers one UDP answer carries, whatever the configuration says: what fits in the
/// largest datagram (65 507 bytes) after the 20-byte header, at 18 bytes per IPv6 entry.
pub const MAX_PEERS: usize = (65_507 - 20) / 18;

/// The pause after a failed receive before trying again, so the loop does not spin while the
/// condition lasts.
const RECV_RETRY: Duration = Duration::from_millis(100);

/// What follows the action and transaction id in a [`FaultKind::Garbage`] answer. The header
/// makes the packet look like the awaited answer; these 5 bytes give it a length no answer has
/// (a connect or announce answer needs at least 8 more, a scrape answer a multiple of 12).
pub const GARBAGE_TAIL: &[u8] = b"junk!";

/// The error message for an announce or scrape with a connection id we did not issue to that
/// address, or issued too long ago.
pub const BAD_CONNECTION_ID: &str = "invalid or expired connection id";

impl Tracker {
    /// Binds `addr` through `net` and serves UDP requests on a spawned task until the runtime
    /// ends. Returns the address actually bound (port 0 picks one).
    pub async fn serve_udp<N: Net>(
        self: Arc<Self>,
        net: N,
        addr: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let socket = net.bind_udp(addr).await?;
        let bound = socket.local_addr()?;
        let ids = ConnectionIds::new(self.config().seed);
        tokio::spawn(serve(self, socket, ids));
        Ok(bound)
    }
}

/// Receives requests and sends answers, one at a time, forever.
async fn serve<U: Udp>(tracker: Arc<Tracker>, socket: U, mut ids: ConnectionIds) {
    let mut buf = vec![0u8; RECV_BUF_LEN];
    loop {
        let (len, from) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(e) => {
                warn!("udp tracker: receive failed: {e}");
                tokio::time::sleep(RECV_RETRY).await;
                continue;
            }
        };
        let packet = buf.get(..len).unwrap_or_default();
        let Some(answer) = handle(&tracker, &mut ids, packet, from) else {
            continue;
        };
        if let Err(e) = socket.send_to(&answer, from).await {
            debug!(%from, "udp tracker: send failed: {e}");
        }
    }
}

/// The answer to one datagram from `from`, if it gets one.
fn handle(
    tracker: &Tracker,
    ids: &mut ConnectionIds,
    packet: &[u8],
    from: SocketAddr,
) -> Option<Vec<u8>> {
    let request = match codec::parse_request(packet) {
        Ok(request) => request,
        Err(e) => {
            debug!(%from, "udp tracker: dropping packet: {e}");
            return None;
        }
    };
    let fault = tracker.fault(Protocol::Udp).map(|f| f.kind);
    let silent = matches!(fault, Some(FaultKind::Down | FaultKind::Timeout));
    let now = tracker.elapsed();
    match request {
        Request::Connect { transaction_id } => match fault {
            _ if silent => None,
            Some(FaultKind::Failure(reason)) => Some(codec::encode_error(transaction_id, &reason)),
            Some(FaultKind::Garbage) => Some(garbage(action::CONNECT, transaction_id)),
            _ => {
                let id = ids.issue(from, now);
                Some(codec::encode_connect_response(transaction_id, id).to_vec())
            }
        },
        Request::Announce {
            connection_id,
            transaction_id,
            req,
        } => {
            if !silent && !ids.is_valid(connection_id, from, now) {
                tracker.reject(Protocol::Udp, from.ip(), &req);
                return Some(codec::encode_error(transaction_id, BAD_CONNECTION_ID));
            }
            // BEP 15 sizes peer entries by the family the client used; a v4 client reaching a
            // dual-stack socket shows up as a v4-mapped address and still wants 6-byte entries.
            let v6 = from.ip().to_canonical().is_ipv6();
            let family = if v6 { Family::V6 } else { Family::V4 };
            let answer = tracker.announce(
                Protocol::Udp,
                from.ip(),
                &req,
                fault.as_ref(),
                family,
                MAX_PEERS,
            );
            match (answer, fault) {
                (Some(resp), _) => Some(codec::encode_announce_response(
                    transaction_id,
                    resp.interval.unwrap_or_default(),
                    resp.incomplete.unwrap_or_default(),
                    resp.complete.unwrap_or_default(),
                    &resp.peers,
                    v6,
                )),
                (None, Some(FaultKind::Failure(reason))) => {
                    Some(codec::encode_error(transaction_id, &reason))
                }
                (None, Some(FaultKind::Garbage)) => Some(garbage(action::ANNOUNCE, transaction_id)),
                (None, _) => None,
            }
        }
        Request::Scrape {
            connection_id,
            transaction_id,
            hashes,
        } => {
            if silent {
                return None;
            }
            if !ids.is_valid(connection_id, from, now) {
                return Some(codec::encode_error(transaction_id, BAD_CONNECTION_ID));
            }
            match fault {
                Some(FaultKind::Failure(reason)) => {
                    Some(codec::encode_error(transaction_id, &reason))
                }
                Some(FaultKind::Garbage) => Some(garbage(action::SCRAPE, transaction_id)),
                // A UDP scrape answers the hashes asked, in order; asking none gets none (the
                // tracker-wide listing is an HTTP convention).
                _ if hashes.is_empty() => Some(codec::encode_scrape_response(transaction_id, &[])),
                _ => {
                    let stats: Vec<ScrapeStats> = tracker
                        .scrape(&hashes)
                        .into_iter()
                        .map(|(_, stats)| stats)
                        .collect();
                    Some(codec::encode_scrape_response(transaction_id, &stats))
                }
            }
        }
    }
}

/// A packet that starts like the answer to `action` and `transaction_id` and cannot be parsed.
fn garbage(action: u32, transaction_id: u32) -> Vec<u8> {
    let mut packet = Vec::with_capacity(8 + GARBAGE_TAIL.len());
    packet.extend_from_slice(&action.to_be_bytes());
    packet.extend_from_slice(&transaction_id.to_be_bytes());
    packet.extend_from_slice(GARBAGE_TAIL);
    packet
}

#[cfg(test)]
mod tests;
