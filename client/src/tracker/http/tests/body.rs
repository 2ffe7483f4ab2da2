//! Tests of HTTP tracker bodies: hand-written announce and scrape answers, every rejection,
//! the peer bound, and encode-then-parse round trips.

use proptest::prelude::*;

use super::*;
use crate::bencode::{self, Value};
use crate::tracker::{AnnounceResponse, ScrapeStats, MAX_PEERS};

#[test]
fn parses_compact_announce() {
    let body = b"d8:completei5e10:incompletei3e8:intervali1800e12:min intervali60e\
        5:peers12:\x0a\x00\x00\x01\x1a\xe1\xc0\xa8\x01\x02\xc8\xd5\
        6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1\
        10:tracker id3:abc15:warning message4:hmm!11:external ip4:\x01\x02\x03\x04e";
    let expected = AnnounceResponse {
        interval: Some(1800),
        min_interval: Some(60),
        tracker_id: Some("abc".into()),
        complete: Some(5),
        incomplete: Some(3),
        warning: Some("hmm!".into()),
        external_ip: Some([1, 2, 3, 4].into()),
        peers: vec![
            addr("10.0.0.1:6881"),
            addr("192.168.1.2:51413"),
            addr("[2001:db8::1]:6881"),
        ],
    };
    assert_eq!(parse_announce(body), Ok(expected));
}

#[test]
fn parses_dictionary_model_announce() {
    let body = b"d8:intervali900e5:peersl\
        d2:ip8:10.0.0.14:porti6881ee\
        d2:ip11:2001:db8::14:porti80ee\
        d2:ip5:[::2]4:porti81ee\
        d2:ip11:example.org4:porti1ee\
        d2:ip8:10.0.0.24:porti0ee\
        d2:ip8:10.0.0.17:peer id20:xxxxxxxxxxxxxxxxxxxx4:porti6881ee\
        ee";
    let resp = parse_announce(body).unwrap();
    assert_eq!(resp.interval, Some(900));
    assert_eq!(
        resp.peers,
        vec![
            addr("10.0.0.1:6881"),
            addr("[2001:db8::1]:80"),
            addr("[::2]:81")
        ]
    );
    assert_eq!(resp.tracker_id, None);
}

#[test]
fn minimal_and_odd_announce_fields() {
    assert_eq!(parse_announce(b"de"), Ok(AnnounceResponse::default()));
    let resp = parse_announce(b"d8:intervali1099511627776e10:tracker id1:\xffe").unwrap();
    assert_eq!(resp.interval, Some(u32::MAX), "absurd intervals saturate");
    assert_eq!(resp.tracker_id, None, "a non-UTF-8 tracker id is not kept");
    let resp = parse_announce(b"d15:warning message2:a\xffe").unwrap();
    assert_eq!(resp.warning.as_deref(), Some("a\u{fffd}"));
    let v6 = parse_announce(b"d11:external ip16:\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x09e");
    assert_eq!(
        v6.unwrap().external_ip,
        Some("2001:db8::9".parse().unwrap())
    );
}

#[test]
fn failure_wins_over_everything() {
    let body = b"d14:failure reason11:bad passkey8:intervali60e5:peers0:e";
    let e = parse_announce(body).unwrap_err();
    assert_eq!(e, Error::Failure("bad passkey".into()));
    assert_eq!(e.to_string(), "tracker failure: bad passkey");
    assert_eq!(
        parse_scrape(body, &InfoHash(TRICKY)),
        Err(Error::Failure("bad passkey".into()))
    );
    assert_eq!(
        parse_announce(b"d14:failure reasoni1ee"),
        Err(malformed(
            "failure reason",
            "expected a string, got integer"
        ))
    );
}

