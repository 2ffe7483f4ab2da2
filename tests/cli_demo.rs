//! `bitswarm demo` end to end on loopback: it must finish, verify every file and ban the liar.

mod common;

#[test]
fn demo_downloads_verifies_and_bans_the_liar() {
    let out = common::run(&["demo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("(the corrupting seeder)"), "{text}");
    assert!(
        text.contains("every piece verified, every file intact, the liar banned"),
        "{text}"
    );
    assert_eq!(text.matches("  ok  ").count(), 3, "{text}");
    assert!(
        !out.stdout.contains(&0x1b),
        "escape codes in a pipe: {text}"
    );
    assert!(!out.stderr.contains(&0x1b), "escape codes in a pipe");
}
