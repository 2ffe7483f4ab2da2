//! `FileStorage` on real files: layout, padding, the handle cache, errors.

use super::{album, shuffled_blocks, torrent, write_piece};
use crate::storage::{hash_piece, FileStorage, Op, Storage, StorageError};
use proptest::prelude::*;
use std::fs;
use std::io;

#[test]
fn multi_file_blocks_out_of_order_round_trip() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let g = storage.geometry().clone();
    assert_eq!(g.piece_count(), 8);
    storage.prepare().unwrap();
    for (at, len) in shuffled_blocks(&g, 7) {
        storage
            .write(at, &t.content[at as usize..at as usize + len])
            .unwrap();
    }
    storage.sync().unwrap();

    // Each file on disk is exactly its slice of the content.
    let root = dir.path().join("album");
    assert_eq!(fs::read(root.join("a.bin")).unwrap(), &t.content[..40000]);
    assert_eq!(fs::read(root.join("empty.txt")).unwrap(), b"");
    assert_eq!(
        fs::read(root.join("sub/b.bin")).unwrap(),
        &t.content[40000..110000]
    );
    assert_eq!(fs::read(root.join("c.bin")).unwrap(), &t.content[110000..]);

    // Reads crossing files give the content back, and every piece hashes as the torrent says.
    let mut buf = vec![0; 20000];
    storage.read(30000, &mut buf).unwrap();
    assert_eq!(buf, &t.content[30000..50000]);
    let mut piece_buf = Vec::new();
    for piece in 0..g.piece_count() {
        let hash = hash_piece(&storage, &g, piece, &mut piece_buf).unwrap();
        assert_eq!(hash, Some(t.info.pieces[piece as usize]), "piece {piece}");
    }
}

#[test]
fn single_file_lands_at_root_slash_name() {
    let t = torrent("movie.bin", false, &[("movie.bin", 50000, false)], 32768);
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 4).unwrap();
    let g = storage.geometry().clone();
    for (at, len) in shuffled_blocks(&g, 1) {
        storage
            .write(at, &t.content[at as usize..at as usize + len])
            .unwrap();
    }
    let path = dir.path().join("movie.bin");
    assert_eq!(storage.file_path(0), Some(path.as_path()));
    assert_eq!(fs::read(&path).unwrap(), t.content);
    let mut buf = Vec::new();
    assert_eq!(
        hash_piece(&storage, &g, 1, &mut buf).unwrap(),
        Some(t.info.pieces[1])
    );
}

#[test]
fn files_are_created_lazily_and_sparse() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    assert!(!dir.path().join("album").exists(), "new touches nothing");
    // One block of sub/b.bin creates that file at full length, and nothing else.
    storage.write(50000, &t.content[50000..51000]).unwrap();
    let b = dir.path().join("album/sub/b.bin");
    assert_eq!(fs::metadata(&b).unwrap().len(), 70000);
    assert!(storage.file_exists(2));
    assert!(!storage.file_exists(0) && !storage.file_exists(1) && !storage.file_exists(3));
    // prepare creates the zero-length file only, and keeps existing data.
    storage.prepare().unwrap();
    storage.prepare().unwrap();
    assert!(storage.file_exists(1));
    assert!(!storage.file_exists(0));
    assert_eq!(
        &fs::read(&b).unwrap()[10000..11000],
        &t.content[50000..51000]
    );
}

#[test]
fn pad_files_are_never_created_and_read_as_zeros() {
    let t = torrent(
        "padded",
        true,
        &[
            ("a.bin", 10000, false),
            (".pad/6384", 6384, true),
            ("b.bin", 20000, false),
        ],
        16384,
    );
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 8).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    // Writing the whole content, pad range included (with garbage there: it is dropped).
    let mut data = t.content.clone();
    data[10000..16384].fill(0xAA);
    storage.write(0, &data).unwrap();
    assert!(!dir.path().join("padded/.pad").exists());
    assert!(storage.is_pad(1) && !storage.file_exists(1));
    let mut buf = vec![0xFF; 8000];
    storage.read(9000, &mut buf).unwrap();
    assert_eq!(buf, &t.content[9000..17000]);
    assert!(buf[1000..7384].iter().all(|&b| b == 0));
    let mut piece = Vec::new();
    for p in 0..g.piece_count() {
        assert_eq!(
            hash_piece(&storage, &g, p, &mut piece).unwrap(),
            Some(t.info.pieces[p as usize])
        );
    }
    assert_eq!(
        storage.available_lengths().unwrap(),
        vec![10000, 6384, 20000]
    );
}

