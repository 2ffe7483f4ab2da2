//! What `download` and `seed` share: the flags both take, loading the torrent, running the
//! library's torrent driver under the signal handler with a progress bar, and the summary.

use std::io::IsTerminal;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use bitswarm_client::dht::node::DhtConfig;
use bitswarm_client::net::TokioNet;
use bitswarm_client::shell::dht::{Dht, DhtSetup, DEFAULT_ROUTERS};
use bitswarm_client::shell::lpd::{Lpd, LpdSetup};
use bitswarm_client::shell::magnet::Fetched;
use bitswarm_client::shell::{self, Options, Progress, Summary};
use bitswarm_client::{Magnet, Metainfo};
use serde_json::json;
use tokio::sync::watch;

use super::config::Config;
use super::units::{format_size, parse_size};
use super::{read_input, Failure};

/// The flags of every command that runs a torrent. Settings the config file may also give are
/// `Option`s here, so a flag that was not given leaves the file's value (or the default).
#[derive(Debug, clap::Args)]
pub struct Flags {
    /// The TCP port to listen on for incoming peers (default 0: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// The most peers to be connected to at once (default 50).
    #[arg(long, value_name = "N")]
    max_peers: Option<usize>,
    /// Cap the upload rate, in bytes per second (500K, 10M; default: none).
    #[arg(long, value_name = "RATE", value_parser = parse_size)]
    max_up: Option<u64>,
    /// Also dial this peer (ip:port); repeatable. Useful without a tracker.
    #[arg(long = "peer", value_name = "ADDR")]
    peers: Vec<SocketAddr>,
    /// Read settings from this TOML file instead of ~/.config/bitswarm/config.toml (keys:
    /// see --help).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print nothing but errors (and the `--json` summary).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print one JSON summary object at the end.
    #[arg(long)]
    pub json: bool,
    /// Seed for every random choice, to replay a run (default: from the OS).
    #[arg(long, hide = true)]
    rng_seed: Option<u64>,
    #[command(flatten)]
    dht: DhtFlags,
    /// Find peers on the local network too (BEP 14 multicast announces; default: off, or the
    /// config file's `lpd`).
    #[arg(long)]
    lpd: bool,
}

/// When and how to use the DHT; shared by the commands that run a torrent and `info --save`.
#[derive(Debug, clap::Args)]
pub struct DhtFlags {
    /// Also find peers through the DHT (BEP 5). Without this flag the DHT is used only for a
    /// magnet link that names no tracker and no peer.
    #[arg(long)]
    dht: bool,
    /// Join the DHT through this router (host:port; repeatable; implies --dht). Default: the
    /// well-known public routers.
    #[arg(long = "dht-router", value_name = "HOST:PORT")]
    dht_routers: Vec<String>,
    /// Never use the DHT.
    #[arg(long, conflicts_with_all = ["dht", "dht_routers"])]
    no_dht: bool,
}

impl DhtFlags {
    /// Whether to run the DHT for a torrent that has (or lacks) trackers or peers of its own.
    fn wants(&self, has_sources: bool) -> bool {
        !self.no_dht && (self.dht || !self.dht_routers.is_empty() || !has_sources)
    }

    /// Starts the DHT on UDP `port`: on IPv4, and on IPv6 too where the host has it (BEP 32,
    /// a table of its own), keeping the tables in `state` (and `dht6.dat` beside it) if given.
    async fn start(
        &self,
        net: &TokioNet,
        port: u16,
        seed: u64,
        state: Option<PathBuf>,
    ) -> Result<Dht, Failure> {
        let routers: Vec<String> = if self.dht_routers.is_empty() {
            DEFAULT_ROUTERS.iter().map(|r| r.to_string()).collect()
        } else {
            self.dht_routers.clone()
        };
        let v4 = DhtSetup {
            bind: SocketAddr::from(([0, 0, 0, 0], port)),
            routers: routers.clone(),
            seed: seed ^ 0x0064_6874,
            config: DhtConfig::default(),
            state: state.clone(),
        };
        let dht = Dht::start(net.clone(), v4)
            .await
            .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the DHT: {e}")))?;
        let v6 = DhtSetup {
            bind: SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
            routers,
            seed: seed ^ 0x0064_6836,
            config: DhtConfig::default(),
            state: state.map(|p| p.with_file_name("dht6.dat")),
        };
        match Dht::start(net.clone(), v6).await {
            Ok(dht6) => Ok(dht.with(dht6)),
            Err(e) => {
                tracing::info!(error = %e, "no IPv6 DHT on this host");
                Ok(dht)
            }
        }
    }
}

