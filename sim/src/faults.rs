//! Translating a scenario's tracker section into the mock tracker's configuration, and the
//! tracker's events into trace lines.

use std::time::Duration;

use tracker_mock::{Answer, Config, FaultKind, FaultWindow, Faults, TrackerEvent};

use crate::scenario::{Scenario, TrackerFault};

/// The mock tracker's configuration for a scenario.
pub fn tracker_config(sc: &Scenario) -> Config {
    let defaults = Config::default();
    Config {
        interval: sc.tracker.interval_s,
        max_numwant: sc.tracker.max_numwant.unwrap_or(defaults.max_numwant),
        seed: sc.seed,
        faults: Faults {
            windows: sc.tracker.faults.iter().filter_map(window).collect(),
        },
        ..defaults
    }
}

/// One fault window; `None` for an unknown kind (refused when the scenario is loaded).
pub fn window(f: &TrackerFault) -> Option<FaultWindow> {
    let kind = match f.kind.as_str() {
        "down" => FaultKind::Down,
        "timeout" => FaultKind::Timeout,
        "garbage" => FaultKind::Garbage,
        "no-peers" => FaultKind::NoPeers,
        "failure" => FaultKind::Failure(
            f.message
                .clone()
                .unwrap_or_else(|| "scripted failure".to_string()),
        ),
        "http-error" => FaultKind::HttpError(f.status.unwrap_or(500)),
        _ => return None,
    };
    Some(FaultWindow {
        from: Duration::from_secs_f64(f.from_s),
        until: f.until_s.map(Duration::from_secs_f64),
        kind,
        protocol: None,
    })
}

/// The fault kinds a scenario may name.
pub const KINDS: [&str; 6] = [
    "down",
    "timeout",
    "garbage",
    "no-peers",
    "failure",
    "http-error",
];

/// A trace line for what the tracker did.
pub fn tracker_line(e: &TrackerEvent) -> String {
    let answer = match e.answered {
        Answer::Ok => "ok".to_string(),
        Answer::NoPeers => "no-peers".to_string(),
        Answer::Failure => "failure".to_string(),
        Answer::Timeout => "timeout".to_string(),
        Answer::Garbage => "garbage".to_string(),
        Answer::Down => "down".to_string(),
        Answer::HttpError(s) => format!("http-{s}"),
        Answer::Rejected => "rejected".to_string(),
    };
    format!(
        "{} announce {:?} from {} left={} -> {answer} peers={}",
        e.protocol, e.event, e.peer, e.left, e.peers
    )
}