#[test]
fn two_handles_serve_five_files() {
    let specs: Vec<(String, u64)> = (0..5).map(|i| (format!("f{i}"), 9000 + i * 1000)).collect();
    let specs: Vec<_> = specs.iter().map(|(p, l)| (p.as_str(), *l, false)).collect();
    let t = torrent("five", true, &specs, 8192);
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 2).unwrap();
    let g = storage.geometry().clone();
    for (at, len) in shuffled_blocks(&g, 3) {
        storage
            .write(at, &t.content[at as usize..at as usize + len])
            .unwrap();
        assert!(storage.cached_files().len() <= 2);
    }
    storage.sync().unwrap();
    let mut buf = vec![0; t.content.len()];
    storage.read(0, &mut buf).unwrap();
    assert_eq!(buf, t.content);
    assert!(storage.cached_files().len() <= 2);
    let mut piece = Vec::new();
    for p in (0..g.piece_count()).rev() {
        assert_eq!(
            hash_piece(&storage, &g, p, &mut piece).unwrap(),
            Some(t.info.pieces[p as usize])
        );
    }
}

#[test]
fn missing_and_short_files_read_as_absent() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let mut buf = vec![0; 100];
    let err = storage.read(0, &mut buf).unwrap_err();
    assert!(err.is_absent());
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let a = dir.path().join("album/a.bin");
    assert_eq!(
        err.to_string(),
        format!("read {} at 0: data absent", a.display())
    );

    // A file shorter than the read (as another program may leave it) is absent too.
    fs::create_dir_all(a.parent().unwrap()).unwrap();
    fs::write(&a, &t.content[..1000]).unwrap();
    storage.read(0, &mut buf).unwrap();
    assert_eq!(buf, &t.content[..100]);
    let err = storage.read(950, &mut buf).unwrap_err();
    assert!(
        matches!(err, StorageError::Absent { offset: 950, .. }),
        "{err}"
    );

    let g = storage.geometry().clone();
    let mut piece = Vec::new();
    assert_eq!(hash_piece(&storage, &g, 0, &mut piece).unwrap(), None);
    assert_eq!(hash_piece(&storage, &g, 7, &mut piece).unwrap(), None);
}

#[test]
fn write_error_names_the_operation_and_path() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("album/a.bin");
    fs::create_dir_all(&a).unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let err = storage.write(16384, &[1; 100]).unwrap_err();
    assert!(
        matches!(err, StorageError::Io { op: Op::Open, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), io::ErrorKind::IsADirectory);
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("open {}: ", a.display())), "{msg}");
    assert!(!msg.contains('\n'));
    // Reading it is an error too, not "absent": the data is unreachable, not missing.
    let err = storage.read(0, &mut [0; 10]).unwrap_err();
    assert!(!err.is_absent(), "{err}");
    assert!(err.to_string().contains(&a.display().to_string()));
}