impl Flags {
    /// Whether only errors should be logged.
    pub fn quiet_logs(&self) -> bool {
        self.quiet || self.json
    }

    /// Reads the config file these flags point to (or the default one).
    pub fn config(&self) -> Result<Config, Failure> {
        super::config::load(self.config.as_deref())
    }

    /// The library's options for a run into `out_dir`: each setting from the flags, else the
    /// config file, else the library's default.
    pub fn options(&self, config: &Config, out_dir: PathBuf) -> Options {
        let mut opts = Options::new(out_dir, self.rng_seed.unwrap_or_else(rand_seed));
        if let Some(port) = self.port.or(config.port) {
            opts.listen = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        }
        if let Some(max_peers) = self.max_peers.or(config.max_peers) {
            opts.engine.max_peers = max_peers;
        }
        opts.max_up = self.max_up.or(config.max_up);
        opts.peers = self.peers.clone();
        opts
    }

    /// Starts the DHT on the listen port, keeping its table in the download folder's
    /// `.bitswarm/dht.dat`.
    async fn start_dht(&self, net: &TokioNet, opts: &Options) -> Result<Dht, Failure> {
        let state = opts.out_dir.join(".bitswarm").join("dht.dat");
        self.dht
            .start(net, opts.listen.port(), opts.seed, Some(state))
            .await
    }

    /// A live display only for a person watching: never when piped or asked to be quiet.
    pub fn show_progress(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }
}

/// What to download: a parsed `.torrent`, or a magnet link whose metadata comes from peers.
pub enum Source {
    Torrent(Metainfo),
    Magnet(Magnet),
}

/// Reads a .torrent or parses a magnet link; an unreadable file, an invalid torrent or a
/// malformed link is bad input.
pub fn load_source(torrent: &str) -> Result<Source, Failure> {
    if torrent.starts_with("magnet:") {
        let magnet = Magnet::parse(torrent)
            .map_err(|e| Failure::bad_input(anyhow::anyhow!("invalid magnet link: {e}")))?;
        return Ok(Source::Magnet(magnet));
    }
    load_torrent(torrent).map(Source::Torrent)
}

