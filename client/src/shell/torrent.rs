//! The torrent driver: owns the engine, feeds it inputs, carries out its actions.
//!
//! [`Torrent`] has one method per concern: [`Torrent::start`] (storage, the check of existing
//! data, listener, announces), [`Torrent::perform`] (one [`Action`]), [`Torrent::handle`] (one
//! input, in `inputs.rs`), [`Torrent::report`] (status for the display and the trackers) and
//! [`Torrent::wind_down`]. The loop in [`Torrent::run`] only sequences them.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn, Instrument};

use crate::engine::own::OwnAddrs;
use crate::engine::{Action, Engine, PeerKey, Rate, Reason};
use crate::metainfo::Metainfo;
use crate::net::{Listener, Net};
use crate::storage::{resume, FileStorage, StorageError};
use crate::wire::{max_frame_len, Decoder};
use crate::PeerId;

use super::announce::{Command, Counters};
use super::disk::{Disk, DiskDone};
use super::limit::RateLimiter;
use super::observe::{Trace, Watch};
use super::{conn, dial, listen, Event, Options, Progress, Summary};

/// Events queued between peer tasks and the torrent task. Bounded so that a slow disk slows
/// the sockets instead of growing memory: most events carry a 16 KiB block, so this is up to
/// 4 MiB of blocks not yet counted in `MAX_PENDING_WRITES` (1024 made peak RSS 48 MiB with
/// two fast seeders, at no gain in speed).
const EVENT_QUEUE: usize = 256;

/// Block bytes handed to storage and not yet written, past which the torrent stops taking
/// events (and so stops reading sockets) until writes catch up. 4 MiB is ~10 ms of a fast
/// download, and the kernel's socket buffers hold more; 8 MiB made peak RSS 31-33 MiB
/// instead of 26-28 in a 1 GiB download, at the same speed.
const MAX_PENDING_WRITES: u64 = 4 * 1024 * 1024;

/// Inputs handled in one pass of the torrent loop when they are already waiting.
const READY_BATCH: usize = 64;

/// How often the progress display and announce counters are refreshed.
const STATUS_INTERVAL: Duration = Duration::from_millis(500);

/// A way of saving the resume file: `resume::save_verified` or `resume::save_written`.
type Save =
    fn(&FileStorage, &crate::InfoHash, &crate::bitfield::Bitfield) -> Result<(), StorageError>;

/// Why a download could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("checking existing data failed: the check panicked")]
    Check,
}

/// Downloads `meta` into `opts.out_dir` until every piece is verified on disk or `shutdown`
/// resolves. Progress goes to `progress` twice a second.
pub async fn download<N: Net>(
    net: N,
    meta: &Metainfo,
    opts: Options,
    shutdown: impl Future<Output = ()>,
    progress: watch::Sender<Progress>,
) -> Result<Summary, Error> {
    let span = tracing::info_span!("torrent", info_hash = %meta.info_hash);
    async move {
        let mut torrent = Torrent::start(net, meta, opts, progress).await?;
        let complete = torrent.run(shutdown).await;
        Ok(torrent.wind_down(complete).await)
    }
    .instrument(span)
    .await
}

/// The torrent's end of one admitted connection.
struct Connection {
    addr: SocketAddr,
    /// Dropping it ends the connection's task and closes its socket.
    link: conn::Link,
}

/// One input for the engine, as the loop received it.
enum Input {
    Disk(DiskDone),
    TrackerPeers(Vec<SocketAddr>),
    Peer(Event),
    Deadline,
}

/// The announce task and what the torrent tells it.
struct Announce {
    commands: mpsc::UnboundedSender<Command>,
    counters: watch::Sender<Counters>,
    task: JoinHandle<()>,
}

