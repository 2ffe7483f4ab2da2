//! Flag validation and the config file of `download` and `seed`: bad values are one line and
//! exit 2, the file's values apply, flags override them, unknown keys are refused, and the
//! default file is found through `XDG_CONFIG_HOME` or `HOME`.
//!
//! Every run sets `HOME` and `XDG_CONFIG_HOME` to a fresh folder, so the config file of
//! whoever runs the tests never leaks in.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::fixture::Fixture;
use common::process::{free_port, poll_until, Proc};
use common::{bitswarm_in, one_line_error};

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["download", "x.torrent", "--seed-ratio", "0"],
        &["download", "x.torrent", "--seed-ratio=-1"],
        &["download", "x.torrent", "--seed-ratio", "nan"],
        &["download", "x.torrent", "--seed-ratio", "inf"],
        &["download", "x.torrent", "--seed-ratio", "lots"],
        &["download", "x.torrent", "--seed-time", "0s"],
        &["download", "x.torrent", "--seed-time", "30"],
        &["download", "x.torrent", "--seed-time", "soon"],
        &["download", "x.torrent", "--max-up", "5X"],
        &["download", "x.torrent", "--port", "70000"],
        &["download", "x.torrent", "--seed", "--no-seed"],
        &["download", "x.torrent", "--no-seed", "--seed-time", "1h"],
        &["seed", "x.torrent"],
        &["seed", "x.torrent", "dir", "--seed-ratio", "2"],
        &["seed", "x.torrent", "dir", "--max-up", "lots"],
        &["completions", "tcsh"],
    ];
    insta::assert_snapshot!(common::usage_transcript(home.path(), cases));
}

/// Writes `text` as a config file in `dir` and returns its path.
fn config_file(dir: &Path, text: &str) -> String {
    let path = dir.join("bitswarm.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn bad_config_files_are_one_line_naming_the_file_and_key() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_str().unwrap();
    let cases = [
        "port = 6881\ncolour = \"red\"\n",
        "max_up = \"5X\"\n",
        "seed_ratio = -2.0\n",
        "seed_time = 90\n",
        "[download]\nseed = true\n",
        "port = 6881\nport = 6882\n",
    ];
    let mut transcript = String::new();
    for text in cases {
        let config = config_file(home.path(), text);
        let out = bitswarm_in(home.path())
            .args(["download", "x.torrent", "--config", &config])
            .output()
            .unwrap();
        let line = one_line_error(&out, 2).replace(dir, "[HOME]");
        transcript.push_str(&format!("{text}=> {line}\n"));
    }
    let out = bitswarm_in(home.path())
        .args(["seed", "x.torrent", ".", "--config", "absent.toml"])
        .output()
        .unwrap();
    transcript.push_str(&one_line_error(&out, 2));
    insta::assert_snapshot!(transcript);
}

#[test]
fn the_default_file_is_found_through_xdg_config_home_then_home() {
    let home = tempfile::tempdir().unwrap();
    let bad = "colour = 1\n";
    let xdg = home.path().join("xdg/bitswarm/config.toml");
    let dot_config = home.path().join(".config/bitswarm/config.toml");
    for path in [&xdg, &dot_config] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bad).unwrap();
    }
    let run = |xdg_home: Option<&str>| {
        let mut cmd = bitswarm_in(home.path());
        match xdg_home {
            Some(value) => cmd.env("XDG_CONFIG_HOME", value),
            None => cmd.env_remove("XDG_CONFIG_HOME"),
        };
        let out = cmd.args(["download", "x.torrent"]).output().unwrap();
        one_line_error(&out, 2)
    };
    let named = |path: &Path| format!("bitswarm: {}: `colour`: unknown key", path.display());
    assert!(run(Some(home.path().join("xdg").to_str().unwrap())).starts_with(&named(&xdg)));
    assert!(run(None).starts_with(&named(&dot_config)));
    // The XDG spec says a relative value is to be ignored.
    assert!(run(Some("relative")).starts_with(&named(&dot_config)));
    // No file at all: the defaults, and the missing torrent is the only complaint.
    let empty = tempfile::tempdir().unwrap();
    let out = bitswarm_in(empty.path())
        .args(["download", "x.torrent"])
        .output()
        .unwrap();
    assert!(one_line_error(&out, 2).starts_with("bitswarm: cannot read x.torrent"));
}