/// Fetches a magnet link's metadata from its peers (BEP 9), found through the link's trackers
/// and `x.pe` peers, and through the DHT when `dht` calls for it (always, unless turned off,
/// for a link that names no tracker and no peer), until it verifies or the user interrupts.
/// The DHT's table is not kept: `info` leaves nothing behind but the file it saves.
pub fn fetch_magnet(magnet: &Magnet, opts: &Options, dht: &DhtFlags) -> Result<Fetched, Failure> {
    let has_sources = has_sources(magnet, opts);
    if !has_sources && !dht.wants(false) {
        return Err(no_sources("--no-dht turns the DHT off"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let net = TokioNet::new().map_err(Failure::failed)?;
        let mut opts = opts.clone();
        if dht.wants(has_sources) {
            opts.dht = Some(dht.start(&net, 0, opts.seed, None).await?);
        }
        shell::magnet::fetch_metadata(net, magnet, &opts, super::shutdown_signal())
            .await
            .map_err(|e| Failure::failed(anyhow::Error::from(e)))
    })
}

/// Whether a magnet link (with the `--peer`s in `opts`) names anyone to ask.
fn has_sources(magnet: &Magnet, opts: &Options) -> bool {
    !magnet.trackers.is_empty() || !magnet.peers.is_empty() || !opts.peers.is_empty()
}

/// The error for a magnet link with no tracker, no peer and no DHT, and why there is no DHT.
fn no_sources(why: &str) -> Failure {
    Failure::bad_input(anyhow::anyhow!(
        "the magnet link names no tracker (tr=) and no peer (x.pe=), and {why}"
    ))
}

/// Reads and parses a .torrent; an unreadable file or invalid torrent is bad input, and so
/// is a magnet link where a .torrent is needed (`seed` checks data against it).
pub fn load_torrent(torrent: &str) -> Result<Metainfo, Failure> {
    if torrent.starts_with("magnet:") {
        return Err(Failure::bad_input(anyhow::anyhow!(
            "a magnet link has no piece hashes to check the data against; use a .torrent file"
        )));
    }
    let path = PathBuf::from(torrent);
    let bytes = read_input(&path)?;
    Metainfo::from_bytes(&bytes).map_err(|e| {
        Failure::bad_input(anyhow::anyhow!("{}: invalid torrent: {e}", path.display()))
    })
}

/// Runs the torrent until it is done (or interrupted), prints the summary the flags ask for,
/// and returns exit 0 if every piece is verified on disk, 1 otherwise. A magnet link's
/// metadata is fetched first; the DHT runs when the flags or the source call for it.
pub fn run(
    source: Source,
    mut opts: Options,
    flags: &Flags,
    config: &Config,
) -> Result<ExitCode, Failure> {
    let lpd = flags.lpd || config.lpd == Some(true);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    let (meta, summary) = runtime.block_on(async {
        let net = TokioNet::new().map_err(Failure::failed)?;
        // A .torrent without trackers still runs without the DHT unless asked: seeding
        // or downloading it from `--peer`s alone is a common setup.
        let has_sources = match &source {
            Source::Torrent(_) => true,
            Source::Magnet(m) => has_sources(m, &opts),
        };
        if flags.dht.wants(has_sources) {
            opts.dht = Some(flags.start_dht(&net, &opts).await?);
        }
        if lpd {
            let setup = LpdSetup {
                group: bitswarm_client::lpd::GROUP_V4,
                seed: opts.seed ^ 0x006c_7064,
            };
            let lpd = Lpd::start(net.clone(), setup).await.map_err(|e| {
                Failure::failed(anyhow::anyhow!("cannot start local peer discovery: {e}"))
            })?;
            opts.lpd = Some(lpd);
        }
        let meta = match source {
            Source::Torrent(meta) => meta,
            Source::Magnet(magnet) => {
                if !has_sources && opts.dht.is_none() && opts.lpd.is_none() {
                    return Err(no_sources("--no-dht turns the DHT off"));
                }
                let fetched = shell::magnet::fetch_metadata(
                    net.clone(),
                    &magnet,
                    &opts,
                    super::shutdown_signal(),
                )
                .await
                .map_err(|e| Failure::failed(anyhow::Error::from(e)))?;
                opts.peers.extend(fetched.peers);
                fetched.meta
            }
        };
        let summary = drive(net, &meta, opts, flags.show_progress()).await?;
        Ok::<_, Failure>((meta, summary))
    })?;
    report(&meta, &summary, flags);
    if summary.complete {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(super::EXIT_FAILED))
    }
}

async fn drive(
    net: TokioNet,
    meta: &Metainfo,
    opts: Options,
    show: bool,
) -> Result<Summary, Failure> {
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let bar = show.then(|| tokio::spawn(progress_bar(progress_rx)));
    let result = shell::download(net, meta, opts, super::shutdown_signal(), progress_tx).await;
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    result.map_err(Failure::failed)
}

/// Uploaded bytes per byte of the torrent; 0 for an empty torrent rather than NaN.
fn ratio(uploaded: u64, total_length: u64) -> f64 {
    if total_length == 0 {
        return 0.0;
    }
    uploaded as f64 / total_length as f64
}

