//! Outgoing connections: connect with a timeout, handshake, hand the peer to the torrent.

use std::net::SocketAddr;
use std::time::Duration;

use tracing::{debug, Instrument};

use crate::engine::DialError;
use crate::net::Net;

use super::conn::{self, Context};
use super::Event;

/// How long a TCP connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Dials `addr` and, after the handshake, runs the connection; a failure is reported as
/// [`Event::DialFailed`].
pub fn spawn<N: Net>(net: N, addr: SocketAddr, ctx: Context) {
    let span = tracing::debug_span!("dial", peer = %addr);
    tokio::spawn(
        async move {
            let error = match tokio::time::timeout(CONNECT_TIMEOUT, net.connect(addr)).await {
                Ok(Ok(mut stream)) => {
                    match conn::handshake(&mut stream, ctx.info_hash, ctx.our_id).await {
                        Ok(greeting) => {
                            conn::start(stream, addr, greeting, true, &ctx).await;
                            return;
                        }
                        Err(e) => DialError::Handshake(e),
                    }
                }
                Ok(Err(e)) => DialError::Connect(e.kind()),
                Err(_) => DialError::ConnectTimeout,
            };
            debug!(%error, "dial failed");
            let _ = ctx.events.send(Event::DialFailed { addr, error }).await;
        }
        .instrument(span),
    );
}