#[test]
fn announce_rejections_name_the_field() {
    let cases: &[(&[u8], Error)] = &[
        (
            b"le",
            malformed("response", "expected a dictionary, got list"),
        ),
        (
            b"d5:peers7:1234567e",
            malformed("peers", "7 bytes is not a multiple of 6"),
        ),
        (
            b"d6:peers66:123456e",
            malformed("peers6", "6 bytes is not a multiple of 18"),
        ),
        (
            b"d5:peersi1ee",
            malformed("peers", "expected a string or a list, got integer"),
        ),
        (
            b"d6:peers6lee",
            malformed("peers6", "expected a string, got list"),
        ),
        (
            b"d5:peersli1eee",
            malformed("peers", "entry 0: expected a dictionary, got integer"),
        ),
        (b"d5:peersldeee", malformed("peers", "entry 0: no `ip`")),
        (
            b"d5:peersld2:ipi1eeee",
            malformed("peers", "entry 0: `ip` is integer, expected a string"),
        ),
        (
            b"d5:peersld2:ip1:xeee",
            malformed("peers", "entry 0: no `port`"),
        ),
        (
            b"d5:peersld2:ip1:x4:port1:aeee",
            malformed("peers", "entry 0: `port` is string, expected an integer"),
        ),
        (
            b"d5:peersld2:ip1:x4:porti1eed2:ip1:x4:porti70000eeee",
            malformed("peers", "entry 1: port 70000 out of range"),
        ),
        (
            b"d5:peersld2:ip1:x4:porti-1eeee",
            malformed("peers", "entry 0: port -1 out of range"),
        ),
        (
            b"d8:intervali-1ee",
            malformed("interval", "negative value -1"),
        ),
        (
            b"d12:min interval2:60e",
            malformed("min interval", "expected an integer, got string"),
        ),
        (
            b"d8:completei-5ee",
            malformed("complete", "negative value -5"),
        ),
        (
            b"d10:incompleteli1eee",
            malformed("incomplete", "expected an integer, got list"),
        ),
        (
            b"d10:tracker idi1ee",
            malformed("tracker id", "expected a string, got integer"),
        ),
        (
            b"d15:warning messagedee",
            malformed("warning message", "expected a string, got dictionary"),
        ),
        (
            b"d11:external ip5:12345e",
            malformed("external ip", "5 bytes, expected 4 or 16"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            parse_announce(body).as_ref(),
            Err(expected),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let e = parse_announce(b"d5:peers7:1234567e").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tracker field `peers`: 7 bytes is not a multiple of 6"
    );
}

#[test]
fn bencode_errors_pass_through() {
    let e = parse_announce(b"d8:intervali60e").unwrap_err();
    assert!(matches!(e, Error::Bencode(_)), "{e:?}");
    assert_eq!(e.to_string(), "bencode: unexpected end of input at byte 15");
    assert!(matches!(
        parse_scrape(b"", &InfoHash(TRICKY)),
        Err(Error::Bencode(_))
    ));
}

#[test]
fn keeps_at_most_max_peers() {
    let count = MAX_PEERS + 5;
    let mut compact = Vec::new();
    for i in 0..count as u32 {
        compact.extend_from_slice(&(i + 1).to_be_bytes());
        compact.extend_from_slice(&[0, 1]);
    }
    let mut root = Value::dict();
    root.insert("peers", Value::Bytes(compact));
    root.insert("peers6", Value::bytes([1u8; 18]));
    let resp = parse_announce(&bencode::encode(&root)).unwrap();
    assert_eq!(resp.peers.len(), MAX_PEERS);
    assert_eq!(resp.peers[0], addr("0.0.0.1:1"));
    assert!(
        resp.peers.iter().all(SocketAddr::is_ipv4),
        "v6 came after the bound"
    );
}

#[test]
fn parses_scrape() {
    let body = b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei5e10:downloadedi50e10:incompletei10ee\
        20:BBBBBBBBBBBBBBBBBBBBd8:completei1eeee";
    let stats = |complete, downloaded, incomplete| ScrapeStats {
        complete,
        downloaded,
        incomplete,
    };
    assert_eq!(
        parse_scrape(body, &InfoHash([b'A'; 20])),
        Ok(stats(5, 50, 10))
    );
    assert_eq!(
        parse_scrape(body, &InfoHash([b'B'; 20])),
        Ok(stats(1, 0, 0))
    );
    let missing = InfoHash([b'C'; 20]);
    let e = parse_scrape(body, &missing).unwrap_err();
    assert_eq!(e, Error::NotScraped(missing));
    assert_eq!(
        e.to_string(),
        "scrape response has no entry for info-hash 4343434343434343434343434343434343434343"
    );
}

#[test]
fn scrape_rejections_name_the_field() {
    let a = InfoHash([b'A'; 20]);
    let cases: &[(&[u8], Error)] = &[
        (
            b"i1e",
            malformed("response", "expected a dictionary, got integer"),
        ),
        (b"de", Error::Missing("files")),
        (
            b"d5:filesi1ee",
            malformed("files", "expected a dictionary, got integer"),
        ),
        (
            b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAi1eee",
            malformed("files", "expected dictionaries as values, got integer"),
        ),
        (
            b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei-1eeee",
            malformed("complete", "negative value -1"),
        ),
        (
            b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd10:downloaded0:eee",
            malformed("downloaded", "expected an integer, got string"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            parse_scrape(body, &a).as_ref(),
            Err(expected),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        Error::Missing("files").to_string(),
        "tracker message has no `files` field"
    );
}

#[test]
fn encoders_write_hand_computed_bytes() {
    assert_eq!(
        encode_failure("bad passkey"),
        b"d14:failure reason11:bad passkeye"
    );
    let resp = AnnounceResponse {
        interval: Some(1800),
        peers: vec![addr("10.0.0.1:6881"), addr("[::1]:2")],
        ..AnnounceResponse::default()
    };
    assert_eq!(
        encode_announce_response(&resp, true),
        b"d8:intervali1800e5:peers6:\x0a\x00\x00\x01\x1a\xe1\
          6:peers618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x02e"
    );
    assert_eq!(
        encode_announce_response(&resp, false),
        b"d8:intervali1800e5:peersld2:ip8:10.0.0.14:porti6881eed2:ip3:::14:porti2eeee"
    );
    let stats = ScrapeStats {
        complete: 1,
        downloaded: 2,
        incomplete: 3,
    };
    assert_eq!(
        encode_scrape_response(&[(InfoHash([b'A'; 20]), stats)]),
        b"d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1e10:downloadedi2e10:incompletei3eeee"
    );
}

/// Distinct peers (v4 first, then v6) with non-zero ports and non-zero first address bytes.
fn peers() -> impl Strategy<Value = Vec<SocketAddr>> {
    let v4 = (1u8..=255, any::<[u8; 3]>(), 1u16..)
        .prop_map(|(a, [b, c, d], port)| SocketAddr::new([a, b, c, d].into(), port));
    let v6 = (1u8..=255, any::<[u8; 15]>(), 1u16..).prop_map(|(a, rest, port)| {
        let mut ip = [a; 16];
        ip[1..].copy_from_slice(&rest);
        SocketAddr::new(ip.into(), port)
    });
    (
        prop::collection::vec(v4, 0..30),
        prop::collection::vec(v6, 0..30),
    )
        .prop_map(|(a, b)| {
            let mut seen = std::collections::BTreeSet::new();
            a.into_iter().chain(b).filter(|p| seen.insert(*p)).collect()
        })
}

fn announce_response() -> impl Strategy<Value = AnnounceResponse> {
    let counts = prop::array::uniform4(prop::option::of(any::<u32>()));
    let ip = prop::option::of(prop_oneof![
        any::<[u8; 4]>().prop_map(std::net::IpAddr::from),
        any::<[u8; 16]>().prop_map(std::net::IpAddr::from),
    ]);
    let text = prop::option::of(".{0,20}");
    (counts, text.clone(), text, ip, peers()).prop_map(
        |(
            [interval, min_interval, complete, incomplete],
            tracker_id,
            warning,
            external_ip,
            peers,
        )| {
            AnnounceResponse {
                interval,
                min_interval,
                tracker_id,
                complete,
                incomplete,
                warning,
                external_ip,
                peers,
            }
        },
    )
}

/// Bencoded dictionaries using the keys the parsers look for, with values of every shape, so
/// fuzzing reaches past the "not a dictionary" check.
fn tracker_like_body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        (-3i64..70_000).prop_map(Value::Int),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "[0-9a-f:.\\[\\]]{0,20}".prop_map(Value::bytes),
    ];
    let value = leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Dict(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(key(), value, 0..8)
        .prop_map(|m| bencode::encode(&Value::Dict(m.into_iter().collect())))
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        "peers",
        "peers6",
        "ip",
        "port",
        "interval",
        "min interval",
        "complete",
        "incomplete",
        "downloaded",
        "tracker id",
        "warning message",
        "external ip",
        "failure reason",
        "files",
        "AAAAAAAAAAAAAAAAAAAA",
    ])
    .prop_map(|k| k.as_bytes().to_vec())
}

proptest! {
    #[test]
    fn announce_response_round_trips(resp in announce_response(), compact: bool) {
        let body = encode_announce_response(&resp, compact);
        prop_assert_eq!(parse_announce(&body), Ok(resp));
    }

    #[test]
    fn scrape_response_round_trips(
        files in prop::collection::btree_map(any::<[u8; 20]>(), any::<(u32, u32, u32)>(), 1..10),
    ) {
        let files: Vec<(InfoHash, ScrapeStats)> = files
            .into_iter()
            .map(|(h, (complete, downloaded, incomplete))| {
                (InfoHash(h), ScrapeStats { complete, downloaded, incomplete })
            })
            .collect();
        let body = encode_scrape_response(&files);
        for (hash, stats) in &files {
            prop_assert_eq!(parse_scrape(&body, hash), Ok(*stats));
        }
    }

    #[test]
    fn failure_round_trips(reason in ".{0,60}") {
        prop_assert_eq!(parse_announce(&encode_failure(&reason)), Err(Error::Failure(reason)));
    }

    #[test]
    fn tracker_like_bodies_never_panic(body in tracker_like_body()) {
        if let Ok(resp) = parse_announce(&body) {
            prop_assert!(resp.peers.iter().all(|p| p.port() != 0 && !p.ip().is_unspecified()));
        }
        let _ = parse_scrape(&body, &InfoHash([b'A'; 20]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_announce(&body);
        let _ = parse_scrape(&body, &InfoHash([b'A'; 20]));
    }
}
