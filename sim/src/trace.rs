//! The trace of a simulation: timestamped events from every host, and its hash.
//!
//! Lines look like `   12.345 client connect 192.168.0.3:7000`. The simulated clock and the
//! order turmoil runs hosts in are both fixed by the seed, so the same scenario and seed give
//! the same bytes; the hash makes comparing runs cheap.

use std::fmt::Display;
use std::sync::{Arc, Mutex};

use sha1::{Digest, Sha1};

/// Collects trace lines from every host of one simulation.
#[derive(Clone, Default)]
pub struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    /// Set when the run is over: tearing the simulation down drops tasks in an order tokio
    /// does not promise, and what they report then is not part of the run.
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    /// Records `event` on `host` at the current simulated time.
    pub fn record(&self, host: &str, event: impl Display) {
        self.record_at(turmoil::sim_elapsed().unwrap_or_default(), host, event);
    }

    /// Records an event at `at`, for the driver, which runs outside every host.
    pub fn record_at(&self, at: std::time::Duration, host: &str, event: impl Display) {
        if self.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let line = format!("{:>9.3} {host} {event}", at.as_secs_f64());
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// Ends the trace; later events are ignored.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The hex SHA-1 of all lines, each followed by a newline.
    pub fn hash(&self) -> String {
        let mut h = Sha1::new();
        for line in self.lines() {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}
