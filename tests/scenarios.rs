//! Every scenario in `scenarios/` as its own test case, run twice with its seed: it must pass,
//! and both runs must produce the same trace hash. A short fixed sweep of extra seeds runs for
//! the scenarios listed in `scenarios/sweep.txt`.
//!
//! With `BITSWARM_SEEDS=A..B` every scenario also runs once per seed in the range, each seed its
//! own test case (`seed::NAME::SEED`): a sweep that cargo-nextest runs a process per case and
//! shards across machines with `--partition count:K/N` (see the README).
//!
//! The transfer matrix (`sim::matrix`) adds a test case per sampled combination,
//! `matrix::NAME`: the sample covers every pair of values of any two axes. With
//! `BITSWARM_MATRIX=all` every one of its cases runs (see the README).
//!
//! A failure prints the scenario, the seed and the command that replays it.
//!
//! Each run is its own process (this test binary re-run in child mode): tokio numbers tasks
//! process-wide, and a simulated host crash drops its tasks in an order that depends on those
//! numbers, so two runs in one process could differ for that reason alone.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use sim::Scenario;

/// Extra seeds each scenario in `scenarios/sweep.txt` runs with, beyond its own.
const SWEEP_SEEDS: std::ops::Range<u64> = 1000..1004;

/// `A..B`: also one test case per scenario and seed in the range, `seed::NAME::SEED` (a sweep
/// that cargo-nextest can run one process per case and shard with `--partition`).
const SEEDS: &str = "BITSWARM_SEEDS";

/// Set in a child process: the seed to run the scenario in [`CHILD_PATH`] with.
const CHILD_SEED: &str = "BITSWARM_SCENARIO_SEED";
/// Set in a child process: what to run, `file:PATH` or `matrix:NAME`.
const CHILD_SOURCE: &str = "BITSWARM_SCENARIO_SOURCE";

/// `all`: every case of the transfer matrix, not only the sample.
const MATRIX: &str = "BITSWARM_MATRIX";

/// Where a scenario comes from: a file in `scenarios/`, or a case of the transfer matrix.
#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Matrix(String),
}

impl Source {
    fn encode(&self) -> String {
        match self {
            Source::File(p) => format!("file:{}", p.display()),
            Source::Matrix(name) => format!("matrix:{name}"),
        }
    }

    fn decode(text: &str) -> Option<Source> {
        if let Some(p) = text.strip_prefix("file:") {
            return Some(Source::File(PathBuf::from(p)));
        }
        text.strip_prefix("matrix:")
            .map(|n| Source::Matrix(n.to_string()))
    }

    fn load(&self) -> Result<Scenario, Failed> {
        let sc = match self {
            Source::File(p) => Scenario::load(p),
            Source::Matrix(name) => sim::matrix::Case::parse(name).and_then(|c| c.scenario()),
        };
        sc.map_err(|e| format!("{e:#}").into())
    }

    fn replay(&self, seed: u64) -> String {
        let what = match self {
            Source::File(p) => p
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(p)
                .display()
                .to_string(),
            Source::Matrix(name) => format!("matrix {name}"),
        };
        format!("replay: cargo run --release -- sim {what} --seed {seed} --trace trace.txt")
    }
}
/// Where the child writes the trace, one line per event.
const CHILD_TRACE: &str = "BITSWARM_SCENARIO_TRACE";

