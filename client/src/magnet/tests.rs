//! Tests of magnet parsing: fixed links, every rejection, and property tests.

use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
const B32: &str = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";

fn hash() -> InfoHash {
    InfoHash::from_hex(HEX).unwrap()
}

fn err(uri: &str) -> Error {
    Magnet::parse(uri).expect_err("uri should be rejected")
}

#[test]
fn minimal_hex_link() {
    let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
    assert_eq!(
        m,
        Magnet {
            info_hash: hash(),
            name: None,
            trackers: vec![],
            peers: vec![],
            web_seeds: vec![],
        }
    );
    assert_eq!(m.to_uri(), format!("magnet:?xt=urn:btih:{HEX}"));
}

#[test]
fn hash_encodings_and_case() {
    for h in [
        HEX.to_string(),
        HEX.to_uppercase(),
        B32.to_string(),
        B32.to_lowercase(),
    ] {
        let m = Magnet::parse(&format!("MAGNET:?xt=URN:BTIH:{h}")).unwrap();
        assert_eq!(m.info_hash, hash(), "hash {h}");
    }
    let m = Magnet::parse("magnet:?xt=urn:btih:AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT").unwrap();
    assert_eq!(
        m.info_hash.to_hex(),
        "000102030405060708090a0b0c0d0e0f10111213"
    );
}

#[test]
fn full_link() {
    let uri = format!(
        "magnet:?xt=urn:btih:{HEX}&dn=Ubuntu+24.04%2B%20desktop\
         &tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce\
         &tr=http://t.example/announce?a=1%26b=2\
         &tr.1=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce\
         &x.pe=10.0.0.1:6881&x.pe=%5B2001:db8::1%5D:51413&x.pe=[::1]:80\
         &ws=http://seed.example/a+b&xl=12345&so=0-3&unknown=%zz"
    );
    let m = Magnet::parse(&uri).unwrap();
    assert_eq!(m.info_hash, hash());
    assert_eq!(m.name.as_deref(), Some("Ubuntu 24.04+ desktop"));
    assert_eq!(
        m.trackers,
        vec![
            "udp://tracker.example:1337/announce",
            "http://t.example/announce?a=1&b=2"
        ]
    );
    assert_eq!(
        m.peers,
        vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 6881),
            SocketAddr::new(IpAddr::V6("2001:db8::1".parse().unwrap()), 51413),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 80),
        ]
    );
    // `+` is a literal plus outside `dn`.
    assert_eq!(m.web_seeds, vec!["http://seed.example/a+b"]);
    assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    assert_eq!(m.to_string(), m.to_uri());
    assert_eq!(m.to_uri().parse::<Magnet>().unwrap(), m);
}

#[test]
fn to_uri_is_exact() {
    let m = Magnet {
        info_hash: hash(),
        name: Some("a b&c+d".into()),
        trackers: vec!["udp://t.example:80/announce".into()],
        peers: vec!["[::1]:80".parse().unwrap(), "1.2.3.4:5".parse().unwrap()],
        web_seeds: vec!["https://w.example/x y".into()],
    };
    assert_eq!(
        m.to_uri(),
        format!(
            "magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c%2Bd&tr=udp://t.example:80/announce\
             &x.pe=%5B::1%5D:80&x.pe=1.2.3.4:5&ws=https://w.example/x%20y"
        )
    );
}

#[test]
fn first_btih_and_first_dn_win() {
    let other = "0000000000000000000000000000000000000000";
    let m = Magnet::parse(&format!(
        "magnet:?xt=urn:btmh:1220abcd&xt=urn:ed2k:x&xt=urn:btih:{HEX}&xt.2=urn:btih:{other}&dn=one&dn=two"
    ))
    .unwrap();
    assert_eq!(m.info_hash, hash());
    assert_eq!(m.name.as_deref(), Some("one"));
}

#[test]
fn empty_and_valueless_parameters_are_tolerated() {
    let m = Magnet::parse(&format!("magnet:?&&xt=urn:btih:{HEX}&tr=&ws&dn=&flag")).unwrap();
    assert_eq!(m.trackers, Vec::<String>::new());
    assert_eq!(m.web_seeds, Vec::<String>::new());
    assert_eq!(m.name.as_deref(), Some(""));
}

