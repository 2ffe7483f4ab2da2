//! `bitswarm completions`: each shell's script is printed, names the subcommands and their
//! flags, and (for bash, when installed) is valid shell syntax.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::run;

/// The script for `shell`, after checking the command succeeded quietly.
fn script(shell: &str) -> String {
    let out = run(&["completions", shell]);
    assert!(out.status.success(), "{shell}: {out:?}");
    assert!(out.stderr.is_empty(), "{shell}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_shell_gets_the_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let text = script(shell);
        for word in [
            "download",
            "seed",
            "completions",
            "seed-ratio",
            "max-up",
            "config",
        ] {
            assert!(text.contains(word), "{shell} script lacks {word}");
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash() {
    let Some(bash) = common::tool("bash") else {
        return;
    };
    let mut child = Command::new(bash)
        .arg("-n")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script("bash").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
