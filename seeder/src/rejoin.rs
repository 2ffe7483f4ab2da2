//! `rejoin_after_ms`: a seeder that comes back as somebody else after a peer hangs up on it,
//! the way a banned peer dodges a ban keyed on its endpoint and peer id.
//!
//! A seeder only learns a peer's ephemeral source port from an accepted connection, so it
//! cannot dial that back. It dials where the peer *listens*, as the trackers list it: the
//! [`Book`] keeps every address the trackers handed out, and a rejoin picks the one with
//! the departed peer's IP (the same address if it was dialled before). When none is known
//! yet (the peer joined after the seeder's last announce) the book asks the announce task to
//! announce at once and waits for the answer.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::Net;
use bitswarm_client::PeerId;
use tokio::sync::{watch, Notify};
use tokio::time::{sleep, timeout};

use crate::event::EventKind;
use crate::peer::{self, Outcome, Shared};

/// How long a rejoin waits for the trackers to say where a peer listens: longer than an
/// announce takes (the tracker client gives up on HTTP after 15 s).
pub const LOOKUP_WAIT: Duration = Duration::from_secs(30);

/// How long a rejoin's connect may take before the attempt counts as failed.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// The most addresses a book keeps: the size of one tracker answer at its cap, so hostile
/// trackers cannot grow a seeder's memory by answering often.
const BOOK_CAP: usize = 10_000;

/// Where the swarm's peers listen, as the trackers said.
pub(crate) struct Book {
    /// Every address learned, in address order (so picks replay), watched by waiting rejoins.
    addrs: watch::Sender<BTreeSet<SocketAddr>>,
    /// Rung by a rejoin that found nothing, answered by the announce task.
    refresh: Notify,
    /// Whether anyone announces: without trackers nothing will ever be learned.
    announcing: bool,
}

impl Book {
    /// An empty book; `announcing`: the seeder has trackers to learn from.
    pub fn new(announcing: bool) -> Book {
        Book {
            addrs: watch::Sender::new(BTreeSet::new()),
            refresh: Notify::new(),
            announcing,
        }
    }

    /// Remembers `peers` (a tracker's answer). Peers are never forgotten: a client that
    /// banned the seeder still listens where it did.
    pub fn learn(&self, peers: &[SocketAddr]) {
        self.addrs.send_if_modified(|addrs| {
            let before = addrs.len();
            for &peer in peers {
                if addrs.len() >= BOOK_CAP {
                    break;
                }
                addrs.insert(peer);
            }
            addrs.len() != before
        });
    }

    /// Completes when a rejoin wants the trackers asked again.
    pub async fn refresh_wanted(&self) {
        self.refresh.notified().await;
    }

    /// Where the peer that was at `departed` listens: a known address with its IP, waiting up
    /// to [`LOOKUP_WAIT`] for a fresh announce if none is known yet.
    async fn find(&self, departed: SocketAddr) -> Option<SocketAddr> {
        let mut addrs = self.addrs.subscribe();
        if let Some(found) = pick(&addrs.borrow_and_update(), departed) {
            return Some(found);
        }
        if !self.announcing {
            return None;
        }
        self.refresh.notify_one();
        let wait = async {
            while addrs.changed().await.is_ok() {
                if let Some(found) = pick(&addrs.borrow_and_update(), departed) {
                    return Some(found);
                }
            }
            None
        };
        timeout(LOOKUP_WAIT, wait).await.ok().flatten()
    }
}

/// `departed` itself if it is a listening address (a connection the seeder dialled), else
/// the lowest known address with its IP.
fn pick(addrs: &BTreeSet<SocketAddr>, departed: SocketAddr) -> Option<SocketAddr> {
    if addrs.contains(&departed) {
        return Some(departed);
    }
    addrs.iter().find(|a| a.ip() == departed.ip()).copied()
}

/// The rejoins a seeder has left and how long each waits.
pub(crate) struct Rejoins {
    left: u32,
    delay: Duration,
}

