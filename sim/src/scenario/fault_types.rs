//! The faults a scenario schedules: the mock tracker's misbehaviour windows and the network
//! faults and crashes, each a variant tagged in the file by `kind` or `action`.

use serde::Deserialize;

/// A tracker fault during a window of simulated time (`from_s` to `until_s`, or to the end),
/// tagged by `kind` in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TrackerFault {
    /// Connections refused.
    Down { from_s: f64, until_s: Option<f64> },
    /// Requests never answered.
    Timeout { from_s: f64, until_s: Option<f64> },
    /// Answers that are not bencode.
    Garbage { from_s: f64, until_s: Option<f64> },
    /// Valid answers with no peers.
    NoPeers { from_s: f64, until_s: Option<f64> },
    /// A `failure reason` answer.
    Failure {
        from_s: f64,
        until_s: Option<f64>,
        #[serde(default = "scripted_failure")]
        message: String,
    },
    /// An HTTP error status (HTTP trackers only).
    HttpError {
        from_s: f64,
        until_s: Option<f64>,
        #[serde(default = "internal_error")]
        status: u16,
    },
}

fn scripted_failure() -> String {
    "scripted failure".to_string()
}

fn internal_error() -> u16 {
    500
}

impl TrackerFault {
    /// The window: from, and until (`None`: to the end).
    pub fn window(&self) -> (f64, Option<f64>) {
        match self {
            TrackerFault::Down { from_s, until_s }
            | TrackerFault::Timeout { from_s, until_s }
            | TrackerFault::Garbage { from_s, until_s }
            | TrackerFault::NoPeers { from_s, until_s }
            | TrackerFault::Failure {
                from_s, until_s, ..
            }
            | TrackerFault::HttpError {
                from_s, until_s, ..
            } => (*from_s, *until_s),
        }
    }
}

/// A network fault or host crash, tagged by `action` in the file. Faults apply in the order
/// the file lists them, each once the one before it has applied and its own conditions hold:
/// the simulated time `at_s`, `after_s` seconds since the fault before it, and, with
/// `at_verified`, host `a` having verified that fraction of the pieces (0 to 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NetFault {
    /// Hosts `a` and `b` stop reaching each other.
    Partition {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
        b: String,
    },
    /// Undoes a partition.
    Repair {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
        b: String,
    },
    /// Messages between `a` and `b` are held back (delivered on release).
    Hold {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
        b: String,
    },
    /// Delivers what a hold kept back, and ends the hold.
    Release {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
        b: String,
    },
    /// Host `a` stops (its sockets and tasks gone; its folder stays).
    Crash {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
    },
    /// Host `a` starts again from the beginning, with the folder it had.
    Restart {
        #[serde(default)]
        at_s: f64,
        #[serde(default)]
        after_s: f64,
        at_verified: Option<f64>,
        a: String,
    },
}

/// When a [`NetFault`] applies (see there).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct When {
    pub at_s: f64,
    pub after_s: f64,
    pub at_verified: Option<f64>,
}

impl NetFault {
    /// When it applies.
    pub fn when(&self) -> When {
        match self {
            NetFault::Partition {
                at_s,
                after_s,
                at_verified,
                ..
            }
            | NetFault::Repair {
                at_s,
                after_s,
                at_verified,
                ..
            }
            | NetFault::Hold {
                at_s,
                after_s,
                at_verified,
                ..
            }
            | NetFault::Release {
                at_s,
                after_s,
                at_verified,
                ..
            }
            | NetFault::Crash {
                at_s,
                after_s,
                at_verified,
                ..
            }
            | NetFault::Restart {
                at_s,
                after_s,
                at_verified,
                ..
            } => When {
                at_s: *at_s,
                after_s: *after_s,
                at_verified: *at_verified,
            },
        }
    }

    /// Host `a`: the one crashed or restarted, or one end of the link.
    pub fn host(&self) -> &str {
        match self {
            NetFault::Partition { a, .. }
            | NetFault::Repair { a, .. }
            | NetFault::Hold { a, .. }
            | NetFault::Release { a, .. }
            | NetFault::Crash { a, .. }
            | NetFault::Restart { a, .. } => a,
        }
    }
}
