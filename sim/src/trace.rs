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
        self.with_lines(<[String]>::to_vec)
    }

    /// `f` of the lines so far, without copying them.
    pub fn with_lines<R>(&self, f: impl FnOnce(&[String]) -> R) -> R {
        match self.lines.lock() {
            Ok(lines) => f(&lines),
            Err(_) => f(&[]),
        }
    }

    /// The hex SHA-1 of all lines, each followed by a newline.
    pub fn hash(&self) -> String {
        let mut h = Sha1::new();
        self.with_lines(|lines| {
            for line in lines {
                h.update(line.as_bytes());
                h.update(b"\n");
            }
        });
        hex::encode(h.finalize())
    }
}

/// A trace line taken apart: simulated time, host, and the words of the event.
pub struct Line<'a> {
    pub t: f64,
    pub host: &'a str,
    pub words: Vec<&'a str>,
}

impl Line<'_> {
    /// `line` taken apart, if it has the trace's shape.
    pub fn parse(line: &str) -> Option<Line<'_>> {
        let mut it = line.split_whitespace();
        let t = it.next()?.parse().ok()?;
        let host = it.next()?;
        Some(Line {
            t,
            host,
            words: it.collect(),
        })
    }
}