fn main() {
    if let (Ok(seed), Ok(source)) = (std::env::var(CHILD_SEED), std::env::var(CHILD_SOURCE)) {
        std::process::exit(child(&source, &seed));
    }
    // Every simulation runs in its own child process, so trials may run side by side.
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let swept: Vec<String> = std::fs::read_to_string(dir.join("sweep.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let seeds = match std::env::var(SEEDS) {
        Ok(range) => parse_range(&range).unwrap_or_else(|| {
            eprintln!("{SEEDS}={range:?} is not a range like 0..10000");
            std::process::exit(2);
        }),
        Err(_) => 0..0,
    };
    let mut trials = matrix_trials();
    for path in files {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = Source::File(path.clone());
        trials.push(Trial::test(format!("scenario::{stem}"), move || {
            run_twice(&p)
        }));
        for seed in seeds.clone() {
            let p = Source::File(path.clone());
            let name = format!("seed::{stem}::{seed}");
            trials.push(Trial::test(name, move || run_once(&p, seed).map(drop)));
        }
        if swept.contains(&stem) {
            let p = Source::File(path.clone());
            trials.push(Trial::test(format!("sweep::{stem}"), move || {
                for seed in SWEEP_SEEDS {
                    run_once(&p, seed)?;
                }
                Ok(())
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// A test case per case of the transfer matrix's sample, or of the whole matrix with
/// `BITSWARM_MATRIX=all`; each runs twice and must give the same trace hash.
fn matrix_trials() -> Vec<Trial> {
    let cases = match std::env::var(MATRIX).as_deref() {
        Ok("all") => sim::matrix::all(),
        Ok(other) => {
            eprintln!("{MATRIX}={other:?}: the only value is `all`");
            std::process::exit(2);
        }
        Err(_) => sim::matrix::sample(),
    };
    cases
        .into_iter()
        .map(|c| {
            let source = Source::Matrix(c.name());
            Trial::test(format!("matrix::{}", c.name()), move || run_twice(&source))
        })
        .collect()
}

/// `A..B` as a range of seeds.
fn parse_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (a, b) = text.trim().split_once("..")?;
    Some(a.parse().ok()?..b.parse().ok()?)
}

fn run_once(source: &Source, seed: u64) -> Result<String, Failed> {
    run_traced(source, seed).map(|(hash, _)| hash)
}

/// Child mode: runs one simulation, writes its trace, prints its hash (exit 0) or why it
/// failed (exit 1).
fn child(source: &str, seed: &str) -> i32 {
    let Some(source) = Source::decode(source) else {
        println!("bad source {source:?}");
        return 1;
    };
    let result = seed
        .parse::<u64>()
        .map_err(|e| format!("bad seed {seed:?}: {e}").into())
        .and_then(|seed| simulate(&source, seed));
    match result {
        Ok((hash, trace)) => {
            if let Ok(out) = std::env::var(CHILD_TRACE) {
                let _ = std::fs::write(out, trace.join("\n"));
            }
            println!("trace-hash: {hash}");
            0
        }
        Err(e) => {
            println!("{}", e.message().unwrap_or("failed"));
            1
        }
    }
}

/// Runs the scenario once in this process.
fn simulate(source: &Source, seed: u64) -> Result<(String, Vec<String>), Failed> {
    let sc = source.load()?;
    let outcome = sim::run(&sc, seed).map_err(|e| format!("{e:#}\n{}", source.replay(seed)))?;
    if !outcome.passed() {
        let tail: Vec<&String> = outcome.trace.iter().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().map(String::as_str).collect();
        return Err(format!(
            "scenario {} failed with seed {seed}:\n  {}\nlast trace lines:\n  {}\n{}",
            sc.name,
            outcome.failures.join("\n  "),
            tail.join("\n  "),
            source.replay(seed)
        )
        .into());
    }
    Ok((outcome.trace_hash, outcome.trace))
}

/// Runs the scenario once in a child process; its trace hash and trace.
fn run_traced(source: &Source, seed: u64) -> Result<(String, Vec<String>), Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let trace = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
    let out = std::process::Command::new(exe)
        .env(CHILD_SEED, seed.to_string())
        .env(CHILD_SOURCE, source.encode())
        .env(CHILD_TRACE, trace.path())
        .output()
        .map_err(|e| format!("cannot run the child process: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace-hash: "))
        .ok_or_else(|| format!("no trace hash in the child's output: {stdout}"))?
        .to_string();
    let lines = std::fs::read_to_string(trace.path())
        .map_err(|e| format!("reading the trace: {e}"))?
        .lines()
        .map(String::from)
        .collect();
    Ok((hash, lines))
}

fn run_twice(source: &Source) -> Result<(), Failed> {
    let sc = source.load()?;
    let seed = sc.seed;
    let (first, trace1) = run_traced(source, seed)?;
    let (second, trace2) = run_traced(source, seed)?;
    if first != second {
        // Keep both traces for diffing.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let a = dir.join(format!("{}-{seed}-1.trace", sc.name));
        let b = dir.join(format!("{}-{seed}-2.trace", sc.name));
        let _ = std::fs::write(&a, trace1.join("\n"));
        let _ = std::fs::write(&b, trace2.join("\n"));
        return Err(format!(
            "scenario {} is not deterministic: trace hashes {first} and {second} with seed {seed}\n  diff {} {}\n{}",
            sc.name,
            a.display(),
            b.display(),
            source.replay(seed)
        )
        .into());
    }
    Ok(())
}
