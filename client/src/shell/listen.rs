//! Incoming connections: accept, handshake, hand the peer to the torrent task.

use std::sync::atomic::Ordering;

use tracing::{debug, warn, Instrument};

use crate::engine::PeerKey;
use crate::net::{Listener, Net};

use super::conn::{self, Context};

/// Accepts connections until the torrent goes away.
pub fn spawn<N: Net>(mut listener: N::Listener, ctx: Context) -> tokio::task::JoinHandle<()> {
    let task = async move {
        loop {
            let (mut stream, addr) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    continue;
                }
            };
            if ctx.events.is_closed() {
                return;
            }
            let ctx = ctx.clone();
            let span = tracing::debug_span!("incoming", peer = %addr);
            tokio::spawn(
                async move {
                    match conn::handshake(&mut stream, ctx.info_hash, ctx.our_id).await {
                        Ok(greeting) => {
                            let key = PeerKey(ctx.next_key.fetch_add(1, Ordering::Relaxed));
                            conn::start(stream, key, addr, greeting, false, &ctx).await;
                        }
                        Err(e) => debug!(error = %e, "incoming handshake failed"),
                    }
                }
                .instrument(span),
            );
        }
    };
    tokio::spawn(task.instrument(tracing::info_span!("listen")))
}
