//! Running one scenario with one seed: build the turmoil world, drive it, judge the outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::anyhow;
use bitswarm_client::shell::Summary;

use crate::build::World;
use crate::scenario::{LeecherSpec, NetFault, Scenario};

pub use crate::judge::sha256_file;
pub use crate::shared::{LEECHER_PORT, TRACKER_PORT};

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub seed: u64,
    /// Expectations that failed (empty: the run passed).
    pub failures: Vec<String>,
    pub trace: Vec<String>,
    pub trace_hash: String,
    /// Simulated time when the run ended.
    pub sim_time: Duration,
    /// Each leecher's last summary.
    pub summaries: BTreeMap<String, Summary>,
    /// Each leecher's view of piece availability over time, its sessions one after another.
    pub availability: BTreeMap<String, Vec<crate::avail::Sample>>,
    /// Host names by address: leechers, and seeder groups as `seeders-NAME`.
    pub hosts: BTreeMap<std::net::IpAddr, String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `sc` with `seed` (the scenario's own seed unless overridden): build, drive, judge.
pub fn run(sc: &Scenario, seed: u64) -> anyhow::Result<Outcome> {
    let (sim, world) = crate::build::build(sc, seed)?;
    let (sim_time, mut failures) = drive(sc, sim, &world)?;
    let s = world.shared.lock().map_err(|_| anyhow!("poisoned"))?;
    failures.extend(crate::judge::judge(sc, &world, &s, sim_time));
    let mut availability: BTreeMap<String, Vec<crate::avail::Sample>> = BTreeMap::new();
    for (host, watch) in &s.watches {
        availability
            .entry(host.clone())
            .or_default()
            .extend(watch.availability());
    }
    let hosts = world
        .leecher_ips
        .iter()
        .map(|(name, ip)| (*ip, name.clone()))
        .chain(
            world
                .group_ips
                .iter()
                .map(|(name, ip)| (*ip, format!("seeders-{name}"))),
        )
        .collect();
    Ok(Outcome {
        name: sc.name.clone(),
        seed,
        failures,
        trace: world.trace.lines(),
        trace_hash: world.trace.hash(),
        sim_time,
        summaries: s.summaries.clone(),
        availability,
        hosts,
    })
}

/// Steps the simulation, applying faults when their time comes, until every leecher finished
/// (and no restart is still to come) or the time budget is spent; tells seeding leechers to
/// stop once every leecher has every piece. Returns the simulated time at the end and what
/// went wrong while driving.
fn drive(
    sc: &Scenario,
    mut sim: turmoil::Sim<'static>,
    w: &World,
) -> anyhow::Result<(Duration, Vec<String>)> {
    // Faults apply in file order, each when its conditions hold.
    let mut next_fault = 0;
    let mut last_applied = Duration::ZERO;
    let budget = sc.budget();
    let mut failures = Vec::new();
    let wall = std::time::Instant::now();
    let wall_budget = sc.expect.wall_s.map(Duration::from_secs_f64);
    loop {
        let now = sim.elapsed();
        while let Some(f) = sc.faults.get(next_fault) {
            if !due(f, now, last_applied, w)? {
                break;
            }
            next_fault += 1;
            last_applied = now;
            crate::hosts::apply_fault(&mut sim, f, &w.trace);
        }
        let done = all_done(sc, w)?;
        let restart_due = sc.faults[next_fault..]
            .iter()
            .any(|f| matches!(f, NetFault::Restart(_)));
        if done && !restart_due {
            break;
        }
        if now > budget {
            failures.push(format!(
                "time budget of {:.0}s exceeded",
                budget.as_secs_f64()
            ));
            break;
        }
        if let Some(limit) = wall_budget.filter(|limit| wall.elapsed() > *limit) {
            failures.push(format!(
                "wall-clock bound of {:.1}s exceeded at {:.1}s simulated",
                limit.as_secs_f64(),
                now.as_secs_f64()
            ));
            break;
        }
        if let Err(e) = sim.step() {
            failures.push(format!("simulation error: {e}"));
            break;
        }
    }
    let sim_time = sim.elapsed();
    w.trace.close();
    drop(sim);
    Ok((sim_time, failures))
}

/// Whether fault `f` applies now: its time has come, enough time has passed since the fault
/// before it (applied at `last`), and its host has verified enough of the pieces.
fn due(f: &NetFault, now: Duration, last: Duration, w: &World) -> anyhow::Result<bool> {
    let when = f.when();
    if now < Duration::from_secs_f64(when.at_s)
        || now < last + Duration::from_secs_f64(when.after_s)
    {
        return Ok(false);
    }
    let Some(fraction) = when.at_verified else {
        return Ok(true);
    };
    let s = w.shared.lock().map_err(|_| anyhow!("poisoned"))?;
    let verified = s
        .watches
        .iter()
        .rev()
        .find(|(host, _)| host == f.host())
        .map_or(0, |(_, watch)| watch.verified_count());
    let pieces = w.meta.info.pieces.len().max(1);
    Ok(verified as f64 >= fraction * pieces as f64)
}

/// Whether every leecher has finished complete; tells seeding leechers to stop once every
/// leecher has every piece.
fn all_done(sc: &Scenario, w: &World) -> anyhow::Result<bool> {
    let s = w.shared.lock().map_err(|_| anyhow!("poisoned"))?;
    let finished = |l: &LeecherSpec| s.summaries.get(&l.name).is_some_and(|m| m.complete);
    let seeding_done = sc.leechers.iter().all(|l| {
        finished(l)
            || s.watches
                .iter()
                .any(|(h, watch)| h == &l.name && watch.is_complete())
    });
    if seeding_done && !*w.stop.borrow() {
        let _ = w.stop.send(true);
    }
    Ok(sc.leechers.iter().all(finished))
}
