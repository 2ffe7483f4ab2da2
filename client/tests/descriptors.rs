//! Running out of file descriptors while writing a torrent's files: storage gives back the
//! handles it caches and retries, so the write succeeds instead of failing the download.
//!
//! Its own test binary because it lowers the process's descriptor limit.

use std::collections::BTreeMap;
use std::fs::File;

use bitswarm_client::metainfo::{FileEntry, Info};
use bitswarm_client::storage::{FileStorage, Storage};

const FILES: u64 = 40;
const LEN: u64 = 1000;

fn info() -> Info {
    let files = (0..FILES)
        .map(|i| FileEntry {
            path: vec![format!("f{i}")],
            length: LEN,
            offset: i * LEN,
            pad: false,
        })
        .collect();
    Info {
        name: "many".into(),
        piece_length: 16384,
        pieces: vec![[0; 20]; (FILES * LEN).div_ceil(16384) as usize],
        private: false,
        files,
        multi_file: true,
        extra: BTreeMap::new(),
    }
}

/// Descriptors this process has open now.
fn open_now() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

#[test]
fn writes_survive_running_out_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::new(dir.path(), &info(), 64).unwrap();
    // Cache handles for half the files, then let the process run out of descriptors.
    for i in 0..FILES / 2 {
        storage.write(i * LEN, b"x").unwrap();
    }
    let mut rlim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) };
    let lowered = libc::rlimit {
        rlim_cur: open_now() + 4,
        rlim_max: rlim.rlim_max,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
    let mut hogs: Vec<File> = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hogs.push(f);
    }
    // Every descriptor is taken; the other half of the files still get written.
    for i in FILES / 2..FILES {
        storage
            .write(i * LEN, b"y")
            .unwrap_or_else(|e| panic!("file {i}: {e}"));
    }
    drop(hogs);
    // SAFETY: as above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) };
    let mut buf = [0u8; 1];
    storage.read((FILES - 1) * LEN, &mut buf).unwrap();
    assert_eq!(&buf, b"y");
}