#[test]
fn rejections() {
    assert_eq!(err(""), Error::NotMagnet);
    assert_eq!(err("http://example.com/?xt=urn:btih:x"), Error::NotMagnet);
    assert_eq!(err(&format!("magnet:xt=urn:btih:{HEX}")), Error::NotMagnet);
    assert_eq!(err("magnet:?"), Error::MissingXt);
    assert_eq!(err("magnet:?dn=x&tr=udp://a"), Error::MissingXt);
    assert_eq!(err("magnet:?xt=urn:btmh:1220abcdef"), Error::V2Only);
    assert_eq!(
        err("magnet:?xt=urn:sha1:abc"),
        Error::UnsupportedXt("urn:sha1:abc".into())
    );
    assert_eq!(err("magnet:?xt=urn:btih:abc"), Error::BadHashLength(3));
    assert_eq!(err("magnet:?xt=urn:btih:"), Error::BadHashLength(0));
    assert_eq!(err("magnet:?xt"), Error::UnsupportedXt(String::new()));
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{}g", &HEX[..39])),
        Error::BadHashChar {
            encoding: "hex",
            ch: 'g',
            pos: 39
        }
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:1{}", &B32[1..])),
        Error::BadHashChar {
            encoding: "base32",
            ch: '1',
            pos: 0
        }
    );
    // Multi-byte characters are counted as characters, and never split.
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:é{}", &HEX[1..])),
        Error::BadHashChar {
            encoding: "hex",
            ch: 'é',
            pos: 0
        }
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&tr=udp%3")),
        Error::BadPercent {
            param: "tr",
            offset: 3
        }
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&dn=a%zzb")),
        Error::BadPercent {
            param: "dn",
            offset: 1
        }
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&dn=%ff%fe")),
        Error::BadUtf8 { param: "dn" }
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=peer.example:6881")),
        Error::BadPeer("peer.example:6881".into())
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=::1:80")),
        Error::BadPeer("::1:80".into())
    );
}

#[test]
fn error_messages_name_the_problem() {
    assert_eq!(
        Error::V2Only.to_string(),
        "v2-only magnet uri (urn:btmh) is not supported: a v1 urn:btih info-hash is required"
    );
    assert_eq!(
        err(&format!("magnet:?xt=urn:btih:{HEX}&x.pe=host:1")).to_string(),
        "x.pe \"host:1\" is not an ip:port address (hostnames are not resolved)"
    );
    assert_eq!(
        Error::BadHashLength(3).to_string(),
        "info-hash must be 40 hex or 32 base32 characters, got 3"
    );
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

fn unique<T: Clone + PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn magnet() -> impl Strategy<Value = Magnet> {
    (
        any::<[u8; 20]>(),
        proptest::option::of(".*"),
        proptest::collection::vec(".+", 0..4),
        proptest::collection::vec(socket_addr(), 0..4),
        proptest::collection::vec(".+", 0..3),
    )
        .prop_map(|(hash, name, trackers, peers, web_seeds)| Magnet {
            info_hash: InfoHash(hash),
            name,
            trackers: unique(trackers),
            peers: unique(peers),
            web_seeds: unique(web_seeds),
        })
}

proptest! {
    #[test]
    fn round_trip(m in magnet()) {
        prop_assert_eq!(Magnet::parse(&m.to_uri()), Ok(m));
    }

    #[test]
    fn base32_and_hex_agree(hash in any::<[u8; 20]>()) {
        let b32 = base32(&hash);
        let from_b32 = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        prop_assert_eq!(from_b32.info_hash, InfoHash(hash));
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".*") {
        let _ = Magnet::parse(&s);
        let _ = Magnet::parse(&format!("magnet:?{s}"));
    }

    #[test]
    fn magnet_like_text_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("xt=urn:btih:".to_string()),
                Just("&".to_string()),
                Just("=".to_string()),
                Just("%".to_string()),
                Just("x.pe=".to_string()),
                Just("dn=".to_string()),
                "[0-9a-fA-F%+.:\\[\\]]{0,40}",
                ".{0,4}",
            ],
            0..12,
        )
    ) {
        let _ = Magnet::parse(&format!("magnet:?{}", parts.concat()));
    }
}

/// An independent RFC 4648 encoder (bit by bit) to check the decoder against.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    bits.chunks(5)
        .map(|c| ALPHABET[c.iter().fold(0usize, |acc, &b| acc << 1 | b as usize)] as char)
        .collect()
}
