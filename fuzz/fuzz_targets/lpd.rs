//! Fuzz target: local peer discovery announces (BEP 14). The parser never panics, keeps within
//! its caps, and what it accepts survives its own encoding.
#![no_main]

use bitswarm_client::lpd::{Announce, GROUP_V4, MAX_COOKIE, MAX_HASHES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Announce::parse(data) {
        assert!(a.port != 0);
        assert!(!a.info_hashes.is_empty() && a.info_hashes.len() <= MAX_HASHES);
        assert!(a.cookie.as_ref().map_or(0, |c| c.len()) <= MAX_COOKIE);
        let bytes = a.encode(GROUP_V4).expect("an accepted announce fits when encoded");
        assert_eq!(Announce::parse(&bytes), Ok(a));
    }
});