/// The end of a run: one JSON object on stdout with `--json`, else one line on stderr.
fn report(meta: &Metainfo, summary: &Summary, flags: &Flags) {
    let ratio = ratio(summary.uploaded, meta.info.total_length());
    if flags.json {
        println!(
            "{}",
            json!({
                "info_hash": summary.info_hash.to_hex(),
                "name": meta.info.name,
                "complete": summary.complete,
                "downloaded": summary.downloaded,
                "uploaded": summary.uploaded,
                "ratio": ratio,
                "wasted": summary.wasted,
                "banned": summary.banned,
                "had": summary.had,
                "elapsed_s": summary.elapsed.as_secs_f64(),
            })
        );
    } else if !flags.quiet {
        eprintln!(
            "{}: {} in {:.1}s ({} downloaded, {} uploaded, ratio {ratio:.2}, {} wasted, {} banned)",
            super::display::escape(&meta.info.name),
            if summary.complete {
                "complete"
            } else {
                "incomplete"
            },
            summary.elapsed.as_secs_f64(),
            format_size(summary.downloaded),
            format_size(summary.uploaded),
            format_size(summary.wasted),
            summary.banned
        );
    }
}

pub fn rand_seed() -> u64 {
    // The binary may use the OS's randomness; the library only ever sees the seed.
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Draws percent, rates, ratio, peers and ETA until the run ends (the sender is dropped).
pub async fn progress_bar(mut rx: watch::Receiver<Progress>) {
    let bar = super::term::bar(0, "{bytes}/{total_bytes} {msg}");
    while rx.changed().await.is_ok() {
        let p = *rx.borrow();
        bar.set_length(p.total_length);
        bar.set_position(p.total_length - p.left);
        bar.set_message(progress_message(&p));
    }
    super::term::clear(&bar);
}

/// The details after the bar: what the torrent is doing, then its rates and peers.
fn progress_message(p: &Progress) -> String {
    let up = format!(
        "up {}/s ratio {:.2} peers {}",
        format_size(p.upload_rate),
        ratio(p.uploaded, p.total_length),
        p.peers
    );
    if p.checking {
        return "checking".to_string();
    }
    if p.left == 0 {
        return format!("seeding {up}");
    }
    let eta = p
        .left
        .checked_div(p.download_rate)
        .map(|_| p.left.div_ceil(p.download_rate))
        .map_or_else(|| "-".to_string(), |s| format!("{s}s"));
    let mut line = format!("down {}/s {up} eta {eta}", format_size(p.download_rate));
    if p.wasted > 0 {
        line.push_str(&format!(" wasted {}", format_size(p.wasted)));
    }
    if p.banned > 0 {
        line.push_str(&format!(" banned {}", p.banned));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_shows_what_the_torrent_does() {
        let mut p = Progress {
            total_length: 4 << 20,
            left: 1 << 20,
            uploaded: 2 << 20,
            download_rate: 1 << 19,
            upload_rate: 1024,
            peers: 3,
            ..Progress::default()
        };
        assert_eq!(
            progress_message(&p),
            "down 512.00 KiB/s up 1.00 KiB/s ratio 0.50 peers 3 eta 2s"
        );
        p.wasted = 48 << 10;
        p.banned = 1;
        assert_eq!(
            progress_message(&p),
            "down 512.00 KiB/s up 1.00 KiB/s ratio 0.50 peers 3 eta 2s wasted 48.00 KiB banned 1"
        );
        p.left = 0;
        assert_eq!(
            progress_message(&p),
            "seeding up 1.00 KiB/s ratio 0.50 peers 3"
        );
        p.checking = true;
        assert_eq!(progress_message(&p), "checking");
    }

    #[test]
    fn an_empty_torrent_has_ratio_zero() {
        assert_eq!(ratio(10, 0), 0.0);
        assert_eq!(ratio(3, 2), 1.5);
    }
}
