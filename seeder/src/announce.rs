//! A seeder's announces: `started` when it joins, regular ones at the tracker's interval,
//! `stopped` when it leaves. Always as a seeder (`left = 0`), asking for no peers, since a
//! seeder only waits to be dialled; except a rejoining one (`rejoin_after_ms`), which asks
//! for the tracker's usual count, keeps them in its [`Book`](crate::rejoin::Book), and
//! announces at once when a rejoin finds no address there.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::Net;
use bitswarm_client::tracker::client::{Announcer, Config};
use bitswarm_client::tracker::{AnnounceRequest, Event};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::{sleep_until, timeout, Instant};
use tracing::{debug, Instrument};

use crate::event::EventKind;
use crate::peer::Shared;
use crate::serve::SeedSwarm;

/// How long a leaving seeder waits for its `stopped` announce (which the tracker client
/// itself bounds to 5 s).
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The running announce task; dropping this aborts it.
pub(crate) struct Announcing {
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    abort: AbortHandle,
}

impl Drop for Announcing {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl Announcing {
    /// Starts announcing `local`'s port for `swarm`, drawing UDP transaction ids and the
    /// session key from `seed`.
    pub fn spawn<N: Net>(
        net: N,
        swarm: &SeedSwarm,
        shared: Arc<Shared>,
        local: SocketAddr,
        seed: u64,
    ) -> Announcing {
        let announcer = Announcer::new(
            net,
            swarm.trackers.clone(),
            ChaCha8Rng::seed_from_u64(seed),
            Config::default(),
        );
        let rejoining = shared.behaviour.rejoin().is_some();
        let request = AnnounceRequest {
            info_hash: swarm.info_hash,
            peer_id: shared.peer_id,
            port: local.port(),
            uploaded: 0,
            downloaded: 0,
            // A free rider announces as the leecher it is, so seeding clients still learn
            // of it.
            left: if shared.behaviour.free_ride {
                shared.content.geometry().total_length()
            } else {
                0
            },
            event: Event::Started,
            numwant: if rejoining { None } else { Some(0) },
            key: 0,
            tracker_id: None,
        };
        let (stop, stopped) = oneshot::channel();
        let span = tracing::debug_span!("announce", port = local.port());
        let task = run(announcer, request, shared, local, stopped);
        let handle = tokio::spawn(task.instrument(span));
        Announcing {
            stop: Some(stop),
            abort: handle.abort_handle(),
            handle: Some(handle),
        }
    }

    /// Sends `stopped` (if a `started` got through) and waits for it, at most [`STOP_WAIT`].
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = timeout(STOP_WAIT, handle).await;
        }
    }
}

async fn run<N: Net>(
    mut announcer: Announcer<N>,
    mut request: AnnounceRequest,
    shared: Arc<Shared>,
    local: SocketAddr,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut started = false;
    let mut next = Instant::now();
    // Only a rejoining seeder's book ever asks for an early announce.
    let refreshing = shared.behaviour.rejoin().is_some();
    loop {
        request.event = if started { Event::None } else { Event::Started };
        request.uploaded = shared.uploaded.load(Ordering::Relaxed);
        let attempt = async {
            tokio::select! {
                biased;
                () = sleep_until(next) => {}
                () = shared.book.refresh_wanted(), if refreshing => {}
            }
            announcer.announce(request.clone()).await
        };
        let result = tokio::select! {
            biased;
            _ = &mut stopped => break,
            r = attempt => r,
        };
        let ok = result.is_ok();
        let event = request.event;
        shared.emit(local, EventKind::Announced { event, ok });
        match result {
            Ok(response) => {
                shared.book.learn(&response.peers);
                started = true;
                next = Instant::now() + announcer.next_interval();
            }
            Err(e) => {
                debug!(error = %e, "announce failed");
                next = Instant::now() + announcer.retry_after_failure();
            }
        }
    }
    if started {
        request.event = Event::Stopped;
        request.uploaded = shared.uploaded.load(Ordering::Relaxed);
        let ok = announcer.announce(request).await.is_ok();
        let event = Event::Stopped;
        shared.emit(local, EventKind::Announced { event, ok });
    }
}
