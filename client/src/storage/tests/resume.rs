//! The resume file: round trip, refusal of bad files, and which pieces a restart trusts.

use super::{album, torrent, with_a_vanished_file, write_piece, Torrent};
use crate::bitfield::Bitfield;
use crate::storage::resume::{
    changed_pieces, load, restore, resume_path, save, save_verified, stamps, trusted_pieces,
};
use crate::storage::{FileStamp, FileStorage, Resume, Storage, StorageError};
use crate::InfoHash;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

const HASH: InfoHash = InfoHash([0xab; 20]);

/// Downloads all of `t` into `dir` and saves a resume file the way the shell does.
fn complete(t: &Torrent, dir: &Path) -> FileStorage {
    let storage = FileStorage::new(dir, &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    for piece in 0..g.piece_count() {
        write_piece(&storage, &g, &t.content, piece);
    }
    save_verified(&storage, &HASH, &Bitfield::full(g.piece_count())).unwrap();
    storage
}

fn ones(b: &Bitfield) -> Vec<u32> {
    b.iter_ones().collect()
}

#[test]
fn round_trip_at_the_documented_path() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = complete(&t, dir.path());
    let path = resume_path(dir.path(), &HASH);
    assert_eq!(
        path,
        dir.path()
            .join(".bitswarm")
            .join(format!("{}.resume", "ab".repeat(20)))
    );
    let loaded = load(&path, &HASH, 8).unwrap().unwrap();
    assert_eq!(loaded.info_hash, HASH);
    assert!(loaded.have.is_full());
    assert_eq!(loaded.files, stamps(&storage));
    assert!(matches!(
        loaded.files[0],
        FileStamp::Present {
            length_on_disk: 40000,
            ..
        }
    ));
    assert!(matches!(
        loaded.files[1],
        FileStamp::Present {
            length_on_disk: 0,
            ..
        }
    ));
    // No temporary file is left behind, and saving again replaces the file.
    let names: Vec<_> = fs::read_dir(dir.path().join(".bitswarm"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1);
    let mut partial = loaded.clone();
    partial.have = Bitfield::new(8);
    partial.have.set(3, true);
    partial.files[2] = FileStamp::Missing;
    partial.files[3] = FileStamp::Pad;
    save(&path, &partial).unwrap();
    assert_eq!(load(&path, &HASH, 8).unwrap(), Some(partial));
}

#[test]
fn absent_resume_is_none() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        load(&dir.path().join("nope.resume"), &HASH, 8).unwrap(),
        None
    );
}

#[test]
fn bad_resume_files_are_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.resume");
    let good = Resume {
        info_hash: HASH,
        have: Bitfield::new(8),
        files: vec![FileStamp::Present {
            length_on_disk: 5,
            mtime_ns: -1_500_000_000,
        }],
        unsynced_in: None,
    };
    save(&path, &good).unwrap();
    assert_eq!(load(&path, &HASH, 8).unwrap(), Some(good));

    let check = |bytes: &[u8], piece_count: u32, expect: &str| {
        fs::write(&path, bytes).unwrap();
        let err = load(&path, &HASH, piece_count).unwrap_err();
        assert!(matches!(err, StorageError::BadResume { .. }));
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("resume file {}: ", path.display())),
            "{msg}"
        );
        assert!(msg.contains(expect), "{msg} lacks {expect}");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    };
    let hash = |h: &[u8; 20]| {
        let mut v = b"9:info hash20:".to_vec();
        v.extend_from_slice(h);
        v
    };
    let build = |info_hash: &[u8; 20], have: &[u8], files: &[u8], version: &str| {
        let mut v = b"d5:files".to_vec();
        v.extend_from_slice(files);
        v.extend_from_slice(format!("4:have{}:", have.len()).as_bytes());
        v.extend_from_slice(have);
        v.extend_from_slice(&hash(info_hash));
        v.extend_from_slice(format!("7:version{version}e").as_bytes());
        v
    };
    check(
        b"\x00\xffgarbage",
        8,
        "bencode: unexpected byte 0x00 at byte 0",
    );
    check(b"d7:versioni1e", 8, "unexpected end of input");
    check(b"le", 8, "missing field version");
    check(
        &build(&[0xab; 20], &[0], b"le", "i3e"),
        8,
        "unsupported version Some(3)",
    );
    check(&build(&[0xcd; 20], &[0], b"le", "i1e"), 8, "does not match");
    check(
        &build(&[0xab; 20], &[0, 0], b"le", "i1e"),
        8,
        "have: bitfield is 2 bytes",
    );
    check(
        &build(&[0xab; 20], &[0], b"le", "i1e"),
        9,
        "expected 2 for 9 pieces",
    );
    check(&build(&[0xab; 20], &[0x01], b"le", "i1e"), 6, "spare bit");
    check(
        &build(&[0xab; 20], &[0], b"i3e", "i1e"),
        8,
        "field files is not a list",
    );
    check(
        &build(&[0xab; 20], &[0], b"l3:fooe", "i1e"),
        8,
        "files[0] is not a file stamp",
    );
    check(
        &build(&[0xab; 20], &[0], b"l3:padli1ei2eee", "i1e"),
        8,
        "files[1]",
    );
    check(
        &build(&[0xab; 20], &[0], b"lli-1ei2ei3eee", "i1e"),
        8,
        "files[0]",
    );
    check(
        &build(&[0xab; 20], &[0], b"lli1ei2ei1000000000eee", "i1e"),
        8,
        "files[0]",
    );
    // And the well-formed variant of the same shape is accepted.
    fs::write(
        &path,
        build(&[0xab; 20], &[0x80], b"l7:missingli1ei2ei3eee", "i1e"),
    )
    .unwrap();
    let ok = load(&path, &HASH, 8).unwrap().unwrap();
    assert_eq!(ones(&ok.have), vec![0]);
    assert_eq!(
        ok.files,
        vec![
            FileStamp::Missing,
            FileStamp::Present {
                length_on_disk: 1,
                mtime_ns: 2_000_000_003
            }
        ]
    );
}

