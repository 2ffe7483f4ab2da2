//! Argument definitions and dispatch for every `bitswarm` subcommand.

mod completions;
mod config;
mod create;
mod demo;
pub mod display;
mod download;
mod info;
mod manpages;
mod run_torrent;
mod seed;
mod sim;
pub mod term;
mod tracker;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A BitTorrent client built around a deterministic swarm simulator.
#[derive(Debug, Parser)]
#[command(name = "bitswarm", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a .torrent file or a magnet link describes.
    Info {
        /// A .torrent file or a magnet: URI.
        torrent: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// For a magnet link: fetch its metadata (BEP 9) from the peers its trackers, its
        /// `x.pe` peers and the DHT give, write it to FILE as a .torrent, and describe it.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        #[command(flatten)]
        dht: run_torrent::DhtFlags,
    },
    /// Make a .torrent from a file or a directory.
    Create(create::Args),
    /// Download a torrent into a folder (and seed it with --seed).
    Download(download::Args),
    /// Seed a torrent whose whole content is in a folder, until interrupted.
    Seed(seed::Args),
    /// Run a local BitTorrent tracker (HTTP and UDP) until interrupted.
    Tracker(tracker::Args),
    /// Run scenario files in the deterministic swarm simulator.
    Sim(sim::Args),
    /// A whole swarm on loopback: tracker, seeders (one corrupting), a 256 MiB download.
    Demo,
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Write the man pages of bitswarm and its subcommands into a folder.
    Manpages(manpages::Args),
}

/// Exit code 1: the job failed (download incomplete, scenario expectation unmet).
pub const EXIT_FAILED: u8 = 1;
/// Exit code 2: bad input or usage (unreadable or malformed torrent, bad magnet, bad flag).
pub const EXIT_BAD_INPUT: u8 = 2;

/// An error with the exit code it deserves.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// The user gave us something we cannot use: exit 2.
    pub fn bad_input(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: EXIT_BAD_INPUT,
            error: error.into(),
        }
    }

    /// The input was fine but the job did not succeed: exit 1.
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: EXIT_FAILED,
            error: error.into(),
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Info {
            torrent,
            json,
            save,
            dht,
        } => info::run(&torrent, json, save.as_deref(), &dht),
        Command::Create(args) => create::run(args),
        Command::Download(args) => download::run(args),
        Command::Seed(args) => seed::run(args),
        Command::Tracker(args) => tracker::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo => demo::run(),
        Command::Completions(args) => completions::run(args),
        Command::Manpages(args) => manpages::run(args),
    }
}

/// Parses the command line. `--help` and `--version` print to stdout and exit 0 at once, and
/// a bare `bitswarm` prints the help to stderr and exits 2; any other usage error becomes a
/// [`Failure`] (exit 2) whose message is clap's first paragraph on one line, because errors
/// are one line here and the usage block clap adds would hide it.
pub fn parse() -> Result<Cli, Failure> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    Cli::try_parse_from(&args).map_err(|e| {
        let help = e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
        if help || !e.use_stderr() {
            e.exit();
        }
        Failure::bad_input(anyhow::anyhow!(usage_line(&e, &args)))
    })
}

/// Clap's error on one line: its first paragraph without the `error: ` prefix, clap's
/// suggestion if it has one, and the help to read (`try 'bitswarm download --help'`).
fn usage_line(e: &clap::Error, args: &[std::ffi::OsString]) -> String {
    let text = e.render().to_string();
    let first = text.split("\n\n").next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let lines: Vec<&str> = first
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut line = lines.join(" ");
    if let Some(similar) = suggestion(e) {
        line.push_str(&format!(" (did you mean '{similar}'?)"));
    }
    line.push_str(&format!("; try '{} --help'", command_path(args)));
    line
}

/// The subcommand, flag or value clap found closest to a misspelt one.
fn suggestion(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ]
    .into_iter()
    .find_map(|kind| match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    })
}

/// The command whose usage was wrong, `bitswarm download` say: the subcommands named in
/// `args` (the whole command line) before its first operand.
fn command_path(args: &[std::ffi::OsString]) -> String {
    use clap::CommandFactory;
    let mut command = Cli::command();
    let mut path = vec!["bitswarm".to_string()];
    for arg in args.iter().skip(1) {
        let Some(arg) = arg.to_str() else { break };
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(arg).cloned() else {
            break;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    path.join(" ")
}

impl Cli {
    /// Whether the user asked for quiet output (`--quiet` or `--json`): then only errors are
    /// logged unless `RUST_LOG` says otherwise.
    pub fn quiet_logs(&self) -> bool {
        match &self.command {
            Command::Download(args) => args.quiet_logs(),
            Command::Seed(args) => args.quiet_logs(),
            // A simulation's story is its trace; client warnings would drown the verdicts.
            Command::Sim(_) | Command::Demo => true,
            _ => false,
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings, or errors only when quiet),
/// above any progress bar, in colour only on a terminal and without `NO_COLOR`.
pub fn init_tracing(quiet: bool) {
    let default = if quiet { "error" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(term::AboveBars)
        .with_ansi(term::colour_stderr())
        .init();
}

/// Reads a whole input file, as bad input (exit 2) when it cannot be read.
fn read_input(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("cannot read {}: {e}", path.display())))
}

/// Resolves on SIGINT or SIGTERM: the start of a graceful stop, which takes at most a couple
/// of seconds (the `stopped` announce has a 1.5 s deadline). A second SIGINT or SIGTERM ends
/// the process at once, by that signal: shells report exit status 130 (SIGINT) or 143
/// (SIGTERM), and a script running us in a loop sees the interrupt as an interrupt.
///
/// The handlers are installed by the call itself, not when the future is first polled: call it
/// before telling anyone we are ready (a script may signal as soon as it reads our address).
/// Must be called inside the tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            // Without signal handlers the process still ends on signals, just not gracefully.
            return std::future::pending().await;
        };
        tokio::select! {
            biased;
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("signal received; stopping (another one exits at once)");
        die_on_next_signal();
    }
}

/// Restores the default action of SIGINT and SIGTERM, which ends the process. Only the kernel
/// acts on the next signal then: no runtime, thread or lock of ours has to be responsive, so
/// it works even while a resolver thread hangs on a dead DNS server during shutdown.
fn die_on_next_signal() {
    // SAFETY: `signal` with `SIG_DFL` installs no handler of ours, so nothing needs to be
    // async-signal-safe. It replaces tokio's handlers for these two signals, which is the
    // point: the graceful stop they asked for is already under way.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
    }
}
