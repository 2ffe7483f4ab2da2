//! BEP 14 announces: what we send parses back, what other clients send parses, and hostile
//! datagrams get their one-line errors.

use proptest::prelude::*;

use super::*;

fn hash(b: u8) -> InfoHash {
    InfoHash([b; 20])
}

#[test]
fn our_announce_parses_back() {
    let a = Announce {
        port: 51413,
        info_hashes: vec![hash(1), hash(0xab)],
        cookie: Some("bw1a2b3c4d".into()),
    };
    let bytes = a.encode(GROUP_V4).expect("fits");
    let text = String::from_utf8(bytes.clone()).expect("text");
    assert!(text.starts_with("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
    assert!(text.ends_with("\r\n\r\n\r\n"), "{text:?}");
    assert_eq!(Announce::parse(&bytes), Ok(a));
    let v6 = Announce {
        port: 1,
        info_hashes: vec![hash(2)],
        cookie: None,
    };
    let bytes = v6.encode(GROUP_V6).expect("fits");
    assert!(String::from_utf8_lossy(&bytes).contains("Host: [ff15::efc0:988f]:6771"));
    assert_eq!(Announce::parse(&bytes), Ok(v6));
}

#[test]
fn other_clients_announces_parse() {
    // Header names in any case, spaces around values, unknown headers, and no final blank
    // line.
    let text = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPORT:  6881 \r\n\
                infoHash: 0123456789ABCDEF0123456789abcdef01234567\r\nX-Other: 1\r\n";
    let a = Announce::parse(text.as_bytes()).expect("parses");
    assert_eq!(a.port, 6881);
    assert_eq!(
        a.info_hashes,
        vec![InfoHash::from_hex("0123456789abcdef0123456789abcdef01234567").unwrap()]
    );
    assert_eq!(a.cookie, None);
}

#[test]
fn hostile_datagrams_are_refused_with_their_reason() {
    let h = "0123456789abcdef0123456789abcdef01234567";
    let head = "BT-SEARCH * HTTP/1.1\r\nHost: x\r\n";
    let cases: Vec<(Vec<u8>, LpdError)> = vec![
        (vec![b'a'; MAX_MESSAGE + 1], LpdError::TooLarge),
        (vec![0xff, 0xfe, 0x00], LpdError::NotText),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), LpdError::NotSearch),
        (
            format!("{head}garbage\r\n\r\n").into_bytes(),
            LpdError::NotSearch,
        ),
        (
            format!("{head}Infohash: {h}\r\n\r\n").into_bytes(),
            LpdError::BadPort,
        ),
        (
            format!("{head}Port: 0\r\nInfohash: {h}\r\n").into_bytes(),
            LpdError::BadPort,
        ),
        (
            format!("{head}Port: 70000\r\nInfohash: {h}\r\n").into_bytes(),
            LpdError::BadPort,
        ),
        (
            format!("{head}Port: 1\r\n\r\n").into_bytes(),
            LpdError::NoInfoHash,
        ),
        (
            format!("{head}Port: 1\r\nInfohash: {h}0\r\n").into_bytes(),
            LpdError::BadInfoHash,
        ),
        (
            format!("{head}Port: 1\r\nInfohash: {}\r\n", "zz".repeat(20)).into_bytes(),
            LpdError::BadInfoHash,
        ),
        (
            format!("{head}Port: 1\r\nInfohash: {h}\r\ncookie: \r\n").into_bytes(),
            LpdError::BadCookie,
        ),
        (
            format!(
                "{head}Port: 1\r\nInfohash: {h}\r\ncookie: {}\r\n",
                "c".repeat(65)
            )
            .into_bytes(),
            LpdError::BadCookie,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            Announce::parse(&bytes),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    // Seventeen distinct hashes are too many; the same one repeated counts once.
    let many: String = (0..=MAX_HASHES)
        .map(|i| format!("Infohash: {:040x}\r\n", i + 1))
        .collect();
    let bytes = format!("{head}Port: 1\r\n{many}").into_bytes();
    assert_eq!(Announce::parse(&bytes), Err(LpdError::TooManyHashes));
    let same: String = (0..20).map(|_| format!("Infohash: {h}\r\n")).collect();
    let a = Announce::parse(format!("{head}Port: 1\r\n{same}").as_bytes()).expect("parses");
    assert_eq!(a.info_hashes.len(), 1);
}

proptest! {
    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = Announce::parse(&bytes);
    }

    #[test]
    fn announces_round_trip(
        port in 1u16..,
        hashes in proptest::collection::btree_set(any::<[u8; 20]>(), 1..=MAX_HASHES),
        cookie in proptest::option::of("[!-~]{1,64}"),
    ) {
        let a = Announce {
            port,
            info_hashes: hashes.into_iter().map(InfoHash).collect(),
            cookie,
        };
        let bytes = a.encode(GROUP_V6).expect("sixteen hashes and a cookie fit");
        prop_assert_eq!(Announce::parse(&bytes), Ok(a));
    }
}
