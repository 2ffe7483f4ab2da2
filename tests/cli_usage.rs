//! Usage errors as a person meets them: one line naming the problem, clap's suggestion when it
//! has one, the help to read, and exit 2.

mod common;

#[test]
fn usage_errors_are_one_line_with_a_hint() {
    let home = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["downlod", "x.torrent"],
        &["download"],
        &["download", "x.torrent", "--sed"],
        &["download", "x.torrent", "--bogus"],
        &["download", "x.torrent", "--max-peers", "many"],
        &["seed", "x.torrent", "dir", "extra"],
        &["info"],
        &["sim", "matrix", "--lst"],
        &["sim", "x.toml", "--seed", "soon"],
        &["tracker", "--http", "nowhere"],
        &["create"],
        &["manpages"],
        &["--verbose"],
    ];
    insta::assert_snapshot!(common::usage_transcript(home.path(), cases));
}

#[test]
fn bare_bitswarm_prints_the_help_and_exits_2() {
    let out = common::run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let help = String::from_utf8_lossy(&out.stderr);
    assert!(help.contains("Usage: bitswarm <COMMAND>"), "{help}");
}