impl Rejoins {
    /// The budget of `rejoin_after_ms` and `rejoin_max`; `None` if the seeder never rejoins.
    pub fn new(script: Option<(Duration, u32)>) -> Option<Rejoins> {
        script.map(|(delay, max)| Rejoins { left: max, delay })
    }

    /// Takes one attempt from the budget; its delay, or `None` when it is spent.
    pub fn take(&mut self) -> Option<Duration> {
        self.left = self.left.checked_sub(1)?;
        Some(self.delay)
    }
}

/// One rejoin for the peer that was at `departed`: after `delay`, dials where it listens
/// and, connected, serves it as `peer_id`. A failed attempt asks for another.
pub(crate) async fn attempt<N: Net>(
    net: N,
    departed: SocketAddr,
    shared: Arc<Shared>,
    delay: Duration,
    peer_id: PeerId,
    seed: u64,
) -> Outcome {
    sleep(delay).await;
    let failed = |peer: SocketAddr, why: String| {
        shared.emit(peer, EventKind::RejoinFailed(why));
        Outcome { peer, rejoin: true }
    };
    let Some(target) = shared.book.find(departed).await else {
        return failed(departed, "no listening address known".into());
    };
    let stream = match timeout(DIAL_TIMEOUT, net.connect(target)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return failed(target, format!("dial: {e}")),
        Err(_) => return failed(target, "dial timed out".into()),
    };
    shared.emit(target, EventKind::Rejoined { peer_id });
    peer::dialled(stream, target, Arc::clone(&shared), peer_id, seed).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_departed_peer_is_found_by_its_ip_or_its_own_address() {
        let book: BTreeSet<SocketAddr> = ["10.0.0.2:6881", "10.0.0.3:7000", "10.0.0.3:6881"]
            .into_iter()
            .map(addr)
            .collect();
        // An accepted connection came from an ephemeral port: where that IP listens.
        assert_eq!(
            pick(&book, addr("10.0.0.2:49155")),
            Some(addr("10.0.0.2:6881"))
        );
        // Several listeners on one IP: the lowest, unless it is the departed one itself.
        assert_eq!(
            pick(&book, addr("10.0.0.3:49155")),
            Some(addr("10.0.0.3:6881"))
        );
        assert_eq!(
            pick(&book, addr("10.0.0.3:7000")),
            Some(addr("10.0.0.3:7000"))
        );
        assert_eq!(pick(&book, addr("10.0.0.9:6881")), None);
    }

    #[test]
    fn the_budget_runs_out() {
        let mut rejoins = Rejoins::new(Some((Duration::from_millis(5), 2))).unwrap();
        assert_eq!(rejoins.take(), Some(Duration::from_millis(5)));
        assert_eq!(rejoins.take(), Some(Duration::from_millis(5)));
        assert_eq!(rejoins.take(), None);
        assert!(Rejoins::new(None).is_none());
    }

    #[tokio::test]
    async fn a_book_without_trackers_answers_at_once() {
        let book = Book::new(false);
        assert_eq!(book.find(addr("10.0.0.2:49155")).await, None);
        book.learn(&[addr("10.0.0.2:6881")]);
        let found = book.find(addr("10.0.0.2:49155")).await;
        assert_eq!(found, Some(addr("10.0.0.2:6881")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_address_asks_for_an_announce_and_waits_for_it() {
        let book = Arc::new(Book::new(true));
        let announcer = {
            let book = Arc::clone(&book);
            tokio::spawn(async move {
                book.refresh_wanted().await;
                book.learn(&[addr("10.0.0.2:6881")]);
            })
        };
        let found = book.find(addr("10.0.0.2:49155")).await;
        assert_eq!(found, Some(addr("10.0.0.2:6881")));
        announcer.await.unwrap();
        // Nobody answers: it gives up after LOOKUP_WAIT.
        assert_eq!(book.find(addr("10.0.0.7:49155")).await, None);
    }
}
