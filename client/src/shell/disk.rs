//! Disk jobs of a running torrent: block writes, piece verification and block reads for peers,
//! on disk threads in real runs, inline or deferred (deterministic either way) in simulations.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::{Checked, PeerKey};
use crate::geometry::{BlockRef, Geometry};
use crate::storage::{block_hashes, hash_piece_streaming, Storage, StorageError};

use super::read_cache::ReadCache;

/// Where disk work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskMode {
    /// On tokio's blocking pool, hashing at most one piece per core at a time: real runs.
    Threaded,
    /// On the calling task, immediately: simulations, where determinism beats parallelism.
    Inline,
    /// Writes and piece checks on disk threads, each result handed back exactly this long
    /// (in the runtime's clock) after its job was submitted, in submission order, waiting for
    /// the thread if it is not done: simulations that hash on a second core and still replay
    /// the same trace, as the hand-back instant does not depend on the thread's speed. Reads
    /// for peers, the start-up check and resume saves run inline (a read cache filled by a
    /// thread would hit or miss by timing). A zero latency is [`DiskMode::Inline`].
    Deferred(Duration),
}

/// A finished disk job.
#[derive(Debug)]
pub enum DiskDone {
    Written {
        block: BlockRef,
        result: Result<(), StorageError>,
    },
    Checked(Result<Checked, (u32, StorageError)>),
    /// A block read for a peer.
    Read {
        key: PeerKey,
        block: BlockRef,
        result: Result<Bytes, StorageError>,
    },
}

/// One unit of disk work.
#[derive(Clone)]
enum Job {
    Write { block: BlockRef, data: Bytes },
    Verify { piece: u32, want_block_hashes: bool },
    Read { key: PeerKey, block: BlockRef },
}

/// Runs disk jobs for one torrent and reports each with a [`DiskDone`].
///
/// Threaded mode has one writer thread (several threads writing one file only contend for the
/// inode lock; measured: a third of the CPU went to lock spinning with a thread per write) and
/// one hashing thread per core, each with its own reusable piece buffer. The threads end when
/// the `Disk` is dropped.
pub struct Disk {
    storage: Arc<dyn Storage>,
    geometry: Geometry,
    hashes: Arc<Vec<[u8; 20]>>,
    done: mpsc::UnboundedSender<DiskDone>,
    /// Chunks recently read for peers, shared by the threads.
    cache: Arc<ReadCache>,
    mode: DiskMode,
    /// `None` in inline mode.
    writer: Option<std::sync::mpsc::Sender<Queued>>,
    hashers: Option<std::sync::mpsc::Sender<Queued>>,
    /// Deferred mode's jobs on the threads, oldest first.
    deferred: Mutex<VecDeque<Pending>>,
}

/// A job on a disk thread and where its result goes: the torrent's channel, or (deferred
/// mode) a reply channel of its own that [`Disk::hand_back`] waits on.
struct Queued {
    job: Job,
    reply: Option<std::sync::mpsc::SyncSender<DiskDone>>,
}

/// A deferred job: when its result is due, its reply channel, and the job itself to run
/// inline should its thread be gone.
struct Pending {
    due: Instant,
    reply: std::sync::mpsc::Receiver<DiskDone>,
    job: Job,
}

impl Disk {
    pub fn new(
        storage: Arc<dyn Storage>,
        geometry: Geometry,
        hashes: Arc<Vec<[u8; 20]>>,
        mode: DiskMode,
        done: mpsc::UnboundedSender<DiskDone>,
    ) -> Self {
        let mut disk = Disk {
            storage,
            geometry,
            hashes,
            done,
            cache: Arc::new(ReadCache::default()),
            mode,
            writer: None,
            hashers: None,
            deferred: Mutex::default(),
        };
        if matches!(mode, DiskMode::Deferred(d) if d.is_zero()) {
            disk.mode = DiskMode::Inline;
        }
        if disk.mode != DiskMode::Inline {
            disk.writer = Some(disk.spawn_workers(1, "bitswarm-write"));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            disk.hashers = Some(disk.spawn_workers(cores, "bitswarm-hash"));
        }
        disk
    }

    /// Starts `count` threads sharing one job queue.
    fn spawn_workers(&self, count: usize, name: &str) -> std::sync::mpsc::Sender<Queued> {
        let (tx, rx) = std::sync::mpsc::channel::<Queued>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..count {
            let worker = self.worker();
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker.run(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a disk thread");
            }
        }
        tx
    }

    /// Deferred mode: hands every result due by now to the torrent's channel, in submission
    /// order, waiting for the threads where they are not done yet.
    pub fn hand_back(&self) {
        let now = Instant::now();
        loop {
            let pending = {
                let mut queue = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
                match queue.front() {
                    Some(p) if p.due <= now => queue.pop_front(),
                    _ => None,
                }
            };
            let Some(pending) = pending else { return };
            let done = match pending.reply.recv() {
                Ok(done) => done,
                // Its thread died: do the work here instead.
                Err(_) => self.worker().perform(pending.job),
            };
            let _ = self.done.send(done);
        }
    }

    /// Deferred mode: when the oldest result on the threads is due.
    pub fn next_due(&self) -> Option<Instant> {
        let queue = self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
        queue.front().map(|p| p.due)
    }

