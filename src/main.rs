//! The `bitswarm` command line: parses arguments, runs one command, maps failures to exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like every Unix filter, end quietly when the reader of our output goes away
    // (`bitswarm info x.torrent | head`) instead of panicking on a failed print.
    // SAFETY: called before any other thread exists; restoring the default disposition of
    // SIGPIPE has no other effect on this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    cli::init_tracing(args.quiet_logs());
    match cli::run(args) {
        Ok(code) => code,
        Err(failure) => {
            // One line naming the problem: the whole error chain joined, never a backtrace.
            // Errors quote torrent contents (paths, fields), so they are escaped like them.
            let line = format!("{:#}", failure.error);
            eprintln!("bitswarm: {}", cli::display::escape(&line));
            ExitCode::from(failure.code)
        }
    }
}
