//! Fuzz target: the metainfo parser never panics, and accepted torrents have sane geometry.
#![no_main]

use bitswarm_client::Metainfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = Metainfo::from_bytes(data) {
        let g = meta.info.geometry();
        assert_eq!(g.piece_count() as usize, meta.info.pieces.len());
        for i in 0..meta.info.files.len() {
            let p = meta.info.file_path(i);
            assert!(p.is_relative());
            assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)));
        }
    }
});
