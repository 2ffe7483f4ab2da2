//! `bitswarm demo`: a whole swarm on this machine's loopback, one seeder of which lies.
//!
//! Starts the mock tracker and four synthetic seeders on 127.0.0.1 (one corrupts a third of the
//! blocks it sends), downloads a generated 256 MiB torrent from them with the real client into
//! a temporary folder, checks every file against the generator's digest, and tells the story.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitswarm_client::net::TokioNet;
use bitswarm_client::shell::observe::{Observer, Trace, Watch};
use bitswarm_client::shell::{self, Options, Progress};
use seeder::{Behaviour, Content, Layout, Spec};
use tokio::sync::watch;

use super::units::format_size;
use super::Failure;

/// The demo torrent: 256 MiB in three files, 256 KiB pieces.
const SIZES: [(&str, u64); 3] = [
    ("demo/video.bin", 200 << 20),
    ("demo/empty.txt", 0),
    ("demo/notes.bin", (56 << 20) + 12_345),
];

/// Records what is worth telling, and tells a ban as it happens when someone is watching.
#[derive(Default)]
struct Story {
    banned: Mutex<Vec<SocketAddr>>,
    failed_pieces: Mutex<u32>,
    /// The seeder that lies, to name it when it is banned.
    liar: Option<SocketAddr>,
    /// A person watches the live progress: bans are printed when they happen, not at the end.
    live: bool,
}

impl Story {
    /// The line that tells of a ban.
    fn ban_line(&self, addr: SocketAddr) -> String {
        let who = if Some(addr) == self.liar {
            " (the corrupting seeder)"
        } else {
            ""
        };
        format!("banned {addr}{who}")
    }
}

impl Observer for Story {
    fn record(&self, event: Trace<'_>) {
        match event {
            Trace::Banned(addr) => {
                if self.live {
                    super::term::println(&self.ban_line(addr));
                }
                if let Ok(mut b) = self.banned.lock() {
                    b.push(addr);
                }
            }
            Trace::PieceFailed(_) => {
                if let Ok(mut n) = self.failed_pieces.lock() {
                    *n += 1;
                }
            }
            _ => {}
        }
    }
}

pub fn run() -> Result<ExitCode, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    runtime.block_on(demo()).map_err(Failure::failed)
}

async fn demo() -> anyhow::Result<ExitCode> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let net = TokioNet::new()?;
    let layout = Layout {
        name: "demo".into(),
        files: SIZES
            .iter()
            .map(|(p, n)| (p.trim_start_matches("demo/").to_string(), *n))
            .collect(),
        piece_length: 256 * 1024,
    };
    let content = Arc::new(Content::new(2026, layout)?);
    println!(
        "generating a {} torrent...",
        format_size(content.geometry().total_length())
    );
    let _ = content.piece_hashes();

    let tracker = tracker_mock::Tracker::new(tracker_mock::Config::default(), None);
    let tracker_addr = Arc::clone(&tracker)
        .serve_http(net.clone(), SocketAddr::new(loopback, 0))
        .await?;
    let trackers = vec![vec![format!("http://{tracker_addr}/announce")]];
    println!("tracker: http://{tracker_addr}/announce");

    let mut handles = Vec::new();
    let mut liar = None;
    for i in 0..4u64 {
        let port = free_port()?;
        let mut behaviour = Behaviour::default();
        let role = if i == 3 {
            behaviour.corrupt_rate = 0.3;
            liar = Some(SocketAddr::new(loopback, port));
            "corrupts 30% of its blocks"
        } else {
            behaviour.rate = Some(20 << 20);
            "honest, 20 MiB/s"
        };
        let spec = Spec {
            count: 1,
            base_port: port,
            behaviour,
        };
        handles.extend(seeder::spawn_many_at(
            net.clone(),
            loopback,
            Arc::clone(&content),
            &spec,
            &trackers,
            i,
            None,
        )?);
        println!("seeder {}: 127.0.0.1:{port} ({role})", i + 1);
    }
    // Let the seeders announce before the client asks the tracker.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let dir = tempfile::tempdir()?;
    let meta = content.metainfo(&trackers);
    let live = std::io::stderr().is_terminal();
    let story = Arc::new(Story {
        liar,
        live,
        ..Story::default()
    });
    let mut opts = Options::new(dir.path().to_path_buf(), 7);
    opts.listen = SocketAddr::new(loopback, 0);
    opts.watch = Watch(Some(story.clone()));
    let (tx, rx) = watch::channel(Progress::default());
    println!("downloading {} with bitswarm...", meta.info.name);
    let bar = live.then(|| tokio::spawn(super::run_torrent::progress_bar(rx)));
    let summary = shell::download(net, &meta, opts, std::future::pending(), tx).await;
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    let summary = summary?;
    for h in handles {
        h.abort();
    }

    let mut intact = true;
    for (i, want) in content.file_sha256s().iter().enumerate() {
        let path = dir.path().join(meta.info.file_path(i));
        let got = ::sim::run::sha256_file(&path)?;
        let ok = &got == want;
        intact &= ok;
        println!(
            "  {} {}: sha-256 {}",
            if ok { "ok " } else { "BAD" },
            meta.info.file_path(i).display(),
            &got[..16]
        );
    }
    let banned = story.banned.lock().map(|b| b.clone()).unwrap_or_default();
    let failed = story.failed_pieces.lock().map(|n| *n).unwrap_or(0);
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "done in {secs:.1}s: {} received ({}/s), {} wasted on {failed} pieces that failed their hash check",
        format_size(summary.downloaded),
        format_size((summary.downloaded as f64 / secs.max(0.001)) as u64),
        format_size(summary.wasted),
    );
    if !live {
        for addr in &banned {
            println!("{}", story.ban_line(*addr));
        }
    }
    let liar_banned = liar.is_some_and(|l| banned.contains(&l));
    if summary.complete && intact && liar_banned {
        println!("every piece verified, every file intact, the liar banned");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "demo failed: complete={} intact={intact} liar banned={liar_banned}",
            summary.complete
        );
        Ok(ExitCode::from(super::EXIT_FAILED))
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
