//! Tests of message framing: exact bytes for every message, every rejection, and properties.

use super::*;
use crate::geometry::{BlockRef, BLOCK_LEN};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

const MAX: u32 = 1 << 16;

fn encode(m: &Message) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out);
    out.to_vec()
}

fn decode_all(bytes: &[u8]) -> Result<Option<Message>, Error> {
    let mut buf = BytesMut::from(bytes);
    let result = Decoder::new(MAX).decode(&mut buf);
    if let Ok(Some(_)) = result {
        assert!(buf.is_empty(), "one frame should consume every byte");
    }
    result
}

fn block(piece: u32, offset: u32, len: u32) -> BlockRef {
    BlockRef { piece, offset, len }
}

fn vectors() -> Vec<(Message, Vec<u8>)> {
    let b = block(1, 0x4000, 0x4000);
    let b_bytes = [0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0];
    let with = |head: &[u8], tail: &[u8]| [head, tail].concat();
    vec![
        (Message::KeepAlive, vec![0, 0, 0, 0]),
        (Message::Choke, vec![0, 0, 0, 1, 0]),
        (Message::Unchoke, vec![0, 0, 0, 1, 1]),
        (Message::Interested, vec![0, 0, 0, 1, 2]),
        (Message::NotInterested, vec![0, 0, 0, 1, 3]),
        (Message::Have(0x0102_0304), vec![0, 0, 0, 5, 4, 1, 2, 3, 4]),
        (
            Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
            vec![0, 0, 0, 3, 5, 0xff, 0x80],
        ),
        (Message::Request(b), with(&[0, 0, 0, 13, 6], &b_bytes)),
        (
            Message::Piece {
                piece: 1,
                offset: 2,
                data: Bytes::from_static(b"abc"),
            },
            vec![0, 0, 0, 12, 7, 0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b', b'c'],
        ),
        (Message::Cancel(b), with(&[0, 0, 0, 13, 8], &b_bytes)),
        (Message::Port(6881), vec![0, 0, 0, 3, 9, 0x1a, 0xe1]),
        (Message::Suggest(7), vec![0, 0, 0, 5, 13, 0, 0, 0, 7]),
        (Message::HaveAll, vec![0, 0, 0, 1, 14]),
        (Message::HaveNone, vec![0, 0, 0, 1, 15]),
        (Message::Reject(b), with(&[0, 0, 0, 13, 16], &b_bytes)),
        (Message::AllowedFast(9), vec![0, 0, 0, 5, 17, 0, 0, 0, 9]),
        (
            Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:v1:xe"),
            },
            with(&[0, 0, 0, 10, 20, 0], b"d1:v1:xe"),
        ),
        (
            Message::Extended {
                id: 3,
                payload: Bytes::new(),
            },
            vec![0, 0, 0, 2, 20, 3],
        ),
        (Message::Bitfield(Bytes::new()), vec![0, 0, 0, 1, 5]),
        (
            Message::Piece {
                piece: 0,
                offset: 0,
                data: Bytes::new(),
            },
            vec![0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]
}

#[test]
fn exact_bytes_for_every_message() {
    for (message, bytes) in vectors() {
        assert_eq!(encode(&message), bytes, "encoding {message:?}");
        assert_eq!(message.encoded_len(), bytes.len(), "length of {message:?}");
        assert_eq!(
            decode_all(&bytes),
            Ok(Some(message.clone())),
            "decoding {message:?}"
        );
        assert_eq!(message.id(), bytes.get(4).copied(), "id of {message:?}");
    }
}

#[test]
fn piece_header_then_data_equals_the_whole_message() {
    let data = Bytes::from(vec![0x5a; BLOCK_LEN as usize]);
    let mut out = BytesMut::new();
    encode_piece_header(3, 0x8000, BLOCK_LEN, &mut out);
    assert_eq!(out.len(), 13);
    out.extend_from_slice(&data);
    let whole = Message::Piece {
        piece: 3,
        offset: 0x8000,
        data,
    };
    assert_eq!(out.to_vec(), encode(&whole));
    assert_eq!(&out[..5], &[0, 0, 0x40, 0x09, 7]);
}

#[test]
fn piece_payload_is_zero_copy() {
    let whole = Message::Piece {
        piece: 0,
        offset: 0,
        data: Bytes::from(vec![1u8; 100]),
    };
    let mut buf = BytesMut::from(&encode(&whole)[..]);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    let Ok(Some(Message::Piece { data, .. })) = Decoder::new(MAX).decode(&mut buf) else {
        panic!("expected a piece");
    };
    assert_eq!(data.len(), 100);
    assert!(range.contains(&(data.as_ptr() as usize)), "data was copied");
}

#[test]
fn huge_length_prefix_is_refused_before_buffering() {
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    let capacity = buf.capacity();
    assert_eq!(
        Decoder::new(MAX).decode(&mut buf),
        Err(Error::TooLong {
            len: u32::MAX,
            max: MAX
        })
    );
    assert_eq!(buf.capacity(), capacity, "nothing was reserved");
    let e = Decoder::new(100)
        .decode(&mut BytesMut::from(&[0, 0, 0, 101][..]))
        .unwrap_err();
    assert_eq!(e, Error::TooLong { len: 101, max: 100 });
    assert_eq!(
        e.to_string(),
        "message length 101 exceeds the limit of 100 bytes"
    );
}

#[test]
fn length_at_the_limit_is_buffered() {
    let decoder = Decoder::new(100);
    let mut buf = BytesMut::from(&[0, 0, 0, 100, 5][..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(buf.capacity() >= 104, "room reserved for the frame");
    assert_eq!(buf.len(), 5, "nothing consumed");
    buf.extend_from_slice(&[0; 99]);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Message::Bitfield(Bytes::from(vec![0; 99]))))
    );
    assert_eq!(decoder.max_len(), 100);
}

#[test]
fn unknown_ids_are_named() {
    for id in [10u8, 11, 12, 18, 19, 21, 255] {
        assert_eq!(
            decode_all(&[0, 0, 0, 1, id]),
            Err(Error::UnknownId(id)),
            "id {id}"
        );
    }
    assert_eq!(Error::UnknownId(42).to_string(), "unknown message id 42");
}

#[test]
fn wrong_lengths_are_named() {
    let cases: &[(u8, &str, usize)] = &[
        (0, "choke", 0),
        (1, "unchoke", 0),
        (2, "interested", 0),
        (3, "not interested", 0),
        (4, "have", 4),
        (6, "request", 12),
        (8, "cancel", 12),
        (9, "port", 2),
        (13, "suggest", 4),
        (14, "have all", 0),
        (15, "have none", 0),
        (16, "reject", 12),
        (17, "allowed fast", 4),
    ];
    for &(id, message, expected) in cases {
        // One byte too many is refused from the prefix and the id (see the next test).
        let long = u32::try_from(expected + 2).unwrap();
        let mut bytes = long.to_be_bytes().to_vec();
        bytes.push(id);
        assert_eq!(
            decode_all(&bytes),
            Err(Error::MessageTooLong {
                message,
                len: long,
                max: long - 1
            }),
            "{message} one byte too long"
        );
        let lens = if expected > 0 {
            vec![expected - 1, 0]
        } else {
            vec![]
        };
        for len in lens {
            let frame_len = u32::try_from(len + 1).unwrap();
            let mut bytes = frame_len.to_be_bytes().to_vec();
            bytes.push(id);
            bytes.extend(std::iter::repeat_n(0u8, len));
            assert_eq!(
                decode_all(&bytes),
                Err(Error::BadLength {
                    message,
                    len,
                    expected
                }),
                "{message} with {len} bytes"
            );
        }
    }
    assert_eq!(
        decode_all(&[0, 0, 0, 2, 9, 0]).unwrap_err().to_string(),
        "port message payload is 1 bytes, expected 2"
    );
}

/// Every known id with the largest frame body it may announce under a decoder of limit `MAX`.
fn id_limits() -> Vec<(u8, &'static str, u32)> {
    vec![
        (0, "choke", 1),
        (1, "unchoke", 1),
        (2, "interested", 1),
        (3, "not interested", 1),
        (4, "have", 5),
        (5, "bitfield", MAX),
        (6, "request", 13),
        (7, "piece", 9 + BLOCK_LEN),
        (8, "cancel", 13),
        (9, "port", 3),
        (13, "suggest", 5),
        (14, "have all", 1),
        (15, "have none", 1),
        (16, "reject", 13),
        (17, "allowed fast", 5),
        (20, "extended", 1 + MAX_EXTENDED_LEN),
    ]
}

#[test]
fn each_message_id_has_its_own_limit_checked_before_buffering() {
    let decoder = Decoder::new(MAX);
    for (id, message, max) in id_limits() {
        // One byte over: refused with only the prefix and the id received, nothing reserved.
        let mut buf = BytesMut::from(&[&(max + 1).to_be_bytes()[..], &[id]].concat()[..]);
        let capacity = buf.capacity();
        let refused = decoder.decode(&mut buf);
        if max == MAX {
            assert_eq!(refused, Err(Error::TooLong { len: max + 1, max }));
        } else {
            assert_eq!(
                refused,
                Err(Error::MessageTooLong {
                    message,
                    len: max + 1,
                    max
                }),
                "{message}"
            );
        }
        assert_eq!(buf.capacity(), capacity, "{message}: room was reserved");
        // Exactly at the limit: accepted, waiting for the body with room for it (one-byte
        // messages are already whole).
        let mut buf = BytesMut::from(&[&max.to_be_bytes()[..], &[id]].concat()[..]);
        match decoder.decode(&mut buf) {
            Ok(None) => assert!(buf.capacity() >= 4 + max as usize, "{message}"),
            Ok(Some(m)) => assert_eq!((max, m.name()), (1, message)),
            Err(e) => panic!("{message} at its limit refused: {e}"),
        }
    }
    assert_eq!(
        Error::MessageTooLong {
            message: "have",
            len: 16384,
            max: 5
        }
        .to_string(),
        "have message length 16384 exceeds its limit of 5 bytes"
    );
}

#[test]
fn limits_name_messages_as_message_name_does() {
    for (message, _) in vectors() {
        let Some(id) = message.id() else { continue };
        let (_, name, _) = id_limits().into_iter().find(|(i, _, _)| *i == id).unwrap();
        assert_eq!(name, message.name());
    }
}

#[test]
fn a_length_prefix_alone_reserves_nothing() {
    let mut buf = BytesMut::from(&[0, 0, 0x40, 0][..]);
    let capacity = buf.capacity();
    assert_eq!(Decoder::new(MAX).decode(&mut buf), Ok(None));
    assert_eq!(buf.capacity(), capacity);
    assert_eq!(buf.len(), 4);
}

#[test]
fn unknown_ids_are_refused_before_their_body_arrives() {
    for id in [10u8, 21, 255] {
        let mut buf = BytesMut::from(&[0, 0, 0x40, 0, id][..]);
        let capacity = buf.capacity();
        assert_eq!(
            Decoder::new(MAX).decode(&mut buf),
            Err(Error::UnknownId(id))
        );
        assert_eq!(buf.capacity(), capacity);
    }
}

#[test]
fn short_variable_messages_are_named() {
    assert_eq!(
        decode_all(&[0, 0, 0, 8, 7, 0, 0, 0, 1, 0, 0, 0]),
        Err(Error::TooShort {
            message: "piece",
            len: 7,
            min: 8
        })
    );
    let e = decode_all(&[0, 0, 0, 1, 20]).unwrap_err();
    assert_eq!(
        e,
        Error::TooShort {
            message: "extended",
            len: 0,
            min: 1
        }
    );
    assert_eq!(
        e.to_string(),
        "extended message payload is 0 bytes, shorter than its 1-byte header"
    );
}

#[test]
fn max_frame_len_covers_the_largest_messages() {
    assert_eq!(MAX_EXTENDED_LEN, 17 * 1024);
    assert_eq!(max_frame_len(0), 1 + MAX_EXTENDED_LEN);
    assert_eq!(max_frame_len(1000), 1 + MAX_EXTENDED_LEN);
    assert_eq!(max_frame_len(160_001), 1 + 20_001);
    assert_eq!(max_frame_len(u32::MAX), 1 + (1 << 29));
    assert!(max_frame_len(0) >= 9 + BLOCK_LEN);
}

#[test]
fn debug_summarises_payloads() {
    let piece = Message::Piece {
        piece: 1,
        offset: 2,
        data: Bytes::from(vec![0; 16384]),
    };
    assert_eq!(
        format!("{piece:?}"),
        "Piece { piece: 1, offset: 2, len: 16384 }"
    );
    assert_eq!(
        format!("{:?}", Message::Bitfield(Bytes::from_static(&[1, 2]))),
        "Bitfield(2 bytes)"
    );
    assert_eq!(format!("{:?}", Message::Have(3)), "Have(3)");
    assert_eq!(Message::NotInterested.name(), "not interested");
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn block_ref() -> impl Strategy<Value = BlockRef> {
    any::<(u32, u32, u32)>().prop_map(|(piece, offset, len)| BlockRef { piece, offset, len })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        any::<u32>().prop_map(Message::Have),
        bytes(64).prop_map(Message::Bitfield),
        block_ref().prop_map(Message::Request),
        (any::<u32>(), any::<u32>(), bytes(300)).prop_map(|(piece, offset, data)| Message::Piece {
            piece,
            offset,
            data
        }),
        block_ref().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        any::<u32>().prop_map(Message::Suggest),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block_ref().prop_map(Message::Reject),
        any::<u32>().prop_map(Message::AllowedFast),
        (any::<u8>(), bytes(100)).prop_map(|(id, payload)| Message::Extended { id, payload }),
    ]
}

/// Decodes everything available, asserting the decoder never errors on valid input.
fn drain(
    decoder: &Decoder,
    buf: &mut BytesMut,
    into: &mut Vec<Message>,
) -> Result<(), TestCaseError> {
    loop {
        match decoder.decode(buf) {
            Ok(Some(m)) => into.push(m),
            Ok(None) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("valid stream refused: {e}"))),
        }
    }
}

