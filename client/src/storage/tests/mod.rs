//! Tests of storage, on real files in temporary folders and in memory. Content is generated
//! from a formula and piece hashes are computed from it, never pasted from a run.

mod file;
mod hash;
mod links;
mod memory;
mod names;
mod resume;
mod unsynced;

use super::Storage;
use crate::geometry::Geometry;
use crate::metainfo::{FileEntry, Info};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// One file of a test layout: path (with `/`), length, padding flag.
type Spec<'a> = (&'a str, u64, bool);

/// A torrent described by hand, with its generated content.
struct Torrent {
    info: Info,
    content: Vec<u8>,
}

/// The content byte at `i`: varied enough that every piece and block hashes differently.
fn byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// Builds an `Info` (multi-file unless exactly one file named like the torrent is given with
/// `multi == false`) and its content; padding files hold zeros.
fn torrent(name: &str, multi: bool, specs: &[Spec<'_>], piece_length: u64) -> Torrent {
    let mut files = Vec::new();
    let mut content = Vec::new();
    for &(path, length, pad) in specs {
        let offset = content.len() as u64;
        for i in 0..length {
            content.push(if pad { 0 } else { byte(offset + i) });
        }
        files.push(FileEntry {
            path: path.split('/').map(str::to_string).collect(),
            length,
            offset,
            pad,
        });
    }
    let pieces = content
        .chunks(piece_length as usize)
        .map(|c| Sha1::digest(c).into())
        .collect();
    let info = Info {
        name: name.to_string(),
        piece_length,
        pieces,
        private: false,
        files,
        multi_file: multi,
        extra: BTreeMap::new(),
    };
    Torrent { info, content }
}

#[test]
fn storage_types_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<super::FileStorage>();
    shared::<super::MemoryStorage>();
    shared::<super::StorageError>();
    shared::<Box<dyn Storage>>();
}

/// `a.bin` 40000, `empty.txt` 0, `sub/b.bin` 70000, `c.bin` 5000, pieces of 16 KiB: piece 2
/// spans a.bin and sub/b.bin, piece 6 spans sub/b.bin and c.bin, piece 7 is 312 bytes.
fn album() -> Torrent {
    torrent(
        "album",
        true,
        &[
            ("a.bin", 40000, false),
            ("empty.txt", 0, false),
            ("sub/b.bin", 70000, false),
            ("c.bin", 5000, false),
        ],
        16384,
    )
}

/// Storage of `album()` below `dir` with one handle, pieces 0 and 7 written, and a.bin then
/// removed: its next sync must reopen a.bin and fails, as an fsync error would.
fn with_a_vanished_file(t: &Torrent, dir: &std::path::Path) -> super::FileStorage {
    let storage = super::FileStorage::new(dir, &t.info, 1).unwrap();
    let g = storage.geometry().clone();
    write_piece(&storage, &g, &t.content, 0);
    write_piece(&storage, &g, &t.content, 7);
    std::fs::remove_file(dir.join("album/a.bin")).unwrap();
    storage
}

/// Every block of every piece as (content offset, length), in a seeded random order.
fn shuffled_blocks(geometry: &Geometry, seed: u64) -> Vec<(u64, usize)> {
    let mut blocks: Vec<(u64, usize)> = (0..geometry.piece_count())
        .flat_map(|p| {
            geometry.blocks(p).map(move |b| {
                (
                    geometry.piece_offset(p) + u64::from(b.offset),
                    b.len as usize,
                )
            })
        })
        .collect();
    blocks.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    blocks
}

/// Writes the blocks of `piece` from `content`.
fn write_piece(storage: &dyn Storage, geometry: &Geometry, content: &[u8], piece: u32) {
    for b in geometry.blocks(piece) {
        let at = geometry.piece_offset(piece) + u64::from(b.offset);
        let data = &content[at as usize..at as usize + b.len as usize];
        storage.write(at, data).unwrap();
    }
}
