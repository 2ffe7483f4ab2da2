//! `bitswarm sim --report OUT.html`: one self-contained HTML page that draws a run.
//!
//! The data comes from the run's trace and outcome: each leecher's verified pieces over time,
//! its download rate from each peer (blocks received, in time bins), piece availability as it
//! saw it, and the events of the timeline (chokes, bans, hash failures, snubs, announces, the
//! tracker's answers, faults and crashes). It is embedded as JSON in the page, whose own
//! script draws it as SVG: no network, no library.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::trace::Line;
use crate::{Outcome, Scenario};

/// The page, with `/*DATA*/` where the run's JSON goes.
const PAGE: &str = include_str!("report/page.html");

/// Time bins of the rate chart, at most.
const RATE_BINS: f64 = 200.0;

/// Peers drawn one by one per leecher; the rest are summed as "others".
const TOP_PEERS: usize = 8;

/// Events kept for the timeline; chokes beyond this are left out (a flapping peer makes
/// thousands).
const MAX_EVENTS: usize = 5000;

/// The report of `o`, a run of `sc`, with the command that replays it.
pub fn render(sc: &Scenario, o: &Outcome, replay: &str) -> String {
    let data = data(sc, o, replay);
    // `</` inside a script element would end it early; JSON allows `<\/`.
    let json = data.to_string().replace("</", "<\\/");
    PAGE.replace("/*DATA*/", &json)
}

/// Bytes received per time bin.
type Bins = BTreeMap<u64, u64>;

/// What the trace says, per leecher: when its count of verified pieces grew, the bytes each
/// peer sent it per bin, and the timeline's events.
#[derive(Default)]
struct Walk<'a> {
    verified: BTreeMap<&'a str, BTreeSet<&'a str>>,
    progress: BTreeMap<&'a str, Vec<(f64, usize)>>,
    bytes: BTreeMap<(&'a str, String), Bins>,
    events: Vec<Value>,
}

fn data(sc: &Scenario, o: &Outcome, replay: &str) -> Value {
    let total: u64 = sc.torrent.files.iter().map(|(_, n)| n).sum();
    let piece_len = sc.torrent.piece_length.max(1);
    let pieces = total.div_ceil(piece_len);
    let leechers: BTreeSet<&str> = sc.leechers.iter().map(|l| l.name.as_str()).collect();
    let end = o.sim_time.as_secs_f64().max(0.001);
    let bin = (end / RATE_BINS).max(0.1);
    let block_len = |piece: u64, offset: u64| -> u64 {
        let this = if piece + 1 == pieces {
            total - piece * piece_len
        } else {
            piece_len
        };
        this.saturating_sub(offset).min(16 << 10)
    };
    let label = |peer: &str| -> String {
        let Ok(addr) = peer.parse::<SocketAddr>() else {
            return peer.to_string();
        };
        match o.hosts.get(&addr.ip()) {
            Some(host) => format!("{host}:{}", addr.port()),
            None => peer.to_string(),
        }
    };
    let lines: Vec<Line> = o.trace.iter().filter_map(|l| Line::parse(l)).collect();
    let mut w = Walk::default();
    for l in &lines {
        let client = leechers.contains(l.host);
        match (client, l.words.as_slice()) {
            (true, ["verified", p]) => {
                let seen = w.verified.entry(l.host).or_default();
                if seen.insert(p) {
                    let count = seen.len();
                    w.progress.entry(l.host).or_default().push((l.t, count));
                }
            }
            (true, ["block", peer, at]) => {
                let Some((p, off)) = at.split_once('/') else {
                    continue;
                };
                let (Ok(p), Ok(off)) = (p.parse(), off.parse()) else {
                    continue;
                };
                let slot = (l.t / bin) as u64;
                let bins = w.bytes.entry((l.host, label(peer))).or_default();
                *bins.entry(slot).or_default() += block_len(p, off);
            }
            _ => {
                let tracker = sc.tracker.is_host(l.host);
                w.events.extend(event(l, client, tracker, &label));
            }
        }
    }
    thin_events(&mut w.events);
    json!({
        "name": sc.name,
        "description": sc.description,
        "seed": o.seed,
        "replay": replay,
        "passed": o.passed(),
        "failures": o.failures,
        "end": end,
        "pieces": pieces,
        "leechers": leechers.iter().collect::<Vec<_>>(),
        "progress": w.progress,
        "rates": rates(&w.bytes, bin),
        "bin": bin,
        "availability": o.availability,
        "events": w.events,
    })
}

