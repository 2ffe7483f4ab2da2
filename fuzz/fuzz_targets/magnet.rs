//! Fuzz target: magnet parsing never panics and accepted links survive a round trip.
#![no_main]

use bitswarm_client::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Magnet::parse(text) {
            assert_eq!(Magnet::parse(&m.to_uri()).expect("round trip"), m);
        }
    }
});
