//! Deserialising configurations (as scenario files will), choosing the active fault window, and
//! validation.

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn parse(json: &str) -> Result<Config, serde_json::Error> {
    serde_json::from_str(json)
}

fn window(
    from: u64,
    until: Option<u64>,
    kind: FaultKind,
    protocol: Option<Protocol>,
) -> FaultWindow {
    FaultWindow {
        from: secs(from),
        until: until.map(secs),
        kind,
        protocol,
    }
}

#[test]
fn an_empty_object_is_the_default() {
    assert_eq!(parse("{}").unwrap(), Config::default());
    let config = Config::default();
    assert_eq!(config.interval, 1800);
    assert_eq!(config.max_numwant, 50);
    assert_eq!(config.peer_timeout, 3600);
    assert_eq!(config.min_interval, None);
}

#[test]
fn every_field_and_fault_kind_reads() {
    let config = parse(
        r#"{
            "interval": 60, "min_interval": 30, "max_numwant": 5, "peer_timeout": 200, "seed": 9,
            "faults": [
                {"from": "10s", "until": "1m 30s", "kind": {"failure": "overloaded"}, "protocol": "udp"},
                {"from": 5, "until": 7.5, "kind": "timeout"},
                {"kind": "garbage", "protocol": "http"},
                {"from": "2m", "kind": "no_peers"},
                {"from": "250ms", "until": "1s", "kind": "down"},
                {"from": 0, "kind": {"http_error": 503}}
            ]
        }"#,
    )
    .unwrap();
    assert_eq!(config.interval, 60);
    assert_eq!(config.min_interval, Some(30));
    assert_eq!(config.max_numwant, 5);
    assert_eq!(config.peer_timeout, 200);
    assert_eq!(config.seed, 9);
    assert_eq!(
        config.faults.windows,
        [
            window(
                10,
                Some(90),
                FaultKind::Failure("overloaded".into()),
                Some(Protocol::Udp)
            ),
            FaultWindow {
                until: Some(Duration::from_millis(7500)),
                ..window(5, None, FaultKind::Timeout, None)
            },
            window(0, None, FaultKind::Garbage, Some(Protocol::Http)),
            window(120, None, FaultKind::NoPeers, None),
            FaultWindow {
                from: Duration::from_millis(250),
                ..window(0, Some(1), FaultKind::Down, None)
            },
            window(0, None, FaultKind::HttpError(503), None),
        ]
    );
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn mistakes_are_rejected_with_a_reason() {
    let cases = [
        (r#"{"intervall": 5}"#, "unknown field"),
        (r#"{"faults": [{"kind": "sleepy"}]}"#, "unknown variant"),
        (
            r#"{"faults": [{"from": -1, "kind": "down"}]}"#,
            "negative duration -1",
        ),
        (
            r#"{"faults": [{"from": "soon", "kind": "down"}]}"#,
            "bad duration \"soon\"",
        ),
        (
            r#"{"faults": [{"from": -0.5, "kind": "down"}]}"#,
            "bad duration -0.5 s",
        ),
        (r#"{"faults": [{"from": "1s"}]}"#, "missing field `kind`"),
        (
            r#"{"faults": [{"kind": "down", "protocol": "tcp"}]}"#,
            "unknown variant",
        ),
        (
            r#"{"faults": [{"kind": "down", "to": "1s"}]}"#,
            "unknown field",
        ),
    ];
    for (json, expected) in cases {
        let error = parse(json).unwrap_err().to_string();
        assert!(error.contains(expected), "{json}: {error}");
    }
}

#[test]
fn validate_rejects_empty_windows_and_non_error_statuses() {
    let mut config = Config::default();
    config.faults.windows = vec![
        window(0, None, FaultKind::HttpError(404), None),
        window(5, Some(5), FaultKind::Down, None),
    ];
    assert_eq!(
        config.validate(),
        Err(ConfigError::EmptyWindow { index: 1 })
    );
    config.faults.windows[1].until = Some(secs(6));
    assert_eq!(config.validate(), Ok(()));
    config.faults.windows[0].kind = FaultKind::HttpError(200);
    let error = config.validate().unwrap_err();
    assert_eq!(
        error,
        ConfigError::NotAnErrorStatus {
            index: 0,
            status: 200
        }
    );
    assert_eq!(
        error.to_string(),
        "fault window 0: http status 200 is not in 400..=599"
    );
}

#[test]
fn windows_start_inclusive_end_exclusive_and_filter_by_protocol() {
    let faults = Faults {
        windows: vec![
            window(10, Some(20), FaultKind::Down, Some(Protocol::Udp)),
            window(15, Some(30), FaultKind::Timeout, None),
        ],
    };
    let kind = |protocol, at| faults.active(protocol, secs(at)).map(|w| w.kind.clone());
    assert_eq!(kind(Protocol::Udp, 9), None);
    assert_eq!(kind(Protocol::Udp, 10), Some(FaultKind::Down));
    // Overlap: the first listed wins.
    assert_eq!(kind(Protocol::Udp, 17), Some(FaultKind::Down));
    assert_eq!(kind(Protocol::Udp, 20), Some(FaultKind::Timeout));
    assert_eq!(kind(Protocol::Http, 10), None);
    assert_eq!(kind(Protocol::Http, 15), Some(FaultKind::Timeout));
    assert_eq!(kind(Protocol::Http, 29), Some(FaultKind::Timeout));
    assert_eq!(kind(Protocol::Http, 30), None);
}

#[test]
fn an_http_status_is_passed_over_for_udp() {
    let faults = Faults {
        windows: vec![
            window(0, None, FaultKind::HttpError(502), None),
            window(0, None, FaultKind::NoPeers, None),
        ],
    };
    let kind = |protocol| faults.active(protocol, secs(1)).map(|w| w.kind.clone());
    assert_eq!(kind(Protocol::Http), Some(FaultKind::HttpError(502)));
    assert_eq!(kind(Protocol::Udp), Some(FaultKind::NoPeers));
}

#[test]
fn a_window_without_end_lasts_forever() {
    let forever = window(3, None, FaultKind::Garbage, None);
    assert!(!forever.covers(Protocol::Http, secs(2)));
    assert!(forever.covers(Protocol::Http, secs(3)));
    assert!(forever.covers(Protocol::Udp, Duration::MAX));
}
