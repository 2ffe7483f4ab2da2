//! Magnet URIs (BEP 9): what a `magnet:?xt=urn:btih:…` link says about a torrent.
//!
//! We read the parameters BEP 9 defines: `xt` (the info-hash, 40 hex or 32 base32 digits), `dn`
//! (display name), `tr` (trackers), `x.pe` (peer addresses) and `ws` (web seeds, BEP 19).
//! Parameters may carry the numbered suffix of the original magnet draft (`tr.1`, `xt.2`).
//! Unknown parameters (`xl`, `as`, `so`, `kt`, …) are ignored, because links in the wild carry
//! many and none of them changes what we download. Parsing is strict about what it does read: a
//! malformed hash, bad percent-encoding or an unparseable peer address is an error, not silently
//! dropped, so the user learns their link is damaged.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::InfoHash;

/// Why a magnet URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text does not start with `magnet:?`.
    #[error("not a magnet uri: it must start with \"magnet:?\"")]
    NotMagnet,
    /// There is no `xt` parameter at all.
    #[error("magnet uri has no exact topic (xt=urn:btih:...)")]
    MissingXt,
    /// Only BitTorrent v2 hashes (`urn:btmh:`) are given; we speak v1 only.
    #[error("v2-only magnet uri (urn:btmh) is not supported: a v1 urn:btih info-hash is required")]
    V2Only,
    /// The `xt` names something other than a BitTorrent info-hash.
    #[error("unsupported exact topic {0:?}: expected urn:btih")]
    UnsupportedXt(String),
    /// The `btih` hash has neither 40 nor 32 characters.
    #[error("info-hash must be 40 hex or 32 base32 characters, got {0}")]
    BadHashLength(usize),
    /// The `btih` hash contains a character outside its encoding's alphabet.
    #[error("invalid {encoding} character {ch:?} at position {pos} of the info-hash")]
    BadHashChar {
        /// `"hex"` or `"base32"`, chosen by the hash length.
        encoding: &'static str,
        /// The offending character.
        ch: char,
        /// Its position, in characters from the start of the hash.
        pos: usize,
    },
    /// A `%` is not followed by two hex digits.
    #[error("invalid percent-encoding in {param} at byte {offset}")]
    BadPercent {
        /// The parameter whose value is malformed.
        param: &'static str,
        /// Byte offset of the `%` inside the raw value.
        offset: usize,
    },
    /// A value does not decode to UTF-8.
    #[error("{param} is not valid utf-8 after percent-decoding")]
    BadUtf8 {
        /// The parameter whose value is malformed.
        param: &'static str,
    },
    /// An `x.pe` value is not a literal `ip:port` (hostnames are not resolved by a codec).
    #[error("x.pe {0:?} is not an ip:port address (hostnames are not resolved)")]
    BadPeer(String),
}

/// What a magnet link tells us: enough to find peers and fetch the metadata from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The torrent's identity; the only mandatory part of the link.
    pub info_hash: InfoHash,
    /// The `dn` display name, used until the metadata (with the real name) arrives.
    pub name: Option<String>,
    /// The `tr` tracker URLs, in link order, without duplicates.
    pub trackers: Vec<String>,
    /// The `x.pe` peers to contact directly, for links shared without a tracker.
    pub peers: Vec<SocketAddr>,
    /// The `ws` web seed URLs (BEP 19), in link order, without duplicates.
    pub web_seeds: Vec<String>,
}

/// Characters written as is in [`Magnet::to_uri`]: RFC 3986 unreserved ones, plus `:`, `/`, `@`
/// and `?`, which a query may contain literally and which keep tracker URLs readable. Everything
/// else, notably `&`, `=`, `+`, `#` and `%`, is escaped.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'@')
    .remove(b'?');

impl Magnet {
    /// Parses a magnet URI. The scheme and the `urn:btih:` prefix are case-insensitive, as are
    /// hex and base32 digits. When several `xt` are present the first `urn:btih` wins; the first
    /// `dn` wins; repeated `tr`, `x.pe` and `ws` are kept in order without duplicates, and empty
    /// `tr`/`ws` values are skipped.
    pub fn parse(uri: &str) -> Result<Magnet, Error> {
        let query = strip_prefix_ignore_case(uri, "magnet:?").ok_or(Error::NotMagnet)?;
        let mut info_hash = None;
        let mut saw_v2 = false;
        let mut other_xt = None;
        let mut name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        let mut web_seeds = Vec::new();

        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = param.split_once('=').unwrap_or((param, ""));
            match unnumbered(key) {
                "xt" if info_hash.is_none() => {
                    let value = decode_value("xt", raw, false)?;
                    if let Some(hash) = strip_prefix_ignore_case(&value, "urn:btih:") {
                        info_hash = Some(parse_hash(hash)?);
                    } else if strip_prefix_ignore_case(&value, "urn:btmh:").is_some() {
                        saw_v2 = true;
                    } else if other_xt.is_none() {
                        other_xt = Some(value);
                    }
                }
                "dn" if name.is_none() => name = Some(decode_value("dn", raw, true)?),
                "tr" => push_unique(&mut trackers, decode_value("tr", raw, false)?),
                "ws" => push_unique(&mut web_seeds, decode_value("ws", raw, false)?),
                "x.pe" => {
                    let value = decode_value("x.pe", raw, false)?;
                    let addr = value.parse().map_err(|_| Error::BadPeer(value))?;
                    if !peers.contains(&addr) {
                        peers.push(addr);
                    }
                }
                _ => {}
            }
        }

