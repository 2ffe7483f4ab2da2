//! The announce task: tells the trackers about us on their schedule and hands peers back.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn, Instrument};

use crate::net::Net;
use crate::tracker::client::Announcer;
use crate::tracker::{AnnounceRequest, Event as TrackerEvent};
use crate::{InfoHash, PeerId};

use super::observe::{Trace, Watch};

/// How many peers we ask each tracker for (the BEP 3 convention is 50).
pub const NUMWANT: u32 = 50;

/// What the torrent tells the announce task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Every piece is verified: send `completed` now.
    Completed,
    /// We are leaving: send `stopped` and end.
    Stop,
}

/// Transfer counters the announce reads when it goes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
}

/// Everything the task needs; see [`spawn`].
pub struct Setup<N: Net> {
    pub announcer: Announcer<N>,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub counters: watch::Receiver<Counters>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Peers for the torrent. Its own unbounded channel (a few per announce), because the
    /// torrent's event queue can be full, or no longer read while the torrent winds down and
    /// waits for the `stopped` announce.
    pub peers: mpsc::UnboundedSender<Vec<std::net::SocketAddr>>,
    /// Whether the torrent was already complete at start (then `completed` is never sent).
    pub started_complete: bool,
    pub watch: Watch,
}

/// Runs announces until [`Command::Stop`] (which sends `stopped`) or until the torrent goes
/// away. Tracker events go out in order: `started` until one succeeds, `completed` once, `stopped`
/// last.
pub fn spawn<N: Net>(setup: Setup<N>) -> tokio::task::JoinHandle<()> {
    let span = tracing::info_span!("announce");
    tokio::spawn(run(setup).instrument(span))
}

async fn run<N: Net>(mut s: Setup<N>) {
    let mut started = false;
    let mut completed_due = false;
    let mut completed_sent = s.started_complete;
    let mut next = tokio::time::Instant::now();
    loop {
        let stop = tokio::select! {
            biased;
            cmd = s.commands.recv() => match cmd {
                Some(Command::Completed) => {
                    completed_due = !completed_sent;
                    false
                }
                Some(Command::Stop) | None => true,
            },
            _ = tokio::time::sleep_until(next) => false,
        };
        if stop {
            if started {
                let req = request(&s, TrackerEvent::Stopped);
                let event = TrackerEvent::Stopped;
                match s.announcer.announce(req).await {
                    Ok(resp) => {
                        info!("announced stopped");
                        let result = Ok(resp.peers.len());
                        s.watch.record(Trace::Announced { event, result });
                    }
                    Err(e) => {
                        warn!(error = %e, "stopped announce failed");
                        let text = e.to_string();
                        s.watch.record(Trace::Announced {
                            event,
                            result: Err(&text),
                        });
                    }
                }
            }
            return;
        }
        if !completed_due && tokio::time::Instant::now() < next {
            continue;
        }
        let event = if !started {
            TrackerEvent::Started
        } else if completed_due {
            TrackerEvent::Completed
        } else {
            TrackerEvent::None
        };
        let req = request(&s, event);
        match s.announcer.announce(req).await {
            Ok(resp) => {
                started = true;
                if event == TrackerEvent::Completed {
                    completed_due = false;
                    completed_sent = true;
                }
                info!(?event, peers = resp.peers.len(), "announced");
                let result = Ok(resp.peers.len());
                s.watch.record(Trace::Announced { event, result });
                if let Some(w) = &resp.warning {
                    warn!(warning = %w, "tracker warning");
                }
                if !resp.peers.is_empty() {
                    let _ = s.peers.send(resp.peers);
                }
                next = tokio::time::Instant::now() + s.announcer.next_interval();
            }
            Err(e) => {
                let wait: Duration = s.announcer.retry_after_failure();
                warn!(error = %e, retry_in = ?wait, "announce failed");
                let text = e.to_string();
                s.watch.record(Trace::Announced {
                    event,
                    result: Err(&text),
                });
                next = tokio::time::Instant::now() + wait;
            }
        }
    }
}

fn request<N: Net>(s: &Setup<N>, event: TrackerEvent) -> AnnounceRequest {
    let c = *s.counters.borrow();
    AnnounceRequest {
        info_hash: s.info_hash,
        peer_id: s.peer_id,
        port: s.port,
        uploaded: c.uploaded,
        downloaded: c.downloaded,
        left: c.left,
        event,
        numwant: Some(NUMWANT),
        key: 0,
        tracker_id: None,
    }
}
