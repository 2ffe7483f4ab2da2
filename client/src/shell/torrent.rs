//! The torrent task: owns the engine, feeds it events, carries out its actions.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn, Instrument};

use crate::engine::{Action, Checked, Engine, Notice, PeerKey};
use crate::metainfo::Metainfo;
use crate::net::Net;
use crate::storage::{resume, FileStorage, Storage, StorageError, DEFAULT_MAX_OPEN};
use crate::tracker::client::{Announcer, Config as TrackerConfig};
use crate::wire::{max_frame_len, Decoder, Message};
use crate::PeerId;

use super::announce::{self, Command, Counters};
use super::disk::{Disk, DiskDone, DiskMode};
use super::limit::RateLimiter;
use super::observe::Trace;
use super::{conn, listen, Event, Options, Progress, Summary};

/// Events queued between peer tasks and the torrent task. Bounded so that a slow disk slows
/// the sockets instead of growing memory.
const EVENT_QUEUE: usize = 1024;

/// Block bytes handed to storage and not yet written, past which the torrent stops taking
/// events (and so stops reading sockets) until writes catch up.
const MAX_PENDING_WRITES: u64 = 16 * 1024 * 1024;

/// How long a dial may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the progress display and announce counters are refreshed.
const STATUS_INTERVAL: Duration = Duration::from_millis(500);

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
    #[error("checking existing data failed: {0}")]
    Check(String),
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
    run(net, meta, opts, shutdown, progress)
        .instrument(span)
        .await
}

