//! Golden traces: two small scenarios' full traces, reviewed like code. A change in what the
//! client, the tracker or the seeders do shows up here as a diff.

use std::path::Path;

use sim::Scenario;

fn trace_of(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let sc = Scenario::load(&path).expect("scenario loads");
    let outcome = sim::run(&sc, sc.seed).expect("scenario runs");
    assert!(outcome.passed(), "{:?}", outcome.failures);
    outcome.trace.join("\n")
}

#[test]
fn happy_single_trace() {
    insta::assert_snapshot!(trace_of("happy-single.toml"));
}

#[test]
fn wrong_info_hash_peers_trace() {
    insta::assert_snapshot!(trace_of("wrong-info-hash-peers.toml"));
}
