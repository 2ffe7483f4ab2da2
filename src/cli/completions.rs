//! `bitswarm completions`: a shell completion script, generated from the argument definitions
//! so it can never disagree with them.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Failure;

/// Where each shell looks for the script, for `--help`.
const INSTALL: &str = "\
Install:
  bash: bitswarm completions bash > ~/.local/share/bash-completion/completions/bitswarm
  zsh:  bitswarm completions zsh > ~/.zfunc/_bitswarm   (with ~/.zfunc in $fpath)
  fish: bitswarm completions fish > ~/.config/fish/completions/bitswarm.fish";

#[derive(Debug, clap::Args)]
#[command(after_long_help = INSTALL)]
pub struct Args {
    /// The shell to complete in.
    shell: Shell,
}

pub fn run(args: Args) -> Result<ExitCode, Failure> {
    let mut command = super::Cli::command();
    // Generated into memory first: clap_complete panics on a failed write, and a closed
    // stdout must be an error line like any other.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "bitswarm", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(anyhow::anyhow!("cannot write the script: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
