//! Tests of HTTP tracker URLs: byte-wise escaping, base URLs with queries and fragments, the
//! BEP 48 scrape rewrite, and reading query strings back.

use proptest::prelude::*;

use super::*;

#[test]
fn announce_url_escapes_bytewise() {
    let expected = format!(
        "http://t.example/announce?info_hash={TRICKY_ESCAPED}&peer_id={PEER_ESCAPED}\
         &port=6881&uploaded=5&downloaded=4386&left=0&compact=1&event=completed&numwant=50\
         &key=0000BEEF&trackerid=a%20b%2F%C3%A9"
    );
    assert_eq!(
        announce_url("http://t.example/announce", &request()),
        expected
    );
}

#[test]
fn announce_url_omits_optional_parameters() {
    let req = AnnounceRequest {
        event: Event::None,
        numwant: None,
        tracker_id: None,
        key: 0,
        ..request()
    };
    let url = announce_url("http://t.example/announce", &req);
    assert!(url.ends_with("&left=0&compact=1&key=00000000"), "{url}");
    for event in [Event::Started, Event::Stopped] {
        let url = announce_url(
            "http://t",
            &AnnounceRequest {
                event,
                ..req.clone()
            },
        );
        let name = event.http_name().unwrap();
        assert!(
            url.ends_with(&format!("&compact=1&event={name}&key=00000000")),
            "{url}"
        );
    }
}

#[test]
fn announce_url_keeps_query_and_drops_fragment() {
    let prefix = format!("?info_hash={TRICKY_ESCAPED}&");
    let cases = [
        (
            "http://t.example/a.php?passkey=xyz#top",
            "http://t.example/a.php?passkey=xyz&",
        ),
        ("http://t.example/a?", "http://t.example/a?"),
        (
            "http://t.example/a?passkey=xyz&",
            "http://t.example/a?passkey=xyz&",
        ),
        ("http://t.example/a#frag?x", "http://t.example/a?"),
    ];
    for (base, start) in cases {
        let url = announce_url(base, &request());
        let expected = format!("{start}info_hash={TRICKY_ESCAPED}&peer_id=");
        assert!(url.starts_with(&expected), "{base} gave {url}");
        assert!(!url.contains('#'), "{url}");
    }
    let url = announce_url("http://t.example/a", &request());
    assert!(
        url.starts_with(&format!("http://t.example/a{prefix}")),
        "{url}"
    );
}

#[test]
fn scrape_url_follows_bep_48() {
    let h = [InfoHash(TRICKY), InfoHash([0x41; 20])];
    let cases: &[(&str, Option<&str>)] = &[
        ("http://t.example/announce", Some("http://t.example/scrape")),
        (
            "http://t.example:80/x/announce.php",
            Some("http://t.example:80/x/scrape.php"),
        ),
        (
            "http://t.example/announce?passkey=a",
            Some("http://t.example/scrape?passkey=a"),
        ),
        (
            "https://t.example/announce#frag",
            Some("https://t.example/scrape"),
        ),
        (
            "http://t.example/x/announcer",
            Some("http://t.example/x/scraper"),
        ),
        ("http://t.example/a", None),
        ("http://t.example/announce/", None),
        ("http://t.example/ann", None),
        ("http://t.example/x/Announce", None),
        ("http://announce.example", None),
        ("http://announce.example/", None),
        ("http://t.example/a?next=/announce", None),
        ("announce", None),
        ("", None),
    ];
    for (announce, expected) in cases {
        assert_eq!(
            scrape_url(announce, &[]).as_deref(),
            *expected,
            "{announce}"
        );
    }
    assert_eq!(
        scrape_url("http://t.example/announce?pk=1", &h).unwrap(),
        format!(
            "http://t.example/scrape?pk=1&info_hash={TRICKY_ESCAPED}\
             &info_hash=AAAAAAAAAAAAAAAAAAAA"
        )
    );
    assert_eq!(
        scrape_url("http://t.example/announce", &h[1..]).unwrap(),
        "http://t.example/scrape?info_hash=AAAAAAAAAAAAAAAAAAAA"
    );
}

#[test]
fn parses_announce_query() {
    let url = announce_url("http://t.example/announce?passkey=x", &request());
    let query = url.split_once('?').unwrap().1;
    assert_eq!(parse_announce_query(query), Ok(request()));
    let minimal = format!(
        "info_hash={TRICKY_ESCAPED}&peer_id={PEER_ESCAPED}&port=1&uploaded=0&downloaded=0\
         &left=7&event=empty&compact=0&info_hash=ignored"
    );
    let req = parse_announce_query(&minimal).unwrap();
    assert_eq!(req.info_hash, InfoHash(TRICKY));
    assert_eq!(
        (req.port, req.left, req.event, req.key),
        (1, 7, Event::None, 0)
    );
    assert_eq!((req.numwant, req.tracker_id), (None, None));
}

