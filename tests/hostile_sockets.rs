//! Real sockets, hostile numbers: under `ulimit -n 1024`, more hostile connections at once than
//! that limit against `bitswarm download` on loopback. The download still completes from the one
//! honest seeder, its peak RSS stays under 64 MiB, and once the hostile peers hang up none of
//! their sockets is left open in bitswarm. Everything stays on 127.0.0.1; the bitswarm process
//! is stopped by its PID if anything goes wrong. Its own test binary: it raises this process's
//! descriptor limit and reads the peak RSS of its only child.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::TokioNet;
use bitswarm_client::wire::{Handshake, Reserved};
use bitswarm_client::PeerId;
use common::process::{free_port, poll_until, Proc};
use seeder::{Behaviour, Content, Layout, Spec};

/// Hostile connections opened at once: well past the 1024 descriptors bitswarm may use.
const HOSTILE: usize = 1500;

/// bitswarm's descriptor limit, as many desktops still set it.
const FD_LIMIT: u32 = 1024;

/// Peak RSS allowed, in KiB.
const MAX_RSS_KIB: i64 = 64 * 1024;

fn content() -> Arc<Content> {
    let layout = Layout {
        name: "flood.bin".into(),
        files: vec![("flood.bin".into(), 24 << 20)],
        piece_length: 256 * 1024,
    };
    Arc::new(Content::new(99, layout).expect("layout"))
}

/// Raises this process's soft descriptor limit so it can hold the whole flood.
fn raise_own_fd_limit() {
    let mut rlim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) };
    let want = (HOSTILE as u64 + 512).min(rlim.rlim_max);
    assert!(
        want > HOSTILE as u64,
        "hard descriptor limit {} too low",
        rlim.rlim_max
    );
    rlim.rlim_cur = want;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) }, 0);
}

/// bitswarm's open sockets (descriptors that are sockets).
fn sockets_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

/// Opens connection `i` of the flood: a third stay silent (holding a handshake slot), a third
/// send a valid handshake for our torrent and then nothing (squatting a peer slot), a third
/// send garbage.
fn hostile(i: usize, port: u16, info_hash: bitswarm_client::InfoHash) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .ok()?;
    match i % 3 {
        0 => {}
        1 => {
            let mut id = [b'x'; 20];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let hs = Handshake {
                reserved: Reserved::ours(),
                info_hash,
                peer_id: PeerId(id),
            };
            let _ = s.write_all(&hs.encode());
        }
        _ => {
            let _ = s.write_all(&[0xff; 512]);
        }
    }
    Some(s)
}

/// The honest seeder, slow enough that the flood hits a running download; its port and task.
fn honest_seeder(content: &Arc<Content>) -> (u16, Vec<tokio::task::JoinHandle<()>>) {
    let port = free_port();
    let spec = Spec {
        count: 1,
        base_port: port,
        behaviour: Behaviour {
            rate: Some(3 << 20),
            ..Behaviour::default()
        },
    };
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let net = TokioNet::new().unwrap();
    let tasks = seeder::spawn_many_at(net, loopback, Arc::clone(content), &spec, &[], 1, None);
    (port, tasks.expect("seeder"))
}

/// `bitswarm download` of `torrent` into `out` under `ulimit -n 1024`, listening on `port`
/// and dialling the seeder.
fn start_bitswarm(torrent: &Path, out: &Path, port: u16, seed_port: u16, logs: &Path) -> Proc {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_bitswarm"))
        .arg("download")
        .arg(torrent)
        .arg("-o")
        .arg(out)
        .args(["--port", &port.to_string(), "--json"])
        .args(["--peer", &format!("127.0.0.1:{seed_port}")]);
    Proc::spawn("bitswarm download", cmd, logs)
}

#[test]
fn more_hostile_connections_than_descriptors_do_not_stop_a_download() {
    raise_own_fd_limit();
    let content = content();
    let dir = tempfile::tempdir().unwrap();
    let torrent = dir.path().join("flood.torrent");
    std::fs::write(&torrent, content.torrent_bytes(&[])).unwrap();
    let out = dir.path().join("out");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _guard = runtime.enter();
    let (seed_port, seeder) = honest_seeder(&content);
    let port = free_port();
    let mut bitswarm = start_bitswarm(&torrent, &out, port, seed_port, dir.path());
    poll_until(Duration::from_secs(20), "bitswarm to listen", || {
        TcpStream::connect(("127.0.0.1", port))
            .map(drop)
            .map_err(|e| e.to_string())
    });
    poll_until(Duration::from_secs(20), "the download to start", || {
        let got = std::fs::metadata(out.join("flood.bin")).map_or(0, |m| m.len());
        (got > 0).then_some(()).ok_or("no data yet".to_string())
    });

    // The flood: more connections at once than bitswarm has descriptors.
    let info_hash = content.info_hash();
    let flood: Vec<TcpStream> = (0..HOSTILE)
        .filter_map(|i| hostile(i, port, info_hash))
        .collect();
    assert!(
        flood.len() > FD_LIMIT as usize,
        "only {} connections opened",
        flood.len()
    );
    bitswarm.assert_running();
    // While it lasts, the flood holds only a bounded share of bitswarm's descriptors: capped
    // handshakes and peer slots, everything else closed on arrival.
    let mut most = 0;
    for _ in 0..20 {
        most = most.max(sockets_of(bitswarm.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    bitswarm.assert_running();
    assert!(most <= 128, "the flood held {most} of bitswarm's sockets");
    // The hostile peers hang up: none of their sockets may stay open in bitswarm.
    drop(flood);
    let left = poll_until(Duration::from_secs(10), "hostile sockets to close", || {
        let n = sockets_of(bitswarm.pid());
        if n <= 6 {
            Ok(n)
        } else {
            Err(format!("{n} sockets still open"))
        }
    });

    let status = bitswarm.wait_timeout(Duration::from_secs(120));
    assert!(status.success(), "bitswarm failed: {}", bitswarm.report());
    let summary: serde_json::Value =
        serde_json::from_str(bitswarm.stdout().trim()).expect("a JSON summary");
    assert_eq!(summary["complete"], true, "{summary}");
    let got = sim::run::sha256_file(&out.join("flood.bin")).unwrap();
    assert_eq!(got, content.file_sha256s()[0], "the file is intact");
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass; bitswarm is this process's only child.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    eprintln!(
        "flood of {HOSTILE}: complete, peak RSS {} KiB, at most {most} sockets open during the \
         flood, {left} after the hang-up",
        usage.ru_maxrss
    );
    assert!(
        usage.ru_maxrss < MAX_RSS_KIB,
        "peak RSS {} KiB",
        usage.ru_maxrss
    );
    for h in seeder {
        h.abort();
    }
}
