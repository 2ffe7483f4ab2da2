//! Tests of the deferred disk mode: results come back when due, in submission order, and
//! dropping the disk waits for the jobs still on its threads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tokio::sync::mpsc;

use super::*;
use crate::storage::MemoryStorage;

const PIECE: u64 = 32 * 1024;

/// Memory storage whose writes take a while, so a test does not race the disk threads.
struct Slow(MemoryStorage);

impl Storage for Slow {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        std::thread::sleep(Duration::from_millis(20));
        self.0.write(offset, data)
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.0.read(offset, buf)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.0.sync()
    }
}

/// A two-piece torrent on memory storage whose piece hashes are those of `content`.
fn deferred(
    latency: Duration,
    content: &[u8],
) -> (Disk, Arc<Slow>, mpsc::UnboundedReceiver<DiskDone>) {
    let geometry = Geometry::new(PIECE, &[content.len() as u64]).expect("geometry");
    let hashes: Vec<[u8; 20]> = content
        .chunks(PIECE as usize)
        .map(|c| Sha1::digest(c).into())
        .collect();
    let storage = Arc::new(Slow(MemoryStorage::new(content.len() as u64)));
    let (tx, rx) = mpsc::unbounded_channel();
    let disk = Disk::new(
        Arc::clone(&storage) as Arc<dyn Storage>,
        geometry,
        Arc::new(hashes),
        DiskMode::Deferred(latency),
        tx,
    );
    (disk, storage, rx)
}

fn content() -> Vec<u8> {
    (0..2 * PIECE).map(|i| (i * 7 % 251) as u8).collect()
}

fn block(piece: u32, offset: u32) -> BlockRef {
    BlockRef {
        piece,
        offset,
        len: 16 * 1024,
    }
}

fn data(content: &[u8], b: BlockRef) -> Bytes {
    let start = (u64::from(b.piece) * PIECE) as usize + b.offset as usize;
    Bytes::copy_from_slice(&content[start..start + b.len as usize])
}

#[tokio::test(start_paused = true)]
async fn results_come_back_when_due_and_in_submission_order() {
    let content = content();
    let (disk, _storage, mut rx) = deferred(Duration::from_millis(10), &content);
    let blocks = [block(0, 0), block(0, 16 * 1024)];
    for b in blocks {
        disk.write(b, data(&content, b));
    }
    let due = disk.next_due().expect("a job is pending");
    tokio::time::advance(Duration::from_millis(9)).await;
    disk.hand_back();
    assert!(rx.try_recv().is_err(), "handed back before it was due");
    // Give the thread time to finish: readiness must not matter, only the clock.
    std::thread::sleep(Duration::from_millis(60));
    disk.hand_back();
    assert!(
        rx.try_recv().is_err(),
        "handed back because the thread was done"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(tokio::time::Instant::now() >= due);
    disk.hand_back();
    for b in blocks {
        match rx.try_recv() {
            Ok(DiskDone::Written { block, result }) => {
                assert_eq!(block, b);
                assert!(result.is_ok());
            }
            other => panic!("expected the write of {b:?}, got {other:?}"),
        }
    }
    assert!(disk.next_due().is_none());
    disk.verify(0, false);
    tokio::time::advance(Duration::from_millis(10)).await;
    disk.hand_back();
    match rx.try_recv() {
        Ok(DiskDone::Checked(Ok(checked))) => assert!(checked.ok && checked.piece == 0),
        other => panic!("expected piece 0 to check out, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_disk_waits_for_its_writes() {
    let content = content();
    let (disk, storage, _rx) = deferred(Duration::from_secs(60), &content);
    let geometry = Geometry::new(PIECE, &[content.len() as u64]).expect("geometry");
    let all: Vec<BlockRef> = (0..2)
        .flat_map(|p| [block(p, 0), block(p, 16 * 1024)])
        .collect();
    for b in &all {
        disk.write(*b, data(&content, *b));
    }
    drop(disk);
    let mut buf = Vec::new();
    for piece in 0..2 {
        let hashed = hash_piece_streaming(&*storage, &geometry, piece, false, &mut buf)
            .expect("readable")
            .expect("every block written");
        let want: [u8; 20] =
            Sha1::digest(&content[(u64::from(piece) * PIECE) as usize..][..PIECE as usize]).into();
        assert_eq!(hashed.piece, want);
    }
}

#[test]
fn a_zero_latency_is_inline() {
    let content = content();
    let (disk, _storage, mut rx) = deferred(Duration::ZERO, &content);
    let b = block(1, 0);
    disk.write(b, data(&content, b));
    assert!(disk.next_due().is_none());
    assert!(matches!(rx.try_recv(), Ok(DiskDone::Written { .. })));
}
