//! `bitswarm seed`: check that a folder holds a torrent's whole content, then seed it until
//! interrupted. It never downloads: incomplete data is refused before any peer is contacted.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bitswarm_client::shell::SeedUntil;
use bitswarm_client::storage::{resume, FileStorage, DEFAULT_MAX_OPEN};
use bitswarm_client::Metainfo;

use super::config;
use super::run_torrent::{self, Flags};
use super::Failure;

#[derive(Debug, clap::Args)]
#[command(after_long_help = config::HELP)]
pub struct Args {
    /// The .torrent file to seed.
    torrent: String,
    /// The folder holding the content as `DIR/<name>` (a finished download's `-o DIR`).
    dir: PathBuf,
    #[command(flatten)]
    flags: Flags,
}

impl Args {
    pub fn quiet_logs(&self) -> bool {
        self.flags.quiet_logs()
    }
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let config = args.flags.config()?;
    let meta = run_torrent::load_torrent(&args.torrent)?;
    match std::fs::metadata(&args.dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad_dir(&args.dir, "not a folder")),
        Err(e) => return Err(bad_dir(&args.dir, &e.to_string())),
    }
    check_complete(&meta, &args.dir, args.flags.show_progress())?;
    let mut opts = args.flags.options(&config, args.dir.clone());
    opts.seed_until = Some(SeedUntil::default());
    run_torrent::run(
        run_torrent::Source::Torrent(meta),
        opts,
        &args.flags,
        &config,
    )
}

fn bad_dir(dir: &Path, why: &str) -> Failure {
    Failure::bad_input(anyhow::anyhow!("{}: {why}", dir.display()))
}

/// Verifies the data below `dir` the way a download starts (trusting a valid resume file,
/// hashing the rest) and refuses to go on unless every piece is there.
///
/// The result is saved as the resume file, so the library's own start-up check that follows
/// trusts it instead of hashing the whole torrent a second time.
fn check_complete(meta: &Metainfo, dir: &Path, show: bool) -> Result<(), Failure> {
    let files = FileStorage::new(dir, &meta.info, DEFAULT_MAX_OPEN).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!("{}: cannot seed there: {e}", dir.display()))
    })?;
    let pieces = meta.info.geometry().piece_count();
    let bar = show.then(|| super::term::bar(u64::from(pieces), "{pos}/{len} checking"));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tick = |_: u32| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    };
    let have = resume::restore(&files, &meta.info_hash, &meta.info.pieces, threads, &tick);
    if let Some(bar) = bar {
        super::term::clear(&bar);
    }
    let present = have.count_ones();
    if present < pieces {
        return Err(Failure::failed(anyhow::anyhow!(
            "{}: only {present} of {pieces} pieces present; seed needs the whole torrent",
            dir.join(&meta.info.name).display()
        )));
    }
    if let Err(error) = resume::save_verified(&files, &meta.info_hash, &have) {
        tracing::warn!(%error, "cannot save the resume file; the data will be checked again");
    }
    Ok(())
}
