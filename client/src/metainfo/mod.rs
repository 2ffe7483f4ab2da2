//! v1 `.torrent` files (BEP 3): parsing, validation and the info-hash.
//!
//! The `info` dictionary decides what is written to disk, so it is parsed strictly: a missing
//! field, a wrong type, a negative length, a piece count that does not match the content, or
//! an unsafe path (see `files.rs`) refuses the whole torrent with a one-line [`Error`]. The
//! top-level fields around it (`announce`, `comment`, ...) are hints not covered by the
//! info-hash; a malformed one is ignored as if absent, because refusing a torrent over a bad
//! comment would only hurt the user.
//!
//! The info-hash is the SHA-1 of the `info` value exactly as written in the file, found through
//! the decoder's spans; re-encoding it would change the hash whenever the writer's keys were
//! not in canonical order.

mod error;
mod fields;
mod files;
mod info;

pub use error::Error;
pub use info::{FileEntry, Info};

use crate::bencode::{self, Node, Value};
use crate::InfoHash;
use fields::{lossy, required, unknown, with_article};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

/// The largest piece length we accept: 128 MiB. A piece is buffered whole while it is hashed
/// and served, so the piece length bounds the memory every in-flight piece costs; a hostile
/// torrent must not be able to make us allocate gigabytes per piece. Real torrents use at most
/// a few tens of MiB.
pub const MAX_PIECE_LENGTH: u64 = 128 * 1024 * 1024;

/// Top-level keys that [`Metainfo`] models; the rest go to [`Metainfo::extra`].
const KNOWN: &[&str] = &[
    "info",
    "announce",
    "announce-list",
    "url-list",
    "comment",
    "comment.utf-8",
    "created by",
    "creation date",
];

/// A parsed and validated v1 torrent file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the raw bytes of the `info` value: the torrent's identity in handshakes,
    /// tracker announces and magnet links.
    pub info_hash: InfoHash,
    /// The validated content description.
    pub info: Info,
    /// The `info` value exactly as written; served to peers that fetch metadata (BEP 9), and
    /// hashing it gives `info_hash`.
    pub info_bytes: Vec<u8>,
    /// The single tracker URL (BEP 3); superseded by a non-empty `announce_list`.
    pub announce: Option<String>,
    /// BEP 12 tracker tiers in file order; empty tiers and URLs that are not UTF-8 text are
    /// dropped.
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 web seeds; the file may give one URL as a string or several as a list.
    pub url_list: Vec<String>,
    /// Free text for humans; `comment.utf-8` preferred.
    pub comment: Option<String>,
    /// The program that made the torrent.
    pub created_by: Option<String>,
    /// Creation time in seconds since the Unix epoch, as written.
    pub creation_date: Option<i64>,
    /// Top-level keys we do not model, kept so that rewriting the torrent loses nothing.
    pub extra: BTreeMap<Vec<u8>, Value>,
}

impl Metainfo {
    /// Parses and validates a `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, Error> {
        let root = bencode::decode(bytes)?;
        let Some(entries) = root.as_dict() else {
            return Err(Error::NotADictionary(with_article(&root)));
        };
        let info_node = required(&root, "info", "info")?;
        let info = info::parse(info_node)?;
        // Spans always lie within the decoded input, so `get` cannot miss.
        let info_bytes = bytes
            .get(info_node.span.clone())
            .unwrap_or_default()
            .to_vec();
        let info_hash = InfoHash(Sha1::digest(&info_bytes).into());

        Ok(Metainfo {
            info_hash,
            info,
            info_bytes,
            announce: root.get("announce").and_then(url),
            announce_list: root
                .get("announce-list")
                .map(announce_list)
                .unwrap_or_default(),
            url_list: root.get("url-list").map(url_list).unwrap_or_default(),
            comment: root
                .get("comment.utf-8")
                .and_then(Node::as_str)
                .map(str::to_string)
                .or_else(|| root.get("comment").and_then(text)),
            created_by: root.get("created by").and_then(text),
            creation_date: root.get("creation date").and_then(Node::as_int),
            extra: unknown(entries, KNOWN),
        })
    }

    /// The `.torrent` file for an info dictionary fetched from peers (BEP 9), announcing to
    /// `trackers` (a magnet's `tr`, each its own tier so every one is told about us), and
    /// the torrent parsed from it. The info bytes are kept exactly, so the info-hash is theirs.
    pub fn from_info(info: &[u8], trackers: &[String]) -> Result<(Metainfo, Vec<u8>), Error> {
        let mut out = b"d".to_vec();
        if let Some(first) = trackers.first() {
            out.extend_from_slice(b"8:announce");
            bencode::encode_into(&Value::bytes(first), &mut out);
        }
        if trackers.len() > 1 {
            let tiers = trackers
                .iter()
                .map(|t| Value::List(vec![Value::bytes(t)]))
                .collect();
            out.extend_from_slice(b"13:announce-list");
            bencode::encode_into(&Value::List(tiers), &mut out);
        }
        out.extend_from_slice(b"4:info");
        out.extend_from_slice(info);
        out.push(b'e');
        let meta = Metainfo::from_bytes(&out)?;
        Ok((meta, out))
    }

    /// Tracker tiers to use: `announce-list` if it has any URL, else `[[announce]]` if
    /// present, else none (the torrent relies on DHT or web seeds).
    pub fn trackers(&self) -> Vec<Vec<String>> {
        if self.announce_list.iter().any(|tier| !tier.is_empty()) {
            return self.announce_list.clone();
        }
        match &self.announce {
            Some(url) => vec![vec![url.clone()]],
            None => Vec::new(),
        }
    }
}

/// Free text from a string value, lossily decoded.
fn text(node: &Node<'_>) -> Option<String> {
    node.as_bytes().map(lossy)
}

/// A URL: non-empty UTF-8 text. Lossy decoding would turn a bad URL into a different one.
fn url(node: &Node<'_>) -> Option<String> {
    node.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn announce_list(node: &Node<'_>) -> Vec<Vec<String>> {
    node.as_list()
        .unwrap_or_default()
        .iter()
        .map(|tier| {
            tier.as_list()
                .unwrap_or_default()
                .iter()
                .filter_map(url)
                .collect::<Vec<_>>()
        })
        .filter(|tier| !tier.is_empty())
        .collect()
}

fn url_list(node: &Node<'_>) -> Vec<String> {
    match node.as_list() {
        Some(items) => items.iter().filter_map(url).collect(),
        None => url(node).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests;
