//! HTTP tracker URLs: building announce and scrape URLs, and reading their query strings back
//! (the mock tracker's side).

use std::fmt::Display;

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::tracker::{AnnounceRequest, Error, Event};
use crate::{InfoHash, PeerId};

/// Bytes escaped in query values: all but RFC 3986's unreserved characters. Info-hashes and peer
/// ids are raw bytes, so every other byte becomes `%XX`; trackers compare the decoded bytes.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The announce URL for `req` on the tracker at `base`.
///
/// Parameters follow any query the base already has (private trackers put a `passkey` there);
/// a fragment is dropped, since it would otherwise swallow our parameters. `compact=1` is always
/// asked for: it is a fraction of the size, and trackers that ignore it still answer in the
/// dictionary model, which [`super::parse_announce`] reads too.
pub fn announce_url(base: &str, req: &AnnounceRequest) -> String {
    let mut url = without_fragment(base).to_owned();
    param(&mut url, "info_hash", escape(&req.info_hash.0));
    param(&mut url, "peer_id", escape(&req.peer_id.0));
    param(&mut url, "port", req.port);
    param(&mut url, "uploaded", req.uploaded);
    param(&mut url, "downloaded", req.downloaded);
    param(&mut url, "left", req.left);
    param(&mut url, "compact", 1);
    if let Some(name) = req.event.http_name() {
        param(&mut url, "event", name);
    }
    if let Some(n) = req.numwant {
        param(&mut url, "numwant", n);
    }
    param(&mut url, "key", format_args!("{:08X}", req.key));
    if let Some(id) = &req.tracker_id {
        param(&mut url, "trackerid", escape(id.as_bytes()));
    }
    url
}

/// The scrape URL for `hashes` on the tracker whose announce URL is `announce`, by the BEP 48
/// convention: the last path segment must start with `announce`, and that word becomes
/// `scrape` (`/announce.php?passkey=x` gives `/scrape.php?passkey=x`). `None` when the URL
/// does not follow the convention, meaning the tracker cannot be scraped. No hashes asks for
/// every torrent the tracker has, which many trackers refuse.
pub fn scrape_url(announce: &str, hashes: &[InfoHash]) -> Option<String> {
    let announce = without_fragment(announce);
    let (location, query) = match announce.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (announce, None),
    };
    // The path starts at the first '/' after the authority; without one there is no segment
    // to rewrite (and `http://announce.example` must not match).
    let authority_at = location.find("://")?.checked_add(3)?;
    let path_at = authority_at.checked_add(location.get(authority_at..)?.find('/')?)?;
    let segment_at = location.rfind('/')?.checked_add(1)?;
    if segment_at <= path_at {
        return None;
    }
    let rest = location.get(segment_at..)?.strip_prefix("announce")?;
    let mut url = format!("{}scrape{rest}", location.get(..segment_at)?);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    for hash in hashes {
        param(&mut url, "info_hash", escape(&hash.0));
    }
    Some(url)
}

/// Reads an announce query string (the part after `?`) back into a request, as a tracker does.
///
/// `info_hash`, `peer_id`, `port`, `uploaded`, `downloaded` and `left` are required (BEP 3);
/// a missing `key` reads as 0. Parameters we do not know (`compact`, `ip`, `no_peer_id`, a
/// `passkey`) are ignored, and when one is repeated the first wins.
pub fn parse_announce_query(query: &str) -> Result<AnnounceRequest, Error> {
    let pairs: Vec<(&str, Vec<u8>)> = pairs(query).collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    };
    let required = |name: &'static str| get(name).ok_or(Error::Missing(name));
    let event = match get("event") {
        None | Some(b"") | Some(b"empty") => Event::None,
        Some(b"started") => Event::Started,
        Some(b"completed") => Event::Completed,
        Some(b"stopped") => Event::Stopped,
        Some(other) => return Err(malformed("event", "unknown event", other)),
    };
    Ok(AnnounceRequest {
        info_hash: InfoHash(id20("info_hash", required("info_hash")?)?),
        peer_id: PeerId(id20("peer_id", required("peer_id")?)?),
        port: number("port", required("port")?)?,
        uploaded: number("uploaded", required("uploaded")?)?,
        downloaded: number("downloaded", required("downloaded")?)?,
        left: number("left", required("left")?)?,
        event,
        numwant: get("numwant").map(|v| number("numwant", v)).transpose()?,
        key: get("key").map(hex_key).transpose()?.unwrap_or(0),
        tracker_id: get("trackerid")
            .map(|v| {
                String::from_utf8(v.to_vec()).map_err(|_| malformed("trackerid", "not UTF-8", v))
            })
            .transpose()?,
    })
}

/// Reads the info-hashes of a scrape query string (the part after `?`), in order.
pub fn parse_scrape_query(query: &str) -> Result<Vec<InfoHash>, Error> {
    pairs(query)
        .filter(|(name, _)| *name == "info_hash")
        .map(|(_, value)| id20("info_hash", &value).map(InfoHash))
        .collect()
}

fn without_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

fn escape(bytes: &[u8]) -> impl Display + '_ {
    percent_encode(bytes, ESCAPED)
}

/// Appends `name=value`, choosing `?` or `&` by what the URL already ends with.
fn param(url: &mut String, name: &str, value: impl Display) {
    if !url.contains('?') {
        url.push('?');
    } else if !url.ends_with('?') && !url.ends_with('&') {
        url.push('&');
    }
    url.push_str(name);
    url.push('=');
    url.push_str(&value.to_string());
}

/// The `name=value` pairs of a query, values percent-decoded to raw bytes. `+` is left alone:
/// clients escape binary values byte-wise, never form-style.
fn pairs(query: &str) -> impl Iterator<Item = (&str, Vec<u8>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name, percent_decode_str(value).collect())
    })
}

fn id20(field: &'static str, value: &[u8]) -> Result<[u8; 20], Error> {
    value.try_into().map_err(|_| Error::Malformed {
        field,
        problem: format!("{} bytes, expected 20", value.len()),
    })
}

fn number<T: std::str::FromStr>(field: &'static str, value: &[u8]) -> Result<T, Error> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed(field, "not a number in range", value))
}

/// Parses the `key` parameter: up to 8 hex digits, as we send it.
fn hex_key(value: &[u8]) -> Result<u32, Error> {
    std::str::from_utf8(value)
        .ok()
        .filter(|s| (1..=8).contains(&s.len()))
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| malformed("key", "not up to 8 hex digits", value))
}

/// A `Malformed` error quoting (the start of) the offending value.
fn malformed(field: &'static str, what: &str, value: &[u8]) -> Error {
    let shown = String::from_utf8_lossy(value.get(..32).unwrap_or(value));
    Error::Malformed {
        field,
        problem: format!("{what}: {shown:?}"),
    }
}
