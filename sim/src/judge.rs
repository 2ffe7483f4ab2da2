//! Judging a finished run against its scenario's expectations: the observers' invariants, each
//! leecher's completion, files and waste, what happened to each seeder group, and trading.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::build::World;
use crate::scenario::Scenario;
use crate::shared::Shared;
use crate::watch::ClientWatch;

/// Every expectation of `sc` that the run recorded in `s` does not meet, one line each.
pub fn judge(sc: &Scenario, w: &World, s: &Shared, sim_time: Duration) -> Vec<String> {
    let mut failures = Vec::new();
    for (host, watch) in &s.watches {
        for v in watch.violations() {
            failures.push(format!("{host}: invariant violated: {v}"));
        }
    }
    for name in &sc.expect.complete {
        judge_leecher(sc, w, s, name, &mut failures);
    }
    judge_seeder_groups(sc, w, s, &mut failures);
    failures.extend(crate::trading::judge(
        sc,
        s,
        w.meta.info.total_length(),
        sim_time,
    ));
    judge_counts(sc, s, &mut failures);
    judge_sessions(sc, w, s, &mut failures);
    judge_self_dials(w, &mut failures);
    judge_min_interval(sc, w, s, &mut failures);
    judge_trackers(sc, w, s, &mut failures);
    failures
}

/// With a `min interval`, no leecher re-announces (a regular announce) to a tracker sooner
/// than that after an answered announce of its own there.
fn judge_min_interval(sc: &Scenario, w: &World, s: &Shared, failures: &mut Vec<String>) {
    let Some(min) = sc.tracker.min_interval_s else {
        return;
    };
    let min = Duration::from_secs(u64::from(min));
    for tracker in sc.tracker.hosts() {
        for (name, ip) in &w.leecher_ips {
            let mine = s
                .announces
                .iter()
                .filter(|a| a.peer.ip() == *ip && a.tracker == tracker.name);
            let mut last_answered: Option<Duration> = None;
            for a in mine {
                let regular = a.event == bitswarm_client::tracker::Event::None;
                if let Some(last) = last_answered.filter(|last| regular && a.at < *last + min) {
                    failures.push(format!(
                        "{name} re-announced to {} {:.1}s after its last answered announce \
                         there, min interval {}s",
                        tracker.name,
                        (a.at - last).as_secs_f64(),
                        min.as_secs()
                    ));
                }
                if a.answered {
                    last_answered = Some(a.at);
                }
            }
        }
    }
}

/// Which trackers answered the leechers, and which they never asked.
fn judge_trackers(sc: &Scenario, w: &World, s: &Shared, failures: &mut Vec<String>) {
    let from_leecher =
        |a: &&crate::shared::Announce| w.leecher_ips.values().any(|ip| a.peer.ip() == *ip);
    let leechers: Vec<&crate::shared::Announce> = s.announces.iter().filter(from_leecher).collect();
    if let Some(want) = &sc.expect.trackers_answered {
        let want: BTreeSet<&str> = want.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = leechers
            .iter()
            .filter(|a| a.answered)
            .map(|a| a.tracker.as_str())
            .collect();
        if got != want {
            failures.push(format!(
                "trackers that answered a leecher: {got:?}, expected {want:?}"
            ));
        }
    }
    let asked = |name: &str| leechers.iter().filter(|a| a.tracker == name).count();
    for name in &sc.expect.trackers_unasked {
        let n = asked(name);
        if n > 0 {
            failures.push(format!("{name} was asked {n} times, expected never"));
        }
    }
    for (name, most) in &sc.expect.tracker_announces_at_most {
        let n = asked(name);
        if n > *most {
            failures.push(format!(
                "{name} got {n} announces from leechers, at most {most}"
            ));
        }
    }
}

/// A leecher that must complete: every file's bytes, and its waste and resume bounds.
fn judge_leecher(sc: &Scenario, w: &World, s: &Shared, name: &str, failures: &mut Vec<String>) {
    let Some(sum) = s.summaries.get(name).filter(|sum| sum.complete) else {
        failures.push(format!("{name} did not complete"));
        return;
    };
    let dir = w.dirs.path().join(name);
    for i in 0..w.content.geometry().file_count() {
        let file = w.meta.info.file_path(i);
        let path = dir.join(&file);
        match w.content.first_difference(i, &path) {
            Ok(None) => {}
            Ok(Some(at)) => failures.push(format!(
                "{name}: {} differs from the content from byte {at} on",
                file.display()
            )),
            Err(e) => failures.push(format!("{name}: {}: {e}", path.display())),
        }
    }
    let e = &sc.expect;
    if let Some(max) = e.max_wasted.filter(|max| sum.wasted > *max) {
        failures.push(format!(
            "{name}: wasted {} bytes, at most {max} allowed",
            sum.wasted
        ));
    }
    if let Some(min) = e.min_had.filter(|min| sum.had < *min) {
        failures.push(format!(
            "{name}: had {} bytes at its last start, expected at least {min}",
            sum.had
        ));
    }
    if let Some(min) = e.min_wasted.filter(|min| sum.wasted < *min) {
        failures.push(format!(
            "{name}: wasted {} bytes, expected at least {min}",
            sum.wasted
        ));
    }
}

