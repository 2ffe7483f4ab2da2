//! Piece and block hashing, and the start-up check.

use super::{album, write_piece};
use crate::bitfield::Bitfield;
use crate::geometry::BLOCK_LEN;
use crate::metainfo::Info;
use crate::storage::{
    block_hashes, check_pieces, hash_blocks, hash_piece, hash_piece_streaming, verify_pieces,
    FileStorage, MemoryStorage, Storage, StorageError, HASH_CHUNK,
};
use sha1::{Digest, Sha1};
use std::fs;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records the longest single read, to prove hashing memory does not follow the piece length.
struct LongestRead<S> {
    inner: S,
    longest: AtomicUsize,
}

impl<S: Storage> Storage for LongestRead<S> {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write(offset, data)
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.longest.fetch_max(buf.len(), Ordering::Relaxed);
        self.inner.read(offset, buf)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync()
    }
}

/// Counts reads, to prove the fast path reads nothing.
struct Counting<S> {
    inner: S,
    reads: AtomicUsize,
}

impl<S: Storage> Storage for Counting<S> {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.inner.write(offset, data)
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read(offset, buf)
    }
    fn sync(&self) -> Result<(), StorageError> {
        self.inner.sync()
    }
    fn available_lengths(&self) -> Option<Vec<u64>> {
        self.inner.available_lengths()
    }
}

#[test]
fn block_hashes_cover_each_block() {
    let t = album();
    let g = t.info.geometry();
    let storage = MemoryStorage::with_content(&t.content);
    let mut buf = Vec::new();
    // Piece 0 is one 16 KiB block; the last piece one short block.
    let blocks = block_hashes(&storage, &g, 0, &mut buf).unwrap().unwrap();
    assert_eq!(
        blocks,
        vec![<[u8; 20]>::from(Sha1::digest(&t.content[..16384]))]
    );
    let last = block_hashes(&storage, &g, 7, &mut buf).unwrap().unwrap();
    assert_eq!(
        last,
        vec![<[u8; 20]>::from(Sha1::digest(&t.content[114_688..]))]
    );
    // Bigger pieces: one hash per block, the last block short.
    let data: Vec<u8> = (0..40000u32).map(|i| i as u8).collect();
    let hashes = hash_blocks(&data);
    assert_eq!(hashes.len(), 3);
    assert_eq!(hashes[2], <[u8; 20]>::from(Sha1::digest(&data[32768..])));
    assert!(hash_blocks(&[]).is_empty());
}

#[test]
fn absent_and_nonexistent_pieces() {
    let t = album();
    let g = t.info.geometry();
    let storage = MemoryStorage::new(g.total_length());
    let mut buf = Vec::new();
    assert_eq!(hash_piece(&storage, &g, 3, &mut buf).unwrap(), None);
    assert_eq!(block_hashes(&storage, &g, 3, &mut buf).unwrap(), None);
    let err = hash_piece(&storage, &g, 8, &mut buf).unwrap_err();
    assert_eq!(err.to_string(), "piece 8 does not exist (8 pieces)");
    write_piece(&storage, &g, &t.content, 3);
    assert_eq!(
        hash_piece(&storage, &g, 3, &mut buf).unwrap(),
        Some(t.info.pieces[3])
    );
}

#[test]
fn fresh_download_checks_nothing() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = Counting {
        inner: FileStorage::new(dir.path(), &t.info, 64).unwrap(),
        reads: AtomicUsize::new(0),
    };
    storage.inner.prepare().unwrap();
    let g = storage.inner.geometry().clone();
    let calls = AtomicUsize::new(0);
    let have = check_pieces(&storage, &g, &t.info.pieces, 4, &|_| {
        calls.fetch_add(1, Ordering::Relaxed);
    });
    assert!(have.is_empty());
    assert_eq!(have.len(), 8);
    assert_eq!(storage.reads.load(Ordering::Relaxed), 0);
    assert_eq!(calls.load(Ordering::Relaxed), 8);
}