/// A running torrent: the engine and everything that carries out its actions.
struct Torrent<'a, N: Net> {
    net: N,
    meta: &'a Metainfo,
    engine: Engine,
    files: Arc<FileStorage>,
    disk: Disk,
    ctx: conn::Context,
    watch: Watch,
    connections: BTreeMap<PeerKey, Connection>,
    events: mpsc::Receiver<Event>,
    disk_done: mpsc::UnboundedReceiver<DiskDone>,
    tracker_peers: mpsc::UnboundedReceiver<Vec<SocketAddr>>,
    listen_task: JoinHandle<()>,
    announce: Announce,
    progress: watch::Sender<Progress>,
    /// Time zero of the engine's clock.
    epoch: Instant,
    /// When the engine last ticked, so a deadline it leaves in the past cannot spin the loop.
    last_tick: Option<Duration>,
    /// Bytes we had at start, and whether that was everything.
    had: u64,
    started_complete: bool,
    /// When every piece was first verified and written (`completed` announced then).
    seeding_since: Option<Duration>,
    /// When to stop seeding; `None`: stop at completion.
    seed_until: Option<super::SeedUntil>,
    resume_interval: Duration,
    pending_writes: u64,
    /// A storage error that stops the torrent.
    fatal: Option<StorageError>,
    next_status: Instant,
    next_resume: Instant,
    rate: Rate,
    last_downloaded: u64,
    up_rate: Rate,
    last_uploaded: u64,
}

impl<'a, N: Net> Torrent<'a, N> {
    /// Opens storage, checks what is already there, starts listening and announcing.
    async fn start(
        net: N,
        meta: &'a Metainfo,
        opts: Options,
        progress: watch::Sender<Progress>,
    ) -> Result<Self, Error> {
        let epoch = Instant::now();
        let geometry = meta.info.geometry();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let our_id = PeerId::ours(rng.gen());
        let (files, disk, disk_done, have) = open_storage(meta, &opts, &progress).await?;
        let had = have
            .iter_ones()
            .map(|p| u64::from(geometry.piece_len(p)))
            .sum();
        info!(
            pieces = have.count_ones(),
            of = geometry.piece_count(),
            "existing data checked"
        );
        let started_complete = have.is_full();
        if started_complete {
            // Complete from the start: no verification will say so later.
            opts.watch.record(Trace::Complete);
        }
        let config = crate::engine::Config {
            seeding: opts.seed_until.is_some(),
            ..opts.engine.clone()
        };
        let mut engine = Engine::new(config, geometry.clone(), have, rng.gen());
        engine.serve_metadata(bytes::Bytes::from(meta.info_bytes.clone()));

        let (events_tx, events) = mpsc::channel::<Event>(EVENT_QUEUE);
        let ctx = conn::Context {
            info_hash: meta.info_hash,
            our_id,
            decoder: Decoder::new(max_frame_len(geometry.piece_count())),
            events: events_tx,
            next_key: Arc::new(AtomicU64::new(1)),
            limit: opts.max_down.map(|rate| Arc::new(RateLimiter::new(rate))),
            up_limit: opts.max_up.map(|rate| Arc::new(RateLimiter::new(rate))),
        };
        let listener = listen_on(&net, opts.listen).await?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        info!(port, "listening");
        engine.set_listen_port(port);
        let listening = SocketAddr::new(opts.listen.ip(), port);
        engine.set_own_addresses(OwnAddrs::new(listening, net.local_ips()));
        let listen_task = listen::spawn::<N>(listener, ctx.clone());
        let (tracker_tx, tracker_peers) = mpsc::unbounded_channel();
        if !meta.info.private {
            if let Some(dht) = &opts.dht {
                super::dht_lookups(dht, meta.info_hash, Some(port), tracker_tx.clone());
            }
            if let Some(lpd) = &opts.lpd {
                lpd.join(meta.info_hash, port, tracker_tx.clone());
            }
        }
        let announce = start_announcing(
            &net, meta, &opts, our_id, port, &engine, tracker_tx, &mut rng,
        );
        engine.add_peers(Duration::ZERO, opts.peers.iter().copied());
        Ok(Torrent {
            net,
            meta,
            engine,
            files,
            disk,
            ctx,
            watch: opts.watch.clone(),
            connections: BTreeMap::new(),
            events,
            disk_done,
            tracker_peers,
            listen_task,
            announce,
            progress,
            epoch,
            last_tick: None,
            had,
            started_complete,
            seeding_since: None,
            seed_until: opts.seed_until,
            resume_interval: opts.resume_interval,
            pending_writes: 0,
            fatal: None,
            next_status: Instant::now(),
            next_resume: Instant::now() + opts.resume_interval,
            rate: Rate::default(),
            last_downloaded: 0,
            up_rate: Rate::default(),
            last_uploaded: 0,
        })
    }

