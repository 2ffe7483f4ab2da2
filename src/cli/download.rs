//! `bitswarm download`: fetch a torrent into a folder, with a live progress bar on a terminal.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bitswarm_client::net::TokioNet;
use bitswarm_client::shell::{self, Options, Progress, Summary};
use bitswarm_client::Metainfo;
use serde_json::json;
use tokio::sync::watch;

use super::units::{format_size, parse_size};
use super::{read_input, Failure};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The .torrent file to download.
    torrent: String,
    /// The folder the content goes into (as `DIR/<name>`).
    #[arg(short, long, default_value = ".")]
    output: PathBuf,
    /// The TCP port to listen on for incoming peers (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The most peers to be connected to at once.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Cap the download rate, in bytes per second (500K, 10M).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    max_down: Option<u64>,
    /// Print nothing but errors (and the `--json` summary).
    #[arg(short, long)]
    quiet: bool,
    /// Print one JSON summary object at the end.
    #[arg(long)]
    json: bool,
    /// Also dial this peer (ip:port); repeatable. Useful without a tracker.
    #[arg(long = "peer", value_name = "ADDR")]
    peers: Vec<SocketAddr>,
    /// Seed for every random choice, to replay a run (default: from the OS).
    #[arg(long, hide = true)]
    rng_seed: Option<u64>,
}

impl Args {
    pub fn quiet_logs(&self) -> bool {
        self.quiet || self.json
    }
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    if args.torrent.starts_with("magnet:") {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "magnet links need the metadata exchange (BEP 9), which is not supported yet; use a .torrent file"
        )));
    }
    let path = PathBuf::from(&args.torrent);
    let bytes = read_input(&path)?;
    let meta = Metainfo::from_bytes(&bytes).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!("{}: invalid torrent: {e}", path.display()))
    })?;
    std::fs::create_dir_all(&args.output).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!(
            "cannot create {}: {e}",
            args.output.display()
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    let summary = runtime.block_on(download(&meta, &args))?;
    if args.json {
        println!(
            "{}",
            json!({
                "info_hash": summary.info_hash.to_hex(),
                "name": meta.info.name,
                "complete": summary.complete,
                "downloaded": summary.downloaded,
                "uploaded": summary.uploaded,
                "wasted": summary.wasted,
                "banned": summary.banned,
                "had": summary.had,
                "elapsed_s": summary.elapsed.as_secs_f64(),
            })
        );
    } else if !args.quiet {
        eprintln!(
            "{}: {} in {:.1}s ({} downloaded, {} wasted, {} banned)",
            super::display::escape(&meta.info.name),
            if summary.complete {
                "complete"
            } else {
                "incomplete"
            },
            summary.elapsed.as_secs_f64(),
            format_size(summary.downloaded),
            format_size(summary.wasted),
            summary.banned
        );
    }
    if summary.complete {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(super::EXIT_FAILED))
    }
}

async fn download(meta: &Metainfo, args: &Args) -> Result<Summary, Failure> {
    let net = TokioNet::new().map_err(Failure::failed)?;
    let seed = args.rng_seed.unwrap_or_else(rand_seed);
    let mut opts = Options::new(args.output.clone(), seed);
    opts.listen = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, args.port));
    opts.max_down = args.max_down;
    opts.engine.max_peers = args.max_peers;
    opts.peers = args.peers.clone();
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let show = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bar = show.then(|| tokio::spawn(progress_bar(progress_rx)));
    let result = shell::download(net, meta, opts, super::shutdown_signal(), progress_tx).await;
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    result.map_err(Failure::failed)
}

fn rand_seed() -> u64 {
    // The binary may use the OS's randomness; the library only ever sees the seed.
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Draws percent, rates, peers and ETA until the download ends (the sender is dropped).
async fn progress_bar(mut rx: watch::Receiver<Progress>) {
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {percent:>3}% [{bar:30}] {bytes}/{total_bytes} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    while rx.changed().await.is_ok() {
        let p = *rx.borrow();
        bar.set_length(p.total_length);
        bar.set_position(p.total_length - p.left);
        let eta = p
            .left
            .checked_div(p.download_rate)
            .map_or_else(|| "-".to_string(), |s| format!("{s}s"));
        let what = if p.checking { "checking" } else { "down" };
        bar.set_message(format!(
            "{what} {}/s up {}/s peers {} eta {eta}",
            format_size(p.download_rate),
            format_size(p.upload_rate),
            p.peers
        ));
    }
    bar.finish_and_clear();
}