#[test]
fn check_finds_exactly_the_pieces_present() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let g = storage.geometry().clone();
    // Piece 2 spans a.bin and sub/b.bin; 6 spans sub/b.bin and c.bin; 7 is the short tail.
    for piece in [0, 2, 5, 6, 7] {
        write_piece(&storage, &g, &t.content, piece);
    }
    // Piece 5 then gets one flipped byte on disk, as bit rot would.
    let b = fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("album/sub/b.bin"))
        .unwrap();
    let at = 5 * 16384 + 100 - 40000;
    b.write_all_at(&[!t.content[5 * 16384 + 100]], at).unwrap();

    for threads in [1, 3, 16] {
        let seen = std::sync::Mutex::new(Vec::new());
        let have = check_pieces(&storage, &g, &t.info.pieces, threads, &|p| {
            seen.lock().unwrap().push(p);
        });
        assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![0, 2, 6, 7]);
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<_>>(), "threads {threads}");
    }
}

#[test]
fn verify_only_the_pieces_asked_for_in_memory() {
    let t = album();
    let g = t.info.geometry();
    let storage = Counting {
        inner: MemoryStorage::new(g.total_length()),
        reads: AtomicUsize::new(0),
    };
    for piece in [1, 4, 7] {
        write_piece(&storage, &g, &t.content, piece);
    }
    let have = check_pieces(&storage, &g, &t.info.pieces, 2, &|_| {});
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1, 4, 7]);
    // Without file lengths every piece is read once.
    assert_eq!(storage.reads.load(Ordering::Relaxed), 8);

    let mut which = Bitfield::new(8);
    which.set(4, true);
    which.set(5, true);
    let have = verify_pieces(&storage, &g, &t.info.pieces, &which, 2, &|_| {});
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![4]);
    // Missing hashes (a truncated list) mean "cannot verify", not a panic.
    let have = check_pieces(&storage, &g, &t.info.pieces[..2], 2, &|_| {});
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn hashing_reads_at_most_one_chunk_whatever_the_piece_length() {
    const PIECE: u64 = 4 * 1024 * 1024;
    // Two 4 MiB pieces and a short one whose last block is short too.
    let t = super::torrent(
        "big",
        false,
        &[("big", 2 * PIECE + 3 * u64::from(BLOCK_LEN) + 100, false)],
        PIECE,
    );
    let Info { pieces, .. } = &t.info;
    let g = t.info.geometry();
    let storage = LongestRead {
        inner: MemoryStorage::with_content(&t.content),
        longest: AtomicUsize::new(0),
    };
    // A caller's buffer that once held a whole piece is shrunk, not reused at that size.
    let mut buf = vec![0; PIECE as usize];
    for piece in 0..g.piece_count() {
        let start = g.piece_offset(piece) as usize;
        let data = &t.content[start..start + g.piece_len(piece) as usize];
        let hashed = hash_piece_streaming(&storage, &g, piece, true, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(hashed.piece, pieces[piece as usize], "piece {piece}");
        assert_eq!(hashed.blocks, Some(hash_blocks(data)), "piece {piece}");
        assert!(buf.len() <= HASH_CHUNK + crate::aligned::ALIGN && buf.capacity() < PIECE as usize);
        let plain = hash_piece_streaming(&storage, &g, piece, false, &mut buf).unwrap();
        assert_eq!(plain.unwrap().blocks, None);
        assert_eq!(
            hash_piece(&storage, &g, piece, &mut buf).unwrap(),
            Some(pieces[piece as usize])
        );
        assert_eq!(
            block_hashes(&storage, &g, piece, &mut buf).unwrap(),
            Some(hash_blocks(data))
        );
    }
    assert_eq!(
        check_pieces(&storage, &g, pieces, 3, &|_| {}).count_ones(),
        3
    );
    let longest = storage.longest.load(Ordering::Relaxed);
    assert!(longest <= HASH_CHUNK, "read {longest} bytes at once");
    assert_eq!(longest, HASH_CHUNK);
    assert_eq!(HASH_CHUNK % BLOCK_LEN as usize, 0);

    // Absent data anywhere in the piece, even in its last chunk, is "not there yet".
    let partial = MemoryStorage::new(g.total_length());
    partial.write(0, &t.content[..PIECE as usize - 1]).unwrap();
    assert_eq!(
        hash_piece_streaming(&partial, &g, 0, true, &mut buf).unwrap(),
        None
    );
}
