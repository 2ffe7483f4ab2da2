//! `bitswarm sim`: run scenario files in the simulator, or sweep one over many seeds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ::sim::{Outcome, Scenario};

use super::Failure;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    sweep: Option<SimCommand>,
    /// Scenario files to run.
    scenarios: Vec<PathBuf>,
    #[command(flatten)]
    run: RunOpts,
}

/// How to run scenarios and what to write about them (`sim` and `sim matrix`).
#[derive(Debug, clap::Args)]
struct RunOpts {
    /// Run with this seed instead of the scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the trace to this file (with several scenarios, each one's trace is appended).
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Write an HTML page drawing the run (one scenario only): progress, rates per peer,
    /// piece availability and the timeline of events.
    #[arg(long, value_name = "OUT.html")]
    report: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum SimCommand {
    /// Run one scenario under many seeds on all cores and list the seeds that fail.
    Sweep {
        scenario: PathBuf,
        /// A range of seeds, `A..B` (B excluded).
        #[arg(long, value_parser = parse_range)]
        seeds: std::ops::Range<u64>,
    },
    /// The transfer matrix: list its cases, print one as a scenario file, or run some.
    Matrix(MatrixArgs),
}

#[derive(Debug, clap::Args)]
struct MatrixArgs {
    /// Cases to run (names from `--list`).
    cases: Vec<String>,
    /// List every case's name and seed (with `--sample`, only the default test sample's).
    #[arg(long)]
    list: bool,
    /// With `--list`: the sample `cargo test` runs (every pair of values of two axes).
    #[arg(long, requires = "list")]
    sample: bool,
    /// Print the named cases as scenario files instead of running them.
    #[arg(long)]
    print: bool,
    #[command(flatten)]
    run: RunOpts,
}

fn parse_range(text: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("{text:?} is not a range like 0..100"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad start in {text:?}"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad end in {text:?}"))?;
    if b <= a {
        return Err(format!("empty range {text:?}"));
    }
    Ok(a..b)
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    match args.sweep {
        Some(SimCommand::Sweep { scenario, seeds }) => return sweep(&scenario, seeds),
        Some(SimCommand::Matrix(m)) => return matrix(m),
        None => {}
    }
    if args.scenarios.is_empty() {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "name at least one scenario file (see scenarios/)"
        )));
    }
    let mut scenarios = Vec::new();
    for path in &args.scenarios {
        let sc = Scenario::load(path).map_err(Failure::bad_input)?;
        scenarios.push((sc, path.display().to_string()));
    }
    run_all(&scenarios, &args.run)
}

/// `sim matrix`: lists, prints or runs cases of the transfer matrix.
fn matrix(args: MatrixArgs) -> Result<ExitCode, Failure> {
    use ::sim::matrix;
    if args.list {
        let cases = if args.sample {
            matrix::sample()
        } else {
            matrix::all()
        };
        for c in cases {
            println!("{} {}", c.name(), c.seed());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.cases.is_empty() {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "name at least one case (see `bitswarm sim matrix --list`)"
        )));
    }
    let mut scenarios = Vec::new();
    for name in &args.cases {
        let case = matrix::Case::parse(name).map_err(Failure::bad_input)?;
        if args.print {
            print!("{}", case.toml());
            continue;
        }
        let sc = case.scenario().map_err(Failure::failed)?;
        scenarios.push((sc, format!("matrix {name}")));
    }
    run_all(&scenarios, &args.run)
}

/// Runs each scenario (named for its replay command) with `opts.seed` or its own; writes the
/// traces, one after another, to `opts.trace`, and the report of the only one to
/// `opts.report`.
fn run_all(scenarios: &[(Scenario, String)], opts: &RunOpts) -> Result<ExitCode, Failure> {
    let (seed, trace, report) = (opts.seed, opts.trace.as_deref(), opts.report.as_deref());
    if report.is_some() && scenarios.len() != 1 {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "--report draws one run: name one scenario"
        )));
    }
    let mut all_passed = true;
    let mut trace_text = String::new();
    for (sc, source) in scenarios {
        let outcome = ::sim::run(sc, seed.unwrap_or(sc.seed)).map_err(Failure::failed)?;
        print_outcome(source, &outcome);
        if let Some(out) = report {
            let replay = replay_command(source, outcome.seed);
            let page = ::sim::report::render(sc, &outcome, &replay);
            std::fs::write(out, page).map_err(|e| {
                Failure::failed(anyhow::anyhow!("cannot write {}: {e}", out.display()))
            })?;
        }
        all_passed &= outcome.passed();
        for line in &outcome.trace {
            trace_text.push_str(line);
            trace_text.push('\n');
        }
    }
    if let Some(out) = trace {
        std::fs::write(out, trace_text)
            .map_err(|e| Failure::failed(anyhow::anyhow!("cannot write {}: {e}", out.display())))?;
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILED)
    })
}

/// The command that replays a run of `source` with `seed`.
fn replay_command(source: &str, seed: u64) -> String {
    format!("bitswarm sim {source} --seed {seed} --trace trace.txt")
}

fn print_outcome(source: &str, o: &Outcome) {
    let verdict = if o.passed() { "PASS" } else { "FAIL" };
    println!(
        "{verdict} {} (seed {}) in {:.3}s simulated",
        o.name,
        o.seed,
        o.sim_time.as_secs_f64()
    );
    for (name, s) in &o.summaries {
        println!(
            "  {name}: complete={} downloaded={} wasted={} banned={}",
            s.complete, s.downloaded, s.wasted, s.banned
        );
    }
    for f in &o.failures {
        println!("  failed: {f}");
    }
    if !o.passed() {
        println!("  replay: {}", replay_command(source, o.seed));
    }
    println!("trace-hash: {}", o.trace_hash);
}

/// Runs every seed of `seeds` as its own `bitswarm sim` process, as many at once as there are
/// cores. Separate processes, not threads: tokio numbers tasks process-wide, and simulations
/// sharing a process could perturb each other's crash scenarios.
fn sweep(path: &Path, seeds: std::ops::Range<u64>) -> Result<ExitCode, Failure> {
    let sc = Scenario::load(path).map_err(Failure::bad_input)?;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot find this program: {e}")))?;
    let next = AtomicU64::new(seeds.start);
    let results: Mutex<Vec<(u64, Result<std::process::Output, String>)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    return;
                }
                let out = std::process::Command::new(&exe)
                    .arg("sim")
                    .arg(path)
                    .args(["--seed", &seed.to_string()])
                    .output()
                    .map_err(|e| e.to_string());
                if let Ok(mut r) = results.lock() {
                    r.push((seed, out));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(seed, _)| *seed);
    let mut failed = 0;
    for (seed, out) in &results {
        let problem = match out {
            Ok(o) if o.status.success() => continue,
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
                .filter(|l| l.contains("failed:") || l.starts_with("bitswarm:"))
                .map(|l| l.trim().to_string())
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => format!("could not run: {e}"),
        };
        failed += 1;
        println!("FAIL seed {seed}: {problem}");
        println!(
            "  replay: bitswarm sim {} --seed {seed} --trace trace.txt",
            path.display()
        );
    }
    println!(
        "{}: {} seeds, {} passed, {failed} failed",
        sc.name,
        results.len(),
        results.len() - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::EXIT_FAILED)
    })
}
