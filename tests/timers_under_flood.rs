//! A peer flooding the event queue cannot starve the engine's timers: while one peer sends
//! keep-alives as fast as loopback carries them, another that went silent is still dropped
//! when its idle timeout passes. Real sockets on 127.0.0.1, the real torrent driver.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitswarm_client::engine::Reason;
use bitswarm_client::net::TokioNet;
use bitswarm_client::shell::observe::{Observer, Trace, Watch};
use bitswarm_client::shell::{self, Options, Progress};
use bitswarm_client::wire::{Handshake, Reserved, HANDSHAKE_LEN};
use bitswarm_client::{InfoHash, PeerId};
use seeder::{Content, Layout};

/// The idle timeout under test.
const IDLE: Duration = Duration::from_secs(1);

/// Who was dropped, why, and when.
#[derive(Default)]
struct Closes(Mutex<Vec<(SocketAddr, Reason, Instant)>>);

impl Observer for Closes {
    fn record(&self, event: Trace<'_>) {
        if let Trace::Disconnected { peer, reason, .. } = event {
            if let Ok(mut v) = self.0.lock() {
                v.push((peer, reason.clone(), Instant::now()));
            }
        }
    }
}

/// Connects to `port` and completes a handshake for `info_hash` as peer `id`.
fn handshaken(port: u16, info_hash: InfoHash, id: u8) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let hs = Handshake {
        reserved: Reserved::ours(),
        info_hash,
        peer_id: PeerId([id; 20]),
    };
    s.write_all(&hs.encode()).expect("handshake");
    let mut theirs = [0u8; HANDSHAKE_LEN];
    s.read_exact(&mut theirs).expect("their handshake");
    s
}

#[test]
fn a_silent_peer_times_out_while_another_floods_us() {
    let layout = Layout {
        name: "quiet.bin".into(),
        files: vec![("quiet.bin".into(), 1 << 20)],
        piece_length: 64 * 1024,
    };
    let content = Content::new(5, layout).expect("layout");
    let meta = content.metainfo(&[]);
    let info_hash = meta.info_hash;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let closes = Arc::new(Closes::default());
    let mut opts = Options::new(dir.path().to_path_buf(), 3);
    opts.listen = SocketAddr::from(([127, 0, 0, 1], port));
    opts.engine.idle_timeout = IDLE;
    opts.watch = Watch(Some(closes.clone()));
    let done = Arc::new(AtomicBool::new(false));

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (tx, _rx) = tokio::sync::watch::channel(Progress::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let shutdown = {
        let stop = Arc::clone(&stop);
        async move { stop.notified().await }
    };
    let download = runtime.spawn(async move {
        shell::download(TokioNet::new().unwrap(), &meta, opts, shutdown, tx).await
    });
    std::thread::sleep(Duration::from_millis(300));

    let silent = handshaken(port, info_hash, 1);
    let silent_addr = silent.local_addr().unwrap();
    let silent_since = Instant::now();
    let flooder = {
        let done = Arc::clone(&done);
        let mut s = handshaken(port, info_hash, 2);
        std::thread::spawn(move || {
            let keepalives = vec![0u8; 64 * 1024];
            while !done.load(Ordering::Relaxed) && s.write_all(&keepalives).is_ok() {}
        })
    };
    let deadline = silent_since + IDLE * 5;
    let dropped = loop {
        let found = closes
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(peer, _, _)| *peer == silent_addr)
            .cloned();
        if found.is_some() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    done.store(true, Ordering::Relaxed);
    stop.notify_one();
    let _ = flooder.join();
    let _ = runtime.block_on(download);
    drop(silent);
    let (_, reason, at) =
        dropped.expect("the silent peer was never dropped while the flood went on");
    assert_eq!(reason, Reason::Idle);
    let late = at.duration_since(silent_since);
    assert!(late < IDLE * 3, "dropped {late:?} after it went silent");
}
