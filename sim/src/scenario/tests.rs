//! Scenario faults are typed: each kind parses into its variant with its own fields, and a
//! wrong kind, a missing host or a stray key is refused with the reason.

use serde::Deserialize;

use super::{NetFault, TrackerFault};

#[derive(Debug, Deserialize)]
struct Faults {
    #[serde(default)]
    faults: Vec<NetFault>,
    #[serde(default)]
    tracker: Vec<TrackerFault>,
}

fn parse(text: &str) -> Result<Faults, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[test]
fn every_fault_kind_parses_into_its_variant() {
    let f = parse(
        r#"
        [[faults]]
        at_s = 8
        action = "partition"
        a = "client"
        b = "seeders-x"
        [[faults]]
        at_s = 9.5
        action = "restart"
        a = "client"
        [[tracker]]
        kind = "down"
        from_s = 0
        until_s = 40
        [[tracker]]
        kind = "failure"
        from_s = 1
        [[tracker]]
        kind = "http-error"
        from_s = 2
        status = 503
        "#,
    )
    .expect("parses");
    assert!(
        matches!(&f.faults[0], NetFault::Partition(l) if l.a == "client" && l.b == "seeders-x")
    );
    assert!(matches!(&f.faults[1], NetFault::Restart(h) if h.a == "client"));
    assert_eq!(f.faults[1].when().at_s, 9.5);
    assert_eq!(f.faults[0].when().at_verified, None);
    assert!(matches!(f.tracker[0], TrackerFault::Down(_)));
    assert_eq!(f.tracker[0].window(), (0.0, Some(40.0)));
    assert!(matches!(&f.tracker[1], TrackerFault::Failure(w) if w.message == "scripted failure"));
    assert_eq!(f.tracker[1].window(), (1.0, None));
    assert!(matches!(
        &f.tracker[2],
        TrackerFault::HttpError(w) if w.status == 503
    ));
}