proptest! {
    #[test]
    fn round_trip(m in message()) {
        let bytes = encode(&m);
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert_eq!(decode_all(&bytes), Ok(Some(m)));
    }

    #[test]
    fn every_strict_prefix_needs_more(m in message()) {
        let bytes = encode(&m);
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            prop_assert_eq!(Decoder::new(MAX).decode(&mut buf), Ok(None));
            prop_assert_eq!(&buf[..], &bytes[..cut]);
        }
    }

    #[test]
    fn split_anywhere(
        messages in proptest::collection::vec(message(), 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        for m in &messages {
            m.encode(&mut stream);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();

        let decoder = Decoder::new(MAX);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut fed = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            drain(&decoder, &mut buf, &mut got)?;
            prop_assert!(messages.starts_with(&got), "decoded messages are out of order");
        }
        prop_assert_eq!(got, messages);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn legal_messages_fit_max_frame_len(pieces in 0u32..400_000) {
        let bitfield = Message::Bitfield(Bytes::from(vec![0; pieces.div_ceil(8) as usize]));
        let piece = Message::Piece { piece: 0, offset: 0, data: Bytes::from(vec![0; BLOCK_LEN as usize]) };
        let metadata = Message::Extended { id: 1, payload: Bytes::from(vec![0; MAX_EXTENDED_LEN as usize - 1]) };
        let decoder = Decoder::new(max_frame_len(pieces));
        for m in [bitfield, piece, metadata] {
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            prop_assert_eq!(decoder.decode(&mut buf), Ok(Some(m)));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..400), max in 0u32..300) {
        let decoder = Decoder::new(max);
        let mut buf = BytesMut::from(&input[..]);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => prop_assert!(buf.len() < before, "a message consumed nothing"),
                Ok(None) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..40)) {
        // Bodies that parse must re-encode to the same bytes: the format has one spelling.
        if let Ok(m) = Message::from_frame(Bytes::from(frame.clone())) {
            let bytes = encode(&m);
            prop_assert_eq!(&bytes[4..], &frame[..]);
        }
    }
}