#[test]
fn full_disk_write_names_path_offset_and_kind() {
    // /dev/full fails every write with ENOSPC, like a full disk. Storage never follows a link
    // below the download folder, so the folder is /dev itself (never written: the device
    // swallows nothing) and the torrent's one file is `full`.
    let t = torrent("full", false, &[("full", 100_000, false)], 32768);
    let dev = std::path::Path::new("/dev");
    let storage = FileStorage::new(dev, &t.info, 64).unwrap();
    let err = storage.write(40000, &[1; 100]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Io {
                op: Op::Write,
                offset: Some(40000),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert_eq!(
        err.to_string(),
        "write /dev/full at 40000: No space left on device (os error 28)"
    );
}

#[test]
fn out_of_range_is_refused_and_writes_nothing() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let err = storage.write(114_990, &[0; 20]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "range at 114990 of 20 bytes runs past the end of the content (115000 bytes)"
    );
    assert!(matches!(
        storage.read(u64::MAX, &mut [0; 2]),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(!dir.path().join("album").exists());
    // Empty writes and reads at the very end are fine.
    storage.write(115_000, &[]).unwrap();
    storage.read(115_000, &mut []).unwrap();
}

#[test]
fn unsafe_paths_are_refused_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = album();
    t.info.name = "..".into();
    let err = FileStorage::new(dir.path(), &t.info, 4).err().unwrap();
    assert!(matches!(err, StorageError::UnsafePath { file: 0, .. }));
    assert_eq!(
        err.to_string(),
        "unsafe path ../a.bin for file 0: it must stay below the download folder"
    );
    let mut t = album();
    t.info.files[2].path = vec!["/etc".into(), "passwd".into()];
    let err = FileStorage::new(dir.path(), &t.info, 4).err().unwrap();
    assert!(
        matches!(err, StorageError::UnsafePath { file: 2, .. }),
        "{err}"
    );
    let mut t = torrent("x", false, &[("x", 10, false)], 16384);
    t.info.name = String::new();
    assert!(FileStorage::new(dir.path(), &t.info, 4).is_err());
}

#[test]
fn interleaved_reads_and_writes_upgrade_cached_handles() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 1).unwrap();
    let g = storage.geometry().clone();
    write_piece(&storage, &g, &t.content, 0);
    // Read-only handle of c.bin cached after the file appears, then a write must upgrade it.
    fs::write(dir.path().join("album/c.bin"), vec![0; 5000]).unwrap();
    storage.read(110_000, &mut [0; 10]).unwrap();
    write_piece(&storage, &g, &t.content, 7);
    storage
        .write(110_000, &t.content[110_000..114_688])
        .unwrap();
    assert_eq!(
        fs::read(dir.path().join("album/c.bin")).unwrap(),
        &t.content[110_000..]
    );
    assert_eq!(storage.cached_files(), vec![3]);
    storage.sync().unwrap();
    storage.sync().unwrap();
}

#[test]
fn the_least_recently_used_handle_is_evicted() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 2).unwrap();
    storage.write(0, &t.content[..10]).unwrap(); // a.bin
    storage.write(50000, &t.content[50000..50010]).unwrap(); // sub/b.bin
    assert_eq!(storage.cached_files(), vec![0, 2]);
    storage.read(0, &mut [0; 10]).unwrap(); // a.bin is now the most recent
    storage
        .write(112_000, &t.content[112_000..112_010])
        .unwrap(); // c.bin evicts sub/b.bin
    assert_eq!(storage.cached_files(), vec![0, 3]);
    storage.read(50000, &mut [0; 10]).unwrap(); // sub/b.bin evicts a.bin
    assert_eq!(storage.cached_files(), vec![2, 3]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn any_block_order_reads_back(seed in any::<u64>(), max_open in 1usize..4) {
        let t = album();
        let dir = tempfile::tempdir().unwrap();
        let storage = FileStorage::new(dir.path(), &t.info, max_open).unwrap();
        let g = storage.geometry().clone();
        for (at, len) in shuffled_blocks(&g, seed) {
            storage.write(at, &t.content[at as usize..at as usize + len]).unwrap();
        }
        let mut buf = vec![0; t.content.len()];
        storage.read(0, &mut buf).unwrap();
        prop_assert_eq!(buf, t.content);
    }
}