/// A single-file torrent of 7 pieces whose whole content is in `fixture.parent`.
fn small_fixture(dir: &Path) -> Fixture {
    Fixture::single(dir, "data.bin", 100_000, "16KiB", &[])
}

/// Runs `cmd` to its end (at most 30 s) and returns its `--json` summary.
fn json_summary(cmd: Command, dir: &Path, name: &str) -> serde_json::Value {
    let mut proc = Proc::spawn(name, cmd, &dir.join("logs"));
    let status = proc.wait_timeout(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", proc.report());
    serde_json::from_str(proc.stdout().trim()).unwrap()
}

#[test]
fn the_file_sets_the_output_folder_and_the_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let torrent = fixture.torrent.to_str().unwrap();
    let empty = dir.path().join("empty");
    // The content is complete where the file points: done at once, nothing downloaded.
    let config = config_file(dir.path(), &format!("output = {:?}\n", fixture.parent));
    let mut cmd = bitswarm_in(dir.path());
    cmd.args(["download", torrent, "--json", "--config", &config]);
    let summary = json_summary(cmd, dir.path(), "from-file");
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["had"], fixture.total_length, "{summary}");
    // The file points at an empty folder, where the download would wait for peers forever;
    // `-o` points at the content.
    let config = config_file(dir.path(), &format!("output = {empty:?}\n"));
    let mut cmd = bitswarm_in(dir.path());
    cmd.args(["download", torrent, "--json", "--config", &config, "-o"])
        .arg(&fixture.parent);
    let summary = json_summary(cmd, dir.path(), "flag-wins");
    assert_eq!(summary["had"], fixture.total_length, "{summary}");
    assert!(!empty.join("data.bin").exists());
}

#[test]
fn the_file_sets_seeding_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let torrent = fixture.torrent.to_str().unwrap();
    let run = |name: &str, config: &str, flags: &[&str]| {
        let config = config_file(dir.path(), config);
        let mut cmd = bitswarm_in(dir.path());
        cmd.args(["download", torrent, "--json", "--config", &config, "-o"])
            .arg(&fixture.parent)
            .args(flags);
        json_summary(cmd, dir.path(), name)
    };
    // `seed_time` implies seeding: the run lasts at least that long after completing.
    let summary = run("file-time", "seed_time = \"1s\"\n", &[]);
    assert!(summary["elapsed_s"].as_f64().unwrap() >= 1.0, "{summary}");
    assert_eq!(summary["ratio"], 0.0, "{summary}");
    // The flag's time replaces the file's hour.
    let summary = run("flag-time", "seed_time = \"1h\"\n", &["--seed-time", "1s"]);
    assert!(summary["elapsed_s"].as_f64().unwrap() >= 1.0, "{summary}");
    // Seeding forever per the file, but not this time.
    run("no-seed", "seed = true\n", &["--no-seed"]);
    // `seed = false` keeps the file's limit from starting a seed.
    run("seed-false", "seed = false\nseed_time = \"1h\"\n", &[]);
}

/// Starts `bitswarm seed` of the fixture with `flags` and waits until `port` accepts peers.
fn start_seed(dir: &Path, fixture: &Fixture, flags: &[&str], port: u16) -> Proc {
    let mut cmd = bitswarm_in(dir);
    cmd.arg("seed")
        .arg(&fixture.torrent)
        .arg(&fixture.parent)
        .args(flags);
    let mut proc = Proc::spawn(&format!("seed-{port}"), cmd, &dir.join("logs"));
    poll_until(Duration::from_secs(30), "the seed to listen", || {
        proc.assert_running();
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())
    });
    proc
}

#[test]
fn the_file_sets_the_port_and_the_flag_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = small_fixture(dir.path());
    let (from_file, from_flag) = (free_port(), free_port());
    let config = config_file(dir.path(), &format!("port = {from_file}\n"));
    let mut by_file = start_seed(dir.path(), &fixture, &["--config", &config], from_file);
    let flags = ["--config", &config, "--port", &from_flag.to_string()];
    let mut by_flag = start_seed(dir.path(), &fixture, &flags, from_flag);
    for proc in [&mut by_file, &mut by_flag] {
        proc.signal("INT");
        let status = proc.wait_timeout(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{}", proc.report());
    }
}
