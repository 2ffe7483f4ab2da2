//! The BEP 10 extended handshake: the bencoded dictionary a peer sends as extended message 0.
//!
//! Parsing is lenient field by field, because real clients send oddities (a port of 0, a
//! `reqq` of -1, a `yourip` of the wrong length): a known key with a wrong type or an
//! out-of-range value is ignored as if absent, and unknown keys are ignored. Only a payload that
//! is too large or is not a bencoded dictionary is an error. Everything kept is bounded, so a
//! hostile handshake costs at most [`MAX_HANDSHAKE_LEN`] bytes of parsing and a small map.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Error, MAX_EXTENDED_LEN};
use crate::bencode::{self, Node, Value};

/// The largest handshake payload parsed: whatever fits an `extended` frame (its id byte
/// excluded). Real handshakes are a few hundred bytes; the framing already bounds memory, so
/// this only restates that bound for callers that did not come through the decoder.
pub const MAX_HANDSHAKE_LEN: usize = MAX_EXTENDED_LEN as usize - 1;

/// At most this many entries of `m` are kept; later ones are ignored. Clients in the wild
/// list about a dozen extensions; 64 leaves ample room while bounding the map.
pub const MAX_EXTENSIONS: usize = 64;

/// Extension names longer than this are ignored: registered names (`ut_metadata`, `ut_pex`,
/// `lt_donthave`, ...) are under 20 bytes, so a longer one can only be noise.
pub const MAX_EXTENSION_NAME_LEN: usize = 64;

/// The client name (`v`) is cut to this many bytes: names like `libtorrent/2.0.10` or
/// `Transmission 4.0.6` are about 20, and the name is only ever logged or displayed.
pub const MAX_CLIENT_LEN: usize = 100;

/// The largest `metadata_size` believed. An info dictionary is mostly its `pieces` string,
/// 20 bytes per piece: 16 MiB (1024 BEP 9 metadata pieces) describes about 800 000 pieces, a
/// terabyte at 1 MiB pieces, while capping what a peer can make us fetch and hold.
pub const MAX_METADATA_SIZE: u32 = 16 * 1024 * 1024;

/// What a peer said about itself in its extended handshake; every field is optional because
/// every key is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// `m`: extension name to the message id the peer wants that extension's messages sent
    /// with. An id of 0 means the extension is disabled (it matters when a later handshake
    /// turns one off); [`ExtendedHandshake::id`] hides those.
    pub extensions: BTreeMap<String, u8>,
    /// `v`: the client's name and version, converted lossily from UTF-8 and cut to
    /// [`MAX_CLIENT_LEN`] bytes. Untrusted text: escape it before showing it on a terminal.
    pub client: Option<String>,
    /// `p`: the port the peer listens on, useful when it connected to us from another one.
    pub port: Option<u16>,
    /// `reqq`: how many outstanding requests the peer queues without dropping any.
    pub reqq: Option<u32>,
    /// `yourip`: our address as the peer sees it.
    pub your_ip: Option<IpAddr>,
    /// `metadata_size` (BEP 9): the size of the info dictionary, at most
    /// [`MAX_METADATA_SIZE`].
    pub metadata_size: Option<u32>,
}

impl ExtendedHandshake {
    /// Parses the payload of extended message 0 (after the extension id byte).
    pub fn parse(payload: &[u8]) -> Result<ExtendedHandshake, Error> {
        if payload.len() > MAX_HANDSHAKE_LEN {
            return Err(Error::ExtendedHandshakeTooLong {
                len: payload.len(),
                max: MAX_HANDSHAKE_LEN,
            });
        }
        let root = bencode::decode(payload).map_err(Error::ExtendedHandshakeBencode)?;
        if root.as_dict().is_none() {
            return Err(Error::ExtendedHandshakeNotDict(root.type_name()));
        }
        Ok(ExtendedHandshake {
            extensions: root.get("m").map(extensions).unwrap_or_default(),
            client: root.get("v").and_then(Node::as_bytes).map(client_name),
            port: root
                .get("p")
                .and_then(Node::as_int)
                .and_then(|p| u16::try_from(p).ok())
                .filter(|&p| p != 0),
            reqq: root
                .get("reqq")
                .and_then(Node::as_int)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0),
            your_ip: root.get("yourip").and_then(Node::as_bytes).and_then(ip),
            metadata_size: root
                .get("metadata_size")
                .and_then(Node::as_int)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0 && n <= MAX_METADATA_SIZE),
        })
    }

    /// The id the peer assigned to extension `name`, if it supports it (id 0 means it does
    /// not).
    pub fn id(&self, name: &str) -> Option<u8> {
        self.extensions.get(name).copied().filter(|&id| id != 0)
    }

    /// The bencoded payload of this handshake (for extended message 0), keys sorted; fields
    /// that are `None` are left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Value::dict();
        for (name, &id) in &self.extensions {
            m.insert(name, Value::Int(i64::from(id)));
        }
        let mut root = Value::dict();
        root.insert("m", m);
        if let Some(client) = &self.client {
            root.insert("v", Value::bytes(client));
        }
        if let Some(port) = self.port {
            root.insert("p", Value::Int(i64::from(port)));
        }
        if let Some(reqq) = self.reqq {
            root.insert("reqq", Value::Int(i64::from(reqq)));
        }
        if let Some(ip) = self.your_ip {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            root.insert("yourip", Value::Bytes(bytes));
        }
        if let Some(size) = self.metadata_size {
            root.insert("metadata_size", Value::Int(i64::from(size)));
        }
        bencode::encode(&root)
    }
}

/// The usable entries of `m`: UTF-8 names of 1 to [`MAX_EXTENSION_NAME_LEN`] bytes with an id
/// in 0..=255, the first [`MAX_EXTENSIONS`] of them. Anything else in `m` is ignored.
fn extensions(m: &Node<'_>) -> BTreeMap<String, u8> {
    let Some(entries) = m.as_dict() else {
        return BTreeMap::new();
    };
    entries
        .iter()
        .filter(|(name, _)| !name.is_empty() && name.len() <= MAX_EXTENSION_NAME_LEN)
        .filter_map(|(name, id)| {
            let name = std::str::from_utf8(name).ok()?;
            let id = u8::try_from(id.as_int()?).ok()?;
            Some((name.to_owned(), id))
        })
        .take(MAX_EXTENSIONS)
        .collect()
}

/// `v` as text: lossily decoded, cut to [`MAX_CLIENT_LEN`] bytes on a character boundary.
fn client_name(raw: &[u8]) -> String {
    // Cutting the raw bytes first bounds the conversion's work; each invalid byte becomes a
    // 3-byte replacement character, so cut again after converting.
    let raw = &raw[..raw.len().min(MAX_CLIENT_LEN)];
    let mut name = String::from_utf8_lossy(raw).into_owned();
    let mut end = name.len().min(MAX_CLIENT_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

/// `yourip`: 4 bytes for IPv4, 16 for IPv6; any other length is ignored.
fn ip(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

#[cfg(test)]
mod tests;
