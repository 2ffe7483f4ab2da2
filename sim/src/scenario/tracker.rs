//! The trackers of a scenario: the `[tracker]` section's own host, `tracker`, and any more
//! hosts in `[[tracker.more]]`, each with its kind, its tier in the torrent's announce list
//! (BEP 12) and its own faults, redirects to another of them included.

use anyhow::bail;
use serde::Deserialize;

use super::TrackerFault;
use crate::shared::TRACKER_PORT;

/// Which trackers the swarm uses, and how they misbehave.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerSpec {
    /// `http`, `udp` or `none` (then leechers are given the seeders' addresses directly).
    #[serde(default = "default_tracker_kind")]
    pub kind: TrackerKind,
    /// Re-announce interval every tracker asks for, in seconds.
    #[serde(default = "default_interval")]
    pub interval_s: u32,
    /// The `min interval` every tracker asks for (HTTP only; default: none). The judge checks
    /// that no leecher re-announced to a tracker sooner after that tracker answered it.
    #[serde(default)]
    pub min_interval_s: Option<u32>,
    /// Probability that a UDP datagram between a UDP tracker and a leecher is lost.
    #[serde(default)]
    pub udp_loss: f64,
    /// The most peers one answer carries (default: the mock tracker's); `1` makes every
    /// other peer something the clients must learn another way (PEX).
    #[serde(default)]
    pub max_numwant: Option<u32>,
    /// The faults of the host `tracker`.
    #[serde(default)]
    pub faults: Vec<TrackerFault>,
    /// Peers every answer lists first: `NAME` (a leecher, at its listening port),
    /// `HOST:PORT` (a leecher or `seeders-GROUP`) or an address. Naming a leecher lists it
    /// in its own answers too, as real trackers do; the judge checks it never dials itself.
    #[serde(default)]
    pub peers: Vec<String>,
    /// More tracker hosts, after `tracker` in the torrent's announce list.
    #[serde(default)]
    pub more: Vec<MoreTracker>,
}

/// One more tracker host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoreTracker {
    /// The host's name, which redirects and expectations use.
    pub name: String,
    /// `http` or `udp`.
    #[serde(default = "default_tracker_kind")]
    pub kind: TrackerKind,
    /// Its tier in the torrent's announce list; `tracker` is in tier 0.
    #[serde(default)]
    pub tier: usize,
    /// Whether the torrent lists it (default true); one that is not is reached only by a
    /// redirect.
    #[serde(default = "listed")]
    pub listed: bool,
    #[serde(default)]
    pub faults: Vec<TrackerFault>,
}

impl Default for TrackerSpec {
    fn default() -> Self {
        TrackerSpec {
            kind: TrackerKind::Http,
            interval_s: default_interval(),
            min_interval_s: None,
            udp_loss: 0.0,
            max_numwant: None,
            faults: Vec::new(),
            peers: Vec::new(),
            more: Vec::new(),
        }
    }
}

fn default_tracker_kind() -> TrackerKind {
    TrackerKind::Http
}

fn default_interval() -> u32 {
    60
}

fn listed() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    Http,
    Udp,
    None,
}

/// One tracker host of a scenario, `tracker` or one of [`TrackerSpec::more`].
#[derive(Debug, Clone, Copy)]
pub struct TrackerHost<'a> {
    pub name: &'a str,
    pub kind: TrackerKind,
    pub tier: usize,
    pub listed: bool,
    pub faults: &'a [TrackerFault],
}

impl TrackerHost<'_> {
    /// The announce URL of this host.
    pub fn url(&self) -> String {
        url(self.name, self.kind)
    }
}

/// The announce URL of tracker host `name` of `kind`.
pub fn url(name: &str, kind: TrackerKind) -> String {
    match kind {
        TrackerKind::Udp => format!("udp://{name}:{TRACKER_PORT}"),
        _ => format!("http://{name}:{TRACKER_PORT}/announce"),
    }
}

impl TrackerSpec {
    /// Every tracker host: none with `kind = "none"`, else `tracker` and then [`Self::more`].
    pub fn hosts(&self) -> Vec<TrackerHost<'_>> {
        if self.kind == TrackerKind::None {
            return Vec::new();
        }
        let first = TrackerHost {
            name: "tracker",
            kind: self.kind,
            tier: 0,
            listed: true,
            faults: &self.faults,
        };
        let more = self.more.iter().map(|m| TrackerHost {
            name: &m.name,
            kind: m.kind,
            tier: m.tier,
            listed: m.listed,
            faults: &m.faults,
        });
        std::iter::once(first).chain(more).collect()
    }

    /// The torrent's announce list: the listed hosts by tier, in file order within a tier.
    pub fn announce_list(&self) -> Vec<Vec<String>> {
        let mut tiers: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
        for host in self.hosts().iter().filter(|h| h.listed) {
            tiers.entry(host.tier).or_default().push(host.url());
        }
        tiers.into_values().collect()
    }

    /// Whether `name` is a tracker host of the scenario.
    pub fn is_host(&self, name: &str) -> bool {
        self.hosts().iter().any(|h| h.name == name)
    }

    /// What deserialising cannot check: more trackers only beside a first one, names that
    /// are unique and not another host's (`taken`), only HTTP and UDP hosts, and redirects
    /// only from and to HTTP hosts of the scenario.
    pub fn check(&self, taken: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        if self.kind == TrackerKind::None && !self.more.is_empty() {
            bail!("[[tracker.more]] needs a first tracker: [tracker] kind is none");
        }
        let hosts = self.hosts();
        for (i, m) in self.more.iter().enumerate() {
            let clash = m.name == "tracker" || self.more[..i].iter().any(|o| o.name == m.name);
            // A host name as the trackers' URLs spell it (the url crate lowercases it), and
            // not `sim`, which names the simulator's own lines in the trace.
            let hostname = !m.name.is_empty()
                && m.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if clash || taken(&m.name) || !hostname || m.name == "sim" {
                bail!(
                    "[[tracker.more]] {:?}: the name is taken or not a host name (a-z, 0-9, -)",
                    m.name
                );
            }
            if m.kind == TrackerKind::None {
                bail!("[[tracker.more]] {}: kind is http or udp", m.name);
            }
        }
        for host in &hosts {
            for fault in host.faults {
                let TrackerFault::Redirect(r) = fault else {
                    continue;
                };
                let to_http = hosts
                    .iter()
                    .any(|h| h.name == r.to && h.kind == TrackerKind::Http);
                if host.kind != TrackerKind::Http || !to_http {
                    bail!(
                        "tracker {}: a redirect goes from an http tracker to another one of \
                         this scenario, not to {:?}",
                        host.name,
                        r.to
                    );
                }
            }
        }
        if !hosts.is_empty() && !hosts.iter().any(|h| h.listed) {
            bail!("no tracker is listed in the torrent");
        }
        Ok(())
    }
}