        let info_hash = match (info_hash, saw_v2, other_xt) {
            (Some(hash), _, _) => hash,
            (None, true, _) => return Err(Error::V2Only),
            (None, false, Some(xt)) => return Err(Error::UnsupportedXt(xt)),
            (None, false, None) => return Err(Error::MissingXt),
        };
        Ok(Magnet {
            info_hash,
            name,
            trackers,
            peers,
            web_seeds,
        })
    }

    /// Writes the link back: `xt` with a lowercase hex hash, then `dn`, `tr`, `x.pe` and `ws` in
    /// that order, each value percent-encoded so that [`Magnet::parse`] gives back `self`.
    pub fn to_uri(&self) -> String {
        let mut uri = format!("magnet:?xt=urn:btih:{}", self.info_hash.to_hex());
        let mut push = |key: &str, value: &str| {
            uri.push('&');
            uri.push_str(key);
            uri.push('=');
            uri.extend(utf8_percent_encode(value, VALUE));
        };
        if let Some(name) = &self.name {
            push("dn", name);
        }
        for tracker in &self.trackers {
            push("tr", tracker);
        }
        for peer in &self.peers {
            push("x.pe", &peer.to_string());
        }
        for seed in &self.web_seeds {
            push("ws", seed);
        }
        uri
    }
}

impl FromStr for Magnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Magnet::parse(s)
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// `s` without `prefix`, compared ASCII-case-insensitively (URI schemes and URNs are).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The key without the `.N` suffix that the magnet draft allows for repeated parameters.
fn unnumbered(key: &str) -> &str {
    match key.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => key,
    }
}

/// Percent-decodes a value, refusing malformed escapes (the `percent-encoding` crate would pass
/// them through) and non-UTF-8 results. `+` means space only in `dn`, which browsers and HTML
/// forms encode that way; in URLs a `+` is a literal plus.
fn decode_value(param: &'static str, raw: &str, plus_is_space: bool) -> Result<String, Error> {
    let bytes = raw.as_bytes();
    for (offset, _) in raw.match_indices('%') {
        let hex = bytes.get(offset + 1..offset + 3);
        if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
            return Err(Error::BadPercent { param, offset });
        }
    }
    let spaced;
    let raw = if plus_is_space && raw.contains('+') {
        spaced = raw.replace('+', " ");
        &spaced
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::BadUtf8 { param })
}

fn push_unique(list: &mut Vec<String>, value: String) {
    if !value.is_empty() && !list.contains(&value) {
        list.push(value);
    }
}

/// Decodes a `btih` hash: 40 hex digits or 32 base32 digits (RFC 4648 alphabet, no padding).
fn parse_hash(hash: &str) -> Result<InfoHash, Error> {
    let mut out = [0u8; 20];
    match hash.chars().count() {
        40 => {
            let mut digits = hash.chars().enumerate().map(|(pos, ch)| {
                ch.to_digit(16).map(|d| d as u8).ok_or(Error::BadHashChar {
                    encoding: "hex",
                    ch,
                    pos,
                })
            });
            for byte in &mut out {
                let (Some(hi), Some(lo)) = (digits.next(), digits.next()) else {
                    break;
                };
                *byte = hi? << 4 | lo?;
            }
        }
        32 => {
            // Each character carries 5 bits; 32 of them make exactly the 160 bits of the hash.
            let mut acc: u16 = 0;
            let mut bits = 0;
            let mut slots = out.iter_mut();
            for (pos, ch) in hash.chars().enumerate() {
                let value = match ch.to_ascii_uppercase() {
                    c @ 'A'..='Z' => c as u16 - 'A' as u16,
                    c @ '2'..='7' => c as u16 - '2' as u16 + 26,
                    _ => {
                        return Err(Error::BadHashChar {
                            encoding: "base32",
                            ch,
                            pos,
                        })
                    }
                };
                // Only the bits not yet emitted (fewer than 8) plus the new 5 are kept.
                acc = (acc << 5 | value) & 0x1fff;
                bits += 5;
                if bits >= 8 {
                    bits -= 8;
                    if let Some(slot) = slots.next() {
                        *slot = (acc >> bits) as u8;
                    }
                }
            }
        }
        n => return Err(Error::BadHashLength(n)),
    }
    Ok(InfoHash(out))
}

#[cfg(test)]
mod tests;
