//! `bitswarm manpages`: a man page for the command and one for each subcommand, generated from
//! the argument definitions so they can never disagree with `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

use super::Failure;

/// Where man looks for pages of one's own, for `--help`.
const INSTALL: &str = "\
Install for yourself, then read one:
  bitswarm manpages ~/.local/share/man/man1 && man bitswarm-download";

#[derive(Debug, clap::Args)]
#[command(after_long_help = INSTALL)]
pub struct Args {
    /// The folder to write the pages into (made if missing): bitswarm.1, bitswarm-download.1...
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot make {}: {e}", args.dir.display())))?;
    let mut command = super::Cli::command().disable_help_subcommand(true);
    // Building names every subcommand `bitswarm-download` and so on, the pages' names.
    command.build();
    let mut written = Vec::new();
    write_pages(command, &args.dir, &mut written)
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot write a man page: {e}")))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the page of `command` and, depth first, of each subcommand not hidden, into `dir`.
fn write_pages(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), dir, written)?;
    }
    written.push(clap_mangen::Man::new(command).generate_to(dir)?);
    Ok(())
}