    /// Runs other blocking storage work (the start-up check, a resume save) where this
    /// torrent's disk work runs: inline in simulations, on tokio's blocking pool otherwise.
    /// `None` if the work panicked.
    pub async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        blocking(self.mode, job).await
    }

    /// Threads to use for parallel work such as the start-up check: one inline.
    pub fn threads(&self) -> usize {
        match self.mode {
            DiskMode::Inline | DiskMode::Deferred(_) => 1,
            DiskMode::Threaded => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Writes a block with a positioned write.
    pub fn write(&self, block: BlockRef, data: Bytes) {
        self.submit(&self.writer, Job::Write { block, data });
    }

    /// Reads a block for a peer: at once if the read cache holds it (seven blocks in eight,
    /// as peers ask for a piece's blocks in order), which spares the block two thread hops;
    /// else through the cache on the hashing threads, which are idle while seeding, and the
    /// data comes back as [`DiskDone::Read`].
    pub fn read(&self, key: PeerKey, block: BlockRef) -> Option<Bytes> {
        if let Some(hit) = self.cache.cached(block) {
            return Some(hit);
        }
        let queue = match self.mode {
            DiskMode::Deferred(_) => &None,
            _ => &self.hashers,
        };
        self.submit(queue, Job::Read { key, block });
        None
    }

    /// Hashes a piece from storage and compares it with the torrent's hash.
    pub fn verify(&self, piece: u32, want_block_hashes: bool) {
        let job = Job::Verify {
            piece,
            want_block_hashes,
        };
        self.submit(&self.hashers, job);
    }

    fn submit(&self, queue: &Option<std::sync::mpsc::Sender<Queued>>, job: Job) {
        let job = match (queue, self.mode) {
            (Some(tx), DiskMode::Deferred(latency)) => {
                let (reply, rx) = std::sync::mpsc::sync_channel(1);
                let queued = Queued {
                    job: job.clone(),
                    reply: Some(reply),
                };
                match tx.send(queued) {
                    Ok(()) => {
                        let pending = Pending {
                            due: Instant::now() + latency,
                            reply: rx,
                            job,
                        };
                        let mut queue =
                            self.deferred.lock().unwrap_or_else(PoisonError::into_inner);
                        queue.push_back(pending);
                        return;
                    }
                    Err(_) => job,
                }
            }
            (Some(tx), _) => match tx.send(Queued { job, reply: None }) {
                Ok(()) => return,
                // The workers are gone (they could not start): do the work here instead.
                Err(std::sync::mpsc::SendError(queued)) => queued.job,
            },
            (None, _) => job,
        };
        let _ = self.done.send(self.worker().perform(job));
    }

    /// A worker for work done on the calling thread.
    fn worker(&self) -> Worker {
        Worker {
            storage: Arc::clone(&self.storage),
            geometry: self.geometry.clone(),
            hashes: Arc::clone(&self.hashes),
            done: self.done.clone(),
            cache: Arc::clone(&self.cache),
            buf: Vec::new(),
        }
    }
}

impl Drop for Disk {
    /// Deferred mode: waits for every job on the threads, so a simulated crash leaves exactly
    /// the data inline mode would have written, and a restart reads a quiet disk.
    fn drop(&mut self) {
        let queue = std::mem::take(
            self.deferred
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for pending in queue {
            let _ = pending.reply.recv();
        }
    }
}

/// Runs `job` inline or on tokio's blocking pool, as `mode` says; `None` if it panicked.
async fn blocking<T: Send + 'static>(
    mode: DiskMode,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match mode {
        DiskMode::Inline | DiskMode::Deferred(_) => Some(job()),
        DiskMode::Threaded => tokio::task::spawn_blocking(job).await.ok(),
    }
}

/// A disk thread's state.
struct Worker {
    storage: Arc<dyn Storage>,
    geometry: Geometry,
    hashes: Arc<Vec<[u8; 20]>>,
    done: mpsc::UnboundedSender<DiskDone>,
    cache: Arc<ReadCache>,
    /// The hashing buffer, reused from piece to piece; at most `storage::HASH_CHUNK` bytes.
    buf: Vec<u8>,
}

impl Worker {
    fn run(mut self, jobs: &std::sync::Mutex<std::sync::mpsc::Receiver<Queued>>) {
        loop {
            let queued = match jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(Queued { job, reply }) = queued else {
                return;
            };
            let done = self.perform(job);
            match reply {
                Some(reply) => {
                    let _ = reply.send(done);
                }
                None => {
                    let _ = self.done.send(done);
                }
            }
        }
    }

    fn perform(&mut self, job: Job) -> DiskDone {
        match job {
            Job::Write { block, data } => {
                let offset = self.geometry.piece_offset(block.piece) + u64::from(block.offset);
                let result = self.storage.write(offset, &data);
                DiskDone::Written { block, result }
            }
            Job::Verify {
                piece,
                want_block_hashes,
            } => DiskDone::Checked(
                check(
                    &*self.storage,
                    &self.geometry,
                    &self.hashes,
                    piece,
                    want_block_hashes,
                    &mut self.buf,
                )
                .map_err(|e| (piece, e)),
            ),
            Job::Read { key, block } => DiskDone::Read {
                key,
                block,
                result: self.cache.read(&*self.storage, &self.geometry, block),
            },
        }
    }
}

/// Hashes one piece from storage in bounded chunks; block hashes come along for a failure
/// (smart ban needs the bad copy's, read again only then) or when asked for.
fn check(
    storage: &dyn Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    piece: u32,
    want_block_hashes: bool,
    buf: &mut Vec<u8>,
) -> Result<Checked, StorageError> {
    let Some(hashed) = hash_piece_streaming(storage, geometry, piece, want_block_hashes, buf)?
    else {
        // Data we were told is written is absent: certainly not the piece.
        return Ok(Checked {
            piece,
            ok: false,
            block_hashes: None,
        });
    };
    let ok = hashes.get(piece as usize) == Some(&hashed.piece);
    let block_hashes = match hashed.blocks {
        Some(blocks) => Some(blocks),
        None if !ok => block_hashes(storage, geometry, piece, buf)?,
        None => None,
    };
    Ok(Checked {
        piece,
        ok,
        block_hashes,
    })
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
