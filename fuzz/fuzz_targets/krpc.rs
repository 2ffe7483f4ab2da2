//! Fuzz target: KRPC datagrams (BEP 5). The parser never panics, keeps within its caps, and
//! what it accepts survives its own encoding; a refusal's transaction id is within its cap.
#![no_main]

use bitswarm_client::dht::krpc::{Body, Krpc, MAX_NODES, MAX_TID_LEN, MAX_VALUES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Krpc::parse(data) {
        Ok(msg) => {
            assert!(msg.tid.len() <= MAX_TID_LEN);
            if let Body::Response(r) = &msg.body {
                assert!(r.nodes.len() <= 2 * MAX_NODES);
                assert!(r.values.len() <= MAX_VALUES);
            }
            let again = Krpc::parse(&msg.encode()).expect("our encoding parses");
            assert_eq!(again, msg);
        }
        Err(m) => assert!(m.tid.map_or(0, |t| t.len()) <= MAX_TID_LEN),
    }
});
