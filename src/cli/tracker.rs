//! `bitswarm tracker`: the in-repo tracker on real sockets, for trying the client against a
//! local swarm. Prints where it listens, then serves until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use bitswarm_client::net::TokioNet;
use tracker_mock::{Config, Observer, Tracker, DEFAULT_INTERVAL, DEFAULT_MAX_NUMWANT};

use super::Failure;

/// Where the tracker listens when neither protocol is given: 6969 is the customary tracker port.
const DEFAULT_ADDR: &str = "127.0.0.1:6969";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve HTTP announces and scrapes on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Serve UDP (BEP 15) announces and scrapes on this address (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    udp: Option<SocketAddr>,
    /// Seconds clients are told to wait between announces.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_INTERVAL)]
    interval: u32,
    /// The most peers one answer carries.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NUMWANT)]
    max_peers: u32,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let (http, udp) = match (args.http, args.udp) {
        (None, None) => {
            let default = DEFAULT_ADDR.parse().ok();
            (default, default)
        }
        given => given,
    };
    let config = Config {
        interval: args.interval,
        max_numwant: args.max_peers,
        // Connection ids need only be unguessable here, not replayable.
        seed: os_seed(),
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    runtime.block_on(serve(config, http, udp))?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the requested front ends, prints their URLs, and waits for a signal.
async fn serve(
    config: Config,
    http: Option<SocketAddr>,
    udp: Option<SocketAddr>,
) -> Result<(), Failure> {
    let net = TokioNet::new().map_err(|e| Failure::failed(anyhow::anyhow!("{e}")))?;
    let observer: Observer = Arc::new(|event| {
        tracing::info!(
            protocol = %event.protocol,
            peer = %event.peer,
            info_hash = %event.info_hash,
            event = ?event.event,
            left = event.left,
            answered = %event.answered,
            peers = event.peers,
            "announce"
        );
    });
    // Before the addresses are printed: whoever reads them may signal us at once.
    let stop = super::shutdown_signal();
    let tracker = Tracker::new(config, Some(observer));
    let bind_error = |what: &str, addr: SocketAddr, e| {
        Failure::failed(anyhow::anyhow!("cannot {what} {addr}: {e}"))
    };
    if let Some(addr) = http {
        let bound = tracker
            .clone()
            .serve_http(net.clone(), addr)
            .await
            .map_err(|e| bind_error("listen on", addr, e))?;
        println!("http: http://{bound}/announce");
    }
    if let Some(addr) = udp {
        let bound = tracker
            .clone()
            .serve_udp(net.clone(), addr)
            .await
            .map_err(|e| bind_error("bind", addr, e))?;
        println!("udp: udp://{bound}");
        // A UDP socket on an IPv6 address talks IPv6 only: `[::]` means both families, so
        // IPv4 gets a socket of its own on the same port.
        if addr.ip() == std::net::Ipv6Addr::UNSPECIFIED {
            let v4 = SocketAddr::from(([0, 0, 0, 0], bound.port()));
            let bound = tracker
                .clone()
                .serve_udp(net, v4)
                .await
                .map_err(|e| bind_error("bind", v4, e))?;
            println!("udp: udp://{bound}");
        }
    }
    // Scripts read the addresses before the first request; make sure they are out even when
    // stdout is a pipe.
    let _ = std::io::stdout().flush();
    stop.await;
    Ok(())
}

/// A seed from the OS: the binary may use the OS's randomness; the library only sees the seed.
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}
