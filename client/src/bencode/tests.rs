//! Tests of the bencode codec: fixed cases for every rejection, and property tests.

use super::*;
use proptest::prelude::*;

fn err(input: &[u8]) -> DecodeError {
    decode(input).expect_err("input should be rejected")
}

#[test]
fn decodes_each_kind_with_spans() {
    let input = b"d3:cow3:moo4:spaml1:ai-42eee";
    let node = decode(input).unwrap();
    assert_eq!(node.span, 0..input.len());
    assert_eq!(node.get("cow").unwrap().as_str(), Some("moo"));
    let spam = node.get("spam").unwrap();
    assert_eq!(&input[spam.span.clone()], b"l1:ai-42ee");
    let items = spam.as_list().unwrap();
    assert_eq!(items[0].as_bytes(), Some(&b"a"[..]));
    assert_eq!(items[1].as_int(), Some(-42));
    assert_eq!(items[1].span, 21..26);
}

#[test]
fn integer_extremes() {
    assert_eq!(decode(b"i0e").unwrap().as_int(), Some(0));
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap().as_int(),
        Some(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap().as_int(),
        Some(i64::MIN)
    );
    assert_eq!(
        err(b"i9223372036854775808e").kind,
        ErrorKind::IntegerOverflow
    );
    assert_eq!(
        err(b"i-9223372036854775809e").kind,
        ErrorKind::IntegerOverflow
    );
}

#[test]
fn rejections_name_the_offset() {
    let cases: &[(&[u8], usize, ErrorKind)] = &[
        (b"", 0, ErrorKind::Truncated),
        (b"i12", 3, ErrorKind::Truncated),
        (b"4:spa", 0, ErrorKind::LengthExceedsInput(4)),
        (b"l4:spam", 7, ErrorKind::Truncated),
        (b"i1ei2e", 3, ErrorKind::TrailingData),
        (b"i03e", 1, ErrorKind::LeadingZero),
        (b"i-0e", 2, ErrorKind::NegativeZero),
        (b"i-03e", 2, ErrorKind::NegativeZero),
        (b"ie", 1, ErrorKind::EmptyInteger),
        (b"i-e", 2, ErrorKind::EmptyInteger),
        (b"i1.5e", 2, ErrorKind::UnexpectedByte(b'.')),
        (b"03:abc", 0, ErrorKind::LeadingZero),
        (b"di1e1:ae", 1, ErrorKind::NonStringKey),
        (b"d1:ai1e1:ai2ee", 7, ErrorKind::DuplicateKey),
        // Once the order breaks, a key greater than the one before it can still repeat.
        (b"d2:cci0e0:i0e2:cci0ee", 13, ErrorKind::DuplicateKey),
        (b"x", 0, ErrorKind::UnexpectedByte(b'x')),
        (b"3x:abc", 1, ErrorKind::UnexpectedByte(b'x')),
        (
            b"99999999999999999999999999:a",
            19,
            ErrorKind::LengthOverflow,
        ),
    ];
    for (input, offset, kind) in cases {
        let e = err(input);
        assert_eq!(
            (&e.kind, e.offset),
            (kind, *offset),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn error_message_is_one_line_with_offset() {
    let e = err(b"i-0e");
    assert_eq!(e.to_string(), "bencode: negative zero at byte 2");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = vec![b'l'; 1_000_000];
    assert_eq!(err(&deep).kind, ErrorKind::TooDeep);
    let mut ok = vec![b'l'; MAX_DEPTH];
    ok.extend(vec![b'e'; MAX_DEPTH]);
    assert!(decode(&ok).is_ok());
    let mut too_deep = vec![b'l'; MAX_DEPTH + 1];
    too_deep.extend(vec![b'e'; MAX_DEPTH + 1]);
    assert_eq!(err(&too_deep).kind, ErrorKind::TooDeep);
}

#[test]
fn unsorted_keys_are_read_but_encoded_sorted() {
    let input = b"d1:bi1e1:ai2ee";
    let node = decode(input).unwrap();
    assert_eq!(node.get("a").unwrap().as_int(), Some(2));
    assert_eq!(encode(&node.to_value()), b"d1:ai2e1:bi1ee");
}

#[test]
fn prefix_decoding_reports_consumed_length() {
    let (node, used) = decode_prefix(b"d1:ai1eeRAWDATA").unwrap();
    assert_eq!(used, 8);
    assert_eq!(node.get("a").unwrap().as_int(), Some(1));
}

/// A dictionary with the given keys in the given order, each holding `i0e`, and the offset
/// where each key starts.
fn dict_with_keys(keys: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut out = b"d".to_vec();
    let mut offsets = Vec::with_capacity(keys.len());
    for k in keys {
        offsets.push(out.len());
        out.extend_from_slice(format!("{}:", k.len()).as_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(b"i0e");
    }
    out.push(b'e');
    (out, offsets)
}

/// `n` distinct keys of equal width, in decreasing order: the worst case for a check that
/// compares each key with the ones before it.
fn reversed_keys(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .rev()
        .map(|i| format!("{i:08}").into_bytes())
        .collect()
}

#[test]
fn reversed_keys_cost_n_log_n_comparisons() {
    let n: u64 = 4096;
    let (input, _) = dict_with_keys(&reversed_keys(n as usize));
    let before = decode::comparisons::count();
    let node = decode(&input).unwrap();
    let used = decode::comparisons::count() - before;
    assert_eq!(node.as_dict().unwrap().len(), n as usize);
    // A balanced search tree needs about log2(n) = 12 comparisons per insert; scanning every
    // earlier key would need n^2 / 2, about eight million.
    let bound = 4 * n * u64::from(n.ilog2() + 1);
    assert!(
        used <= bound,
        "{used} comparisons for {n} keys, bound {bound}"
    );
}

#[test]
fn hundred_thousand_reversed_keys_decode_and_duplicates_are_found() {
    let mut keys = reversed_keys(100_000);
    let (input, _) = dict_with_keys(&keys);
    assert_eq!(decode(&input).unwrap().as_dict().unwrap().len(), 100_000);
    // Repeat a key from the middle at the end: found at the offset of the repeat.
    keys.push(keys[50_000].clone());
    let (input, offsets) = dict_with_keys(&keys);
    let e = err(&input);
    assert_eq!(
        (e.kind, e.offset),
        (ErrorKind::DuplicateKey, offsets[100_000])
    );
}

#[test]
fn sorted_keys_compare_once_each() {
    let keys: Vec<Vec<u8>> = reversed_keys(1000).into_iter().rev().collect();
    let (input, _) = dict_with_keys(&keys);
    let before = decode::comparisons::count();
    decode(&input).unwrap();
    assert_eq!(decode::comparisons::count() - before, 999);
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..8),
                inner,
                0..8
            )
            .prop_map(Value::Dict),
        ]
    })
}

