//! `MemoryStorage`: honest about unwritten bytes, and a model for random write patterns.

use super::{album, shuffled_blocks};
use crate::storage::{MemoryStorage, Storage, StorageError};
use proptest::prelude::*;
use std::io;

#[test]
fn unwritten_bytes_are_absent() {
    let m = MemoryStorage::new(100_000);
    let mut buf = [0u8; 10];
    let err = m.read(0, &mut buf).unwrap_err();
    assert!(err.is_absent());
    assert_eq!(err.to_string(), "read <memory> at 0: data absent");
    m.write(16380, &[7; 10]).unwrap();
    m.read(16380, &mut buf).unwrap();
    assert_eq!(buf, [7; 10]);
    // One byte short of the written range on either side.
    assert!(m.read(16379, &mut buf).unwrap_err().is_absent());
    assert!(m.read(16381, &mut buf).unwrap_err().is_absent());
    // Touching ranges merge.
    m.write(16390, &[8; 5]).unwrap();
    m.write(16375, &[6; 5]).unwrap();
    let mut wide = [0u8; 20];
    m.read(16375, &mut wide).unwrap();
    assert_eq!(&wide[..5], &[6; 5]);
    assert_eq!(&wide[15..], &[8; 5]);
    m.sync().unwrap();
}

#[test]
fn range_and_full_disk_errors() {
    let m = MemoryStorage::new(50);
    assert!(matches!(
        m.write(45, &[0; 6]),
        Err(StorageError::OutOfRange {
            offset: 45,
            len: 6,
            total: 50
        })
    ));
    m.set_full(true);
    let err = m.write(0, &[1; 4]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    assert!(err.to_string().starts_with("write <memory> at 0: "));
    assert!(m.read(0, &mut [0; 4]).unwrap_err().is_absent());
    m.set_full(false);
    m.write(0, &[1; 4]).unwrap();
}

#[test]
fn with_content_reads_everything() {
    let t = album();
    let m = MemoryStorage::with_content(&t.content);
    let mut buf = vec![0; t.content.len()];
    m.read(0, &mut buf).unwrap();
    assert_eq!(buf, t.content);
    assert!(m.available_lengths().is_none());
}

proptest! {
    #[test]
    fn any_block_order_reads_back(seed in any::<u64>()) {
        let t = album();
        let g = t.info.geometry();
        let m = MemoryStorage::new(g.total_length());
        for (at, len) in shuffled_blocks(&g, seed) {
            m.write(at, &t.content[at as usize..at as usize + len]).unwrap();
        }
        let mut buf = vec![0; t.content.len()];
        m.read(0, &mut buf).unwrap();
        prop_assert_eq!(buf, t.content);
    }

    #[test]
    fn matches_a_byte_model(
        writes in proptest::collection::vec((0u64..40_000, 0usize..20_000, any::<u8>()), 0..12),
        reads in proptest::collection::vec((0u64..40_000, 1usize..20_000), 1..12),
    ) {
        const LEN: u64 = 60_000;
        let m = MemoryStorage::new(LEN);
        let mut model: Vec<Option<u8>> = vec![None; LEN as usize];
        for (at, len, value) in writes {
            m.write(at, &vec![value; len]).unwrap();
            for b in &mut model[at as usize..at as usize + len] {
                *b = Some(value);
            }
        }
        for (at, len) in reads {
            let mut buf = vec![0; len];
            let want: Option<Vec<u8>> = model[at as usize..at as usize + len].iter().copied().collect();
            match (m.read(at, &mut buf), want) {
                (Ok(()), Some(want)) => prop_assert_eq!(buf, want),
                (Err(e), None) => prop_assert!(e.is_absent()),
                (got, want) => prop_assert!(false, "read {at}+{len}: {got:?} vs {}", want.is_some()),
            }
        }
    }
}