#[test]
fn touched_and_truncated_files_are_distrusted() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = complete(&t, dir.path());
    let g = storage.geometry().clone();
    let resume = load(&resume_path(dir.path(), &HASH), &HASH, 8)
        .unwrap()
        .unwrap();

    // Untouched: everything trusted, nothing to verify.
    let now = stamps(&storage);
    assert!(trusted_pieces(&resume, &now, &g).is_full());
    assert!(changed_pieces(&resume, &now, &g).is_empty());

    // sub/b.bin (pieces 2..=6) gets a new modification time, as any write would give it.
    let b = fs::File::options()
        .write(true)
        .open(dir.path().join("album/sub/b.bin"))
        .unwrap();
    b.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    let now = stamps(&storage);
    assert_eq!(ones(&trusted_pieces(&resume, &now, &g)), vec![0, 1, 7]);
    assert_eq!(
        ones(&changed_pieces(&resume, &now, &g)),
        vec![2, 3, 4, 5, 6]
    );

    // c.bin (pieces 6 and 7) is truncated.
    fs::File::options()
        .write(true)
        .open(dir.path().join("album/c.bin"))
        .unwrap()
        .set_len(1000)
        .unwrap();
    let now = stamps(&storage);
    assert_eq!(ones(&trusted_pieces(&resume, &now, &g)), vec![0, 1]);
    assert_eq!(
        ones(&changed_pieces(&resume, &now, &g)),
        vec![2, 3, 4, 5, 6, 7]
    );

    // a.bin deleted: a missing file is never trusted even if it was recorded missing.
    fs::remove_file(dir.path().join("album/a.bin")).unwrap();
    let now = stamps(&storage);
    assert_eq!(now[0], FileStamp::Missing);
    assert!(trusted_pieces(&resume, &now, &g).is_empty());
    let mut recorded_missing = resume.clone();
    recorded_missing.files[0] = FileStamp::Missing;
    assert_eq!(
        ones(&trusted_pieces(&recorded_missing, &now, &g)),
        Vec::<u32>::new()
    );
}

#[test]
fn a_resume_for_another_layout_trusts_nothing() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = complete(&t, dir.path());
    let g = storage.geometry().clone();
    let mut resume = load(&resume_path(dir.path(), &HASH), &HASH, 8)
        .unwrap()
        .unwrap();
    resume.files.pop();
    let now = stamps(&storage);
    assert!(trusted_pieces(&resume, &now, &g).is_empty());
    assert!(changed_pieces(&resume, &now, &g).is_full());
    assert!(trusted_pieces(&resume, &now[..3], &g).is_empty());
}

#[test]
fn pad_files_stamp_as_pad() {
    let t = torrent(
        "p",
        true,
        &[
            ("a", 100, false),
            (".pad/16284", 16284, true),
            ("b", 10, false),
        ],
        16384,
    );
    let dir = tempfile::tempdir().unwrap();
    let storage = complete(&t, dir.path());
    let now = stamps(&storage);
    assert_eq!(now[1], FileStamp::Pad);
    let resume = load(&resume_path(dir.path(), &HASH), &HASH, 2)
        .unwrap()
        .unwrap();
    assert!(trusted_pieces(&resume, &now, storage.geometry()).is_full());
}