proptest! {
    #[test]
    fn decode_inverts_encode(v in arb_value()) {
        let bytes = encode(&v);
        let node = decode(&bytes).unwrap();
        prop_assert_eq!(node.span.clone(), 0..bytes.len());
        prop_assert_eq!(node.to_value(), v);
    }

    #[test]
    fn canonical_input_reencodes_identically(v in arb_value()) {
        let canonical = encode(&v);
        let again = encode(&decode(&canonical).unwrap().to_value());
        prop_assert_eq!(again, canonical);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_valid_input_never_panics(v in arb_value(), at in any::<usize>(), b in any::<u8>()) {
        let mut bytes = encode(&v);
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        if let Ok(node) = decode(&bytes) {
            prop_assert_eq!(node.span, 0..bytes.len());
        }
    }
}

/// Keys drawn from a small alphabet so that duplicates are common.
fn arb_keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(b'a'..=b'd', 0..3), 0..40)
}

proptest! {
    #[test]
    fn duplicate_keys_are_refused_at_the_first_repeat(keys in arb_keys()) {
        let (input, offsets) = dict_with_keys(&keys);
        // The reference: the first key, in document order, equal to an earlier one.
        let first_repeat = (0..keys.len()).find(|&i| keys[..i].contains(&keys[i]));
        match (decode(&input), first_repeat) {
            (Ok(node), None) => {
                let got: Vec<&[u8]> = node.as_dict().unwrap().iter().map(|(k, _)| *k).collect();
                let want: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                prop_assert_eq!(got, want);
            }
            (Err(e), Some(i)) => {
                prop_assert_eq!((e.kind, e.offset), (ErrorKind::DuplicateKey, offsets[i]));
            }
            (got, want) => prop_assert!(false, "decoded {:?}, first repeat {:?}", got, want),
        }
    }
}
