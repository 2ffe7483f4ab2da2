//! `bitswarm create`: hash a file or directory into a .torrent, with a progress bar on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use bitswarm_client::create::{self, CreateError, CreateOptions, Layout};
use bitswarm_client::Metainfo;

use super::units::{format_size, parse_size};
use super::Failure;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file or directory to share.
    path: PathBuf,
    /// Where to write the .torrent.
    #[arg(short, long)]
    output: PathBuf,
    /// A tracker announce URL; repeat for more tiers, separate with commas for one tier.
    #[arg(short = 't', long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Piece length (a power of two, at least 16KiB); chosen automatically when absent.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    piece_length: Option<u64>,
    /// Mark the torrent private (BEP 27): peers come only from its trackers.
    #[arg(long)]
    private: bool,
    /// A web seed URL (BEP 19); repeatable.
    #[arg(long = "webseed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// A free-text comment.
    #[arg(long)]
    comment: Option<String>,
    /// Replace the output file if it exists.
    #[arg(short, long)]
    force: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    if args.output.exists() && !args.force {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "{} exists; pass --force to replace it",
            args.output.display()
        )));
    }
    let layout = Layout::scan(&args.path).map_err(classify)?;
    let opts = CreateOptions {
        trackers: args
            .trackers
            .iter()
            .map(|t| t.split(',').map(str::trim).map(String::from).collect())
            .collect(),
        piece_length: args.piece_length,
        private: args.private,
        web_seeds: args.web_seeds,
        comment: args.comment,
        created_by: Some(format!("bitswarm {}", env!("CARGO_PKG_VERSION"))),
        creation_date: Some(creation_date()),
    };
    let total = layout.total_length();
    let style = indicatif::ProgressStyle::with_template(
        "hashing {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map_err(|e| Failure::failed(anyhow::anyhow!("progress bar template: {e}")))?;
    let bar = super::term::bar_with(total, style);
    let torrent = create::create(&layout, &opts, &|n| bar.inc(n));
    super::term::clear(&bar);
    let torrent = torrent.map_err(classify)?;
    std::fs::write(&args.output, &torrent).map_err(|e| {
        Failure::failed(anyhow::anyhow!(
            "cannot write {}: {e}",
            args.output.display()
        ))
    })?;
    // Read back what we wrote through the same parser every other command uses.
    let meta = Metainfo::from_bytes(&torrent)
        .map_err(|e| Failure::failed(anyhow::anyhow!("created torrent does not parse: {e}")))?;
    println!(
        "{}: {} ({}, {} files, {} pieces of {}), info-hash {}",
        args.output.display(),
        meta.info.name,
        format_size(total),
        meta.info.files.len(),
        meta.info.pieces.len(),
        format_size(meta.info.piece_length),
        meta.info_hash
    );
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch for `creation date`: `SOURCE_DATE_EPOCH` when set (reproducible
/// output), otherwise now.
fn creation_date() -> i64 {
    if let Some(epoch) = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return epoch;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unreadable or unusable input is exit 2; a failure while hashing is exit 1.
fn classify(e: CreateError) -> Failure {
    match e {
        CreateError::Changed { .. } => Failure::failed(e),
        _ => Failure::bad_input(e),
    }
}
