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
        min_interval: sc.tracker.min_interval_s,
        max_numwant: sc.tracker.max_numwant.unwrap_or(defaults.max_numwant),
        seed: sc.seed,
        faults: Faults {
            windows: sc.tracker.faults.iter().map(window).collect(),
        },
        ..defaults
    }
}

/// One fault window of the mock tracker.
pub fn window(f: &TrackerFault) -> FaultWindow {
    let kind = match f {
        TrackerFault::Down(_) => FaultKind::Down,
        TrackerFault::Timeout(_) => FaultKind::Timeout,
        TrackerFault::Garbage(_) => FaultKind::Garbage,
        TrackerFault::NoPeers(_) => FaultKind::NoPeers,
        TrackerFault::Failure(w) => FaultKind::Failure(w.message.clone()),
        TrackerFault::HttpError(w) => FaultKind::HttpError(w.status),
    };
    let (from, until) = f.window();
    FaultWindow {
        from: Duration::from_secs_f64(from),
        until: until.map(Duration::from_secs_f64),
        kind,
        protocol: None,
    }
}

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