    /// The engine's clock.
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Feeds the engine until every piece is verified and written (true), storage fails or
    /// `shutdown` resolves (false).
    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> bool {
        tokio::pin!(shutdown);
        loop {
            while let Some(action) = self.engine.poll_action() {
                self.perform(action);
            }
            if self.engine.is_complete() && self.pending_writes == 0 && self.seeding_done().await {
                return true;
            }
            if let Some(e) = self.fatal.take() {
                warn!(error = %e, "stopping: storage failed");
                return false;
            }
            let input = tokio::select! {
                biased;
                () = &mut shutdown => return false,
                input = self.next_input() => input,
            };
            self.handle(input);
            self.handle_ready();
            self.report().await;
        }
    }

    /// Hands the engine the disk results and peer events already waiting, at most
    /// [`READY_BATCH`] of them, each after the actions of the one before: a burst of blocks
    /// costs one pass of the loop (the engine's timers, the wake-up) instead of one per block.
    /// Deterministic: what is waiting at this point is a function of the run.
    fn handle_ready(&mut self) {
        for _ in 0..READY_BATCH {
            while let Some(action) = self.engine.poll_action() {
                self.perform(action);
            }
            if self.fatal.is_some() {
                return;
            }
            let input = match self.disk_done.try_recv() {
                Ok(done) => Input::Disk(done),
                Err(_) if self.pending_writes >= MAX_PENDING_WRITES => return,
                Err(_) => match self.events.try_recv() {
                    Ok(event) => Input::Peer(event),
                    Err(_) => return,
                },
            };
            self.handle(input);
        }
    }

    /// Every piece is verified and written: whether to stop now. The first time, trackers
    /// hear `completed` (and the resume file records it); a seeding torrent then goes on until
    /// its ratio or time is reached.
    async fn seeding_done(&mut self) -> bool {
        let now = self.now();
        let since = match self.seeding_since {
            Some(since) => since,
            None => {
                self.seeding_since = Some(now);
                if !self.started_complete {
                    let _ = self.announce.commands.send(Command::Completed);
                }
                if self.seed_until.is_some() {
                    self.save_resume().await;
                }
                now
            }
        };
        let Some(until) = self.seed_until else {
            return true;
        };
        let total = self.meta.info.geometry().total_length().max(1);
        let ratio = self.engine.stats().uploaded as f64 / total as f64;
        until.ratio.is_some_and(|r| ratio >= r)
            || until.time.is_some_and(|t| now.saturating_sub(since) >= t)
    }

    /// Waits for the next input. A deadline that has passed comes first, so a peer flooding
    /// the event queue cannot starve the engine's timers.
    async fn next_input(&mut self) -> Input {
        self.disk.hand_back();
        let now = self.now();
        let deadline = self.engine.next_timeout(now);
        let fresh = self.last_tick.is_none_or(|t| t < now);
        if deadline.is_some_and(|d| d <= now) && fresh {
            return Input::Deadline;
        }
        let wake = deadline
            .map(|d| self.epoch + d)
            .unwrap_or(self.next_status)
            .min(self.next_status)
            .min(self.disk.next_due().unwrap_or(self.next_status))
            // A deadline the engine failed to clear must not spin this loop.
            .max(Instant::now() + Duration::from_millis(1));
        let accepting = self.pending_writes < MAX_PENDING_WRITES;
        self.engine.set_listening(now, accepting);
        tokio::select! {
            biased;
            Some(done) = self.disk_done.recv() => Input::Disk(done),
            Some(addrs) = self.tracker_peers.recv() => Input::TrackerPeers(addrs),
            Some(event) = self.events.recv(), if accepting => Input::Peer(event),
            () = tokio::time::sleep_until(wake) => Input::Deadline,
        }
    }

    /// Carries out one action of the engine.
    fn perform(&mut self, action: Action) {
        self.observe_action(&action);
        match action {
            Action::Connect(addr) => {
                dial::spawn(self.net.clone(), addr, self.ctx.clone());
            }
            Action::Send(key, msg) => {
                let sent = self.connections.get(&key).map(|c| c.link.send(msg));
                if sent == Some(Err(conn::SendError::Full)) {
                    // It does not read what we send: drop it before its queue grows further.
                    let reason = Reason::SendQueueFull;
                    self.close(key, reason.clone(), true);
                    self.engine.peer_closed(self.now(), key, reason);
                }
            }
            Action::Disconnect(key, reason) => {
                debug!(?key, %reason, "disconnecting");
                self.close(key, reason, true);
            }
            Action::Write { block, data } => {
                self.pending_writes += u64::from(block.len);
                self.disk.write(block, data);
            }
            Action::Verify {
                piece,
                block_hashes,
            } => self.disk.verify(piece, block_hashes),
            Action::Read { key, block } => {
                if let Some(data) = self.disk.read(key, block) {
                    self.engine.block_read(self.now(), key, block, data);
                }
            }
            Action::Notice(n) => super::log_notice(&n, self.engine.left()),
        }
    }