/// Per leecher, the download rate from each of its `TOP_PEERS` busiest peers and from the
/// rest together, in bytes per second per bin.
fn rates(bytes: &BTreeMap<(&str, String), Bins>, bin: f64) -> Value {
    let mut per: BTreeMap<&str, Vec<(&String, &Bins)>> = BTreeMap::new();
    for ((leecher, peer), bins) in bytes {
        per.entry(leecher).or_default().push((peer, bins));
    }
    let mut out = serde_json::Map::new();
    for (leecher, mut peers) in per {
        peers.sort_by_key(|(peer, bins)| (std::cmp::Reverse(bins.values().sum::<u64>()), *peer));
        let mut series = Vec::new();
        let mut others = Bins::new();
        for (i, (peer, bins)) in peers.iter().enumerate() {
            if i < TOP_PEERS {
                series.push(json!({ "peer": peer, "points": points(bins, bin) }));
            } else {
                for (slot, n) in bins.iter() {
                    *others.entry(*slot).or_default() += n;
                }
            }
        }
        if !others.is_empty() {
            series.push(json!({ "peer": "others", "points": points(&others, bin) }));
        }
        out.insert(leecher.to_string(), Value::Array(series));
    }
    Value::Object(out)
}

/// `(time, bytes per second)` for each bin, zero where nothing arrived.
fn points(bins: &Bins, bin: f64) -> Vec<(f64, f64)> {
    let last = bins.keys().next_back().copied().unwrap_or(0);
    (0..=last)
        .map(|slot| {
            let n = bins.get(&slot).copied().unwrap_or(0);
            (slot as f64 * bin, n as f64 / bin)
        })
        .collect()
}

/// The timeline event a trace line stands for, if any: `{t, host, kind, text}`.
fn event(l: &Line, client: bool, tracker: bool, label: &dyn Fn(&str) -> String) -> Option<Value> {
    let kind = match (l.host, l.words.first().copied()?) {
        ("sim", "crash" | "restart") => "crash",
        ("sim", _) => "fault",
        _ if tracker => "tracker",
        (_, "choked-by") if client => "choke",
        (_, "unchoked-by") if client => "unchoke",
        (_, "ban") if client => "ban",
        (_, "piece-failed") if client => "hash-failure",
        (_, "snubbed") if client => "snub",
        (_, "announce") if client => "announce",
        (_, "start" | "complete") if client => "lifecycle",
        _ => return None,
    };
    let text: Vec<String> = l
        .words
        .iter()
        .map(|w| {
            if w.parse::<SocketAddr>().is_ok() {
                label(w)
            } else {
                w.to_string()
            }
        })
        .collect();
    Some(json!({ "t": l.t, "host": l.host, "kind": kind, "text": text.join(" ") }))
}

/// Keeps the timeline under `MAX_EVENTS` by leaving out the latest chokes and unchokes.
fn thin_events(events: &mut Vec<Value>) {
    let excess = events.len().saturating_sub(MAX_EVENTS);
    if excess == 0 {
        return;
    }
    let is_choke = |e: &Value| matches!(e["kind"].as_str(), Some("choke" | "unchoke"));
    let left_out: BTreeSet<usize> = events
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, e)| is_choke(e))
        .map(|(i, _)| i)
        .take(excess)
        .collect();
    let mut i = 0;
    events.retain(|_| {
        i += 1;
        !left_out.contains(&(i - 1))
    });
    events.truncate(MAX_EVENTS);
}
