//! Multitracker tiers (BEP 12): the torrent's `announce-list`, shuffled once per session with the
//! seeded RNG, tried tier by tier, with a tracker that answers moved to the front of its tier.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tracing::warn;

use super::{Error, MAX_TRACKERS};

/// Unusable tracker URLs are logged one by one up to this many, then only counted.
const MAX_TRACKER_WARNINGS: usize = 8;

/// How a tracker is reached, read from its URL once when the tiers are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An `http` or `https` URL, fetched through [`Net::http_get`](crate::net::Net::http_get).
    Http,
    /// A `udp://host:port` URL (BEP 15); the host is resolved when the tracker is first used, so
    /// DNS failures are a per-announce problem rather than a construction error.
    Udp {
        /// A host name or an IP literal (IPv6 without its brackets).
        host: String,
        /// The tracker's UDP port; never 0.
        port: u16,
    },
}

impl Endpoint {
    /// Classifies `url`; errors for a URL we cannot announce to.
    pub fn parse(url: &str) -> Result<Endpoint, Error> {
        let bad = |problem: &str| Error::BadUrl {
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" if parsed.host().is_some() => Ok(Endpoint::Http),
            "http" | "https" => Err(bad("no host")),
            "udp" => {
                let host = match parsed.host() {
                    Some(url::Host::Domain(name)) if !name.is_empty() => name.to_owned(),
                    Some(url::Host::Ipv4(ip)) => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) => ip.to_string(),
                    _ => return Err(bad("no host")),
                };
                match parsed.port() {
                    Some(port) if port != 0 => Ok(Endpoint::Udp { host, port }),
                    _ => Err(bad("udp tracker url needs a non-zero port")),
                }
            }
            other => Err(Error::UnsupportedScheme {
                url: url.to_owned(),
                scheme: other.to_owned(),
            }),
        }
    }
}

/// One tracker of a tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    /// The announce URL as the torrent gave it; also the key of the tracker's session state.
    pub url: String,
    /// How to reach it.
    pub endpoint: Endpoint,
}

/// The tiers of trackers, in the order BEP 12 says to try them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tiers {
    /// Tiers in the torrent's order; trackers within a tier in shuffled, then promoted, order.
    /// No tier is empty and no URL appears twice.
    tiers: Vec<Vec<Tracker>>,
}

impl Tiers {
    /// Builds the tiers from an `announce-list` (a lone `announce` is one tier of one URL).
    ///
    /// Each tier is shuffled with `rng` (BEP 12), so that clients spread their load over a
    /// tier's trackers while a given seed always gives the same order. URLs we cannot use are
    /// dropped with a warning, as is a URL already seen in an earlier place (announcing twice
    /// to one tracker in a round would only repeat its failure); tiers left empty disappear.
    /// Only the first [`MAX_TRACKERS`] usable URLs are kept, in the torrent's order, since
    /// earlier tiers are the ones BEP 12 prefers.
    pub fn new(tiers: Vec<Vec<String>>, rng: &mut ChaCha8Rng) -> Tiers {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        let (mut usable, mut unusable, mut ignored) = (0usize, 0usize, 0usize);
        for tier in tiers {
            let mut kept = Vec::new();
            for url in tier {
                if usable >= MAX_TRACKERS {
                    ignored += 1;
                    continue;
                }
                if !seen.insert(url.clone()) {
                    continue;
                }
                match Endpoint::parse(&url) {
                    Ok(endpoint) => {
                        usable += 1;
                        kept.push(Tracker { url, endpoint });
                    }
                    Err(e) => {
                        unusable += 1;
                        // A torrent of junk URLs must not flood the log either.
                        if unusable <= MAX_TRACKER_WARNINGS {
                            warn!(tracker = %url, "skipping tracker: {e}");
                        }
                    }
                }
            }
            if !kept.is_empty() {
                kept.shuffle(rng);
                out.push(kept);
            }
        }
        if unusable > MAX_TRACKER_WARNINGS {
            warn!("skipped {unusable} unusable tracker urls in all");
        }
        if ignored > 0 {
            warn!("ignoring {ignored} tracker urls past the first {MAX_TRACKERS} usable ones");
        }
        Tiers { tiers: out }
    }

    /// The tiers, in the order they will be tried.
    pub fn tiers(&self) -> &[Vec<Tracker>] {
        &self.tiers
    }

    /// The URLs, tier by tier, in the order they will be tried.
    pub fn urls(&self) -> Vec<Vec<&str>> {
        self.tiers
            .iter()
            .map(|tier| tier.iter().map(|t| t.url.as_str()).collect())
            .collect()
    }

    /// The tracker at position `index` of tier `tier`.
    pub fn get(&self, tier: usize, index: usize) -> Option<&Tracker> {
        self.tiers.get(tier)?.get(index)
    }

    /// How many trackers there are over all tiers.
    pub fn len(&self) -> usize {
        self.tiers.iter().map(Vec::len).sum()
    }

