//! DHT node ids: 160-bit XOR distance (BEP 5) and ids bound to the node's IP (BEP 42), which
//! make a Sybil cluster of ids near one target cost one IP per handful of ids.

use std::net::IpAddr;

/// A 160-bit node id or info-hash in the DHT's key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    /// The XOR distance to `other`, comparable as a big-endian number.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        d
    }

    /// How many leading bits `self` and `other` share (160 when equal): the bucket depth at
    /// which they part.
    pub fn common_prefix(&self, other: &NodeId) -> u32 {
        let d = self.distance(other);
        let mut bits = 0;
        for byte in d {
            if byte == 0 {
                bits += 8;
            } else {
                return bits + byte.leading_zeros();
            }
        }
        bits
    }

    /// The id BEP 42 derives for a node at `ip` from the random byte `r` and 17 random
    /// bytes `rest` (ids 3..20 are `rest[0..16]` then `r`, with 3 bits of `r` in byte 2).
    pub fn for_ip(ip: IpAddr, r: u8, rest: [u8; 17]) -> NodeId {
        let crc = ip_crc(ip, r);
        let mut id = [0u8; 20];
        id[0] = (crc >> 24) as u8;
        id[1] = (crc >> 16) as u8;
        id[2] = ((crc >> 8) as u8 & 0xf8) | (rest[0] & 0x07);
        id[3..19].copy_from_slice(&rest[1..17]);
        id[19] = r;
        NodeId(id)
    }

    /// Whether this id is one BEP 42 allows for a node at `ip`. Nodes on local networks are
    /// exempt (their public IP is not what we see), so they always pass.
    pub fn valid_for(&self, ip: IpAddr) -> bool {
        is_local(ip) || self.derived_from(ip)
    }

    /// Whether this id is the one BEP 42 derives from `ip`, whatever kind of address it is:
    /// [`NodeId::valid_for`] without the exemption of local addresses.
    pub fn derived_from(&self, ip: IpAddr) -> bool {
        let crc = ip_crc(ip, self.0[19]);
        self.0[0] == (crc >> 24) as u8
            && self.0[1] == (crc >> 16) as u8
            && (self.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
    }
}

/// CRC32-C of `ip` masked as BEP 42 says, with the low 3 bits of `r` in its top byte.
fn ip_crc(ip: IpAddr, r: u8) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = v4.octets();
            for (byte, mask) in b.iter_mut().zip([0x03, 0x0f, 0x3f, 0xff]) {
                *byte &= mask;
            }
            b[0] |= (r & 0x07) << 5;
            crc32c(&b)
        }
        IpAddr::V6(v6) => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v6.octets()[..8]);
            for (byte, mask) in b
                .iter_mut()
                .zip([0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff])
            {
                *byte &= mask;
            }
            b[0] |= (r & 0x07) << 5;
            crc32c(&b)
        }
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: it only ever runs over
/// 4 or 8 bytes.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Loopback, private and link-local addresses, which BEP 42 exempts.
pub fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn bep42_examples_derive_and_validate() {
        // (ip, random byte r, the first three id bytes, with r's low 3 bits in byte 2's).
        let cases: [(&str, u8, [u8; 3]); 5] = [
            ("124.31.75.21", 1, [0x5f, 0xbf, 0xbf]),
            ("21.75.31.124", 86, [0x5a, 0x3c, 0xe9]),
            ("65.23.51.170", 22, [0xa5, 0xd4, 0x32]),
            ("84.124.73.14", 65, [0x1b, 0x03, 0x21]),
            ("43.213.53.83", 90, [0xe5, 0x6f, 0x6c]),
        ];
        for (ip, r, prefix) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            let mut rest = [0u8; 17];
            rest[0] = prefix[2] & 0x07;
            let id = NodeId::for_ip(ip, r, rest);
            assert_eq!(&id.0[..3], &prefix, "{ip}");
            assert_eq!(id.0[19], r);
            assert!(id.valid_for(ip));
            let other: IpAddr = "8.8.8.8".parse().unwrap();
            assert!(!id.valid_for(other), "{ip} id must not fit another IP");
        }
    }

    #[test]
    fn local_addresses_are_exempt() {
        let id = NodeId([0xab; 20]);
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(id.valid_for(ip.parse().unwrap()), "{ip}");
        }
        assert!(!id.valid_for("1.2.3.4".parse().unwrap()));
        // Held to the rule, a local address derives ids like any other.
        let local: IpAddr = "192.168.0.9".parse().unwrap();
        assert!(!id.derived_from(local));
        assert!(NodeId::for_ip(local, 7, [3; 17]).derived_from(local));
    }

    #[test]
    fn distance_and_prefix() {
        let a = NodeId([0; 20]);
        let mut b = [0u8; 20];
        b[1] = 0x10;
        let b = NodeId(b);
        assert_eq!(a.common_prefix(&b), 11);
        assert_eq!(a.common_prefix(&a), 160);
        assert_eq!(a.distance(&b)[1], 0x10);
    }
}
