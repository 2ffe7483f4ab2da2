//! Running the binary in a pseudo-terminal, as a person does in a terminal window, and reading
//! back both the bytes it wrote and the screen those bytes leave behind.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The terminal's width the program is told.
pub const COLS: u16 = 500;
/// The terminal's height the program is told.
pub const ROWS: u16 = 40;

/// What a run in a terminal left.
pub struct PtyRun {
    /// Every byte the program wrote, escape codes and all.
    pub raw: Vec<u8>,
    pub status: ExitStatus,
}

impl PtyRun {
    /// The text of every screen row after the whole output was drawn on a terminal of
    /// [`COLS`] columns with room for every line (so nothing scrolls away), trailing blanks cut.
    pub fn screen(&self) -> Vec<String> {
        let mut parser = vt100::Parser::new(4000, COLS, 0);
        parser.process(&self.raw);
        let mut rows: Vec<String> = parser
            .screen()
            .rows(0, COLS)
            .map(|r| r.trim_end().to_string())
            .collect();
        while rows.last().is_some_and(|r| r.is_empty()) {
            rows.pop();
        }
        rows
    }

    /// The raw output as text, for failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// Kills and reaps the child if the test panics before it ends.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `cmd` with stdin, stdout and stderr on a new pseudo-terminal of [`COLS`] x [`ROWS`]
/// and `TERM=xterm`, collects everything it writes, and kills it after `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> PtyRun {
    let (master, slave) = open();
    cmd.env("TERM", "xterm")
        .stdin(Stdio::from(slave.try_clone().expect("dup pty")))
        .stdout(Stdio::from(slave.try_clone().expect("dup pty")))
        .stderr(Stdio::from(slave));
    let child = cmd.spawn().expect("start the program in a pty");
    // The command keeps its copies of the terminal's fds until dropped; without this the
    // reader would never see the terminal close when the child exits.
    drop(cmd);
    let mut guard = Guard(Some(child));
    let (tx, done) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut file = File::from(master);
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        // Reading fails with EIO once no process holds the terminal open any more.
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(raw);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        let child = guard.0.as_mut().expect("child");
        if let Some(status) = child.try_wait().expect("wait") {
            guard.0 = None;
            break status;
        }
        assert!(Instant::now() < deadline, "still running after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The terminal closes when the child's copies are gone; a grandchild that kept one would
    // hold the reader forever, so wait a bounded time for it.
    let raw = done
        .recv_timeout(Duration::from_secs(10))
        .expect("the terminal stayed open after the program ended");
    let _ = reader.join();
    PtyRun { raw, status }
}

/// A new pseudo-terminal: (master, slave).
fn open() -> (OwnedFd, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the integers we pass and reads the size; the name
    // and termios pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // Close-on-exec, so that no other program a test starts meanwhile (tests run in
    // parallel) inherits this terminal and keeps it open; the child still gets the slave as
    // its stdin, stdout and stderr, which are copies made for it.
    for fd in [master, slave] {
        // SAFETY: fcntl on an fd we own, setting only FD_CLOEXEC.
        let rc = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        assert_eq!(rc, 0, "fcntl: {}", std::io::Error::last_os_error());
    }
    // SAFETY: both fds were just opened for us and nothing else owns them.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Whether `raw` holds an SGR escape sequence (`ESC [ params m`): colour or text attributes.
pub fn has_sgr(raw: &[u8]) -> bool {
    raw.windows(2).enumerate().any(|(i, w)| {
        w == b"\x1b["
            && raw[i + 2..]
                .iter()
                .find(|b| !(b.is_ascii_digit() || **b == b';'))
                .is_some_and(|b| *b == b'm')
    })
}
