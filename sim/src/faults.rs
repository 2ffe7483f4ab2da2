//! Translating a scenario's tracker section into the mock tracker's configuration, and the
//! tracker's events into trace lines.

use std::time::Duration;

use tracker_mock::{Config, FaultKind, FaultWindow, Faults, TrackerEvent};

use crate::scenario::tracker::url;
use crate::scenario::{Scenario, TrackerFault, TrackerKind};

/// The mock tracker's configuration for a tracker host of a scenario with `faults`.
pub fn tracker_config(sc: &Scenario, faults: &[TrackerFault]) -> Config {
    let defaults = Config::default();
    Config {
        interval: sc.tracker.interval_s,
        min_interval: sc.tracker.min_interval_s,
        max_numwant: sc.tracker.max_numwant.unwrap_or(defaults.max_numwant),
        seed: sc.seed,
        faults: Faults {
            windows: faults.iter().map(window).collect(),
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
        TrackerFault::Redirect(r) => FaultKind::Redirect(url(&r.to, TrackerKind::Http)),
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
    let answer = e.answered.to_string();
    format!(
        "{} announce {:?} from {} left={} -> {answer} peers={}",
        e.protocol, e.event, e.peer, e.left, e.peers
    )
}
