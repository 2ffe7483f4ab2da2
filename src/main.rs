//! The `bitswarm` command line: parses arguments, runs one command, maps failures to exit codes.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.quiet_logs());
    match cli::run(args) {
        Ok(code) => code,
        Err(failure) => {
            // One line naming the problem: the whole error chain joined, never a backtrace.
            eprintln!("bitswarm: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