#[test]
fn wrong_faults_are_refused_with_the_reason() {
    let cases = [
        (
            "[[faults]]\nat_s = 1\naction = \"explode\"\na = \"x\"\n",
            "unknown variant `explode`",
        ),
        (
            "[[faults]]\nat_s = 1\naction = \"partition\"\na = \"x\"\n",
            "missing field `b`",
        ),
        (
            "[[faults]]\nat_s = 1\naction = \"crash\"\na = \"x\"\nb = \"y\"\n",
            "unknown field `b`",
        ),
        (
            "[[faults]]\nat_s = 1\naction = \"crash\"\n",
            "missing field `a`",
        ),
        (
            "[[tracker]]\nkind = \"flaky\"\nfrom_s = 0\n",
            "unknown variant `flaky`",
        ),
        (
            "[[tracker]]\nkind = \"down\"\nfrom_s = 0\nstatus = 500\n",
            "unknown field `status`",
        ),
    ];
    for (text, want) in cases {
        let err = parse(text).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn a_fault_may_wait_for_progress_and_for_the_fault_before_it() {
    let f = parse(
        "[[faults]]\naction = \"crash\"\na = \"client\"\nat_verified = 0.9\n\
         [[faults]]\naction = \"restart\"\na = \"client\"\nafter_s = 2\n",
    )
    .expect("parses");
    let (crash, restart) = (f.faults[0].when(), f.faults[1].when());
    assert_eq!((crash.at_s, crash.at_verified), (0.0, Some(0.9)));
    assert_eq!((restart.after_s, restart.at_verified), (2.0, None));
}

/// A small scenario whose `[expect]` table is open at the end, for tests to finish.
const SMALL: &str = r#"
    name = "x"
    seed = 1
    [torrent]
    name = "a"
    piece_length = 16384
    files = [["a", 100000]]
    [[seeders]]
    name = "dsl"
    [[leechers]]
    name = "client"
    [expect]
    complete = ["client"]
"#;

#[test]
fn time_bounds_must_be_positive() {
    let base = SMALL;
    assert!(super::Scenario::from_toml(&format!("{base}within_s = 10\nwall_s = 5")).is_ok());
    for bad in [
        "within_s = 0",
        "within_s = 10\nwall_s = 0",
        "within_s = 10\nwall_s = -1",
    ] {
        let err = super::Scenario::from_toml(&format!("{base}{bad}")).unwrap_err();
        assert!(err.to_string().contains("must be positive"), "{bad}: {err}");
    }
}

#[test]
fn host_caps_and_links_name_known_hosts() {
    let base = format!("{SMALL}within_s = 10\n[network]\n");
    let ok = "hosts = [{ name = \"seeders-dsl\", up = \"300K\" }, { name = \"tracker\", down = 5 }]\nlinks = [{ a = \"client\", b = \"seeders-dsl\", latency_ms = 100 }]";
    let sc = super::Scenario::from_toml(&format!("{base}{ok}")).unwrap();
    let listed = "\n[tracker]\npeers = [\"client\", \"seeders-dsl:7000\", \"10.0.0.1:5\"]";
    assert!(super::Scenario::from_toml(&format!("{base}{ok}{listed}")).is_ok());
    assert_eq!(sc.network.hosts[0].up, Some(300 << 10));
    for (bad, why) in [
        ("hosts = [{ name = \"seeders-x\", up = 1 }]", "unknown host"),
        (
            "hosts = [{ name = \"client\", down = 0 }]",
            "must be positive",
        ),
        (
            "links = [{ a = \"client\", b = \"far\", latency_ms = 1 }]",
            "unknown host",
        ),
        (
            "hosts = [{ name = \"client\", up = \"fast\" }]",
            "not a number",
        ),
        ("[tracker]\npeers = [\"nobody\"]", "unknown host"),
        ("[tracker]\npeers = [\"seeders-x:7000\"]", "unknown host"),
    ] {
        let err = format!(
            "{:#}",
            super::Scenario::from_toml(&format!("{base}{bad}")).unwrap_err()
        );
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// A small valid scenario with `tracker` as its tracker section.
fn with_tracker(tracker: &str) -> anyhow::Result<super::Scenario> {
    super::Scenario::from_toml(&format!(
        r#"
        name = "t"
        seed = 1
        [torrent]
        name = "d"
        piece_length = 16384
        files = [["d", 40000]]
        {tracker}
        [[seeders]]
        name = "s"
        [[leechers]]
        name = "client"
        [expect]
        complete = ["client"]
        within_s = 10
        "#
    ))
}

#[test]
fn more_trackers_are_listed_by_tier_and_their_checks_hold() {
    let sc = with_tracker(
        r#"
        [tracker]
        kind = "udp"
        [[tracker.more]]
        name = "late"
        tier = 2
        [[tracker.more]]
        name = "beside"
        kind = "udp"
        [[tracker.more]]
        name = "hidden"
        listed = false
        faults = [{ kind = "redirect", from_s = 0, to = "late" }]
        "#,
    )
    .expect("valid");
    assert_eq!(
        sc.tracker.announce_list(),
        [
            vec!["udp://tracker:6969", "udp://beside:6969"],
            vec!["http://late:6969/announce"],
        ]
    );
    let refused = [
        // A redirect from a UDP tracker, to a UDP one, to nowhere.
        r#"[tracker]
        kind = "udp"
        faults = [{ kind = "redirect", from_s = 0, to = "b" }]
        [[tracker.more]]
        name = "b""#,
        r#"[tracker]
        faults = [{ kind = "redirect", from_s = 0, to = "b" }]
        [[tracker.more]]
        name = "b"
        kind = "udp""#,
        r#"[tracker]
        faults = [{ kind = "redirect", from_s = 0, to = "nowhere" }]"#,
        // Names taken, kinds that are no tracker, more trackers without a first one.
        r#"[[tracker.more]]
        name = "client""#,
        r#"[[tracker.more]]
        name = "tracker""#,
        r#"[[tracker.more]]
        name = "Backup""#,
        r#"[[tracker.more]]
        name = "sim""#,
        r#"[[tracker.more]]
        name = "x"
        kind = "none""#,
        r#"[tracker]
        kind = "none"
        [[tracker.more]]
        name = "x""#,
    ];
    for text in refused {
        assert!(with_tracker(text).is_err(), "accepted: {text}");
    }
}