/// What must have happened to every member of the named seeder groups: dropped, banned,
/// refused, or never banned.
fn judge_seeder_groups(sc: &Scenario, w: &World, s: &Shared, failures: &mut Vec<String>) {
    let members = |group: &str| -> Vec<SocketAddr> {
        let (Some(g), Some(ip)) = (
            sc.seeders.iter().find(|g| g.name == group),
            w.group_ips.get(group),
        ) else {
            return Vec::new();
        };
        (0..g.count)
            .map(|k| SocketAddr::new(*ip, g.base_port + k as u16))
            .collect()
    };
    let banned: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.banned()).collect();
    let refused: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.refused()).collect();
    let dropped: Vec<SocketAddr> = s.watches.iter().flat_map(|(_, w)| w.dropped()).collect();
    let e = &sc.expect;
    for group in &e.dropped {
        for a in members(group).iter().filter(|a| !dropped.contains(a)) {
            failures.push(format!(
                "seeder {group} at {a} was never dropped for misbehaviour"
            ));
        }
    }
    for group in &e.banned {
        for a in members(group).iter().filter(|a| !banned.contains(a)) {
            failures.push(format!("seeder {group} at {a} was not banned"));
        }
    }
    for group in &e.refused {
        for a in members(group).iter().filter(|a| !refused.contains(a)) {
            failures.push(format!(
                "seeder {group} at {a} was never refused for a protocol error"
            ));
        }
    }
    for group in &e.not_banned {
        for a in members(group).iter().filter(|a| banned.contains(a)) {
            failures.push(format!("seeder {group} at {a} was banned"));
        }
    }
}

/// One of a client's per-run counts.
type Count = fn(&ClientWatch) -> u64;

/// The bounds on what the clients counted: dials and failed announce rounds per run, hash
/// failures and snubs over all.
fn judge_counts(sc: &Scenario, s: &Shared, failures: &mut Vec<String>) {
    let e = &sc.expect;
    let per_run: [(Option<u64>, Count, &str); 2] = [
        (e.max_dials, ClientWatch::dials, "dials"),
        (
            e.max_failed_announces,
            ClientWatch::failed_announces,
            "failed announce rounds",
        ),
    ];
    for (max, count, what) in per_run {
        let Some(max) = max else { continue };
        for (host, w) in &s.watches {
            let n = count(w);
            if n > max {
                failures.push(format!("{host} had {n} {what}, at most {max} allowed"));
            }
        }
    }
    let (hash_failures, snubs) = s
        .watches
        .iter()
        .map(|(_, w)| w.counts())
        .fold((0, 0), |(h, n), (a, b)| (h + a, n + b));
    if let Some(min) = e.min_hash_failures.filter(|min| hash_failures < *min) {
        failures.push(format!(
            "{hash_failures} hash failures, expected at least {min}"
        ));
    }
    if let Some(min) = e.min_snubs.filter(|min| snubs < *min) {
        failures.push(format!("{snubs} snubs, expected at least {min}"));
    }
    if let Some(max) = e.max_snubs.filter(|max| snubs > *max) {
        failures.push(format!("{snubs} snubs, at most {max} allowed"));
    }
}

/// No leecher ever dialled its own listening address, whoever named it (a tracker, PEX).
fn judge_self_dials(w: &World, failures: &mut Vec<String>) {
    let dialled: std::collections::BTreeSet<(String, String)> = w.trace.with_lines(|lines| {
        lines
            .iter()
            .filter_map(|l| crate::trace::Line::parse(l))
            .filter_map(|l| match l.words.as_slice() {
                ["connect", addr, "out"] => Some((l.host.to_string(), addr.to_string())),
                ["dial-failed", addr, ..] => {
                    Some((l.host.to_string(), addr.trim_end_matches(':').to_string()))
                }
                _ => None,
            })
            .collect()
    });
    for (name, ip) in &w.leecher_ips {
        let me = SocketAddr::new(*ip, crate::shared::LEECHER_PORT).to_string();
        if dialled.contains(&(name.clone(), me.clone())) {
            failures.push(format!("{name} dialled its own address {me}"));
        }
    }
}

/// What each leecher received over all its sessions, against `downloaded_at_most`.
fn judge_sessions(sc: &Scenario, w: &World, s: &Shared, failures: &mut Vec<String>) {
    let size = w.meta.info.total_length() as f64;
    for (name, most) in &sc.expect.downloaded_at_most {
        let sessions: Vec<u64> = s
            .watches
            .iter()
            .filter(|(host, _)| host == name)
            .map(|(_, watch)| watch.received())
            .collect();
        let total: u64 = sessions.iter().sum();
        if total as f64 > most * size {
            failures.push(format!(
                "{name} received {total} bytes over {} sessions {sessions:?} ({:.2}x the torrent), at most {most}x",
                sessions.len(),
                total as f64 / size
            ));
        }
    }
}

/// The hex SHA-256 of a file, read in 1 MiB chunks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
