//! Torrents whose files would be one file on disk, and torrents named like the resume folder.

use super::{album, torrent, write_piece};
use crate::storage::{Alias, FileStorage, Storage, StorageError};
use std::fs;
use std::path::Path;

/// The error `FileStorage::new` gives for a multi-file torrent `t` of the given files.
fn refusal(specs: &[(&str, u64, bool)]) -> Option<StorageError> {
    let t = torrent("t", true, specs, 16384);
    let dir = tempfile::tempdir().unwrap();
    FileStorage::new(dir.path(), &t.info, 4).err()
}

#[test]
fn paths_differing_only_in_case_are_refused() {
    let err = refusal(&[("a", 100, false), ("b", 10, false), ("A", 100, false)]).unwrap();
    assert!(
        matches!(
            &err,
            StorageError::Aliased { first, second, why: Alias::Name }
                if first == Path::new("t/a") && second == Path::new("t/A")
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "torrent files t/a and t/A would clash on disk: \
         their paths differ only in letter case or Unicode normal form"
    );
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // Non-ASCII letters fold too.
    assert!(refusal(&[("\u{c9}t\u{c9}", 1, false), ("\u{e9}t\u{e9}", 1, false)]).is_some());
}

#[test]
fn nfc_and_nfd_forms_of_one_name_are_refused() {
    // "café" precomposed (NFC, as Linux tools write it) and decomposed (NFD, as HFS+ stores it).
    let err = refusal(&[("caf\u{e9}", 100, false), ("cafe\u{301}", 100, false)]).unwrap();
    assert!(
        matches!(
            err,
            StorageError::Aliased {
                why: Alias::Name,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("t/caf\u{e9} and t/cafe\u{301}"));
    // In a folder name, with case on top.
    assert!(refusal(&[("CAF\u{c9}/x", 1, false), ("cafe\u{301}/x", 1, false)]).is_some());
}

#[test]
fn only_whole_paths_and_file_folder_clashes_count() {
    // Folders differing in case merge harmlessly on a case-insensitive filesystem.
    assert!(refusal(&[("Dir/x", 100, false), ("dir/y", 100, false)]).is_none());
    // The same file in them is one file there.
    let err = refusal(&[("Dir/x", 100, false), ("dir/X", 100, false)]).unwrap();
    assert!(
        matches!(
            err,
            StorageError::Aliased {
                why: Alias::Name,
                ..
            }
        ),
        "{err}"
    );
    // A file where another file needs a folder.
    let err = refusal(&[("A/b", 100, false), ("a", 100, false)]).unwrap();
    assert!(
        matches!(
            &err,
            StorageError::Aliased { first, second, why: Alias::Folder }
                if first == Path::new("t/a") && second == Path::new("t/A/b")
        ),
        "{err}"
    );
    // Padding files never reach the disk, so they clash with nothing.
    let padded = [
        ("a", 100, false),
        (".pad/16284", 16284, true),
        (".PAD/16284", 16284, true),
        ("b", 10, false),
    ];
    assert!(refusal(&padded).is_none());
}

#[test]
fn a_torrent_named_like_the_resume_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in [".bitswarm", ".BitSwarm", ".BITSWARM"] {
        for multi in [false, true] {
            let t = torrent(name, multi, &[(name, 100, false)], 16384);
            let err = FileStorage::new(dir.path(), &t.info, 4).err().unwrap();
            assert!(matches!(err, StorageError::ReservedName { .. }), "{err}");
            assert_eq!(
                err.to_string(),
                format!(
                    "torrent name {name} is reserved: the download folder's .bitswarm \
                     folder holds resume files"
                )
            );
        }
    }
    // Only the top-level name: a folder of that name inside the torrent is the torrent's.
    let t = torrent("t", true, &[(".bitswarm/x", 100, false)], 16384);
    assert!(FileStorage::new(dir.path(), &t.info, 4).is_ok());
    assert!(FileStorage::new(dir.path(), &album().info, 4).is_ok());
}

#[test]
fn hard_linked_files_are_refused_before_anything_is_written() {
    let t = album();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    fs::create_dir_all(&root).unwrap();
    let original = vec![0x11; 40000];
    fs::write(root.join("a.bin"), &original).unwrap();
    // c.bin is a.bin under another name, as a filesystem folding names in a way the name
    // check does not know would make it.
    fs::hard_link(root.join("a.bin"), root.join("c.bin")).unwrap();
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let err = storage.prepare().unwrap_err();
    assert!(
        matches!(&err, StorageError::Aliased { first, second, why: Alias::SameFile }
            if *first == root.join("a.bin") && *second == root.join("c.bin")),
        "{err}"
    );
    assert!(err.to_string().ends_with(
        "would clash on disk: both paths lead to the same file (same device and inode)"
    ));

    // Without prepare, the first write through the second name is refused before it lands.
    let storage = FileStorage::new(dir.path(), &t.info, 64).unwrap();
    let mut buf = vec![0; 100];
    storage.read(0, &mut buf).unwrap();
    let g = storage.geometry().clone();
    let err = storage.write(112_000, &t.content[112_000..112_100]);
    assert!(matches!(err, Err(StorageError::Aliased { .. })), "{err:?}");
    assert!(matches!(
        storage.read(110_000, &mut buf),
        Err(StorageError::Aliased { .. })
    ));
    assert_eq!(fs::read(root.join("a.bin")).unwrap(), original);

    // Once the link is gone, c.bin is a file of its own again.
    fs::remove_file(root.join("c.bin")).unwrap();
    write_piece(&storage, &g, &t.content, 7);
    assert_eq!(fs::read(root.join("a.bin")).unwrap(), original);
}
