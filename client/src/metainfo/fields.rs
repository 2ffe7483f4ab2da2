//! Typed access to decoded bencode fields, turning a wrong or missing value into an [`Error`]
//! that names the field by its path (`info.files[2].length`).

use super::Error;
use crate::bencode::{Node, Value};
use std::collections::BTreeMap;

/// A dictionary entry as the decoder returns it.
pub(super) type Entry<'a> = (&'a [u8], Node<'a>);

/// A bencode type name with its article, for "is an integer, expected a string".
pub(super) fn with_article(node: &Node<'_>) -> &'static str {
    match node.type_name() {
        "integer" => "an integer",
        "string" => "a string",
        "list" => "a list",
        _ => "a dictionary",
    }
}

fn wrong_type(node: &Node<'_>, field: &str, expected: &'static str) -> Error {
    Error::WrongType {
        field: field.to_string(),
        found: with_article(node),
        expected,
    }
}

/// `key` of `dict`, which must be present.
pub(super) fn required<'n, 'a>(
    dict: &'n Node<'a>,
    key: &str,
    field: &str,
) -> Result<&'n Node<'a>, Error> {
    dict.get(key).ok_or_else(|| Error::Missing {
        field: field.to_string(),
    })
}

pub(super) fn dict<'n, 'a>(node: &'n Node<'a>, field: &str) -> Result<&'n [Entry<'a>], Error> {
    node.as_dict()
        .ok_or_else(|| wrong_type(node, field, "a dictionary"))
}

pub(super) fn list<'n, 'a>(node: &'n Node<'a>, field: &str) -> Result<&'n [Node<'a>], Error> {
    node.as_list()
        .ok_or_else(|| wrong_type(node, field, "a list"))
}

pub(super) fn bytes<'a>(node: &Node<'a>, field: &str) -> Result<&'a [u8], Error> {
    node.as_bytes()
        .ok_or_else(|| wrong_type(node, field, "a string"))
}

pub(super) fn int(node: &Node<'_>, field: &str) -> Result<i64, Error> {
    node.as_int()
        .ok_or_else(|| wrong_type(node, field, "an integer"))
}

/// An integer that must be zero or more (lengths, sizes).
pub(super) fn non_negative(node: &Node<'_>, field: &str) -> Result<u64, Error> {
    let value = int(node, field)?;
    u64::try_from(value).map_err(|_| Error::Negative {
        field: field.to_string(),
        value,
    })
}

/// Text from bytes; invalid UTF-8 sequences become U+FFFD so old torrents in legacy encodings
/// stay usable.
pub(super) fn lossy(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// The entries of `dict` whose keys are not in `known`, as owned values, so tools that
/// rewrite a torrent keep what they do not understand.
pub(super) fn unknown(entries: &[Entry<'_>], known: &[&str]) -> BTreeMap<Vec<u8>, Value> {
    entries
        .iter()
        .filter(|(k, _)| !known.iter().any(|known| known.as_bytes() == *k))
        .map(|(k, v)| (k.to_vec(), v.to_value()))
        .collect()
}
