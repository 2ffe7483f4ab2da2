//! Tests of the extended handshake: real-looking payloads, leniency per field, the bounds, and
//! properties (round trip, arbitrary bytes never panic).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

#[test]
fn parses_a_typical_handshake() {
    let payload = b"d1:md11:lt_donthavei7e6:ut_pexi1e11:ut_metadatai2e12:ut_holepunchi0ee\
13:metadata_sizei31337e1:pi6881e4:reqqi500e1:v17:libtorrent/2.0.10\
6:yourip4:\x7f\x00\x00\x01e";
    let h = ExtendedHandshake::parse(payload).unwrap();
    assert_eq!(h.id("ut_metadata"), Some(2));
    assert_eq!(h.id("ut_pex"), Some(1));
    assert_eq!(h.id("ut_holepunch"), None, "id 0 means disabled");
    assert_eq!(h.extensions.get("ut_holepunch"), Some(&0));
    assert_eq!(h.id("nothing"), None);
    assert_eq!(h.metadata_size, Some(31337));
    assert_eq!(h.port, Some(6881));
    assert_eq!(h.reqq, Some(500));
    assert_eq!(h.client.as_deref(), Some("libtorrent/2.0.10"));
    assert_eq!(h.your_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[test]
fn an_empty_dictionary_is_a_handshake_with_nothing() {
    assert_eq!(
        ExtendedHandshake::parse(b"de").unwrap(),
        ExtendedHandshake::default()
    );
}

#[test]
fn wrong_types_and_ranges_are_ignored_per_field() {
    let payload = b"d1:mi1e13:metadata_sizei-1e1:pi0e4:reqqi-1e1:v3:abc6:yourip3:abce";
    let h = ExtendedHandshake::parse(payload).unwrap();
    assert_eq!(
        h,
        ExtendedHandshake {
            client: Some("abc".into()),
            ..ExtendedHandshake::default()
        }
    );
    let payload = b"d1:md1:ai256e1:bi-1e1:c1:x1:di3e0:i4e2:\xff\xfei5ee1:pi65536e\
4:reqqi4294967296e1:vi5e13:metadata_sizei16777217ee";
    let h = ExtendedHandshake::parse(payload).unwrap();
    assert_eq!(h.extensions.len(), 1, "{h:?}");
    assert_eq!(h.id("d"), Some(3));
    assert_eq!(
        (h.port, h.reqq, h.client, h.metadata_size),
        (None, None, None, None)
    );
}

#[test]
fn the_limits_hold() {
    let at_limit = format!("d13:metadata_sizei{MAX_METADATA_SIZE}ee");
    let h = ExtendedHandshake::parse(at_limit.as_bytes()).unwrap();
    assert_eq!(h.metadata_size, Some(MAX_METADATA_SIZE));

    let long_name = "x".repeat(MAX_EXTENSION_NAME_LEN + 1);
    let payload = format!("d1:md{}:{long_name}i1e2:oki2eee", long_name.len());
    let h = ExtendedHandshake::parse(payload.as_bytes()).unwrap();
    assert_eq!(h.extensions.keys().collect::<Vec<_>>(), ["ok"]);

    let mut many = ExtendedHandshake::default();
    for i in 0..200 {
        many.extensions.insert(format!("ext{i:03}"), 1);
    }
    let h = ExtendedHandshake::parse(&many.encode()).unwrap();
    assert_eq!(h.extensions.len(), MAX_EXTENSIONS);
    assert!(h.extensions.contains_key("ext000") && !h.extensions.contains_key("ext199"));

    let v = "é".repeat(MAX_CLIENT_LEN);
    let payload = format!("d1:v{}:{v}e", v.len());
    let client = ExtendedHandshake::parse(payload.as_bytes())
        .unwrap()
        .client
        .unwrap();
    assert_eq!(client, "é".repeat(MAX_CLIENT_LEN / 2));
    let payload = b"d1:v4:ab\xffce";
    let client = ExtendedHandshake::parse(payload).unwrap().client.unwrap();
    assert_eq!(client, "ab\u{fffd}c");
}

#[test]
fn ipv6_yourip_is_read() {
    let mut payload = b"d6:yourip16:".to_vec();
    payload.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    payload.push(b'e');
    let h = ExtendedHandshake::parse(&payload).unwrap();
    assert_eq!(h.your_ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
}

#[test]
fn refusals_are_named() {
    assert_eq!(
        ExtendedHandshake::parse(b"li1ee"),
        Err(Error::ExtendedHandshakeNotDict("list"))
    );
    let e = ExtendedHandshake::parse(b"d1:m").unwrap_err();
    assert!(matches!(e, Error::ExtendedHandshakeBencode(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "extended handshake: bencode: unexpected end of input at byte 4"
    );
    assert!(matches!(
        ExtendedHandshake::parse(b"dei1e"),
        Err(Error::ExtendedHandshakeBencode(_))
    ));
    let mut huge = b"d1:x".to_vec();
    huge.extend_from_slice(format!("{}:", MAX_HANDSHAKE_LEN).as_bytes());
    huge.resize(huge.len() + MAX_HANDSHAKE_LEN, b'a');
    huge.push(b'e');
    let len = huge.len();
    let e = ExtendedHandshake::parse(&huge).unwrap_err();
    assert_eq!(
        e,
        Error::ExtendedHandshakeTooLong {
            len,
            max: MAX_HANDSHAKE_LEN
        }
    );
    assert_eq!(
        e.to_string(),
        format!("extended handshake is {len} bytes, over the limit of {MAX_HANDSHAKE_LEN}")
    );
}

#[test]
fn encodes_our_handshake_canonically() {
    let ours = ExtendedHandshake {
        extensions: [("ut_metadata".to_owned(), 3), ("ut_pex".to_owned(), 1)].into(),
        client: Some("bitswarm/0.1.0".into()),
        port: Some(6881),
        reqq: Some(250),
        ..ExtendedHandshake::default()
    };
    assert_eq!(
        ours.encode(),
        b"d1:md11:ut_metadatai3e6:ut_pexi1ee1:pi6881e4:reqqi250e1:v14:bitswarm/0.1.0e"
    );
}

fn arb_handshake() -> impl Strategy<Value = ExtendedHandshake> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ];
    (
        proptest::collection::btree_map("[a-z_]{1,20}", any::<u8>(), 0..MAX_EXTENSIONS),
        proptest::option::of("\\PC{0,25}"),
        proptest::option::of(1u16..),
        proptest::option::of(1u32..),
        proptest::option::of(ip),
        proptest::option::of(1..=MAX_METADATA_SIZE),
    )
        .prop_map(|(extensions, client, port, reqq, your_ip, metadata_size)| {
            ExtendedHandshake {
                extensions,
                client,
                port,
                reqq,
                your_ip,
                metadata_size,
            }
        })
}

proptest! {
    #[test]
    fn parse_inverts_encode(h in arb_handshake()) {
        // Up to 25 characters of at most 4 bytes each fit MAX_CLIENT_LEN uncut.
        prop_assert_eq!(ExtendedHandshake::parse(&h.encode()), Ok(h));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ExtendedHandshake::parse(&bytes);
    }

    #[test]
    fn mutated_handshakes_never_panic_and_stay_bounded(
        h in arb_handshake(),
        at in any::<prop::sample::Index>(),
        b in any::<u8>(),
    ) {
        let mut bytes = h.encode();
        let i = at.index(bytes.len());
        bytes[i] = b;
        if let Ok(parsed) = ExtendedHandshake::parse(&bytes) {
            prop_assert!(parsed.extensions.len() <= MAX_EXTENSIONS);
            prop_assert!(parsed.client.map_or(0, |c| c.len()) <= MAX_CLIENT_LEN);
            prop_assert!(parsed.metadata_size.unwrap_or(0) <= MAX_METADATA_SIZE);
        }
    }
}