async fn run<N: Net>(
    net: N,
    meta: &Metainfo,
    opts: Options,
    shutdown: impl Future<Output = ()>,
    progress: watch::Sender<Progress>,
) -> Result<Summary, Error> {
    let started_at = tokio::time::Instant::now();
    let geometry = meta.info.geometry();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let our_id = PeerId::ours(rng.gen());
    let hashes = Arc::new(meta.info.pieces.clone());

    // Storage, and what we already have.
    let files = Arc::new(FileStorage::new(
        &opts.out_dir,
        &meta.info,
        DEFAULT_MAX_OPEN,
    )?);
    files.prepare()?;
    let _ = progress.send(Progress {
        total_length: geometry.total_length(),
        left: geometry.total_length(),
        checking: true,
        ..Progress::default()
    });
    let have = {
        let files = Arc::clone(&files);
        let hashes = Arc::clone(&hashes);
        let info_hash = meta.info_hash;
        let threads = match opts.disk {
            DiskMode::Inline => 1,
            DiskMode::Threaded => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let check = move || resume::restore(&files, &info_hash, &hashes, threads, &|_| {});
        match opts.disk {
            DiskMode::Inline => check(),
            DiskMode::Threaded => tokio::task::spawn_blocking(check)
                .await
                .map_err(|e| Error::Check(e.to_string()))?,
        }
    };
    let had = geometry.total_length()
        - (0..geometry.piece_count())
            .filter(|p| !have.get(*p))
            .map(|p| u64::from(geometry.piece_len(p)))
            .sum::<u64>();
    info!(
        pieces = have.count_ones(),
        of = geometry.piece_count(),
        "existing data checked"
    );
    let started_complete = have.is_full();
    let mut engine = Engine::new(
        opts.engine.clone(),
        geometry.clone(),
        have,
        our_id,
        rng.gen(),
    );

    // Channels and helper tasks.
    let (events_tx, mut events) = mpsc::channel::<Event>(EVENT_QUEUE);
    let (disk_tx, mut disk_done) = mpsc::unbounded_channel();
    let storage: Arc<dyn Storage> = files.clone();
    let disk = Disk::new(storage, geometry.clone(), hashes, opts.disk, disk_tx);
    let decoder = Decoder::new(max_frame_len(geometry.piece_count()));
    let next_key = Arc::new(AtomicU64::new(1));
    let limit = opts.max_down.map(|rate| Arc::new(RateLimiter::new(rate)));
    let listener = match net.listen(opts.listen).await {
        Ok(l) => l,
        // No IPv6 on this host: the same port on IPv4 only.
        Err(_) if opts.listen.is_ipv6() && opts.listen.ip().is_unspecified() => {
            let v4 = SocketAddr::from(([0, 0, 0, 0], opts.listen.port()));
            net.listen(v4)
                .await
                .map_err(|source| Error::Listen { addr: v4, source })?
        }
        Err(source) => {
            return Err(Error::Listen {
                addr: opts.listen,
                source,
            })
        }
    };
    let port = crate::net::Listener::local_addr(&listener)
        .map(|a| a.port())
        .unwrap_or(0);
    info!(port, "listening");
    let ctx = conn::Context {
        info_hash: meta.info_hash,
        our_id,
        decoder,
        events: events_tx.clone(),
        next_key: Arc::clone(&next_key),
        limit,
    };
    let listen_task = listen::spawn::<N>(listener, ctx.clone());
    let (counters_tx, counters_rx) = watch::channel(Counters {
        left: engine.left(),
        ..Counters::default()
    });
    let (announce_cmd, commands) = mpsc::unbounded_channel();
    let (peers_tx, mut tracker_peers) = mpsc::unbounded_channel();
    let announcer = Announcer::new(
        net.clone(),
        meta.trackers(),
        ChaCha8Rng::seed_from_u64(rng.gen()),
        TrackerConfig::default(),
    );
    let announce_task = announce::spawn(announce::Setup {
        announcer,
        info_hash: meta.info_hash,
        peer_id: our_id,
        port,
        counters: counters_rx,
        commands,
        peers: peers_tx,
        started_complete,
        watch: opts.watch.clone(),
    });

    let start = tokio::time::Instant::now();
    let now = || start.elapsed();
    engine.add_peers(now(), opts.peers.iter().copied());

    let mut outboxes: BTreeMap<PeerKey, mpsc::UnboundedSender<Message>> = BTreeMap::new();
    // Where each connection goes, for the observer (which speaks in addresses, not keys).
    let mut addrs: BTreeMap<PeerKey, SocketAddr> = BTreeMap::new();
    let watch = opts.watch.clone();
    let mut pending_writes: u64 = 0;
    let mut next_status = tokio::time::Instant::now();
    let mut next_resume = tokio::time::Instant::now() + opts.resume_interval;
    let mut fatal: Option<StorageError> = None;
    let mut rate = crate::engine::Rate::default();
    let mut last_downloaded = 0;
    tokio::pin!(shutdown);

    let complete = loop {
        while let Some(action) = engine.poll_action() {
            match action {
                Action::Connect(addr) => {
                    let key = PeerKey(next_key.fetch_add(1, Ordering::Relaxed));
                    dial(net.clone(), key, addr, ctx.clone());
                }
                Action::Send(key, msg) => {
                    if let (true, Some(peer)) = (watch.is_on(), addrs.get(&key)) {
                        watch.record(Trace::Sent {
                            peer: *peer,
                            msg: &msg,
                        });
                    }
                    if let Some(tx) = outboxes.get(&key) {
                        let _ = tx.send(msg);
                    }
                }
                Action::Disconnect(key, reason) => {
                    debug!(?key, %reason, "disconnecting");
                    outboxes.remove(&key);
                    if let Some(peer) = addrs.remove(&key) {
                        let reason = reason.to_string();
                        watch.record(Trace::Disconnected {
                            peer,
                            reason: &reason,
                            by_us: true,
                        });
                    }
                }
                Action::Write { block, data } => {
                    pending_writes += u64::from(block.len);
                    disk.write(block, data);
                }
                Action::Verify {
                    piece,
                    block_hashes,
                } => disk.verify(piece, block_hashes),
                Action::Notice(n) => {
                    notice(&n, &engine);
                    if let Some(t) = trace_of(&n, &addrs) {
                        watch.record(t);
                    }
                }
            }
        }
        if engine.is_complete() && pending_writes == 0 {
            break true;
        }
        if let Some(e) = fatal.take() {
            warn!(error = %e, "stopping: storage failed");
            break false;
        }
        let wake = engine
            .next_timeout()
            .map(|t| start + t)
            .unwrap_or(next_status)
            .min(next_status)
            // A deadline the engine failed to clear must not spin this loop.
            .max(tokio::time::Instant::now() + Duration::from_millis(1));
        let accepting = pending_writes < MAX_PENDING_WRITES;
        tokio::select! {
            biased;
            () = &mut shutdown => break false,
            Some(done) = disk_done.recv() => match done {
                DiskDone::Written { block, result } => {
                    pending_writes -= u64::from(block.len);
                    match result {
                        Ok(()) => engine.block_written(now(), block),
                        Err(e) => {
                            engine.write_failed(now(), block);
                            fatal = Some(e);
                        }
                    }
                }
                DiskDone::Checked(Ok(checked)) => engine.piece_checked(now(), checked),
                DiskDone::Checked(Err((piece, e))) => {
                    warn!(piece, error = %e, "reading a piece back failed");
                    engine.piece_checked(now(), Checked { piece, ok: false, block_hashes: None });
                    fatal = Some(e);
                }
            },
            Some(addrs) = tracker_peers.recv() => engine.add_peers(now(), addrs),
            Some(event) = events.recv(), if accepting => match event {
                Event::Connected { key, addr, peer_id, fast, outbox, outgoing } => {
                    outboxes.insert(key, outbox);
                    addrs.insert(key, addr);
                    watch.record(Trace::Connected { peer: addr, outgoing, fast });
                    let both_fast = fast;
                    engine.peer_connected(now(), key, addr, peer_id, both_fast);
                }
                Event::DialFailed { addr, unusable, reason } => {
                    watch.record(Trace::DialFailed { peer: addr, reason: &reason });
                    if unusable {
                        engine.unusable(now(), addr);
                    } else {
                        engine.connect_failed(now(), addr);
                    }
                }
                Event::Message { key, msg } => {
                    if let (true, Some(peer)) = (watch.is_on(), addrs.get(&key)) {
                        watch.record(Trace::Received { peer: *peer, msg: &msg });
                    }
                    engine.message(now(), key, msg);
                }
                Event::Closed { key, reason } => {
                    debug!(?key, %reason, "peer closed");
                    outboxes.remove(&key);
                    if let Some(peer) = addrs.remove(&key) {
                        watch.record(Trace::Disconnected { peer, reason: &reason, by_us: false });
                    }
                    engine.peer_closed(now(), key);
                }
            },
            () = tokio::time::sleep_until(wake) => {
                engine.tick(now());
            }
        }
        if tokio::time::Instant::now() >= next_status {
            next_status = tokio::time::Instant::now() + STATUS_INTERVAL;
            let stats = engine.stats();
            rate.add(now(), stats.downloaded - last_downloaded);
            last_downloaded = stats.downloaded;
            let _ = counters_tx.send(Counters {
                uploaded: stats.uploaded,
                downloaded: stats.downloaded,
                left: engine.left(),
            });
            let _ = progress.send(Progress {
                total_length: geometry.total_length(),
                left: engine.left(),
                downloaded: stats.downloaded,
                uploaded: stats.uploaded,
                download_rate: rate.per_second(now()),
                upload_rate: 0,
                peers: engine.peer_count(),
                checking: false,
            });
        }
        if tokio::time::Instant::now() >= next_resume {
            next_resume = tokio::time::Instant::now() + opts.resume_interval;
            save_resume(&files, meta, &engine, opts.disk).await;
        }
    };

    // Wind down: no new connections, data durable, resume saved, trackers told.
    listen_task.abort();
    outboxes.clear();
    // Peer tasks blocked on a full queue see it closed and end.
    drop(events);
    save_resume(&files, meta, &engine, opts.disk).await;
    let stats = engine.stats();
    let _ = counters_tx.send(Counters {
        uploaded: stats.uploaded,
        downloaded: stats.downloaded,
        left: engine.left(),
    });
    if complete && !started_complete {
        let _ = announce_cmd.send(Command::Completed);
    }
    let _ = announce_cmd.send(Command::Stop);
    let _ = announce_task.await;
    Ok(Summary {
        info_hash: meta.info_hash,
        complete: engine.is_complete(),
        downloaded: stats.downloaded,
        uploaded: stats.uploaded,
        wasted: stats.wasted,
        banned: stats.banned,
        had,
        elapsed: started_at.elapsed(),
    })
}

/// The observer's view of a notice (peers named by address).
fn trace_of<'a>(n: &Notice, addrs: &BTreeMap<PeerKey, SocketAddr>) -> Option<Trace<'a>> {
    Some(match n {
        Notice::PieceVerified(p) => Trace::PieceVerified(*p),
        Notice::PieceFailed(p) => Trace::PieceFailed(*p),
        Notice::Banned(addr) => Trace::Banned(*addr),
        Notice::Snubbed(key) => Trace::Snubbed(*addrs.get(key)?),
        Notice::Complete => Trace::Complete,
        // Choke state is visible in the Received messages themselves.
        Notice::Choked(_) | Notice::Unchoked(_) => return None,
    })
}

fn notice(n: &Notice, engine: &Engine) {
    match n {
        Notice::PieceVerified(piece) => debug!(piece, left = engine.left(), "piece verified"),
        Notice::PieceFailed(piece) => warn!(piece, "piece failed its hash check"),
        Notice::Banned(addr) => warn!(peer = %addr, "banned for sending corrupt data"),
        Notice::Choked(key) => debug!(?key, "choked by peer"),
        Notice::Unchoked(key) => debug!(?key, "unchoked by peer"),
        Notice::Snubbed(key) => info!(?key, "peer snubbed us; its requests go elsewhere"),
        Notice::Complete => info!("download complete"),
    }
}

/// Syncs data and records what is verified, so a restart skips checking it. Only pieces that
/// were verified before the sync are recorded (the engine verifies only written data).
async fn save_resume(files: &Arc<FileStorage>, meta: &Metainfo, engine: &Engine, mode: DiskMode) {
    let have = engine.have().clone();
    let files = Arc::clone(files);
    let info_hash = meta.info_hash;
    let job = move || -> Result<(), StorageError> {
        files.sync()?;
        let stamps = resume::stamps(&files);
        let data = resume::Resume {
            info_hash,
            have,
            files: stamps,
        };
        resume::save(&resume::resume_path(files.root(), &info_hash), &data)
    };
    let result = match mode {
        DiskMode::Inline => job(),
        DiskMode::Threaded => match tokio::task::spawn_blocking(job).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "resume save task failed");
                return;
            }
        },
    };
    if let Err(e) = result {
        warn!(error = %e, "cannot save resume file");
    }
}

