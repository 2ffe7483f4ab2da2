//! The two bencode value types: [`Node`], borrowed with spans, and [`Value`], owned.

use std::collections::BTreeMap;
use std::ops::Range;

/// A decoded value borrowing from the input, with the byte span it occupied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    /// What the value is.
    pub kind: Kind<'a>,
    /// Where it sits in the decoded input, from its first to one past its last byte; hashing
    /// `&input[span]` hashes the value exactly as it was written.
    pub span: Range<usize>,
}

/// The shape of a borrowed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    List(Vec<Node<'a>>),
    /// Entries in the order they were written (not necessarily sorted); keys are unique.
    Dict(Vec<(&'a [u8], Node<'a>)>),
}

impl<'a> Node<'a> {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Node<'a>]> {
        match &self.kind {
            Kind::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Node<'a>)]> {
        match &self.kind {
            Kind::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key`, if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.as_dict()?
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int(_) => "integer",
            Kind::Bytes(_) => "string",
            Kind::List(_) => "list",
            Kind::Dict(_) => "dictionary",
        }
    }

    /// An owned copy (dictionary order becomes canonical).
    pub fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Int(i) => Value::Int(*i),
            Kind::Bytes(b) => Value::Bytes(b.to_vec()),
            Kind::List(items) => Value::List(items.iter().map(Node::to_value).collect()),
            Kind::Dict(entries) => Value::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// An owned value, used to build what we encode (torrents, tracker answers, extension messages).
/// A `BTreeMap` keeps dictionary keys sorted, so encoding is canonical by construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Value {
        Value::Bytes(b.as_ref().to_vec())
    }

    /// An empty dictionary, to be filled with [`Value::insert`].
    pub fn dict() -> Value {
        Value::Dict(BTreeMap::new())
    }

    /// Sets `key` in a dictionary; does nothing to other kinds of value.
    pub fn insert(&mut self, key: &str, value: Value) {
        if let Value::Dict(map) = self {
            map.insert(key.as_bytes().to_vec(), value);
        }
    }
}
