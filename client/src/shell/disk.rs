//! Disk jobs of a running torrent: block writes, piece verification and block reads for peers,
//! on disk threads in real runs or inline (single-threaded, deterministic) in simulations.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

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
    writer: Option<std::sync::mpsc::Sender<Job>>,
    hashers: Option<std::sync::mpsc::Sender<Job>>,
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
        };
        if mode == DiskMode::Threaded {
            disk.writer = Some(disk.spawn_workers(1, "bitswarm-write"));
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            disk.hashers = Some(disk.spawn_workers(cores, "bitswarm-hash"));
        }
        disk
    }

    /// Starts `count` threads sharing one job queue.
    fn spawn_workers(&self, count: usize, name: &str) -> std::sync::mpsc::Sender<Job> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..count {
            let worker = Worker {
                storage: Arc::clone(&self.storage),
                geometry: self.geometry.clone(),
                hashes: Arc::clone(&self.hashes),
                done: self.done.clone(),
                cache: Arc::clone(&self.cache),
                buf: Vec::new(),
            };
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
            DiskMode::Inline => 1,
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
        self.submit(&self.hashers, Job::Read { key, block });
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

    fn submit(&self, queue: &Option<std::sync::mpsc::Sender<Job>>, job: Job) {
        let job = match queue {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The workers are gone (they could not start): do the work here instead.
                Err(std::sync::mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let mut worker = Worker {
            storage: Arc::clone(&self.storage),
            geometry: self.geometry.clone(),
            hashes: Arc::clone(&self.hashes),
            done: self.done.clone(),
            cache: Arc::clone(&self.cache),
            buf: Vec::new(),
        };
        worker.perform(job);
    }
}

/// Runs `job` inline or on tokio's blocking pool, as `mode` says; `None` if it panicked.
async fn blocking<T: Send + 'static>(
    mode: DiskMode,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match mode {
        DiskMode::Inline => Some(job()),
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
    fn run(mut self, jobs: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) {
        loop {
            let job = match jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            match job {
                Ok(job) => self.perform(job),
                Err(_) => return,
            }
        }
    }

    fn perform(&mut self, job: Job) {
        let done = match job {
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
        };
        let _ = self.done.send(done);
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
