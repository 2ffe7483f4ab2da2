//! The `bitswarm` command line: parses arguments, runs one command, maps failures to exit codes.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Like every Unix filter, end quietly when the reader of our output goes away
    // (`bitswarm info x.torrent | head`) instead of panicking on a failed print.
    // SAFETY: called before any other thread exists; restoring the default disposition of
    // SIGPIPE has no other effect on this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = match cli::parse() {
        Ok(args) => args,
        Err(failure) => return fail(failure),
    };
    cli::init_tracing(args.quiet_logs());
    match cli::run(args) {
        Ok(code) => code,
        Err(failure) => fail(failure),
    }
}

/// Prints one line naming the problem (the whole error chain joined, never a backtrace) and
/// gives the failure's exit code. Errors quote torrent contents and command-line arguments,
/// so they are escaped like them.
fn fail(failure: cli::Failure) -> ExitCode {
    let line = format!("{:#}", failure.error);
    eprintln!("bitswarm: {}", cli::display::escape(&line));
    ExitCode::from(failure.code)
}