    /// Whether there is no usable tracker at all.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Moves the tracker at `index` of tier `tier` to the front of its tier, keeping the others
    /// in their order (BEP 12: the tracker that answered is tried first next time). Out-of-range
    /// positions are ignored.
    pub fn promote(&mut self, tier: usize, index: usize) {
        if let Some(head) = self
            .tiers
            .get_mut(tier)
            .and_then(|trackers| trackers.get_mut(..=index))
        {
            head.rotate_right(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn strings(tiers: &[&[&str]]) -> Vec<Vec<String>> {
        tiers
            .iter()
            .map(|t| t.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    const SIX: &[&str] = &[
        "http://a.test/announce",
        "http://b.test/announce",
        "udp://c.test:1",
        "udp://d.test:2",
        "https://e.test/announce",
        "http://f.test/announce",
    ];

    #[test]
    fn same_seed_gives_the_same_shuffle() {
        let build = |seed| Tiers::new(strings(&[SIX, SIX]), &mut ChaCha8Rng::seed_from_u64(seed));
        let a = build(7);
        assert_eq!(a, build(7));
        // The first tier keeps its URLs, in some order; the second repeats them and is dropped.
        let mut first: Vec<&str> = a.urls()[0].clone();
        assert_eq!(a.urls().len(), 1);
        first.sort_unstable();
        let mut six = SIX.to_vec();
        six.sort_unstable();
        assert_eq!(first, six);
        // Shuffling really happens: some seed moves the order away from the torrent's, and
        // seeds do not all agree.
        let first_tiers: Vec<Vec<String>> = (0..8)
            .map(|seed| {
                build(seed).urls()[0]
                    .iter()
                    .map(|u| u.to_string())
                    .collect()
            })
            .collect();
        assert!(first_tiers.iter().any(|order| order != SIX));
        assert!(first_tiers.iter().any(|order| order != &first_tiers[0]));
    }

    #[test]
    fn unusable_urls_and_empty_tiers_are_dropped() {
        let tiers = Tiers::new(
            strings(&[
                &["wss://tracker.webtorrent.test", "dht://x", "not a url"],
                &[
                    "udp://tracker.test",
                    "udp://tracker.test:0/announce",
                    "http://",
                ],
                &["UDP://[2001:db8::1]:6969/announce"],
                &[],
            ]),
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        assert_eq!(tiers.len(), 1);
        assert_eq!(
            tiers.get(0, 0),
            Some(&Tracker {
                url: "UDP://[2001:db8::1]:6969/announce".into(),
                endpoint: Endpoint::Udp {
                    host: "2001:db8::1".into(),
                    port: 6969
                },
            })
        );
        assert!(Tiers::new(Vec::new(), &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
    }

    #[test]
    fn only_the_first_trackers_are_kept() {
        let many: Vec<Vec<String>> = (0..50)
            .map(|tier| {
                (0..100)
                    .map(|i| format!("http://t{tier}-{i}.test/announce"))
                    .collect()
            })
            .collect();
        let tiers = Tiers::new(many, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(tiers.len(), MAX_TRACKERS);
        assert_eq!(tiers.urls().len(), 1, "all from the first tier");
        let mut kept: Vec<&str> = tiers.urls()[0].clone();
        kept.sort_unstable();
        let mut first: Vec<String> = (0..MAX_TRACKERS)
            .map(|i| format!("http://t0-{i}.test/announce"))
            .collect();
        first.sort_unstable();
        assert_eq!(kept, first, "the torrent's first ones, in any order");
        // Duplicates and unusable URLs do not use up the budget.
        let mut junk: Vec<String> = vec!["http://dup.test/a".into(); 100];
        junk.extend((0..100).map(|i| format!("wss://w{i}.test")));
        junk.extend((0..100).map(|i| format!("http://ok{i}.test/a")));
        let tiers = Tiers::new(vec![junk], &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(tiers.len(), MAX_TRACKERS);
        assert!(tiers.urls()[0].contains(&"http://dup.test/a"));
    }

    #[test]
    fn endpoint_errors_name_the_problem() {
        let e = Endpoint::parse("wss://t.test/announce").unwrap_err();
        assert_eq!(
            e.to_string(),
            "tracker wss://t.test/announce: unsupported scheme `wss`"
        );
        let e = Endpoint::parse("udp://t.test/announce").unwrap_err();
        assert_eq!(
            e.to_string(),
            "tracker udp://t.test/announce: invalid url: udp tracker url needs a non-zero port"
        );
        assert!(matches!(Endpoint::parse("::"), Err(Error::BadUrl { .. })));
        assert_eq!(
            Endpoint::parse("udp://1.2.3.4:80").unwrap(),
            Endpoint::Udp {
                host: "1.2.3.4".into(),
                port: 80
            }
        );
        assert_eq!(
            Endpoint::parse("https://t.test/a?passkey=1").unwrap(),
            Endpoint::Http
        );
    }

    #[test]
    fn promote_moves_to_the_front_and_keeps_the_rest_in_order() {
        let mut tiers = Tiers::new(
            strings(&[SIX, &["http://z.test/announce"]]),
            &mut ChaCha8Rng::seed_from_u64(3),
        );
        let before: Vec<String> = tiers.urls()[0].iter().map(|s| s.to_string()).collect();
        tiers.promote(0, 3);
        let after: Vec<String> = tiers.urls()[0].iter().map(|s| s.to_string()).collect();
        let mut expected = vec![before[3].clone()];
        expected.extend(before[..3].iter().cloned());
        expected.extend(before[4..].iter().cloned());
        assert_eq!(after, expected);
        tiers.promote(0, 99);
        tiers.promote(5, 0);
        assert_eq!(tiers.urls()[0], after);
        assert_eq!(tiers.urls()[1], ["http://z.test/announce"]);
    }
}
