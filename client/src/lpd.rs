//! Local peer discovery (BEP 14), sans-IO: the `BT-SEARCH` announce a client multicasts on its
//! local network, built and parsed. Parsing is strict and bounded: one datagram of at most
//! [`MAX_MESSAGE`] bytes, a port, 1 to [`MAX_HASHES`] info-hashes, an optional short cookie.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::InfoHash;

/// The IPv4 group and port BEP 14 announces go to.
pub const GROUP_V4: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771));

/// The IPv6 group (organisation-local scope) and port.
pub const GROUP_V6: SocketAddr = SocketAddr::V6(SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f),
    6771,
    0,
    0,
));

/// The largest announce accepted (and sent): one unfragmented datagram.
pub const MAX_MESSAGE: usize = 1400;

/// Info-hashes in one announce, at most.
pub const MAX_HASHES: usize = 16;

/// The longest cookie accepted.
pub const MAX_COOKIE: usize = 64;

const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// One peer's announce: where it listens and what it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub port: u16,
    pub info_hashes: Vec<InfoHash>,
    /// The sender's own token, to recognise its announces coming back (multicast loops).
    pub cookie: Option<String>,
}

/// Why a datagram is not an announce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpdError {
    #[error("announce larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    #[error("announce is not text")]
    NotText,
    #[error("not a BT-SEARCH announce")]
    NotSearch,
    #[error("announce has no valid Port")]
    BadPort,
    #[error("announce has an invalid Infohash")]
    BadInfoHash,
    #[error("announce names no info-hash")]
    NoInfoHash,
    #[error("announce names more than {MAX_HASHES} info-hashes")]
    TooManyHashes,
    #[error("announce has an invalid cookie")]
    BadCookie,
}

impl Announce {
    /// The datagram announcing `self` to `group`; `None` if it would not fit in
    /// [`MAX_MESSAGE`] (callers send at most [`MAX_HASHES`] per announce, which fits).
    pub fn encode(&self, group: SocketAddr) -> Option<Vec<u8>> {
        let mut out = format!("{REQUEST_LINE}\r\nHost: {group}\r\nPort: {}\r\n", self.port);
        for h in &self.info_hashes {
            out.push_str("Infohash: ");
            out.push_str(&h.to_hex());
            out.push_str("\r\n");
        }
        if let Some(c) = &self.cookie {
            out.push_str("cookie: ");
            out.push_str(c);
            out.push_str("\r\n");
        }
        out.push_str("\r\n\r\n");
        (out.len() <= MAX_MESSAGE).then(|| out.into_bytes())
    }

    /// Parses one datagram. Header names are case-insensitive; unknown headers are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Announce, LpdError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(LpdError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| LpdError::NotText)?;
        let mut lines = text.split("\r\n");
        if lines.next() != Some(REQUEST_LINE) {
            return Err(LpdError::NotSearch);
        }
        let mut port = None;
        let mut info_hashes = Vec::new();
        let mut cookie = None;
        for line in lines.take_while(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(LpdError::NotSearch);
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => {
                    let p: u16 = value.parse().map_err(|_| LpdError::BadPort)?;
                    port = Some(p).filter(|&p| p != 0);
                    if port.is_none() {
                        return Err(LpdError::BadPort);
                    }
                }
                "infohash" => {
                    if value.len() != 40 {
                        return Err(LpdError::BadInfoHash);
                    }
                    let h = InfoHash::from_hex(value).map_err(|_| LpdError::BadInfoHash)?;
                    if info_hashes.len() >= MAX_HASHES {
                        return Err(LpdError::TooManyHashes);
                    }
                    if !info_hashes.contains(&h) {
                        info_hashes.push(h);
                    }
                }
                "cookie" => {
                    let ok = !value.is_empty()
                        && value.len() <= MAX_COOKIE
                        && value.bytes().all(|b| b.is_ascii_graphic());
                    if !ok {
                        return Err(LpdError::BadCookie);
                    }
                    cookie = Some(value.to_string());
                }
                _ => {}
            }
        }
        let port = port.ok_or(LpdError::BadPort)?;
        if info_hashes.is_empty() {
            return Err(LpdError::NoInfoHash);
        }
        Ok(Announce {
            port,
            info_hashes,
            cookie,
        })
    }
}

#[cfg(test)]
mod tests;
