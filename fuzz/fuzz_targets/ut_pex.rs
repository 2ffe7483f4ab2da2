//! Fuzz target: BEP 11 `ut_pex` messages. The parser never panics, keeps within its per-list
//! cap, and what it accepts survives its own encoding.
#![no_main]

use bitswarm_client::wire::{PexMessage, MAX_PEX_ENTRIES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = PexMessage::parse(data) else {
        return;
    };
    assert!(msg.added.len() <= 2 * MAX_PEX_ENTRIES);
    assert!(msg.dropped.len() <= 2 * MAX_PEX_ENTRIES);
    let again = PexMessage::parse(&msg.encode()).expect("our encoding parses");
    // Re-encoding groups IPv4 before IPv6, as parsing does.
    assert_eq!(again, msg);
});
