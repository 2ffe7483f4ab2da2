//! The tracker's configuration: what it answers (intervals, how many peers) and the scripted
//! fault windows that make it misbehave at given times. Everything deserialises from scenario
//! files; durations there are written `"90s"`, `"1m 30s"`, `"250ms"` or as a number of seconds.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The re-announce interval handed out by default: 30 minutes, what most public trackers say.
pub const DEFAULT_INTERVAL: u32 = 30 * 60;

/// The most peers one answer carries by default: 50, the usual `numwant` default (BEP 3
/// implementations and opentracker agree on it).
pub const DEFAULT_MAX_NUMWANT: u32 = 50;

/// How long a peer stays listed without re-announcing, by default: two default intervals, so one
/// lost announce does not drop a live peer, while a crashed one is gone within the hour.
pub const DEFAULT_PEER_TIMEOUT: u32 = 2 * DEFAULT_INTERVAL;

/// What the tracker answers and when it misbehaves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Seconds clients should wait between regular announces (`interval` in both protocols).
    pub interval: u32,
    /// Seconds below which clients must not re-announce (`min interval`, HTTP only); `None`
    /// leaves it out of the answer, as many trackers do.
    pub min_interval: Option<u32>,
    /// The most peers one answer carries, whatever `numwant` the client asks for; also the count
    /// given when it does not ask.
    pub max_numwant: u32,
    /// Seconds after its last announce that a peer is forgotten (a peer that crashed never sends
    /// `stopped`). Keep it above the clients' real re-announce period: bitswarm never announces
    /// more often than every 30 s, whatever `interval` says.
    pub peer_timeout: u32,
    /// The secret UDP connection ids are derived from, so ids look random to clients (they must
    /// not be guessable in sequence) yet replay identically from the same seed.
    pub seed: u64,
    /// When the tracker misbehaves, and how.
    pub faults: Faults,
    /// Peers every answer lists first, before the swarm's (of the asker's address family, and
    /// within the answer's limit): a scripted list, which may name the asker itself, as real
    /// trackers' answers do.
    pub listed: Vec<std::net::SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: DEFAULT_INTERVAL,
            min_interval: None,
            max_numwant: DEFAULT_MAX_NUMWANT,
            peer_timeout: DEFAULT_PEER_TIMEOUT,
            seed: 0,
            faults: Faults::default(),
            listed: Vec::new(),
        }
    }
}

impl Config {
    /// Checks what deserialisation cannot: every window can be active at some time, and every
    /// HTTP error status is one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (index, window) in self.faults.windows.iter().enumerate() {
            if window.until.is_some_and(|until| until <= window.from) {
                return Err(ConfigError::EmptyWindow { index });
            }
            match &window.kind {
                FaultKind::HttpError(status) if !(400..=599).contains(status) => {
                    let status = *status;
                    return Err(ConfigError::NotAnErrorStatus { index, status });
                }
                FaultKind::Redirect(to)
                    if !(to.starts_with("http://") || to.starts_with("https://")) =>
                {
                    return Err(ConfigError::NotAnHttpUrl { index });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What [`Config::validate`] rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A window whose `until` is not after its `from` would never be active: surely a typo.
    #[error("fault window {index}: `until` is not after `from`")]
    EmptyWindow {
        /// The window's position in [`Faults::windows`].
        index: usize,
    },
    /// `redirect` points somewhere an HTTP client cannot go.
    #[error("fault window {index}: a redirect must go to an http:// or https:// url")]
    NotAnHttpUrl {
        /// The window's position in [`Faults::windows`].
        index: usize,
    },
    /// `http_error` asks for a status that clients would not read as an error.
    #[error("fault window {index}: http status {status} is not in 400..=599")]
    NotAnErrorStatus {
        /// The window's position in [`Faults::windows`].
        index: usize,
        /// The status given.
        status: u16,
    },
}

/// The fault schedule: a list of windows in simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Faults {
    /// The windows, in priority order: when several cover the same moment and protocol, the
    /// first one listed applies.
    pub windows: Vec<FaultWindow>,
}

impl Faults {
    /// The fault in force for `protocol` at `elapsed` since the tracker started, with the window
    /// it comes from. Kinds that mean nothing for the protocol (an HTTP status to a UDP request)
    /// are passed over, so a later window may still apply.
    pub fn active(&self, protocol: Protocol, elapsed: Duration) -> Option<&FaultWindow> {
        self.windows
            .iter()
            .find(|w| w.covers(protocol, elapsed) && w.kind.applies_to(protocol))
    }
}

/// One stretch of time during which the tracker misbehaves in one way.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultWindow {
    /// When the fault starts, measured from the tracker's creation.
    #[serde(default, deserialize_with = "duration")]
    pub from: Duration,
    /// When it ends (exclusive); `None` means it never does.
    #[serde(default, deserialize_with = "optional_duration")]
    pub until: Option<Duration>,
    /// How the tracker misbehaves.
    pub kind: FaultKind,
    /// The protocol affected; `None` means both.
    #[serde(default)]
    pub protocol: Option<Protocol>,
}

impl FaultWindow {
    /// Whether the window is in force for `protocol` at `elapsed`.
    pub fn covers(&self, protocol: Protocol, elapsed: Duration) -> bool {
        self.protocol.is_none_or(|p| p == protocol)
            && self.from <= elapsed
            && self.until.is_none_or(|until| elapsed < until)
    }
}

/// How the tracker misbehaves during a window. Faults apply to announces and scrapes alike, and
/// over UDP to connect requests too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Refuses with this reason: an HTTP `failure reason`, a UDP error packet.
    Failure(String),
    /// Reads the request and never answers. HTTP holds the connection open until the window
    /// ends (then closes it unanswered); UDP drops the packet.
    Timeout,
    /// Answers with bytes the client cannot parse: an HTML page instead of bencode over HTTP; a
    /// UDP packet with the right action and transaction id but a length no answer has.
    Garbage,
    /// Answers validly but with no peers. The announce still registers the peer, so others
    /// learn of it once the window is over.
    NoPeers,
    /// Is not there. HTTP closes the connection at once without a response; UDP ignores the
    /// packet.
    Down,
    /// Answers HTTP requests with this status (400..=599, see [`Config::validate`]) and no
    /// bencode; UDP is unaffected.
    HttpError(u16),
    /// Answers HTTP announces with `302 Found` to this URL (an http or https one, see
    /// [`Config::validate`]), the request's query carried along as load balancers do, and
    /// does not register the peer; scrapes are answered as usual, and UDP is unaffected.
    Redirect(String),
}

impl FaultKind {
    /// Whether this kind changes anything for `protocol`.
    pub fn applies_to(&self, protocol: Protocol) -> bool {
        !matches!(
            (self, protocol),
            (
                FaultKind::HttpError(_) | FaultKind::Redirect(_),
                Protocol::Udp
            )
        )
    }
}

/// A tracker protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// BEP 3 over HTTP (with BEP 7, 23, 24 and 48).
    Http,
    /// BEP 15.
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Http => "http",
            Protocol::Udp => "udp",
        })
    }
}

/// Reads a duration written as `"90s"`-style text (humantime) or as a number of seconds.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

/// [`duration`] for an optional field: present means `Some`.
fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"90s\" or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text)
            .map_err(|e| E::custom(format_args!("bad duration {text:?}: {e}")))
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Duration, E> {
        u64::try_from(seconds)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format_args!("negative duration {seconds}")))
    }

    fn visit_f64<E: de::Error>(self, seconds: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| E::custom(format_args!("bad duration {seconds} s")))
    }
}

#[cfg(test)]
mod tests;
