//! Fuzz target: the bencode decoder never panics, and what it accepts re-encodes canonically.
#![no_main]

use bitswarm_client::bencode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(node) = bencode::decode(data) {
        assert_eq!(node.span, 0..data.len());
        let canonical = bencode::encode(&node.to_value());
        let again = bencode::decode(&canonical).expect("canonical output decodes");
        assert_eq!(again.to_value(), node.to_value());
    }
});
