//! Fuzz target: the peer-wire decoder, fed a stream cut at arbitrary points, for a torrent of
//! an arbitrary piece count. It never panics, every message it yields accounts for exactly the
//! bytes it consumed, and what it holds while waiting is less than one legal frame.
#![no_main]

use bitswarm_client::wire::{max_frame_len, Decoder};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Input layout: 4 bytes of piece count, 1 byte seeding the cut sizes, then the stream.
    let Some((head, stream)) = data.split_first_chunk::<5>() else {
        return;
    };
    let pieces = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let decoder = Decoder::new(max_frame_len(pieces));
    let frame_limit = decoder.max_len() as usize + 4;
    let mut cut = usize::from(head[4]) + 1;
    let mut buf = BytesMut::new();
    let mut fed = 0;
    while fed < stream.len() {
        // Cut sizes vary from 1 to 256 bytes, driven by the seed byte and the data itself.
        let take = cut.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + take]);
        fed += take;
        cut = (cut * 7 + usize::from(stream[fed - 1])) % 256 + 1;
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(message)) => {
                    let consumed = before - buf.len();
                    assert_eq!(message.encoded_len(), consumed, "{message:?}");
                    assert!(consumed <= frame_limit);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "waiting consumed bytes");
                    break;
                }
                Err(_) => return,
            }
        }
        // Waiting for the rest of one frame: less than a whole legal frame is held, and the
        // room reserved for it is bounded by that frame (allocators may round up to double).
        assert!(buf.len() < frame_limit);
        assert!(
            buf.capacity() <= 2 * (frame_limit + 256) + 64,
            "{}",
            buf.capacity()
        );
    }
});
