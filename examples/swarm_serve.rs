//! Benchmark helper, not a test: a mock tracker and COUNT synthetic seeders on 127.0.0.1 that
//! serve SIZE_MIB of generated content, until standard input closes. Writes the torrent to
//! TORRENT_OUT and prints `ready` once the seeders have announced. Used by
//! `scripts/bench-many-peers.sh` to measure the client's CPU per MiB against many peers.
//!
//! Usage: cargo run --release --example swarm_serve -- COUNT SIZE_MIB TORRENT_OUT

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bitswarm_client::net::TokioNet;
use seeder::{Behaviour, Content, Layout, Spec};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [count, size_mib, out] = args.as_slice() else {
        bail!("usage: swarm_serve COUNT SIZE_MIB TORRENT_OUT");
    };
    let count: usize = count.parse().context("COUNT")?;
    let size: u64 = size_mib.parse::<u64>().context("SIZE_MIB")? << 20;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(count, size, out.into()))
}

async fn serve(count: usize, size: u64, out: std::path::PathBuf) -> anyhow::Result<()> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let net = TokioNet::new()?;
    let layout = Layout {
        name: "many.bin".into(),
        files: vec![("many.bin".into(), size)],
        piece_length: 256 * 1024,
    };
    let content = Arc::new(Content::new(7, layout)?);
    let tracker = tracker_mock::Tracker::new(tracker_mock::Config::default(), None);
    let tracker_addr = Arc::clone(&tracker)
        .serve_http(net.clone(), SocketAddr::new(loopback, 0))
        .await?;
    let trackers = vec![vec![format!("http://{tracker_addr}/announce")]];
    std::fs::write(&out, content.torrent_bytes(&trackers))?;
    let spec = Spec {
        count,
        base_port: free_ports(count)?,
        behaviour: Behaviour::default(),
    };
    let handles = seeder::spawn_many_at(
        net,
        loopback,
        Arc::clone(&content),
        &spec,
        &trackers,
        1,
        None,
    )?;
    // Let every seeder announce before the client asks the tracker.
    tokio::time::sleep(Duration::from_millis(500 + 5 * count as u64)).await;
    println!("ready");
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await?;
    for handle in handles {
        handle.abort();
    }
    Ok(())
}

/// The first of `count` consecutive free TCP ports on 127.0.0.1 in 20000..30000.
fn free_ports(count: usize) -> anyhow::Result<u16> {
    let free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    let mut base = 20000u16;
    while usize::from(base) + count < 30000 {
        match (base..).take(count).position(|p| !free(p)) {
            None => return Ok(base),
            Some(taken) => base += taken as u16 + 1,
        }
    }
    bail!("no {count} consecutive free ports in 20000..30000")
}