#[test]
fn a_failed_sync_is_never_forgotten() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    // One handle, so a.bin's is evicted by c.bin's and sync must reopen it.
    let storage = FileStorage::new(dir.path(), &t.info, 1).unwrap();
    storage.write(0, &t.content[..100]).unwrap();
    storage
        .write(112_000, &t.content[112_000..112_100])
        .unwrap();
    let a = dir.path().join("album/a.bin");
    fs::remove_file(&a).unwrap();
    let err = storage.sync().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err
        .to_string()
        .starts_with(&format!("sync {}: ", a.display())));
    assert!(!a.exists(), "sync never creates files");
    // Rewriting the bytes and syncing again succeeds for every file, yet the storage still
    // refuses to call its data durable: what the failure lost is not known.
    storage.write(0, &t.content[..100]).unwrap();
    for _ in 0..2 {
        let err = storage.sync().unwrap_err();
        assert!(
            matches!(&err, StorageError::SyncFailedEarlier { path } if *path == a),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "sync {} failed earlier: data written before it may be lost",
                a.display()
            )
        );
    }
    assert_eq!(fs::read(&a).unwrap()[..100], t.content[..100]);
}

#[test]
fn a_sync_of_several_files_names_the_first_that_failed_whatever_finished_first() {
    // The files are fsynced on several threads at once; the error must not depend on which
    // thread finished first.
    for _ in 0..20 {
        let t = album();
        let dir = tempfile::tempdir().unwrap();
        // One handle: a.bin's, written last, so sync must reopen b.bin and c.bin.
        let storage = FileStorage::new(dir.path(), &t.info, 1).unwrap();
        storage
            .write(110_000, &t.content[110_000..110_100])
            .unwrap();
        storage.write(40_000, &t.content[40_000..40_100]).unwrap();
        storage.write(0, &t.content[..100]).unwrap();
        let b = dir.path().join("album/sub/b.bin");
        fs::remove_file(&b).unwrap();
        fs::remove_file(dir.path().join("album/c.bin")).unwrap();
        let err = storage.sync().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string()
                .starts_with(&format!("sync {}: ", b.display())),
            "{err}"
        );
    }
}

#[test]
fn an_existing_longer_file_keeps_its_tail_until_verified() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    // c.bin (pieces 6 and 7) is already there, 3000 bytes longer than the torrent says, with
    // the torrent's bytes first: as an older copy with a trailer might be.
    let c = dir.path().join("album/c.bin");
    fs::create_dir_all(c.parent().unwrap()).unwrap();
    let mut old = t.content[110_000..].to_vec();
    old.extend(std::iter::repeat_n(0x5A, 3000));
    fs::write(&c, &old).unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    assert_eq!(storage.available_lengths().unwrap()[3], 8000);

    // Writing piece 6 (which ends in c.bin) opens c.bin for writing: its tail stays.
    write_piece(&storage, &g, &t.content, 6);
    storage.sync().unwrap();
    assert_eq!(
        fs::read(&c).unwrap(),
        old,
        "nothing cut before verification"
    );
    let mut buf = Vec::new();
    assert_eq!(
        hash_piece(&storage, &g, 7, &mut buf).unwrap(),
        Some(t.info.pieces[7])
    );

    // Once every piece of c.bin is verified, the tail goes; an unverified file keeps its own.
    let mut have = crate::bitfield::Bitfield::new(g.piece_count());
    have.set(6, true);
    storage.trim_verified(&have).unwrap();
    assert_eq!(fs::read(&c).unwrap(), old, "piece 7 is not verified yet");
    have.set(7, true);
    storage.trim_verified(&have).unwrap();
    assert_eq!(fs::read(&c).unwrap(), &t.content[110_000..]);
}

#[test]
fn an_existing_shorter_file_is_extended_keeping_its_bytes() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("album/a.bin");
    fs::create_dir_all(a.parent().unwrap()).unwrap();
    fs::write(&a, &t.content[..20000]).unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    // A write near the end extends the file (sparse) and leaves the first 20000 bytes alone.
    storage.write(39000, &t.content[39000..40000]).unwrap();
    let on_disk = fs::read(&a).unwrap();
    assert_eq!(on_disk.len(), 40000);
    assert_eq!(on_disk[..20000], t.content[..20000]);
    assert_eq!(on_disk[39000..], t.content[39000..40000]);
}