/// Dials a peer and, after the handshake, runs the connection.
fn dial<N: Net>(net: N, key: PeerKey, addr: SocketAddr, ctx: conn::Context) {
    let span = tracing::debug_span!("dial", peer = %addr);
    tokio::spawn(
        async move {
            let failed = |unusable, reason: String| Event::DialFailed {
                addr,
                unusable,
                reason,
            };
            let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, net.connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(error = %e, "connect failed");
                    let _ = ctx
                        .events
                        .send(failed(false, format!("connect: {e}")))
                        .await;
                    return;
                }
                Err(_) => {
                    debug!("connect timed out");
                    let reason = "connect timed out".to_string();
                    let _ = ctx.events.send(failed(false, reason)).await;
                    return;
                }
            };
            match conn::handshake(&mut stream, ctx.info_hash, ctx.our_id).await {
                Ok(greeting) => conn::start(stream, key, addr, greeting, true, &ctx).await,
                Err(e) => {
                    debug!(error = %e, "handshake failed");
                    let unusable = matches!(
                        e,
                        conn::HandshakeError::Ourselves | conn::HandshakeError::WrongInfoHash(_)
                    );
                    let _ = ctx.events.send(failed(unusable, e.to_string())).await;
                }
            }
        }
        .instrument(span),
    );
}
