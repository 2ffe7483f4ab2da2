//! `bitswarm manpages`: one page per command, each naming every flag its `--help` names, and
//! each one that groff formats without a warning.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::run;

/// The long flags (`--seed-ratio`) a text mentions.
fn long_flags(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if name.len() > 1 {
            flags.insert(format!("--{name}"));
        }
    }
    flags
}

#[test]
fn every_command_gets_a_page_with_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["manpages", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let listed: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert_eq!(listed, written);
    let pages = [
        ("bitswarm.1", vec![]),
        ("bitswarm-info.1", vec!["info"]),
        ("bitswarm-create.1", vec!["create"]),
        ("bitswarm-download.1", vec!["download"]),
        ("bitswarm-seed.1", vec!["seed"]),
        ("bitswarm-tracker.1", vec!["tracker"]),
        ("bitswarm-sim.1", vec!["sim"]),
        ("bitswarm-sim-matrix.1", vec!["sim", "matrix"]),
        ("bitswarm-sim-sweep.1", vec!["sim", "sweep"]),
        ("bitswarm-demo.1", vec!["demo"]),
        ("bitswarm-completions.1", vec!["completions"]),
        ("bitswarm-manpages.1", vec!["manpages"]),
    ];
    assert_eq!(written.len(), pages.len(), "{written:?}");
    for (page, command) in pages {
        // Roff writes a hyphen as `\-`.
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap()
            .replace("\\-", "-");
        let title = format!("\n.TH {} 1 ", page.trim_end_matches(".1"));
        assert!(text.contains(&title), "{page}: {text}");
        let mut args = command.clone();
        args.push("--help");
        let help = run(&args);
        assert!(help.status.success(), "{args:?}");
        let help = String::from_utf8(help.stdout).unwrap();
        let missing: Vec<String> = long_flags(&help)
            .difference(&long_flags(&text))
            .cloned()
            .collect();
        assert!(missing.is_empty(), "{page} lacks {missing:?}");
    }
    let Some(groff) = common::tool("groff") else {
        return;
    };
    for page in &written {
        let out = Command::new(&groff)
            .args(["-man", "-Tutf8", "-ww", "-z", page])
            .output()
            .unwrap();
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{page}: {warnings}"
        );
    }
}