#[test]
fn announce_query_rejections() {
    let full = format!(
        "info_hash={TRICKY_ESCAPED}&peer_id={PEER_ESCAPED}&port=1&uploaded=0&downloaded=0&left=7"
    );
    for field in [
        "info_hash",
        "peer_id",
        "port",
        "uploaded",
        "downloaded",
        "left",
    ] {
        let query: Vec<&str> = full.split('&').filter(|p| !p.starts_with(field)).collect();
        assert_eq!(
            parse_announce_query(&query.join("&")),
            Err(Error::Missing(field))
        );
    }
    let cases = [
        (
            "&info_hash=abc",
            malformed("info_hash", "3 bytes, expected 20"),
        ),
        ("&peer_id=%00", malformed("peer_id", "1 bytes, expected 20")),
        (
            "&port=65536",
            malformed("port", "not a number in range: \"65536\""),
        ),
        (
            "&left=-1",
            malformed("left", "not a number in range: \"-1\""),
        ),
        (
            "&numwant=x",
            malformed("numwant", "not a number in range: \"x\""),
        ),
        (
            "&event=paused",
            malformed("event", "unknown event: \"paused\""),
        ),
        (
            "&key=123456789",
            malformed("key", "not up to 8 hex digits: \"123456789\""),
        ),
        ("&key=", malformed("key", "not up to 8 hex digits: \"\"")),
        (
            "&trackerid=%FF",
            malformed("trackerid", "not UTF-8: \"\u{fffd}\""),
        ),
    ];
    for (bad, expected) in cases {
        // The bad parameter comes first, so it wins over the good one in `full`.
        let query = format!("{}&{full}", &bad[1..]);
        assert_eq!(parse_announce_query(&query), Err(expected), "{query}");
    }
    let long = format!("port={}&{full}", "9".repeat(100));
    let Err(Error::Malformed { problem, .. }) = parse_announce_query(&long) else {
        panic!("a long port was accepted");
    };
    assert_eq!(problem.len(), "not a number in range: \"\"".len() + 32);
}

#[test]
fn parses_scrape_query() {
    let url = scrape_url(
        "http://t/announce?pk=1",
        &[InfoHash(TRICKY), InfoHash([7; 20])],
    )
    .unwrap();
    let query = url.split_once('?').unwrap().1;
    assert_eq!(
        parse_scrape_query(query),
        Ok(vec![InfoHash(TRICKY), InfoHash([7; 20])])
    );
    assert_eq!(parse_scrape_query(""), Ok(vec![]));
    assert_eq!(
        parse_scrape_query("info_hash=%41"),
        Err(malformed("info_hash", "1 bytes, expected 20"))
    );
}

fn announce_request() -> impl Strategy<Value = AnnounceRequest> {
    (
        any::<([u8; 20], [u8; 20])>(),
        any::<(u16, u64, u64, u64, u32)>(),
        prop_oneof![
            Just(Event::None),
            Just(Event::Started),
            Just(Event::Completed),
            Just(Event::Stopped)
        ],
        prop::option::of(any::<u32>()),
        prop::option::of(".{0,20}"),
    )
        .prop_map(
            |((h, p), (port, uploaded, downloaded, left, key), event, numwant, tracker_id)| {
                AnnounceRequest {
                    info_hash: InfoHash(h),
                    peer_id: PeerId(p),
                    port,
                    uploaded,
                    downloaded,
                    left,
                    event,
                    numwant,
                    key,
                    tracker_id,
                }
            },
        )
}

proptest! {
    #[test]
    fn announce_url_round_trips(base in "http://[a-z]{1,8}/announce(\\?pk=[a-z]{1,5})?", req in announce_request()) {
        let url = announce_url(&base, &req);
        let query = url.split_once('?').unwrap().1;
        prop_assert_eq!(parse_announce_query(query), Ok(req));
    }

    #[test]
    fn scrape_url_round_trips(hashes in prop::collection::vec(any::<[u8; 20]>().prop_map(InfoHash), 0..10)) {
        let url = scrape_url("http://t.example/announce?pk=1", &hashes).unwrap();
        prop_assert!(url.starts_with("http://t.example/scrape?pk=1"));
        let query = url.split_once('?').unwrap().1;
        prop_assert_eq!(parse_scrape_query(query), Ok(hashes));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse_announce_query(&text);
        let _ = parse_scrape_query(&text);
        let _ = scrape_url(&text, &[InfoHash(TRICKY)]);
        let _ = announce_url(&text, &request());
    }
}
