//! Child processes of the interop tests, each owned by a guard that kills and reaps it on drop,
//! plus the free-port and polling helpers every real-peer test needs.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A running child process. Dropping it sends SIGKILL to that one PID and waits for it, so a
/// failing assertion never leaves a tracker or a seeder behind.
pub struct Proc {
    /// The child itself: its PID is the only thing we ever signal.
    child: Child,
    /// A short name for messages ("opentracker", "libtorrent seeder", ...).
    name: String,
    /// Where its stdout goes; read back by [`Proc::stdout`] (files never fill up like pipes do).
    out: PathBuf,
    /// Where its stderr goes; quoted in failure messages.
    err: PathBuf,
    /// Set once the child has been reaped, so drop does not signal a recycled PID.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with stdin closed and stdout/stderr sent to `<log_dir>/<file_stem>.{out,err}`.
    pub fn spawn(name: &str, mut cmd: Command, log_dir: &Path) -> Proc {
        let stem: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        std::fs::create_dir_all(log_dir).expect("create log dir");
        let out = log_dir.join(format!("{stem}.out"));
        let err = log_dir.join(format!("{stem}.err"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&out).expect("create stdout log"))
            .stderr(File::create(&err).expect("create stderr log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            child,
            name: name.to_string(),
            out,
            err,
            status: None,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Stdout and the tail of stderr, for failure messages.
    pub fn report(&self) -> String {
        let err = self.stderr();
        let tail: Vec<&str> = err.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr (tail) ---\n{}",
            self.name,
            self.stdout(),
            self.name,
            tail.join("\n")
        )
    }

    /// The exit status if the child has ended, without blocking.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Panics with the child's output when it has already exited: for use while waiting on it.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_status() {
            panic!(
                "{} exited early with {status}\n{}",
                self.name,
                self.report()
            );
        }
    }

    /// Waits up to `timeout` for the child to exit; on timeout kills it and panics with its output.
    pub fn wait_timeout(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "{} did not finish within {timeout:?}; killed it\n{}",
                    self.name,
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal by name (`HUP`, `TERM`, ...) to this child's PID only.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "could not send SIG{signal} to {} ({})",
            self.name,
            self.pid()
        );
    }

    /// SIGKILL and reap, if still running.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ports this test process has handed out already, so parallel tests never get the same one.
static GIVEN_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port on 127.0.0.1 that is free for both TCP and UDP right now: the kernel picks it (bind to
/// port 0), we release it, and the program under test binds it a moment later. Another process
/// could take it in between; the kernel hands out ephemeral ports in a spread, so that is rare.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = tcp.local_addr().map(|a| a.port()) else {
            continue;
        };
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut given = GIVEN_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if given.insert(port) {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 after 100 tries")
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `timeout` with `what` and
/// the last reason `check` gave (`Err` values are reasons to keep waiting).
pub fn poll_until<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(value) => return value,
            Err(reason) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {reason}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
