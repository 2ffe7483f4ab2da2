//! The faults a scenario schedules: the mock tracker's misbehaviour windows and the network
//! faults and crashes, each a variant tagged in the file by `kind` or `action`. Each variant
//! holds one of a few field sets, so a stray key is refused by the set that does not have it.

use serde::Deserialize;

/// A tracker fault during a window of simulated time (`from_s` to `until_s`, or to the end),
/// tagged by `kind` in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TrackerFault {
    /// Connections refused.
    Down(Window),
    /// Requests never answered.
    Timeout(Window),
    /// Answers that are not bencode.
    Garbage(Window),
    /// Valid answers with no peers.
    NoPeers(Window),
    /// A `failure reason` answer.
    Failure(FailureWindow),
    /// An HTTP error status (HTTP trackers only).
    HttpError(StatusWindow),
    /// A `302 Found` to another tracker host of the scenario (`to`, an HTTP one), as a
    /// tracker moved behind a load balancer answers (HTTP trackers only).
    Redirect(RedirectWindow),
}

/// When a tracker fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from_s: f64,
    /// Absent: until the end.
    pub until_s: Option<f64>,
}

/// A `failure` window and its reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureWindow {
    pub from_s: f64,
    pub until_s: Option<f64>,
    #[serde(default = "scripted_failure")]
    pub message: String,
}

/// An `http-error` window and its status.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusWindow {
    pub from_s: f64,
    pub until_s: Option<f64>,
    #[serde(default = "internal_error")]
    pub status: u16,
}

/// A `redirect` window and the tracker host it sends announces to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectWindow {
    pub from_s: f64,
    pub until_s: Option<f64>,
    pub to: String,
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
            TrackerFault::Down(w)
            | TrackerFault::Timeout(w)
            | TrackerFault::Garbage(w)
            | TrackerFault::NoPeers(w) => (w.from_s, w.until_s),
            TrackerFault::Failure(f) => (f.from_s, f.until_s),
            TrackerFault::HttpError(h) => (h.from_s, h.until_s),
            TrackerFault::Redirect(r) => (r.from_s, r.until_s),
        }
    }
}

/// A network fault or host crash, tagged by `action` in the file. Faults apply in the order
/// the file lists them, each once the one before it has applied and its own conditions hold:
/// the simulated time `at_s`, `after_s` seconds since the fault before it, and, with
/// `at_verified`, host `a` having verified that fraction of the pieces (0 to 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum NetFault {
    /// Hosts `a` and `b` stop reaching each other.
    Partition(Link),
    /// Undoes a partition.
    Repair(Link),
    /// Messages between `a` and `b` are held back (delivered on release).
    Hold(Link),
    /// Delivers what a hold kept back, and ends the hold.
    Release(Link),
    /// Host `a` stops (its sockets and tasks gone; its folder stays).
    Crash(Host),
    /// Host `a` starts again from the beginning, with the folder it had.
    Restart(Host),
}

/// A fault on the link between hosts `a` and `b`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    #[serde(default)]
    pub at_s: f64,
    #[serde(default)]
    pub after_s: f64,
    pub at_verified: Option<f64>,
    pub a: String,
    pub b: String,
}

/// A fault of host `a`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    #[serde(default)]
    pub at_s: f64,
    #[serde(default)]
    pub after_s: f64,
    pub at_verified: Option<f64>,
    pub a: String,
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
        let (at_s, after_s, at_verified) = match self {
            NetFault::Partition(l)
            | NetFault::Repair(l)
            | NetFault::Hold(l)
            | NetFault::Release(l) => (l.at_s, l.after_s, l.at_verified),
            NetFault::Crash(h) | NetFault::Restart(h) => (h.at_s, h.after_s, h.at_verified),
        };
        When {
            at_s,
            after_s,
            at_verified,
        }
    }

    /// Host `a`: the one crashed or restarted, or one end of the link.
    pub fn host(&self) -> &str {
        match self {
            NetFault::Partition(l)
            | NetFault::Repair(l)
            | NetFault::Hold(l)
            | NetFault::Release(l) => &l.a,
            NetFault::Crash(h) | NetFault::Restart(h) => &h.a,
        }
    }
}
