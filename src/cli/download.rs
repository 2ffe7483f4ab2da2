//! `bitswarm download`: fetch a torrent into a folder, with a live progress bar on a terminal,
//! and optionally keep seeding it afterwards.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bitswarm_client::shell::SeedUntil;

use super::config::{self, Config};
use super::run_torrent::{self, Flags};
use super::units::{parse_duration, parse_ratio, parse_size};
use super::Failure;

#[derive(Debug, clap::Args)]
#[command(after_long_help = config::HELP)]
pub struct Args {
    /// The .torrent file or magnet link to download (a magnet's metadata comes from its
    /// trackers' and `x.pe` peers, BEP 9).
    torrent: String,
    /// The folder the content goes into, as `DIR/<name>` (default: the current folder).
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Keep seeding after the download completes, until interrupted.
    #[arg(long)]
    seed: bool,
    /// Stop seeding once uploaded / torrent size reaches R, e.g. 1.5 (implies --seed).
    #[arg(long, value_name = "R", value_parser = parse_ratio)]
    seed_ratio: Option<f64>,
    /// Stop seeding after this long, e.g. 30m or 2h (implies --seed).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    seed_time: Option<Duration>,
    /// Stop when the download completes, whatever the config file says about seeding.
    #[arg(long, conflicts_with_all = ["seed", "seed_ratio", "seed_time"])]
    no_seed: bool,
    /// Cap the download rate, in bytes per second (500K, 10M; default: none).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    max_down: Option<u64>,
    #[command(flatten)]
    flags: Flags,
}

impl Args {
    pub fn quiet_logs(&self) -> bool {
        self.flags.quiet_logs()
    }

    /// When to stop seeding, or `None` for no seeding. A limit implies seeding, except one
    /// from a config file that also says `seed = false` (see `config::HELP`).
    fn seed_until(&self, config: &Config) -> Option<SeedUntil> {
        if self.no_seed {
            return None;
        }
        let ratio = self.seed_ratio.or(config.seed_ratio);
        let time = self.seed_time.or(config.seed_time);
        let asked = self.seed || self.seed_ratio.is_some() || self.seed_time.is_some();
        let file_limits = config.seed_ratio.is_some() || config.seed_time.is_some();
        let seed = asked || config.seed.unwrap_or(file_limits);
        seed.then_some(SeedUntil { ratio, time })
    }
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let config = args.flags.config()?;
    let source = run_torrent::load_source(&args.torrent)?;
    let output = args
        .output
        .clone()
        .or_else(|| config.output.clone())
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&output).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!("cannot create {}: {e}", output.display()))
    })?;
    let mut opts = args.flags.options(&config, output);
    opts.max_down = args.max_down.or(config.max_down);
    opts.seed_until = args.seed_until(&config);
    run_torrent::run(source, opts, &args.flags, &config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Parses `download x.torrent` plus `flags`, as the real command line would.
    fn args(flags: &[&str]) -> Args {
        let argv = ["bitswarm", "download", "x.torrent"].iter().chain(flags);
        match super::super::Cli::parse_from(argv).command {
            super::super::Command::Download(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn limits_imply_seeding_unless_the_file_says_no() {
        let none = Config::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(args(&[]).seed_until(&none), None);
        assert_eq!(
            args(&["--seed"]).seed_until(&none),
            Some(SeedUntil::default())
        );
        let until = args(&["--seed-ratio", "2", "--seed-time", "1h"]).seed_until(&none);
        let both = SeedUntil {
            ratio: Some(2.0),
            time: Some(hour),
        };
        assert_eq!(until, Some(both));

        let file = Config {
            seed_time: Some(hour),
            ..Config::default()
        };
        let timed = Some(SeedUntil {
            ratio: None,
            time: Some(hour),
        });
        assert_eq!(args(&[]).seed_until(&file), timed);
        assert_eq!(args(&["--no-seed"]).seed_until(&file), None);
        let off = Config {
            seed: Some(false),
            ..file
        };
        assert_eq!(args(&[]).seed_until(&off), None);
        assert_eq!(args(&["--seed"]).seed_until(&off), timed);
    }
}