#[test]
fn restore_trusts_untouched_data_and_verifies_the_rest() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = complete(&t, dir.path());
    let calls = AtomicUsize::new(0);
    let progress = |_| {
        calls.fetch_add(1, Ordering::Relaxed);
    };
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &progress);
    assert!(have.is_full());
    assert_eq!(calls.load(Ordering::Relaxed), 0, "nothing re-hashed");

    // A write to sub/b.bin after the save: its pieces are re-verified; piece 4 now fails.
    storage.write(4 * 16384 + 5, b"oops").unwrap();
    storage.sync().unwrap();
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &progress);
    assert_eq!(ones(&have), vec![0, 1, 2, 3, 5, 6, 7]);
    assert_eq!(calls.load(Ordering::Relaxed), 5);

    // A corrupt resume file falls back to a full check.
    fs::write(resume_path(dir.path(), &HASH), b"junk").unwrap();
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &progress);
    assert_eq!(ones(&have), vec![0, 1, 2, 3, 5, 6, 7]);
    assert_eq!(calls.load(Ordering::Relaxed), 13);
}

#[test]
fn save_verified_records_the_synced_stamps() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let g = storage.geometry().clone();
    let mut have = Bitfield::new(8);
    for piece in [0, 1, 7] {
        write_piece(&storage, &g, &t.content, piece);
        have.set(piece, true);
    }
    save_verified(&storage, &HASH, &have).unwrap();
    let loaded = load(&resume_path(dir.path(), &HASH), &HASH, 8)
        .unwrap()
        .unwrap();
    assert_eq!(ones(&loaded.have), vec![0, 1, 7]);
    assert_eq!(loaded.files, stamps(&storage));
    assert_eq!(loaded.files[2], FileStamp::Missing);
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &|_| {});
    assert_eq!(ones(&have), vec![0, 1, 7]);
}

#[test]
fn a_failed_sync_leaves_no_resume_claiming_pieces() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let path = resume_path(dir.path(), &HASH);
    // An older resume file claiming everything, as a previous run left it.
    drop(complete(&t, dir.path()));
    assert!(load(&path, &HASH, 8).unwrap().is_some());

    // a.bin vanished after being written: the sync fails, as an fsync error would.
    let storage = with_a_vanished_file(&t, dir.path());
    let g = storage.geometry().clone();
    let full = Bitfield::full(8);
    let err = save_verified(&storage, &HASH, &full).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Io {
                op: crate::storage::Op::Sync,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        load(&path, &HASH, 8).unwrap(),
        None,
        "resume file left behind"
    );
    assert!(dir.path().join(".bitswarm").is_dir());

    // Writing the data again does not make a later save claim it: the failure is remembered.
    write_piece(&storage, &g, &t.content, 0);
    let err = save_verified(&storage, &HASH, &full).unwrap_err();
    assert!(
        matches!(err, StorageError::SyncFailedEarlier { .. }),
        "{err}"
    );
    assert_eq!(load(&path, &HASH, 8).unwrap(), None);

    // The next run has no resume file and so re-hashes everything, finding what the lost
    // file took with it (pieces 1 and 2, in a.bin and never rewritten), which the older
    // resume file would have vouched for.
    let next = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let checked = AtomicUsize::new(0);
    let have = restore(&next, &HASH, &t.info.pieces, 2, &|_| {
        checked.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(ones(&have), vec![0, 3, 4, 5, 6, 7]);
    assert_eq!(checked.load(Ordering::Relaxed), 8);
}

#[test]
fn save_verified_cuts_a_longer_file_only_once_it_is_verified() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("album/a.bin");
    fs::create_dir_all(a.parent().unwrap()).unwrap();
    let mut old = t.content[..40000].to_vec();
    old.extend([7; 500]);
    fs::write(&a, &old).unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &|_| {});
    // Pieces 0 and 1 lie in a.bin alone; piece 2 needs sub/b.bin too.
    assert_eq!(ones(&have), vec![0, 1]);
    save_verified(&storage, &HASH, &have).unwrap();
    assert_eq!(
        fs::read(&a).unwrap(),
        old,
        "piece 2 of a.bin is not verified yet"
    );
    let g = storage.geometry().clone();
    for piece in 2..8 {
        write_piece(&storage, &g, &t.content, piece);
    }
    save_verified(&storage, &HASH, &Bitfield::full(8)).unwrap();
    assert_eq!(fs::read(&a).unwrap(), &t.content[..40000]);
    // The stamps describe the cut file, so a restart trusts everything.
    let checked = AtomicUsize::new(0);
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &|_| {
        checked.fetch_add(1, Ordering::Relaxed);
    });
    assert!(have.is_full());
    assert_eq!(checked.load(Ordering::Relaxed), 0);
}
