//! Incoming connections: accept, handshake, hand the peer to the torrent task.
//!
//! An attacker controls how many connections arrive, so each costs us little and briefly: at
//! most [`MAX_HANDSHAKES`] incoming handshakes run at once (more are closed on arrival), each
//! ends within the handshake timeout, and a failed `accept` (out of descriptors, say) pauses
//! the loop instead of spinning on it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::{debug, warn, Instrument};

use crate::net::{Listener, Net};

use super::conn::{self, Context};

/// Incoming handshakes in progress at once. Honest peers finish theirs in a round trip, so a
/// few dozen slots are plenty; the cap bounds the descriptors and tasks a flood can hold.
pub const MAX_HANDSHAKES: usize = 32;

/// The first pause after a failed `accept`, doubled while failures continue (up to a second):
/// when descriptors run out, spinning on `accept` would burn a core and fix nothing.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections until the torrent goes away.
pub fn spawn<N: Net>(mut listener: N::Listener, ctx: Context) -> tokio::task::JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let task = async move {
        let mut backoff = ACCEPT_BACKOFF;
        loop {
            let (mut stream, addr) = match listener.accept().await {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF;
                    accepted
                }
                Err(e) => {
                    warn!(error = %e, pause = ?backoff, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            };
            if ctx.events.is_closed() {
                return;
            }
            let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                debug!(peer = %addr, "too many handshakes in progress; closing");
                continue;
            };
            let ctx = ctx.clone();
            let span = tracing::debug_span!("incoming", peer = %addr);
            tokio::spawn(
                async move {
                    let greeting = conn::handshake(&mut stream, ctx.info_hash, ctx.our_id).await;
                    drop(permit);
                    match greeting {
                        Ok(greeting) => conn::start(stream, addr, greeting, false, &ctx).await,
                        Err(e) => debug!(error = %e, "incoming handshake failed"),
                    }
                }
                .instrument(span),
            );
        }
    };
    tokio::spawn(task.instrument(tracing::info_span!("listen")))
}
