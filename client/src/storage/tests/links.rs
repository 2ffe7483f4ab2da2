//! Symbolic links planted below the download folder: never followed, for writing, reading,
//! examining, or the resume file; the download folder itself may be a link.

use super::{album, write_piece, Torrent};
use crate::bitfield::Bitfield;
use crate::storage::resume::{load, restore, resume_path, save_verified, stamps};
use crate::storage::{check_pieces, hash_piece, FileStamp, FileStorage, Storage, StorageError};
use crate::InfoHash;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

const HASH: InfoHash = InfoHash([0xcd; 20]);

/// A download folder and, beside it, a folder "outside" that links may point into. Outside
/// holds the torrent's own content (so a followed read would verify) at `album/...` paths.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

fn setup(t: &Torrent) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("a.bin"), &t.content[..40000]).unwrap();
    fs::write(outside.join("sub/b.bin"), &t.content[40000..110000]).unwrap();
    fs::write(outside.join("c.bin"), &t.content[110000..]).unwrap();
    Setup {
        _dir: dir,
        root,
        outside,
    }
}

/// Every file below `dir` with its contents, to show nothing outside changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

/// Asserts that `err` refuses the link at `link`.
fn refuses(err: StorageError, link: &Path) {
    assert!(
        matches!(&err, StorageError::Symlink { path } if path == link),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a symbolic link: links below the download folder are never followed",
            link.display()
        )
    );
}

/// Writes, reads, checks and examines `t` below `s.root` where a link sits at `link`, and
/// asserts that every operation refuses it and nothing outside is touched or trusted.
fn nothing_crosses(t: &Torrent, s: &Setup, link: &Path) {
    let before = snapshot(&s.outside);
    let storage = FileStorage::new(&s.root, &t.info, 64).unwrap();
    let g = storage.geometry().clone();
    refuses(storage.prepare().unwrap_err(), link);
    // Writing every piece: each write through the link fails; none lands outside.
    for piece in 0..g.piece_count() {
        for b in g.blocks(piece) {
            let at = g.piece_offset(piece) + u64::from(b.offset);
            let _ = storage.write(at, &t.content[at as usize..][..b.len as usize]);
        }
    }
    assert_eq!(
        snapshot(&s.outside),
        before,
        "a write went through the link"
    );
    // Reading: the outside copy is correct, so a followed read would verify. It must not.
    let mut buf = vec![0; 100];
    refuses(storage.read(0, &mut buf).unwrap_err(), link);
    let mut piece = Vec::new();
    assert!(hash_piece(&storage, &g, 0, &mut piece).is_err());
    let have = check_pieces(&storage, &g, &t.info.pieces, 2, &|_| {});
    assert!(!have.get(0), "piece 0 verified through the link");
    assert_eq!(storage.available_lengths().unwrap()[0], 0);
    assert_eq!(stamps(&storage)[0], FileStamp::Missing);
    assert!(!storage.file_exists(0));
}

#[test]
fn a_link_at_the_torrent_folder_is_never_followed() {
    let t = album();
    let s = setup(&t);
    let link = s.root.join("album");
    symlink(&s.outside, &link).unwrap();
    nothing_crosses(&t, &s, &link);
}

#[test]
fn a_link_at_a_subfolder_is_never_followed() {
    let t = album();
    let s = setup(&t);
    fs::create_dir_all(s.root.join("album")).unwrap();
    let link = s.root.join("album/sub");
    symlink(s.outside.join("sub"), &link).unwrap();
    let before = snapshot(&s.outside);
    let storage = FileStorage::new(&s.root, &t.info, 64).unwrap();
    let g = storage.geometry().clone();
    refuses(storage.prepare().unwrap_err(), &link);
    refuses(storage.write(50000, &[0xEE; 100]).unwrap_err(), &link);
    refuses(storage.read(50000, &mut [0; 100]).unwrap_err(), &link);
    // Files not below the link work as usual.
    write_piece(&storage, &g, &t.content, 0);
    assert_eq!(snapshot(&s.outside), before);
    assert_eq!(storage.available_lengths().unwrap()[2], 0);
}

#[test]
fn a_link_at_a_file_is_never_followed_even_dangling() {
    let t = album();
    let s = setup(&t);
    fs::create_dir_all(s.root.join("album")).unwrap();
    // a.bin points at the outside copy; c.bin at a file that does not exist yet, which a
    // followed create would make outside.
    let a = s.root.join("album/a.bin");
    symlink(s.outside.join("a.bin"), &a).unwrap();
    nothing_crosses(&t, &s, &a);
    let c = s.root.join("album/c.bin");
    fs::remove_file(&c).unwrap();
    fs::remove_file(s.outside.join("c.bin")).unwrap();
    symlink(s.outside.join("c.bin"), &c).unwrap();
    let storage = FileStorage::new(&s.root, &t.info, 64).unwrap();
    refuses(storage.write(112_000, &[1; 10]).unwrap_err(), &c);
    assert!(!s.outside.join("c.bin").exists(), "created through a link");
}

#[test]
fn the_download_folder_itself_may_be_a_link() {
    let t = album();
    let s = setup(&t);
    let real = s.root.join("real");
    fs::create_dir_all(&real).unwrap();
    let root = s.root.join("link");
    symlink(&real, &root).unwrap();
    let storage = FileStorage::new(&root, &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    for piece in 0..g.piece_count() {
        write_piece(&storage, &g, &t.content, piece);
    }
    save_verified(&storage, &HASH, &Bitfield::full(g.piece_count())).unwrap();
    assert_eq!(
        fs::read(real.join("album/c.bin")).unwrap(),
        &t.content[110000..]
    );
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &|_| {});
    assert!(have.is_full());
}

#[test]
fn a_link_at_the_resume_folder_is_never_followed() {
    let t = album();
    let s = setup(&t);
    let link = s.root.join(".bitswarm");
    symlink(&s.outside, &link).unwrap();
    let storage = FileStorage::new(&s.root, &t.info, 64).unwrap();
    storage.prepare().unwrap();
    let g = storage.geometry().clone();
    for piece in 0..g.piece_count() {
        write_piece(&storage, &g, &t.content, piece);
    }
    let before = snapshot(&s.outside);
    let full = Bitfield::full(g.piece_count());
    refuses(save_verified(&storage, &HASH, &full).unwrap_err(), &link);
    assert_eq!(
        snapshot(&s.outside),
        before,
        "resume file written through the link"
    );

    // A resume file behind the link (planted, or ours from before) is not trusted.
    fs::remove_file(&link).unwrap();
    save_verified(&storage, &HASH, &full).unwrap();
    fs::rename(s.root.join(".bitswarm"), s.root.join("elsewhere")).unwrap();
    symlink(s.root.join("elsewhere"), &link).unwrap();
    let path = resume_path(&s.root, &HASH);
    assert!(
        load(&path, &HASH, 8).unwrap().is_some(),
        "the file is there"
    );
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let have = restore(&storage, &HASH, &t.info.pieces, 2, &|_| {
        checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(have.is_full());
    assert_eq!(checked.into_inner(), 8, "every piece re-hashed");
}
