//! HTTP tracker response bodies: parsing announce and scrape answers, and encoding them for the
//! mock tracker.
//!
//! Integer policy, for every count and interval: a negative value is an error (the tracker is
//! broken and its timing cannot be followed), and a value above `u32::MAX` saturates to it; the
//! engine clamps intervals to its own sane range anyway, so a huge one only means "rarely".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::bencode::{self, Kind, Node, Value};
use crate::tracker::peers::{encode_compact, PeerSet};
use crate::tracker::{AnnounceResponse, Error, ScrapeStats};
use crate::InfoHash;

/// Parses an announce answer.
///
/// A `failure reason` wins over everything else and becomes [`Error::Failure`]. Peers may come
/// compact (`peers` as a string of 6-byte entries, `peers6` of 18-byte ones) or as a list of
/// `{ip, port}` dictionaries; entries whose `ip` is a hostname are skipped, since resolving
/// names is not a codec's business and trackers that send them are rare. A `tracker id` that is
/// not UTF-8 is ignored rather than echoed back mangled.
pub fn parse_announce(body: &[u8]) -> Result<AnnounceResponse, Error> {
    let root = bencode::decode(body)?;
    check_root(&root)?;
    let mut peers = PeerSet::default();
    if let Some(node) = root.get("peers") {
        match &node.kind {
            Kind::Bytes(bytes) => peers.add_compact("peers", bytes, false)?,
            Kind::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if peers.is_full() {
                        break;
                    }
                    if let Some(addr) = dict_peer(i, item)? {
                        peers.push(addr);
                    }
                }
            }
            _ => return Err(wrong_type("peers", "a string or a list", node)),
        }
    }
    if let Some(node) = root.get("peers6") {
        let bytes = node
            .as_bytes()
            .ok_or_else(|| wrong_type("peers6", "a string", node))?;
        peers.add_compact("peers6", bytes, true)?;
    }
    Ok(AnnounceResponse {
        interval: opt_u32(&root, "interval")?,
        min_interval: opt_u32(&root, "min interval")?,
        tracker_id: opt_bytes(&root, "tracker id")?
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned),
        complete: opt_u32(&root, "complete")?,
        incomplete: opt_u32(&root, "incomplete")?,
        warning: opt_bytes(&root, "warning message")?
            .map(|b| String::from_utf8_lossy(b).into_owned()),
        external_ip: external_ip(&root)?,
        peers: peers.into_vec(),
    })
}

/// Parses a scrape answer and returns the counts for `hash`. Counts a tracker leaves out read as
/// 0, since some trackers omit `downloaded` when they do not track it.
pub fn parse_scrape(body: &[u8], hash: &InfoHash) -> Result<ScrapeStats, Error> {
    let root = bencode::decode(body)?;
    check_root(&root)?;
    let files = root.get("files").ok_or(Error::Missing("files"))?;
    let entries = files
        .as_dict()
        .ok_or_else(|| wrong_type("files", "a dictionary", files))?;
    let entry = entries
        .iter()
        .find(|(key, _)| *key == hash.0.as_slice())
        .map(|(_, node)| node)
        .ok_or(Error::NotScraped(*hash))?;
    if entry.as_dict().is_none() {
        return Err(wrong_type("files", "dictionaries as values", entry));
    }
    Ok(ScrapeStats {
        complete: opt_u32(entry, "complete")?.unwrap_or(0),
        downloaded: opt_u32(entry, "downloaded")?.unwrap_or(0),
        incomplete: opt_u32(entry, "incomplete")?.unwrap_or(0),
    })
}

/// Encodes an announce answer as a tracker would send it.
///
/// With `compact`, IPv4 peers go in `peers` and IPv6 peers in `peers6` (so a mixed list comes
/// back v4-first); otherwise every peer is an `{ip, port}` dictionary in `peers`, in order.
pub fn encode_announce_response(resp: &AnnounceResponse, compact: bool) -> Vec<u8> {
    let mut root = Value::dict();
    let counts = [
        ("interval", resp.interval),
        ("min interval", resp.min_interval),
        ("complete", resp.complete),
        ("incomplete", resp.incomplete),
    ];
    for (key, value) in counts {
        if let Some(v) = value {
            root.insert(key, Value::Int(i64::from(v)));
        }
    }
    if let Some(id) = &resp.tracker_id {
        root.insert("tracker id", Value::bytes(id));
    }
    if let Some(warning) = &resp.warning {
        root.insert("warning message", Value::bytes(warning));
    }
    match resp.external_ip {
        Some(IpAddr::V4(ip)) => root.insert("external ip", Value::bytes(ip.octets())),
        Some(IpAddr::V6(ip)) => root.insert("external ip", Value::bytes(ip.octets())),
        None => {}
    }
    if compact {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for peer in &resp.peers {
            encode_compact(peer, if peer.is_ipv4() { &mut v4 } else { &mut v6 });
        }
        root.insert("peers", Value::Bytes(v4));
        if !v6.is_empty() {
            root.insert("peers6", Value::Bytes(v6));
        }
    } else {
        let list = resp.peers.iter().map(|peer| {
            let mut entry = Value::dict();
            entry.insert("ip", Value::bytes(peer.ip().to_string()));
            entry.insert("port", Value::Int(i64::from(peer.port())));
            entry
        });
        root.insert("peers", Value::List(list.collect()));
    }
    bencode::encode(&root)
}

