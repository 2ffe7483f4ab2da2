//! Fuzz target: the BEP 10 extended handshake parser never panics, keeps within its bounds,
//! and what it accepts survives its own encoding unchanged.
#![no_main]

use bitswarm_client::wire::{
    ExtendedHandshake, MAX_CLIENT_LEN, MAX_EXTENSIONS, MAX_EXTENSION_NAME_LEN, MAX_METADATA_SIZE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = ExtendedHandshake::parse(data) else {
        return;
    };
    assert!(h.extensions.len() <= MAX_EXTENSIONS);
    assert!(h
        .extensions
        .keys()
        .all(|name| !name.is_empty() && name.len() <= MAX_EXTENSION_NAME_LEN));
    assert!(h.client.as_ref().map_or(0, String::len) <= MAX_CLIENT_LEN);
    assert!(h.metadata_size.unwrap_or(0) <= MAX_METADATA_SIZE);
    assert_ne!(h.port, Some(0));
    assert_ne!(h.reqq, Some(0));
    let again = ExtendedHandshake::parse(&h.encode()).expect("our encoding parses");
    assert_eq!(again, h);
});
