//! Tests of the UDP tracker codec: hand-computed packets, every rejection, and property tests.

use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::tracker::{AnnounceRequest, AnnounceResponse, Error, Event, ScrapeStats};
use crate::{InfoHash, PeerId};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn hash(first: [u8; 4], fill: u8) -> InfoHash {
    let mut h = [fill; 20];
    h[..4].copy_from_slice(&first);
    InfoHash(h)
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: hash([0x00, 0x20, 0x7e, 0xff], 0x11),
        peer_id: PeerId::ours([0x42; 12]),
        port: 6881,
        uploaded: 5,
        downloaded: 0x1122,
        left: 1 << 40,
        event: Event::Started,
        numwant: None,
        key: 0x1234_5678,
        tracker_id: Some("ignored over udp".into()),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn connect_request_bytes() {
    assert_eq!(
        connect_request(0xdead_beef).to_vec(),
        unhex("00000417 27101980 00000000 deadbeef")
    );
}

#[test]
fn announce_request_bytes() {
    let expected = unhex(
        "0102030405060708 00000001 aabbccdd
         00207eff 11111111111111111111111111111111
         2d425730 3130302d 424242424242424242424242
         0000000000001122 0000010000000000 0000000000000005
         00000002 00000000 12345678 ffffffff 1ae1",
    );
    let packet = announce_request(0x0102_0304_0506_0708, 0xaabb_ccdd, &request());
    assert_eq!(packet.len(), 98);
    assert_eq!(packet.to_vec(), expected);
}

#[test]
fn announce_request_event_and_num_want_fields() {
    let cases = [
        (Event::None, 0u32),
        (Event::Completed, 1),
        (Event::Started, 2),
        (Event::Stopped, 3),
    ];
    for (event, code) in cases {
        let packet = announce_request(1, 2, &AnnounceRequest { event, ..request() });
        assert_eq!(packet[80..84], code.to_be_bytes(), "{event:?}");
    }
    let wants = [
        (Some(50), [0, 0, 0, 0x32]),
        (Some(u32::MAX), [0x7f, 0xff, 0xff, 0xff]),
    ];
    for (numwant, bytes) in wants {
        let packet = announce_request(
            1,
            2,
            &AnnounceRequest {
                numwant,
                ..request()
            },
        );
        assert_eq!(packet[92..96], bytes);
    }
}

#[test]
fn scrape_request_bytes_and_limit() {
    let hashes = [hash([1, 2, 3, 4], 0), hash([0xff; 4], 0xee)];
    let expected = unhex(
        "0000000000000009 00000002 00000007
         01020304 00000000000000000000000000000000
         ffffffff eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
    );
    assert_eq!(scrape_request(9, 7, &hashes).unwrap(), expected);
    assert_eq!(scrape_request(9, 7, &[]).unwrap().len(), 16);
    let many = vec![hash([0; 4], 0); 75];
    assert_eq!(scrape_request(9, 7, &many[..74]).unwrap().len(), 1496);
    let e = scrape_request(9, 7, &many).unwrap_err();
    assert_eq!(e, Error::TooManyHashes(75));
    assert_eq!(
        e.to_string(),
        "udp scrape of 75 info-hashes, at most 74 fit in one request"
    );
}

#[test]
fn parses_connect_response() {
    let packet = unhex("00000000 deadbeef 0123456789abcdef");
    let expected = Response::Connect {
        connection_id: 0x0123_4567_89ab_cdef,
    };
    assert_eq!(
        parse_response(&packet, 0xdead_beef, false),
        Ok(expected.clone())
    );
    let mut longer = packet.clone();
    longer.push(0);
    assert_eq!(parse_response(&longer, 0xdead_beef, true), Ok(expected));
    assert_eq!(
        parse_response(&packet[..15], 0xdead_beef, false),
        Err(Error::Truncated {
            what: "connect",
            len: 15,
            need: 16
        })
    );
}

#[test]
fn parses_ipv4_announce_response() {
    let packet = unhex(
        "00000001 00000005 00000708 00000003 00000007
         0a000001 1ae1
         c0a80102 c8d5
         0a000001 1ae1
         01020304 0000",
    );
    let expected = AnnounceResponse {
        interval: Some(1800),
        incomplete: Some(3),
        complete: Some(7),
        peers: vec![addr("10.0.0.1:6881"), addr("192.168.1.2:51413")],
        ..AnnounceResponse::default()
    };
    assert_eq!(
        parse_response(&packet, 5, false),
        Ok(Response::Announce(expected))
    );
}

#[test]
fn parses_ipv6_announce_response() {
    let packet = unhex(
        "00000001 00000005 0000003c 00000000 00000001
         20010db8000000000000000000000001 1ae1",
    );
    let Ok(Response::Announce(resp)) = parse_response(&packet, 5, true) else {
        panic!("not an announce");
    };
    assert_eq!(resp.peers, vec![addr("[2001:db8::1]:6881")]);
    assert_eq!(
        (resp.interval, resp.min_interval, resp.warning),
        (Some(60), None, None)
    );
}

#[test]
fn announce_response_rejections() {
    let header = unhex("00000001 00000005 0000003c 00000000 00000001");
    assert_eq!(
        parse_response(&header[..19], 5, false),
        Err(Error::Truncated {
            what: "announce",
            len: 19,
            need: 20
        })
    );
    let mut partial = header.clone();
    partial.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    let e = parse_response(&partial, 5, false).unwrap_err();
    assert_eq!(
        e,
        Error::Malformed {
            field: "peers",
            problem: "7 bytes is not a multiple of 6".into()
        }
    );
    let mut two_v4 = header;
    two_v4.extend_from_slice(&[1; 12]);
    assert!(matches!(
        parse_response(&two_v4, 5, true),
        Err(Error::Malformed { field: "peers", .. })
    ));
}

#[test]
fn parses_scrape_response() {
    let packet = unhex(
        "00000002 00000009
         00000001 00000002 00000003
         ffffffff 00000000 0000000a",
    );
    let expected = vec![
        ScrapeStats {
            complete: 1,
            downloaded: 2,
            incomplete: 3,
        },
        ScrapeStats {
            complete: u32::MAX,
            downloaded: 0,
            incomplete: 10,
        },
    ];
    assert_eq!(
        parse_response(&packet, 9, false),
        Ok(Response::Scrape(expected))
    );
    assert_eq!(
        parse_response(&packet[..8], 9, false),
        Ok(Response::Scrape(vec![]))
    );
    assert_eq!(
        parse_response(&packet[..21], 9, false),
        Err(Error::Malformed {
            field: "scrape",
            problem: "13 bytes of counts is not a multiple of 12".into()
        })
    );
}

#[test]
fn parses_error_response() {
    let mut packet = unhex("00000003 00000001");
    packet.extend_from_slice(b"no such torrent \xff");
    assert_eq!(
        parse_response(&packet, 1, false),
        Ok(Response::Error("no such torrent \u{fffd}".into()))
    );
    assert_eq!(
        parse_response(&packet[..8], 1, false),
        Ok(Response::Error(String::new()))
    );
}

#[test]
fn response_header_rejections() {
    for len in 0..8 {
        assert_eq!(
            parse_response(&[0; 8][..len], 0, false),
            Err(Error::Truncated {
                what: "response",
                len,
                need: 8
            })
        );
    }
    // A stray error packet is a mismatch too, not a tracker failure.
    let e = parse_response(&unhex("00000003 00000002 41"), 1, false).unwrap_err();
    assert_eq!(
        e,
        Error::TransactionMismatch {
            expected: 1,
            got: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "udp transaction id 0x00000002 does not match 0x00000001"
    );
    let e = parse_response(&unhex("00000004 00000001"), 1, false).unwrap_err();
    assert_eq!(e, Error::UnknownAction(4));
    assert_eq!(e.to_string(), "unknown udp action 4");
}

#[test]
fn response_encoders_write_hand_computed_bytes() {
    assert_eq!(
        encode_connect_response(0xdead_beef, 0x0123_4567_89ab_cdef).to_vec(),
        unhex("00000000 deadbeef 0123456789abcdef")
    );
    let peers = [
        addr("10.0.0.1:6881"),
        addr("[::1]:2"),
        addr("192.168.1.2:51413"),
    ];
    assert_eq!(
        encode_announce_response(5, 1800, 3, 7, &peers, false),
        unhex("00000001 00000005 00000708 00000003 00000007 0a0000011ae1 c0a80102c8d5")
    );
    assert_eq!(
        encode_announce_response(5, 1800, 3, 7, &peers, true),
        unhex(
            "00000001 00000005 00000708 00000003 00000007
             00000000000000000000000000000001 0002"
        )
    );
    let stats = [ScrapeStats {
        complete: 1,
        downloaded: 2,
        incomplete: 3,
    }];
    assert_eq!(
        encode_scrape_response(9, &stats),
        unhex("00000002 00000009 00000001 00000002 00000003")
    );
    assert_eq!(encode_error(1, "no"), unhex("00000003 00000001 6e6f"));
}

#[test]
fn parses_requests() {
    assert_eq!(
        parse_request(&connect_request(0xdead_beef)),
        Ok(Request::Connect {
            transaction_id: 0xdead_beef
        })
    );
    let mut bad_magic = connect_request(1);
    bad_magic[0] = 1;
    let e = parse_request(&bad_magic).unwrap_err();
    assert_eq!(e, Error::BadProtocolId(0x0100_0417_2710_1980));
    assert_eq!(
        e.to_string(),
        "udp connect request has protocol id 0x100041727101980, expected 0x41727101980"
    );

    let packet = announce_request(3, 4, &request());
    let expected = AnnounceRequest {
        tracker_id: None,
        ..request()
    };
    assert_eq!(
        parse_request(&packet),
        Ok(Request::Announce {
            connection_id: 3,
            transaction_id: 4,
            req: expected
        })
    );
    assert_eq!(
        parse_request(&packet[..97]),
        Err(Error::Truncated {
            what: "announce",
            len: 97,
            need: 98
        })
    );
    let mut bad_event = packet;
    bad_event[83] = 4;
    assert_eq!(
        parse_request(&bad_event),
        Err(Error::Malformed {
            field: "event",
            problem: "unknown event number 4".into()
        })
    );
    // Any negative num_want, not only -1, means "tracker's choice".
    let mut minus_two = packet;
    minus_two[92..96].copy_from_slice(&(-2i32).to_be_bytes());
    let Ok(Request::Announce { req, .. }) = parse_request(&minus_two) else {
        panic!("not an announce");
    };
    assert_eq!(req.numwant, None);

    let hashes = [hash([1, 2, 3, 4], 5)];
    let scrape = scrape_request(6, 7, &hashes).unwrap();
    assert_eq!(
        parse_request(&scrape),
        Ok(Request::Scrape {
            connection_id: 6,
            transaction_id: 7,
            hashes: hashes.to_vec()
        })
    );
    assert!(matches!(
        parse_request(&scrape[..35]),
        Err(Error::Malformed {
            field: "info_hash",
            ..
        })
    ));
    assert_eq!(
        parse_request(&[0; 15]),
        Err(Error::Truncated {
            what: "request",
            len: 15,
            need: 16
        })
    );
    let mut unknown = connect_request(1);
    unknown[11] = 9;
    assert_eq!(parse_request(&unknown), Err(Error::UnknownAction(9)));
}

#[test]
fn retransmission_schedule_follows_bep_15() {
    let schedule: Vec<u64> = (0..MAX_ATTEMPTS)
        .map(|n| retransmit_timeout(n).as_secs())
        .collect();
    assert_eq!(schedule, [15, 30, 60, 120, 240, 480, 960, 1920, 3840]);
    assert_eq!(retransmit_timeout(9), Duration::from_secs(3840));
    assert_eq!(retransmit_timeout(u32::MAX), Duration::from_secs(3840));
    assert_eq!(CONNECTION_ID_TTL, Duration::from_secs(60));
    assert_eq!(
        PROTOCOL_ID.to_be_bytes(),
        [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80]
    );
}

/// Distinct peers of one family with non-zero ports and a non-zero first address byte (so none
/// is unspecified), in generation order.
fn peers(ipv6: bool) -> impl Strategy<Value = Vec<SocketAddr>> {
    let one =
        (1u8..=255, any::<[u8; 15]>(), 1u16..=u16::MAX).prop_map(move |(first, rest, port)| {
            let ip: std::net::IpAddr = if ipv6 {
                let mut b = [0u8; 16];
                b[0] = first;
                b[1..].copy_from_slice(&rest);
                b.into()
            } else {
                [first, rest[0], rest[1], rest[2]].into()
            };
            SocketAddr::new(ip, port)
        });
    prop::collection::vec(one, 0..64).prop_map(|mut list| {
        let mut seen = std::collections::BTreeSet::new();
        list.retain(|a| seen.insert(*a));
        list
    })
}

fn stats() -> impl Strategy<Value = ScrapeStats> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(complete, downloaded, incomplete)| {
        ScrapeStats {
            complete,
            downloaded,
            incomplete,
        }
    })
}

