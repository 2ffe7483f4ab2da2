//! `bitswarm sim --report`: the page drawn by headless Chromium (Debian's `chromium`). It must
//! run its script without any console message or error, and draw every expected series: each
//! leecher's progress, rates and availability, and a timeline row for each kind of event the
//! run had (bans and hash failures for a corrupting seeder, crashes for a crashing client).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::Proc;

/// Runs `bitswarm sim SCENARIO --report` and returns the page's path in `dir`.
fn report(scenario: &str, dir: &Path) -> std::path::PathBuf {
    let out = dir.join(format!("{scenario}.html"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{scenario}.toml"));
    let run = common::bitswarm()
        .arg("sim")
        .arg(&path)
        .arg("--report")
        .arg(&out)
        .output()
        .expect("run bitswarm sim");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    out
}

/// The DOM after the page's script ran, and Chromium's console log.
fn render(chromium: &Path, page: &Path, dir: &Path) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
    .arg(format!("file://{}", page.display()));
    let mut p = Proc::spawn("chromium", cmd, dir);
    let status = p.wait_timeout(Duration::from_secs(90));
    assert!(status.success(), "{}", p.report());
    (p.stdout(), p.stderr())
}

fn check(scenario: &str, must_have: &[&str]) {
    let Some(chromium) = common::tool("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let page = report(scenario, dir.path());
    let html = std::fs::read_to_string(&page).expect("report written");
    for fetch in [" src=", " href=", "url(", "@import", "<link"] {
        assert!(!html.contains(fetch), "the page must load nothing: {fetch}");
    }
    let (dom, log) = render(&chromium, &page, dir.path());
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("data-status=\"drawn\""),
        "the script did not finish: {}",
        dom.lines()
            .find(|l| l.contains("data-status"))
            .unwrap_or("no body")
    );
    let sc = sim::Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(format!("{scenario}.toml")),
    )
    .expect("scenario");
    let mut expected: Vec<String> = Vec::new();
    for l in &sc.leechers {
        expected.push(format!("progress:{}", l.name));
        expected.push(format!("availability:{}", l.name));
    }
    // The first leecher's rates are drawn: one series per seeder it downloaded from.
    let first = &sc.leechers[0].name;
    expected.push(format!("rate:{first}:seeders-"));
    for kind in must_have {
        expected.push(format!("events:{kind}"));
    }
    for series in expected {
        assert!(
            dom.contains(&format!("data-series=\"{series}")),
            "{scenario}: no series {series} in the drawing"
        );
    }
    // Each drawn polyline has points; each timeline row has markers.
    assert!(!dom.contains("points=\"\""), "an empty series");
    assert!(dom.matches("<rect").count() > 10, "no heat map or markers");
}

#[test]
fn a_corrupting_seeder_run_draws_its_ban_and_hash_failures() {
    check(
        "one-corrupt-seeder",
        &["ban", "hash-failure", "tracker", "announce", "unchoke"],
    );
}

#[test]
fn a_crashing_client_run_draws_the_crash() {
    check("client-crash-restart", &["crash", "lifecycle"]);
}