/// Encodes a refusal: a dictionary holding only `failure reason`.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let mut root = Value::dict();
    root.insert("failure reason", Value::bytes(reason));
    bencode::encode(&root)
}

/// Encodes a scrape answer with one `files` entry per torrent.
pub fn encode_scrape_response(files: &[(InfoHash, ScrapeStats)]) -> Vec<u8> {
    let entries = files.iter().map(|(hash, stats)| {
        let mut entry = Value::dict();
        entry.insert("complete", Value::Int(i64::from(stats.complete)));
        entry.insert("downloaded", Value::Int(i64::from(stats.downloaded)));
        entry.insert("incomplete", Value::Int(i64::from(stats.incomplete)));
        (hash.0.to_vec(), entry)
    });
    let mut root = Value::dict();
    root.insert("files", Value::Dict(entries.collect()));
    bencode::encode(&root)
}

/// Checks the body is a dictionary and turns a `failure reason` into [`Error::Failure`].
fn check_root(root: &Node<'_>) -> Result<(), Error> {
    if root.as_dict().is_none() {
        return Err(wrong_type("response", "a dictionary", root));
    }
    match opt_bytes(root, "failure reason")? {
        Some(reason) => Err(Error::Failure(String::from_utf8_lossy(reason).into_owned())),
        None => Ok(()),
    }
}

/// One peer of the dictionary model; `Ok(None)` for an entry we skip (hostname, port 0).
fn dict_peer(index: usize, item: &Node<'_>) -> Result<Option<SocketAddr>, Error> {
    let bad = |problem: String| Error::Malformed {
        field: "peers",
        problem: format!("entry {index}: {problem}"),
    };
    if item.as_dict().is_none() {
        return Err(bad(format!(
            "expected a dictionary, got {}",
            item.type_name()
        )));
    }
    let ip = item.get("ip").ok_or_else(|| bad("no `ip`".into()))?;
    let ip = ip
        .as_bytes()
        .ok_or_else(|| bad(format!("`ip` is {}, expected a string", ip.type_name())))?;
    let port = item.get("port").ok_or_else(|| bad("no `port`".into()))?;
    let port = port.as_int().ok_or_else(|| {
        bad(format!(
            "`port` is {}, expected an integer",
            port.type_name()
        ))
    })?;
    let port = u16::try_from(port).map_err(|_| bad(format!("port {port} out of range")))?;
    // Trackers write IPv6 literals with or without the URL-style brackets.
    let literal = std::str::from_utf8(ip).ok().map(|s| {
        s.strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(s)
    });
    Ok(literal
        .and_then(|s| s.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, port)))
}

/// The BEP 24 `external ip`: 4 or 16 raw address bytes.
fn external_ip(root: &Node<'_>) -> Result<Option<IpAddr>, Error> {
    let Some(bytes) = opt_bytes(root, "external ip")? else {
        return Ok(None);
    };
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(Some(IpAddr::V4(Ipv4Addr::from(v4))))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(Some(IpAddr::V6(Ipv6Addr::from(v6))))
    } else {
        Err(Error::Malformed {
            field: "external ip",
            problem: format!("{} bytes, expected 4 or 16", bytes.len()),
        })
    }
}

/// An optional integer field under the module's integer policy.
fn opt_u32(dict: &Node<'_>, field: &'static str) -> Result<Option<u32>, Error> {
    let Some(node) = dict.get(field) else {
        return Ok(None);
    };
    let value = node
        .as_int()
        .ok_or_else(|| wrong_type(field, "an integer", node))?;
    if value < 0 {
        return Err(Error::Malformed {
            field,
            problem: format!("negative value {value}"),
        });
    }
    Ok(Some(u32::try_from(value).unwrap_or(u32::MAX)))
}

/// An optional byte-string field.
fn opt_bytes<'a>(dict: &Node<'a>, field: &'static str) -> Result<Option<&'a [u8]>, Error> {
    dict.get(field)
        .map(|node| {
            node.as_bytes()
                .ok_or_else(|| wrong_type(field, "a string", node))
        })
        .transpose()
}

fn wrong_type(field: &'static str, expected: &str, node: &Node<'_>) -> Error {
    Error::Malformed {
        field,
        problem: format!("expected {expected}, got {}", node.type_name()),
    }
}