fn announce_req() -> impl Strategy<Value = AnnounceRequest> {
    (
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        any::<(u16, u64, u64, u64, u32)>(),
        0u32..4,
        prop::option::of(0..=i32::MAX.unsigned_abs()),
    )
        .prop_map(
            |(h, p, (port, uploaded, downloaded, left, key), e, numwant)| AnnounceRequest {
                info_hash: InfoHash(h),
                peer_id: PeerId(p),
                port,
                uploaded,
                downloaded,
                left,
                event: Event::from_udp_code(e).unwrap(),
                numwant,
                key,
                tracker_id: None,
            },
        )
}

proptest! {
    #[test]
    fn connect_response_round_trips(tid: u32, cid: u64, ipv6: bool) {
        let packet = encode_connect_response(tid, cid);
        prop_assert_eq!(
            parse_response(&packet, tid, ipv6),
            Ok(Response::Connect { connection_id: cid })
        );
    }

    #[test]
    fn announce_response_round_trips(
        tid: u32, interval: u32, leechers: u32, seeders: u32,
        (ipv6, list) in any::<bool>().prop_flat_map(|v6| (Just(v6), peers(v6))),
    ) {
        let packet = encode_announce_response(tid, interval, leechers, seeders, &list, ipv6);
        let expected = AnnounceResponse {
            interval: Some(interval),
            complete: Some(seeders),
            incomplete: Some(leechers),
            peers: list,
            ..AnnounceResponse::default()
        };
        prop_assert_eq!(parse_response(&packet, tid, ipv6), Ok(Response::Announce(expected)));
    }

    #[test]
    fn scrape_response_round_trips(tid: u32, list in prop::collection::vec(stats(), 0..80)) {
        let packet = encode_scrape_response(tid, &list);
        prop_assert_eq!(parse_response(&packet, tid, false), Ok(Response::Scrape(list)));
    }

    #[test]
    fn error_response_round_trips(tid: u32, message in ".{0,100}") {
        let packet = encode_error(tid, &message);
        prop_assert_eq!(parse_response(&packet, tid, false), Ok(Response::Error(message)));
    }

    #[test]
    fn other_transactions_are_mismatches(
        packet in prop::collection::vec(any::<u8>(), 8..64), expected: u32, ipv6: bool,
    ) {
        let got = u32::from_be_bytes(packet[4..8].try_into().unwrap());
        prop_assume!(got != expected);
        prop_assert_eq!(
            parse_response(&packet, expected, ipv6),
            Err(Error::TransactionMismatch { expected, got })
        );
    }

    #[test]
    fn requests_round_trip(
        cid: u64, tid: u32, req in announce_req(),
        hashes in prop::collection::vec(any::<[u8; 20]>().prop_map(InfoHash), 0..=74),
    ) {
        prop_assert_eq!(
            parse_request(&connect_request(tid)),
            Ok(Request::Connect { transaction_id: tid })
        );
        prop_assert_eq!(
            parse_request(&announce_request(cid, tid, &req)),
            Ok(Request::Announce { connection_id: cid, transaction_id: tid, req })
        );
        prop_assert_eq!(
            parse_request(&scrape_request(cid, tid, &hashes).unwrap()),
            Ok(Request::Scrape { connection_id: cid, transaction_id: tid, hashes })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        packet in prop::collection::vec(any::<u8>(), 0..200), tid: u32, ipv6: bool,
    ) {
        let _ = parse_response(&packet, tid, ipv6);
        let _ = parse_request(&packet);
    }

    /// Arbitrary bodies behind a valid header, so every action's parser is reached.
    #[test]
    fn arbitrary_bodies_never_panic(
        act in 0u32..5, tid: u32, ipv6: bool, cid: u64,
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut response = [act.to_be_bytes(), tid.to_be_bytes()].concat();
        response.extend_from_slice(&body);
        let _ = parse_response(&response, tid, ipv6);
        let magic = if act == action::CONNECT { PROTOCOL_ID } else { cid };
        let mut request = [&magic.to_be_bytes()[..], &act.to_be_bytes(), &tid.to_be_bytes()].concat();
        request.extend_from_slice(&body);
        let _ = parse_request(&request);
    }
}
