//! `bitswarm` in a terminal as a person meets it: log lines go above the live progress bar and
//! never through it, colour only on a terminal and never with `NO_COLOR`, no escape codes in a
//! pipe, and the demo's live progress with its ban told as it happens.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::bitswarm_in;
use common::fixture::{sha256_tree, Fixture};
use common::process::{free_port, poll_until, Proc};
use common::pty::{self, PtyRun};

/// The warning the failing tracker makes the client log.
const WARNING: &str = "announce failed";

/// An HTTP tracker on loopback that takes a second over every announce and then fails it,
/// so the client's warning comes while its progress bar is on screen. Returns its URL.
fn failing_tracker() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || fail_slowly(stream));
        }
    });
    url
}

fn fail_slowly(mut stream: TcpStream) {
    if !common::read_http_request(&mut stream) {
        return;
    }
    std::thread::sleep(Duration::from_secs(1));
    let body = b"d14:failure reason18:tracker overloadede";
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// A 4 MiB torrent announced to a failing tracker, and a `bitswarm seed` of it capped at
/// 1 MiB/s (so a download takes about four seconds). Returns the fixture, the seed's
/// process and its port.
fn slow_swarm(dir: &Path) -> (Fixture, Proc, u16) {
    let fixture = Fixture::single(dir, "data.bin", 4 << 20, "256KiB", &[failing_tracker()]);
    let port = free_port();
    let mut cmd = bitswarm_in(dir);
    cmd.args(["seed", fixture.torrent.to_str().unwrap()])
        .arg(&fixture.parent)
        .args(["--port", &port.to_string(), "--max-up", "1M", "--no-dht"]);
    let mut seed = Proc::spawn("seed", cmd, &dir.join("logs"));
    poll_until(Duration::from_secs(30), "the seed to listen", || {
        seed.assert_running();
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())
    });
    (fixture, seed, port)
}

/// `bitswarm download` of the slow swarm's torrent from its seed alone.
fn download(dir: &Path, fixture: &Fixture, port: u16) -> Command {
    let mut cmd = bitswarm_in(dir);
    cmd.args(["download", fixture.torrent.to_str().unwrap(), "-o"])
        .arg(dir.join("out"))
        .args(["--peer", &format!("127.0.0.1:{port}"), "--no-dht"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    cmd
}

/// Runs a download of a fresh slow swarm in a terminal; checks it completed intact, that the
/// bar was on screen before the first warning, and that every log line is whole.
fn download_in_terminal(no_color: bool) -> PtyRun {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _seed, port) = slow_swarm(dir.path());
    let mut cmd = download(dir.path(), &fixture, port);
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let run = pty::run(cmd, Duration::from_secs(60));
    assert!(run.status.success(), "{}", run.text());
    assert_eq!(
        sha256_tree(&dir.path().join("out/data.bin")),
        fixture.digests
    );
    let (bar, warning) = bar_then_warning(&run);
    assert!(bar < warning, "the warning came before the bar was drawn");
    assert_log_lines_whole(&run);
    run
}

/// Where the first progress bar was drawn and where the first warning was written, in bytes.
fn bar_then_warning(run: &PtyRun) -> (usize, usize) {
    let find = |needle: &[u8]| run.raw.windows(needle.len()).position(|w| w == needle);
    let bar = find(b"% [").unwrap_or_else(|| panic!("no progress bar: {}", run.text()));
    let warning = find(WARNING.as_bytes()).unwrap_or_else(|| panic!("no warning: {}", run.text()));
    (bar, warning)
}

/// Every log line on the final screen is whole, on a row of its own from its timestamp on,
/// and nothing of the bar is left anywhere.
fn assert_log_lines_whole(run: &PtyRun) {
    let screen = run.screen();
    let all = screen.join("\n");
    let warnings: Vec<&String> = screen.iter().filter(|r| r.contains(WARNING)).collect();
    assert!(!warnings.is_empty(), "{all}");
    for row in warnings {
        let stamped = row.len() > 4 && row.as_bytes()[..4].iter().all(u8::is_ascii_digit);
        assert!(stamped, "a log line does not start its row: {row:?}\n{all}");
        assert!(
            row.contains(" WARN ") && (row.ends_with("/announce") || row.ends_with("retry_in=15s")),
            "a log line is cut or has something after it: {row:?}\n{all}"
        );
    }
    assert!(
        !screen.iter().any(|r| r.contains("% [")),
        "the bar left lines behind:\n{all}"
    );
    assert!(
        screen
            .iter()
            .any(|r| r.starts_with("data.bin: complete in ")),
        "{all}"
    );
}

#[test]
fn log_lines_go_above_the_progress_bar() {
    let run = download_in_terminal(false);
    assert!(
        pty::has_sgr(&run.raw),
        "no colour on a terminal: {}",
        run.text()
    );
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let run = download_in_terminal(true);
    assert!(
        !pty::has_sgr(&run.raw),
        "colour despite NO_COLOR: {}",
        run.text()
    );
}

#[test]
fn piped_output_has_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let (fixture, _seed, port) = slow_swarm(dir.path());
    let out = download(dir.path(), &fixture, port)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(WARNING), "{stderr}");
    assert!(stderr.contains("data.bin: complete in "), "{stderr}");
    assert!(
        !out.stderr.contains(&0x1b),
        "escape codes in a pipe: {stderr:?}"
    );
    assert!(!out.stdout.contains(&0x1b), "escape codes in a pipe");
}

#[test]
fn the_demo_shows_its_progress_and_the_ban_as_it_happens() {
    let home = tempfile::tempdir().unwrap();
    let mut demo = bitswarm_in(home.path());
    demo.arg("demo");
    let run = pty::run(demo, Duration::from_secs(120));
    assert!(run.status.success(), "{}", run.text());
    let text = run.text();
    // The bar's own lines: what follows each `% [` up to the next escape or carriage return.
    let draws: Vec<&str> = text
        .split("% [")
        .skip(1)
        .map(|d| d.split(['\x1b', '\r']).next().unwrap_or_default())
        .collect();
    for shown in ["down ", "/s", " peers ", " wasted ", " banned 1"] {
        assert!(
            draws.iter().any(|d| d.contains(shown)),
            "the live progress never showed {shown:?}: {draws:?}"
        );
    }
    // The ban is told while the download runs: the bar is drawn again after it.
    let ban = text.find("banned 127.0.0.1:").expect("no ban line");
    assert!(
        text[ban..].contains("% ["),
        "the ban was told only at the end"
    );
    let screen = run.screen();
    let all = screen.join("\n");
    let bans: Vec<&String> = screen
        .iter()
        .filter(|r| r.contains("banned 127.0.0.1:"))
        .collect();
    assert_eq!(bans.len(), 1, "{all}");
    assert!(
        bans[0].starts_with("banned 127.0.0.1:") && bans[0].ends_with(" (the corrupting seeder)"),
        "{all}"
    );
    assert!(
        !screen.iter().any(|r| r.contains("% [")),
        "the bar left lines behind:\n{all}"
    );
    assert!(
        all.contains("every piece verified, every file intact, the liar banned"),
        "{all}"
    );
}
