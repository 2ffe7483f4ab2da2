//! `bitswarm tracker` as a process: it prints its URLs, answers HTTP and UDP announces on
//! loopback, stops cleanly on SIGTERM, and rejects bad flags and busy ports with one line.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bitswarm_client::tracker::udp::{self, Response};
use bitswarm_client::tracker::{http, AnnounceRequest, Event};
use bitswarm_client::{InfoHash, PeerId};
use common::bitswarm;

/// How long the process may take to start or to answer; generous for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `bitswarm tracker`, killed and reaped when dropped so no test leaks a process.
struct Running {
    child: Child,
    /// The announce URL printed on the `http:` line.
    http: Option<SocketAddr>,
    /// The address printed on the `udp:` line.
    udp: Option<SocketAddr>,
}

impl Running {
    /// Starts the tracker with `args` and reads the `expected_lines` address lines it prints.
    fn start(args: &[&str], expected_lines: usize) -> Running {
        let mut child = bitswarm()
            .arg("tracker")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bitswarm tracker");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut running = Running {
            child,
            http: None,
            udp: None,
        };
        for line in read_lines(stdout, expected_lines) {
            if let Some(url) = line.strip_prefix("http: http://") {
                let addr = url.strip_suffix("/announce").expect("announce path");
                running.http = Some(addr.parse().expect("http address"));
            } else if let Some(addr) = line.strip_prefix("udp: udp://") {
                running.udp = Some(addr.parse().expect("udp address"));
            } else {
                panic!("unexpected line {line:?}");
            }
        }
        running
    }

    /// Sends `signal` (a `kill` option such as `-TERM`) and waits for the exit code.
    fn signal_and_wait(mut self, signal: &str) -> Option<i32> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status();
        assert!(sent.expect("run kill").success());
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the tracker did not stop within 10 s of {signal}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `n` lines of `stdout`, read on a thread so a silent process fails the test
/// instead of hanging it.
fn read_lines(stdout: ChildStdout, n: usize) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..n {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let _ = tx.send(line.trim_end().to_owned());
        }
    });
    (0..n)
        .map(|i| {
            rx.recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("line {i} of the tracker's output never came"))
        })
        .collect()
}

fn request(peer: u8, port: u16) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x33; 20]),
        peer_id: PeerId([peer; 20]),
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event: Event::Started,
        numwant: None,
        key: 0,
        tracker_id: None,
    }
}

/// A hand-written `GET` of `target` over a plain TCP stream; the response body.
fn get(tracker: SocketAddr, target: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(tracker).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {tracker}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    response.split_off(split + 4)
}

/// One UDP request and its answer.
fn exchange(socket: &UdpSocket, tracker: SocketAddr, packet: &[u8], transaction: u32) -> Response {
    socket.send_to(packet, tracker).unwrap();
    let mut buf = [0u8; 2048];
    let (len, from) = socket.recv_from(&mut buf).expect("udp answer");
    assert_eq!(from, tracker);
    udp::parse_response(&buf[..len], transaction, false).unwrap()
}

#[test]
fn serves_http_and_udp_announces_until_sigterm() {
    let running = Running::start(&["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"], 2);
    let (http_addr, udp_addr) = (running.http.unwrap(), running.udp.unwrap());
    assert_ne!(http_addr.port(), 0);
    assert_ne!(udp_addr.port(), 0);

    let first = http::announce_url("/announce", &request(1, 6881));
    let body = get(http_addr, &first);
    assert!(http::parse_announce(&body).unwrap().peers.is_empty());

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let Response::Connect { connection_id } =
        exchange(&socket, udp_addr, &udp::connect_request(7), 7)
    else {
        panic!("no connection id");
    };
    let announce = udp::announce_request(connection_id, 8, &request(2, 6882));
    let Response::Announce(resp) = exchange(&socket, udp_addr, &announce, 8) else {
        panic!("no announce answer");
    };
    // HTTP and UDP share the swarm.
    assert_eq!(resp.peers, ["127.0.0.1:6881".parse().unwrap()]);
    assert_eq!(resp.incomplete, Some(2));

    let scrape = http::scrape_url("http://x/announce", &[InfoHash([0x33; 20])]).unwrap();
    let body = get(http_addr, scrape.trim_start_matches("http://x"));
    let stats = http::parse_scrape(&body, &InfoHash([0x33; 20])).unwrap();
    assert_eq!((stats.complete, stats.incomplete), (0, 2));

    assert_eq!(running.signal_and_wait("-TERM"), Some(0));
}

#[test]
fn only_the_asked_protocol_is_served() {
    let running = Running::start(&["--udp", "127.0.0.1:0"], 1);
    assert!(running.http.is_none());
    assert!(running.udp.is_some());
    assert_eq!(running.signal_and_wait("-INT"), Some(0));
}

#[test]
fn udp_on_the_ipv6_wildcard_serves_both_families() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: this host has no IPv6 loopback");
        return;
    }
    // `[::]` is the IPv6 socket (IPv6 only) and an IPv4 one on the same port.
    let running = Running::start(&["--udp", "[::]:0"], 2);
    let port = running.udp.expect("udp line").port();
    for (local, tracker) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
        let socket = UdpSocket::bind(local).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        let tracker = SocketAddr::new(tracker.parse().unwrap(), port);
        let answer = exchange(&socket, tracker, &udp::connect_request(9), 9);
        assert!(matches!(answer, Response::Connect { .. }), "{tracker}");
    }
    assert_eq!(running.signal_and_wait("-TERM"), Some(0));
}

#[test]
fn a_bad_address_is_a_usage_error() {
    let out = common::run(&["tracker", "--http", "localhost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--http"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_busy_port_fails_with_one_line() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = bitswarm()
        .args(["tracker", "--http", &addr])
        .stdin(Stdio::null())
        .output()
        .expect("run bitswarm");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("bitswarm: cannot listen on {addr}: ")),
        "{err}"
    );
    // The port stayed busy until the process had tried it.
    drop(busy);
}
