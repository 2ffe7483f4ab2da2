//! Peer lists from trackers: compact entries (BEP 23 for IPv4, BEP 7 for IPv6) and the bounded,
//! deduplicating collector both protocols fill.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Error, MAX_PEERS};

/// Bytes of one compact IPv4 peer: 4 address bytes, then the port, big-endian.
pub(crate) const V4_LEN: usize = 6;
/// Bytes of one compact IPv6 peer: 16 address bytes, then the port, big-endian.
pub(crate) const V6_LEN: usize = 18;

/// Reads one compact entry of either size; `None` if `entry` has neither length. Tracker
/// peer lists, the DHT (BEP 5, BEP 32) and PEX (BEP 11) share this form.
pub fn decode_compact(entry: &[u8]) -> Option<SocketAddr> {
    let ip = match entry.len() {
        V4_LEN => IpAddr::V4(Ipv4Addr::from(*entry.first_chunk::<4>()?)),
        V6_LEN => IpAddr::V6(Ipv6Addr::from(*entry.first_chunk::<16>()?)),
        _ => return None,
    };
    let port = u16::from_be_bytes(*entry.last_chunk::<2>()?);
    Some(SocketAddr::new(ip, port))
}

/// Appends the compact form of `addr` (6 or 18 bytes, by its family).
pub(crate) fn encode_compact(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Collects peers in the order given, dropping duplicates, unusable addresses and anything past
/// [`MAX_PEERS`].
#[derive(Debug, Default)]
pub(crate) struct PeerSet {
    /// The peers kept, in order of first appearance.
    list: Vec<SocketAddr>,
    /// The same peers, for duplicate checks in O(log n) without relying on hash order.
    seen: BTreeSet<SocketAddr>,
}

impl PeerSet {
    /// Whether the bound is reached and further peers would be dropped.
    pub(crate) fn is_full(&self) -> bool {
        self.list.len() >= MAX_PEERS
    }

    /// Keeps `addr` unless it is a duplicate, the set is full, or nobody could be reached there:
    /// port 0 is never a listening port, and an unspecified address (`0.0.0.0`, `::`) would make
    /// us connect to ourselves.
    pub(crate) fn push(&mut self, addr: SocketAddr) {
        if addr.port() == 0 || addr.ip().is_unspecified() || self.is_full() {
            return;
        }
        if self.seen.insert(addr) {
            self.list.push(addr);
        }
    }

    /// Adds every entry of a compact peer string; `field` names it in the error when its length
    /// is not a whole number of entries.
    pub(crate) fn add_compact(
        &mut self,
        field: &'static str,
        bytes: &[u8],
        ipv6: bool,
    ) -> Result<(), Error> {
        let entry = if ipv6 { V6_LEN } else { V4_LEN };
        if bytes.len() % entry != 0 {
            return Err(Error::Malformed {
                field,
                problem: format!("{} bytes is not a multiple of {entry}", bytes.len()),
            });
        }
        for chunk in bytes.chunks_exact(entry) {
            if self.is_full() {
                break;
            }
            if let Some(addr) = decode_compact(chunk) {
                self.push(addr);
            }
        }
        Ok(())
    }

    /// The peers kept, in order.
    pub(crate) fn into_vec(self) -> Vec<SocketAddr> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_entries_decode_big_endian() {
        assert_eq!(
            decode_compact(&[10, 0, 0, 1, 0x1a, 0xe1]),
            Some("10.0.0.1:6881".parse().unwrap())
        );
        let mut v6 = [0u8; 18];
        v6[15] = 1;
        v6[16] = 0xc8;
        v6[17] = 0xd5;
        assert_eq!(decode_compact(&v6), Some("[::1]:51413".parse().unwrap()));
        assert_eq!(decode_compact(&[1, 2, 3]), None);
        let mut out = Vec::new();
        encode_compact(&"[::1]:51413".parse().unwrap(), &mut out);
        assert_eq!(out, v6);
    }

    #[test]
    fn set_drops_duplicates_zero_ports_and_unspecified() {
        let mut set = PeerSet::default();
        for a in [
            "1.2.3.4:5",
            "1.2.3.4:0",
            "0.0.0.0:80",
            "[::]:80",
            "1.2.3.4:5",
            "[::1]:5",
        ] {
            set.push(a.parse().unwrap());
        }
        let kept: Vec<SocketAddr> = vec!["1.2.3.4:5".parse().unwrap(), "[::1]:5".parse().unwrap()];
        assert_eq!(set.into_vec(), kept);
    }

    #[test]
    fn set_stops_at_the_bound() {
        let mut set = PeerSet::default();
        for i in 0..(MAX_PEERS as u32 + 5) {
            set.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(i + 1)), 1));
        }
        assert!(set.is_full());
        let list = set.into_vec();
        assert_eq!(list.len(), MAX_PEERS);
        assert_eq!(list[0], "0.0.0.1:1".parse().unwrap());
    }

    #[test]
    fn compact_length_must_be_whole_entries() {
        let mut set = PeerSet::default();
        let e = set.add_compact("peers6", &[0; 20], true).unwrap_err();
        assert_eq!(
            e,
            Error::Malformed {
                field: "peers6",
                problem: "20 bytes is not a multiple of 18".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "tracker field `peers6`: 20 bytes is not a multiple of 18"
        );
    }
}
