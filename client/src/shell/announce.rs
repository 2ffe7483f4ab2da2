//! The announce task: tells the trackers about us on their schedule and hands peers back.
//!
//! A round over dead trackers can take minutes (UDP retransmissions, HTTP timeouts), so every
//! round races the torrent's commands: `stop` abandons it at once, and the `stopped` announce
//! that follows has its own short deadline, so leaving never waits on a tracker for long.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn, Instrument};

use crate::net::Net;
use crate::tracker::client::{AnnounceError, Announcer};
use crate::tracker::{AnnounceRequest, AnnounceResponse, Event as TrackerEvent};
use crate::{InfoHash, PeerId};

use super::observe::{Trace, Watch};

/// How many peers we ask each tracker for (the BEP 3 convention is 50).
pub const NUMWANT: u32 = 50;

/// The bound on the announces made on the way out (`stopped`, preceded by `completed` when that
/// is still due), over all trackers: they are a courtesy to trackers, and with
/// [`Command::Stop`] answered at once this keeps Ctrl-C under two seconds even when every
/// tracker is dead. A live tracker answers in a round trip or two.
pub const STOPPED_DEADLINE: Duration = Duration::from_millis(1500);

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

/// Where the task stands with the trackers.
struct Progress {
    /// A `started` announce succeeded, so trackers know us and must hear `stopped`.
    started: bool,
    /// The torrent completed and `completed` has not gone out yet.
    completed_due: bool,
    /// `completed` went out (or the torrent was complete from the start): never send it again.
    completed_sent: bool,
    /// When the next regular announce (or retry after a failed round) is due.
    next: Instant,
}

impl Progress {
    /// Notes a command; `true` when it says to stop.
    fn command(&mut self, cmd: Option<Command>) -> bool {
        match cmd {
            Some(Command::Completed) => {
                self.completed_due = !self.completed_sent;
                false
            }
            Some(Command::Stop) | None => true,
        }
    }
}

async fn run<N: Net>(mut s: Setup<N>) {
    if s.announcer.tiers().is_empty() {
        // A torrent without (usable) trackers: its peers come from elsewhere (the DHT, LPD,
        // PEX, `--peer`). Nothing to announce, nothing to warn about every few seconds.
        info!("no tracker to announce to");
        while let Some(cmd) = s.commands.recv().await {
            if matches!(cmd, Command::Stop) {
                break;
            }
        }
        return;
    }
    let mut p = Progress {
        started: false,
        completed_due: false,
        completed_sent: s.started_complete,
        next: Instant::now(),
    };
    loop {
        // `completed` goes out as soon as trackers know us; anything else waits its turn.
        if !(p.completed_due && p.started) {
            let stop = tokio::select! {
                biased;
                cmd = s.commands.recv() => p.command(cmd),
                _ = tokio::time::sleep_until(p.next) => false,
            };
            if stop {
                break;
            }
            if !p.completed_due && Instant::now() < p.next {
                continue;
            }
        }
        let event = if !p.started {
            TrackerEvent::Started
        } else if p.completed_due {
            TrackerEvent::Completed
        } else {
            TrackerEvent::None
        };
        let req = request(&s, event);
        let Some(result) = announce_or_stop(&mut s, &mut p, req).await else {
            break;
        };
        answered(&mut s, &mut p, event, result);
    }
    leave(&mut s, &p).await;
}

/// Runs one announce round while still taking commands: `completed` is noted for later, and
/// `stop` (or the torrent going away) abandons the round at once. `None` when stopped.
async fn announce_or_stop<N: Net>(
    s: &mut Setup<N>,
    p: &mut Progress,
    req: AnnounceRequest,
) -> Option<Result<AnnounceResponse, AnnounceError>> {
    let round = s.announcer.announce(req);
    tokio::pin!(round);
    loop {
        tokio::select! {
            biased;
            cmd = s.commands.recv() => {
                if p.command(cmd) {
                    return None;
                }
            }
            result = &mut round => return Some(result),
        }
    }
}

/// Records a round's outcome, hands its peers to the torrent and schedules the next round.
fn answered<N: Net>(
    s: &mut Setup<N>,
    p: &mut Progress,
    event: TrackerEvent,
    result: Result<AnnounceResponse, AnnounceError>,
) {
    match result {
        Ok(resp) => {
            p.started = true;
            if event == TrackerEvent::Completed {
                p.completed_due = false;
                p.completed_sent = true;
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
            p.next = Instant::now() + s.announcer.next_interval();
        }
        Err(e) => {
            let wait: Duration = s.announcer.retry_after_failure();
            warn!(error = %e, retry_in = ?wait, "announce failed");
            let text = e.to_string();
            s.watch.record(Trace::Announced {
                event,
                result: Err(&text),
            });
            p.next = Instant::now() + wait;
        }
    }
}

/// The goodbye: `completed` if it is still due (the torrent finished just before stopping, or
/// stop cut its round short), then `stopped`; both only if trackers know us, and both within
/// [`STOPPED_DEADLINE`] in all, whatever the trackers do.
async fn leave<N: Net>(s: &mut Setup<N>, p: &Progress) {
    if !p.started {
        return;
    }
    let deadline = Instant::now() + STOPPED_DEADLINE;
    if p.completed_due {
        last_announce(s, TrackerEvent::Completed, deadline).await;
    }
    last_announce(s, TrackerEvent::Stopped, deadline).await;
}

/// One announce round that gives up at `deadline`, its outcome logged and recorded.
async fn last_announce<N: Net>(s: &mut Setup<N>, event: TrackerEvent, deadline: Instant) {
    let req = request(s, event);
    match tokio::time::timeout_at(deadline, s.announcer.announce(req)).await {
        Ok(Ok(resp)) => {
            info!(?event, "announced");
            let result = Ok(resp.peers.len());
            s.watch.record(Trace::Announced { event, result });
        }
        failed => {
            let text = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => format!("no answer within {STOPPED_DEADLINE:?} of stopping"),
            };
            warn!(?event, error = %text, "announce on the way out failed");
            s.watch.record(Trace::Announced {
                event,
                result: Err(&text),
            });
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

#[cfg(test)]
mod tests;