    /// Drops a connection (ending its task and socket) and records why.
    fn close(&mut self, key: PeerKey, reason: Reason, by_us: bool) {
        if let Some(c) = self.connections.remove(&key) {
            self.watch.record(Trace::Disconnected {
                peer: c.addr,
                reason: &reason,
                by_us,
            });
        }
    }

    /// Refreshes the progress display and the announce counters, and the resume file on its
    /// schedule.
    async fn report(&mut self) {
        let now = Instant::now();
        if now >= self.next_status {
            self.next_status = now + STATUS_INTERVAL;
            let stats = self.engine.stats();
            let t = self.now();
            self.rate.add(t, stats.downloaded - self.last_downloaded);
            self.last_downloaded = stats.downloaded;
            self.up_rate.add(t, stats.uploaded - self.last_uploaded);
            self.last_uploaded = stats.uploaded;
            let _ = self.announce.counters.send(Counters {
                uploaded: stats.uploaded,
                downloaded: stats.downloaded,
                left: self.engine.left(),
            });
            let _ = self.progress.send(Progress {
                total_length: self.meta.info.geometry().total_length(),
                left: self.engine.left(),
                downloaded: stats.downloaded,
                uploaded: stats.uploaded,
                download_rate: self.rate.per_second(t),
                upload_rate: self.up_rate.per_second(t),
                peers: self.engine.peer_count(),
                wasted: stats.wasted,
                banned: stats.banned,
                checking: false,
            });
        }
        if now >= self.next_resume {
            self.next_resume = now + self.resume_interval;
            self.save_resume().await;
        }
    }

    /// Records the verified pieces durably (see `storage::resume`); false (and a warning) if
    /// the data could not be synced or the resume file written.
    async fn save_resume(&self) -> bool {
        self.save_resume_with(resume::save_verified).await
    }

    /// Saves the resume file with `save` (synced or, for the last save, unsynced).
    async fn save_resume_with(&self, save: Save) -> bool {
        let (files, info_hash, have) = (
            Arc::clone(&self.files),
            self.meta.info_hash,
            self.engine.have().clone(),
        );
        let saved = self
            .disk
            .blocking(move || save(&files, &info_hash, &have))
            .await;
        match saved {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                warn!(error = %e, "cannot sync data or save the resume file");
                false
            }
            None => {
                warn!("the resume save panicked");
                false
            }
        }
    }

    /// No new connections, every connection closed, resume saved, trackers told. The data is
    /// written but not waited for: the last save holds within this boot of the machine
    /// (`resume::save_written`). Complete only if that save succeeded (and no earlier sync
    /// failed).
    async fn wind_down(mut self, complete: bool) -> Summary {
        self.listen_task.abort();
        // Dropping the links ends every connection task and closes its socket.
        self.connections.clear();
        // Peer tasks blocked on a full queue see it closed and end.
        self.events.close();
        let saved = self.save_resume_with(resume::save_written).await;
        let stats = self.engine.stats();
        let _ = self.announce.counters.send(Counters {
            uploaded: stats.uploaded,
            downloaded: stats.downloaded,
            left: self.engine.left(),
        });
        if complete && !self.started_complete && self.seeding_since.is_none() {
            let _ = self.announce.commands.send(Command::Completed);
        }
        let _ = self.announce.commands.send(Command::Stop);
        let _ = (&mut self.announce.task).await;
        Summary {
            info_hash: self.meta.info_hash,
            complete: self.engine.is_complete() && saved,
            downloaded: stats.downloaded,
            uploaded: stats.uploaded,
            wasted: stats.wasted,
            banned: stats.banned,
            had: self.had,
            elapsed: self.epoch.elapsed(),
        }
    }
}

mod inputs;
mod setup;

use setup::{listen_on, open_storage, start_announcing};
