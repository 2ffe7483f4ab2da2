//! Ctrl-C during `bitswarm download` with a tracker that never answers: the first signal stops
//! within a couple of seconds (no waiting out tracker timeouts), a second one ends the process
//! at once by that signal.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{poll_until, Proc};
use common::{bitswarm, write_generated};

/// An HTTP tracker on loopback that answers its first `answered` requests with an empty peer
/// list and then holds every connection open without a word. Returns its announce URL and the
/// number of requests it has read.
fn spawn_tracker(answered: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            common::read_http_request(&mut stream);
            if counter.fetch_add(1, Ordering::SeqCst) < answered {
                let body = b"d8:intervali1800e5:peers0:e";
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            } else {
                held.push(stream);
            }
        }
    });
    (url, seen)
}

/// Starts `bitswarm download` of a fresh one-file torrent announced to `tracker`, and waits
/// until the tracker has read `requests` requests.
fn start_download(dir: &Path, tracker: &str, seen: &AtomicUsize, requests: usize) -> Proc {
    write_generated(&dir.join("content/data.bin"), 0, 100_000);
    let torrent = dir.join("data.torrent");
    let out = bitswarm()
        .args([
            "create",
            dir.join("content/data.bin").to_str().unwrap(),
            "-o",
        ])
        .arg(&torrent)
        .args(["-t", tracker])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = bitswarm();
    cmd.args(["download", torrent.to_str().unwrap(), "--quiet", "-o"])
        .arg(dir.join("out"));
    let mut proc = Proc::spawn("bitswarm download", cmd, &dir.join("logs"));
    poll_until(Duration::from_secs(30), "the tracker to be asked", || {
        proc.assert_running();
        let n = seen.load(Ordering::SeqCst);
        if n >= requests {
            Ok(())
        } else {
            Err(format!("{n} requests so far"))
        }
    });
    proc
}

#[test]
fn ctrl_c_stops_quickly_while_the_tracker_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let (tracker, seen) = spawn_tracker(0);
    let mut proc = start_download(dir.path(), &tracker, &seen, 1);
    let asked = Instant::now();
    proc.signal("INT");
    let status = proc.wait_timeout(Duration::from_secs(30));
    let took = asked.elapsed();
    // The tracker's 20 s HTTP timeout must not be waited out. The exact two-second bound is
    // proven on virtual time in the announce task's tests; this is the end-to-end guard.
    assert!(
        took < Duration::from_secs(5),
        "took {took:?}\n{}",
        proc.report()
    );
    assert_eq!(
        status.code(),
        Some(1),
        "incomplete download\n{}",
        proc.report()
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // `started` is answered, so stopping sends `stopped`, which hangs for its 1.5 s deadline.
    let (tracker, seen) = spawn_tracker(1);
    let mut proc = start_download(dir.path(), &tracker, &seen, 1);
    // Let the `started` answer arrive, so the stop will announce `stopped`.
    std::thread::sleep(Duration::from_millis(500));
    proc.signal("INT");
    poll_until(Duration::from_secs(5), "the stopped announce", || {
        let n = seen.load(Ordering::SeqCst);
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} requests so far"))
        }
    });
    proc.signal("INT");
    let status = proc.wait_timeout(Duration::from_secs(30));
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "ended by the second SIGINT, not gracefully: {status}\n{}",
        proc.report()
    );
}
