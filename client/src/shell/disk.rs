//! Disk jobs of a running torrent: block writes and piece verification, on a blocking pool in
//! real runs or inline (single-threaded, deterministic) in simulations.

use std::sync::Arc;

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::sync::{mpsc, Semaphore};

use crate::engine::Checked;
use crate::geometry::{BlockRef, Geometry};
use crate::storage::{hash_blocks, Storage, StorageError};

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
}

/// Runs disk jobs for one torrent and reports each with a [`DiskDone`].
pub struct Disk {
    storage: Arc<dyn Storage>,
    geometry: Geometry,
    hashes: Arc<Vec<[u8; 20]>>,
    mode: DiskMode,
    done: mpsc::UnboundedSender<DiskDone>,
    /// Bounds concurrent piece hashing to the number of cores.
    hash_slots: Arc<Semaphore>,
}

impl Disk {
    pub fn new(
        storage: Arc<dyn Storage>,
        geometry: Geometry,
        hashes: Arc<Vec<[u8; 20]>>,
        mode: DiskMode,
        done: mpsc::UnboundedSender<DiskDone>,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Disk {
            storage,
            geometry,
            hashes,
            mode,
            done,
            hash_slots: Arc::new(Semaphore::new(cores)),
        }
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Writes a block with a positioned write.
    pub fn write(&self, block: BlockRef, data: Bytes) {
        let offset = self.geometry.piece_offset(block.piece) + u64::from(block.offset);
        let storage = Arc::clone(&self.storage);
        let done = self.done.clone();
        let job = move || {
            let result = storage.write(offset, &data);
            let _ = done.send(DiskDone::Written { block, result });
        };
        match self.mode {
            DiskMode::Inline => job(),
            DiskMode::Threaded => {
                tokio::task::spawn_blocking(job);
            }
        }
    }

    /// Hashes a piece from storage and compares it with the torrent's hash.
    pub fn verify(&self, piece: u32, want_block_hashes: bool) {
        let storage = Arc::clone(&self.storage);
        let geometry = self.geometry.clone();
        let hashes = Arc::clone(&self.hashes);
        let done = self.done.clone();
        let job = move || {
            let result = check(&*storage, &geometry, &hashes, piece, want_block_hashes)
                .map_err(|e| (piece, e));
            let _ = done.send(DiskDone::Checked(result));
        };
        match self.mode {
            DiskMode::Inline => job(),
            DiskMode::Threaded => {
                let slots = Arc::clone(&self.hash_slots);
                tokio::spawn(async move {
                    let Ok(_permit) = slots.acquire_owned().await else {
                        return;
                    };
                    let _ = tokio::task::spawn_blocking(job).await;
                });
            }
        }
    }
}

/// Reads and hashes one piece; block hashes come along for a failure (smart ban needs the bad
/// copy's) or when asked for.
fn check(
    storage: &dyn Storage,
    geometry: &Geometry,
    hashes: &[[u8; 20]],
    piece: u32,
    want_block_hashes: bool,
) -> Result<Checked, StorageError> {
    let len = geometry.piece_len(piece) as usize;
    let mut buf = vec![0u8; len];
    storage.read(geometry.piece_offset(piece), &mut buf)?;
    let digest: [u8; 20] = Sha1::digest(&buf).into();
    let ok = hashes.get(piece as usize) == Some(&digest);
    let block_hashes = (!ok || want_block_hashes).then(|| hash_blocks(&buf));
    Ok(Checked {
        piece,
        ok,
        block_hashes,
    })
}
