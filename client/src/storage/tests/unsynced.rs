//! The last save before exit, which does not sync: it holds in the boot that wrote it only,
//! and a restart in that boot syncs before it vouches for the data again.

use super::{album, with_a_vanished_file, write_piece, Torrent};
use crate::bitfield::Bitfield;
use crate::storage::resume::{load, restore_in, resume_path, save_in, save_verified};
use crate::storage::{BootId, FileStorage, StorageError};
use crate::InfoHash;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

const HASH: InfoHash = InfoHash([0xcd; 20]);

fn boot(name: &str) -> BootId {
    BootId::from_bytes(name.as_bytes()).unwrap()
}

/// Downloads all of `t` into `dir` and saves the resume file without a sync, in `boot`.
fn written(t: &Torrent, dir: &Path, boot: &BootId) -> FileStorage {
    let storage = FileStorage::new(dir, &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    for piece in 0..g.piece_count() {
        write_piece(&storage, &g, &t.content, piece);
    }
    save_in(&storage, &HASH, &Bitfield::full(8), Some(boot.clone())).unwrap();
    storage
}

/// Changes a byte of a.bin (piece 0) and puts its modification time back, as data lost in
/// a crash of the machine would look: the stamp matches, the bytes do not.
fn damage_keeping_the_stamp(dir: &Path) {
    let path = dir.join("album/a.bin");
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(mtime).unwrap();
}

/// Restores `t` from `dir` in `boot`: the pieces had and how many were hashed.
fn restore(t: &Torrent, storage: &FileStorage, boot: Option<&BootId>) -> (Vec<u32>, usize) {
    let hashed = AtomicUsize::new(0);
    let have = restore_in(
        storage,
        &HASH,
        &t.info.pieces,
        2,
        &|_| {
            hashed.fetch_add(1, Ordering::Relaxed);
        },
        boot,
    );
    (have.iter_ones().collect(), hashed.into_inner())
}

#[test]
fn an_unsynced_save_holds_only_in_the_boot_that_wrote_it() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let this = boot("3c2fc482-boot-a");
    let storage = written(&t, dir.path(), &this);
    assert_eq!(storage.dirty_files(), vec![0, 2, 3], "the save synced");
    let loaded = load(&resume_path(dir.path(), &HASH), &HASH, 8)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.unsynced_in, Some(this.clone()));
    damage_keeping_the_stamp(dir.path());

    // The same boot: the stamps match, so everything is trusted unread.
    let next = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    assert_eq!(restore(&t, &next, Some(&this)), ((0..8).collect(), 0));

    // Another boot, or none known: nothing is trusted, every piece is hashed and the damage
    // is found.
    for boot in [Some(boot("3c2fc482-boot-b")), None] {
        let next = FileStorage::new(dir.path(), &t.info, 64).unwrap();
        assert_eq!(restore(&t, &next, boot.as_ref()), ((1..8).collect(), 8));
    }
}

#[test]
fn a_restart_in_the_same_boot_syncs_before_vouching_for_the_data() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let this = boot("boot-a");
    drop(written(&t, dir.path(), &this));
    let next = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    assert!(next.dirty_files().is_empty());
    assert_eq!(restore(&t, &next, Some(&this)), ((0..8).collect(), 0));
    // Every file on disk (the empty one too) waits for the next sync.
    assert_eq!(next.dirty_files(), vec![0, 1, 2, 3]);
    save_verified(&next, &HASH, &Bitfield::full(8)).unwrap();
    assert!(next.dirty_files().is_empty());
    let loaded = load(&resume_path(dir.path(), &HASH), &HASH, 8)
        .unwrap()
        .unwrap();
    assert_eq!(loaded.unsynced_in, None);
    assert!(loaded.have.is_full());
}

#[test]
fn an_unsynced_save_after_a_failed_sync_vouches_for_nothing() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let this = boot("boot-a");
    drop(written(&t, dir.path(), &this));
    let path = resume_path(dir.path(), &HASH);
    let storage = with_a_vanished_file(&t, dir.path());
    let full = Bitfield::full(8);
    save_verified(&storage, &HASH, &full).unwrap_err();
    let err = save_in(&storage, &HASH, &full, Some(this)).unwrap_err();
    assert!(
        matches!(err, StorageError::SyncFailedEarlier { .. }),
        "{err}"
    );
    assert_eq!(
        load(&path, &HASH, 8).unwrap(),
        None,
        "resume file left behind"
    );
}

#[test]
fn the_boot_field_is_checked_like_every_other() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    drop(written(&t, dir.path(), &boot("boot-a")));
    let path = resume_path(dir.path(), &HASH);
    let good = fs::read(&path).unwrap();
    let check = |from: &[u8], to: &[u8], expect: &str| {
        let at = good.windows(from.len()).position(|w| w == from).unwrap();
        let mut bad = good[..at].to_vec();
        bad.extend_from_slice(to);
        bad.extend_from_slice(&good[at + from.len()..]);
        fs::write(&path, &bad).unwrap();
        let err = load(&path, &HASH, 8).unwrap_err().to_string();
        assert!(err.contains(expect), "{err} lacks {expect}");
    };
    check(b"6:boot-a", b"0:", "field unsynced in is not a boot id");
    check(b"6:boot-a", b"i1e", "field unsynced in is not a boot id");
    // Version 1 files predate the field: one that has it is not ours.
    check(b"7:versioni2e", b"7:versioni1e", "in a version 1 file");
}
