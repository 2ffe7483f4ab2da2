//! Who uploaded what, and who got what for it: the seeders' upload tally, the free riders'
//! downloads, and the expectations on trading, rate caps and free riding.

use std::time::Duration;

use bitswarm_client::geometry::{Geometry, BLOCK_LEN};
use seeder::{EventKind, SeederEvent};

use crate::scenario::Scenario;
use crate::shared::Shared;

/// Counts one seeder event of group `group`: blocks served, and a free rider's blocks received
/// and completion.
pub fn tally(s: &mut Shared, group: &str, geometry: &Geometry, e: &SeederEvent) {
    match e.kind {
        EventKind::Served { piece, offset, .. } => {
            let len = geometry.block(piece, offset / BLOCK_LEN).len;
            *s.seeder_uploads.entry(group.to_string()).or_insert(0) += u64::from(len);
        }
        EventKind::Received { len, .. } => {
            let rider = s
                .free_riders
                .entry((group.to_string(), e.port))
                .or_default();
            rider.bytes += u64::from(len);
        }
        EventKind::Complete => {
            let rider = s
                .free_riders
                .entry((group.to_string(), e.port))
                .or_default();
            rider.complete_at = rider.complete_at.or(turmoil::sim_elapsed());
        }
        _ => {}
    }
}

/// The expectations on who uploaded what, and on rate caps: seeders uploaded at most so many
/// torrents' worth, named leechers uploaded something, nobody finished too early, free riders
/// downloaded slower than the peers that reciprocate, a newcomer got its first piece in time.
pub fn judge(sc: &Scenario, s: &Shared, total: u64, end: Duration) -> Vec<String> {
    let mut failures = Vec::new();
    let bounds = [
        (&sc.expect.seeders_upload_at_most, true),
        (&sc.expect.seeders_upload_at_least, false),
    ];
    for (limits, at_most) in bounds {
        for (group, limit) in limits {
            let up = s.seeder_uploads.get(group).copied().unwrap_or(0);
            let times = up as f64 / total.max(1) as f64;
            let within = if at_most {
                times <= *limit
            } else {
                times >= *limit
            };
            if !within {
                let side = if at_most { "at most" } else { "at least" };
                failures.push(format!(
                    "seeders {group} uploaded {up} bytes ({times:.2}x the torrent), {side} {limit}x"
                ));
            }
        }
    }
    for name in &sc.expect.uploaded {
        if s.summaries.get(name).is_none_or(|m| m.uploaded == 0) {
            failures.push(format!("{name} uploaded nothing"));
        }
    }
    if let Some(min) = sc.expect.not_before_s {
        for name in &sc.expect.complete {
            if let Some(m) = s.summaries.get(name) {
                if m.elapsed.as_secs_f64() < min {
                    failures.push(format!(
                        "{name} finished after {:.2}s, not before {min}s expected",
                        m.elapsed.as_secs_f64()
                    ));
                }
            }
        }
    }
    failures.extend(judge_free_riders(sc, s, total, end));
    for (name, most) in &sc.expect.leechers_upload_at_most {
        let up = s.summaries.get(name).map_or(0, |m| m.uploaded);
        let times = up as f64 / total.max(1) as f64;
        if times > *most {
            failures.push(format!(
                "{name} uploaded {up} bytes ({times:.2}x the torrent), at most {most}x"
            ));
        }
    }
    for (name, (low, high)) in &sc.expect.elapsed_s {
        match s.summaries.get(name).filter(|m| m.complete) {
            Some(m) if (*low..=*high).contains(&m.elapsed.as_secs_f64()) => {}
            Some(m) => failures.push(format!(
                "{name} took {:.2}s, expected {low}s to {high}s",
                m.elapsed.as_secs_f64()
            )),
            None => failures.push(format!(
                "{name} did not complete, expected in {low}s to {high}s"
            )),
        }
    }
    for (name, by) in &sc.expect.first_piece_by_s {
        let first = s
            .watches
            .iter()
            .filter(|(host, _)| host == name)
            .filter_map(|(_, w)| w.first_verified_at())
            .min();
        match first {
            Some(at) if at.as_secs_f64() <= *by => {}
            Some(at) => failures.push(format!(
                "{name} verified its first piece at {:.2}s, expected by {by}s",
                at.as_secs_f64()
            )),
            None => failures.push(format!("{name} never verified a piece, expected by {by}s")),
        }
    }
    failures
}

/// `free_riders_at_most`: the free riders' download rate (each one's bytes from the first
/// leecher's start, or its own later join, until it completed or the run ended), averaged over
/// the group, is at most the given fraction of the reciprocating leechers' mean rate (the
/// torrent over each one's time to complete). The group's mean, not each member: which free
/// rider an optimistic unchoke picks is luck, and one lucky draw for 30 s is not a policy.
fn judge_free_riders(sc: &Scenario, s: &Shared, total: u64, end: Duration) -> Vec<String> {
    let mut failures = Vec::new();
    if sc.expect.free_riders_at_most.is_empty() {
        return failures;
    }
    let rates: Vec<f64> = sc
        .expect
        .complete
        .iter()
        .filter_map(|name| s.summaries.get(name))
        .filter(|m| m.complete)
        .map(|m| total as f64 / m.elapsed.as_secs_f64().max(1e-3))
        .collect();
    if rates.is_empty() {
        failures.push("free riders: no reciprocating leecher completed".to_string());
        return failures;
    }
    let fair = rates.iter().sum::<f64>() / rates.len() as f64;
    let first_join = sc
        .leechers
        .iter()
        .map(|l| l.join_s)
        .fold(f64::INFINITY, f64::min);
    for (group, most) in &sc.expect.free_riders_at_most {
        let Some(g) = sc.seeders.iter().find(|g| &g.name == group) else {
            continue;
        };
        let join = g.behaviour.join_at().as_secs_f64().max(first_join);
        let rates: Vec<f64> = (0..g.count)
            .map(|k| {
                let port = g.base_port + k as u16;
                let rider = s
                    .free_riders
                    .get(&(group.clone(), port))
                    .cloned()
                    .unwrap_or_default();
                let until = rider.complete_at.unwrap_or(end).as_secs_f64();
                rider.bytes as f64 / (until - join).max(1e-3)
            })
            .collect();
        let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
        if mean > most * fair {
            failures.push(format!(
                "free riders {group} downloaded at {mean:.0} B/s on average (each: {}), more \
                 than {most} of the reciprocating leechers' {fair:.0} B/s",
                rates
                    .iter()
                    .map(|r| format!("{r:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    failures
}
