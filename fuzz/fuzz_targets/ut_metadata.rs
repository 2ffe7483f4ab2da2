//! Fuzz target: BEP 9 `ut_metadata` messages. The parser never panics, what it accepts
//! survives its own encoding, and a metadata fetch fed any sequence of them from a few peers
//! never panics and only ever finishes with bytes whose SHA-1 is the info-hash.
#![no_main]

use std::time::Duration;

use bitswarm_client::engine::PeerKey;
use bitswarm_client::metadata::Fetch;
use bitswarm_client::wire::{ExtendedHandshake, MetadataMessage};
use bitswarm_client::InfoHash;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};

fuzz_target!(|data: &[u8]| {
    let hash = InfoHash(Sha1::digest(b"d4:name1:xe").into());
    let mut fetch = Fetch::new(hash);
    for key in 0..3u64 {
        let hs = ExtendedHandshake {
            extensions: [("ut_metadata".to_string(), 1)].into(),
            metadata_size: Some(20_000 + key as u32),
            ..ExtendedHandshake::default()
        };
        fetch.peer_joined(Duration::ZERO, PeerKey(key), &hs);
    }
    // Messages are separated by 0xff bytes; each one's first byte names its peer.
    for (i, chunk) in data.split(|&b| b == 0xff).enumerate() {
        let Some((&who, payload)) = chunk.split_first() else {
            continue;
        };
        let now = Duration::from_secs(i as u64);
        let payload = Bytes::copy_from_slice(payload);
        if let Ok(msg) = MetadataMessage::parse(&payload) {
            assert_eq!(MetadataMessage::parse(&msg.encode()).as_ref(), Ok(&msg));
            fetch.message(now, PeerKey(u64::from(who % 4)), msg);
        }
        fetch.tick(now);
        while fetch.next_action().is_some() {}
    }
    if let Some(info) = fetch.done() {
        assert_eq!(InfoHash(Sha1::digest(info).into()), hash);
    }
});
