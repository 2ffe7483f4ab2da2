//! The 68-byte handshake that opens every peer connection (BEP 3), and its reserved bits.

use super::Error;
use crate::{InfoHash, PeerId};

/// The protocol string both sides send first.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// The handshake's length: 1 (string length) + 19 (string) + 8 (reserved) + 20 + 20.
pub const HANDSHAKE_LEN: usize = 68;

/// The 8 reserved bytes, in which each side advertises the extensions it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// BEP 10 extension protocol: byte 5, bit 0x10.
    const EXTENDED: (usize, u8) = (5, 0x10);
    /// BEP 6 fast extension: byte 7, bit 0x04.
    const FAST: (usize, u8) = (7, 0x04);
    /// BEP 5 DHT (the peer would answer a `port` message's node): byte 7, bit 0x01.
    const DHT: (usize, u8) = (7, 0x01);

    /// What we advertise: the fast extension and the extension protocol (needed for magnet
    /// metadata). DHT stays off until we run a DHT node, so peers do not send us `port`
    /// messages for a service we do not offer.
    pub fn ours() -> Self {
        let mut bytes = [0u8; 8];
        for (byte, bit) in [Self::FAST, Self::EXTENDED] {
            if let Some(b) = bytes.get_mut(byte) {
                *b |= bit;
            }
        }
        Reserved(bytes)
    }

    fn has(&self, (byte, bit): (usize, u8)) -> bool {
        self.0.get(byte).is_some_and(|b| b & bit != 0)
    }

    /// Whether the peer speaks BEP 6 (so `have all`/`have none`/`reject`/`allowed fast` are legal).
    pub fn supports_fast(&self) -> bool {
        self.has(Self::FAST)
    }

    /// Whether the peer speaks BEP 10 (so `extended` messages are legal).
    pub fn supports_extended(&self) -> bool {
        self.has(Self::EXTENDED)
    }

    /// Whether the peer runs a BEP 5 DHT node.
    pub fn supports_dht(&self) -> bool {
        self.has(Self::DHT)
    }
}

/// A decoded handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The extensions the sender speaks.
    pub reserved: Reserved,
    /// The torrent the sender wants; a listener uses it to pick the torrent.
    pub info_hash: InfoHash,
    /// The sender's peer id, used to spot connections to ourselves and duplicates.
    pub peer_id: PeerId,
}

impl Handshake {
    /// The 68 bytes to send.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        let bytes = std::iter::once(19u8)
            .chain(PROTOCOL.iter().copied())
            .chain(self.reserved.0)
            .chain(self.info_hash.0)
            .chain(self.peer_id.0);
        for (slot, byte) in out.iter_mut().zip(bytes) {
            *slot = byte;
        }
        out
    }

    /// Decodes a handshake from the start of `buf` without consuming it: on `Ok(Some(_))` the
    /// caller drops the first [`HANDSHAKE_LEN`] bytes. `Ok(None)` means more bytes are needed.
    ///
    /// The protocol string is checked as soon as its bytes arrive, so a peer speaking something
    /// else (or an encrypted stream) is refused without waiting for 68 bytes that may never come.
    pub fn decode(buf: &[u8]) -> Result<Option<Handshake>, Error> {
        let Some((&pstrlen, rest)) = buf.split_first() else {
            return Ok(None);
        };
        if usize::from(pstrlen) != PROTOCOL.len() {
            return Err(Error::BadProtocolLength(pstrlen));
        }
        let seen = rest.get(..PROTOCOL.len()).unwrap_or(rest);
        if !PROTOCOL.starts_with(seen) {
            return Err(Error::BadProtocol(seen.escape_ascii().to_string()));
        }
        let Some(fixed) = buf.first_chunk::<HANDSHAKE_LEN>() else {
            return Ok(None);
        };
        let (_, tail) = split::<20>(fixed);
        let (reserved, tail) = split::<8>(tail);
        let (info_hash, tail) = split::<20>(tail);
        let (peer_id, _) = split::<20>(tail);
        Ok(Some(Handshake {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(peer_id),
        }))
    }
}

/// The first `N` bytes as an array and the rest; zero-filled if `bytes` is short, which the
/// fixed-size caller above rules out.
fn split<const N: usize>(bytes: &[u8]) -> ([u8; N], &[u8]) {
    match bytes.split_first_chunk::<N>() {
        Some((head, tail)) => (*head, tail),
        None => ([0; N], &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::ours(),
            info_hash: InfoHash([0xaa; 20]),
            peer_id: PeerId(*b"-BW0100-abcdefghijkl"),
        }
    }

    #[test]
    fn exact_bytes() {
        let bytes = sample().encode();
        let mut expected = vec![19];
        expected.extend_from_slice(b"BitTorrent protocol");
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        expected.extend_from_slice(&[0xaa; 20]);
        expected.extend_from_slice(b"-BW0100-abcdefghijkl");
        assert_eq!(bytes.to_vec(), expected);
        assert_eq!(Handshake::decode(&bytes), Ok(Some(sample())));
    }

    #[test]
    fn reserved_bits() {
        let ours = Reserved::ours();
        assert!(ours.supports_fast() && ours.supports_extended() && !ours.supports_dht());
        let none = Reserved::default();
        assert!(!none.supports_fast() && !none.supports_extended() && !none.supports_dht());
        let dht = Reserved([0, 0, 0, 0, 0, 0, 0, 0x01]);
        assert!(dht.supports_dht() && !dht.supports_fast());
    }

    #[test]
    fn trailing_bytes_are_left_alone() {
        let mut bytes = sample().encode().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 1, 2]);
        assert_eq!(Handshake::decode(&bytes), Ok(Some(sample())));
    }

    #[test]
    fn rejects_wrong_protocol_length_at_the_first_byte() {
        assert_eq!(Handshake::decode(b"\x13"), Ok(None));
        assert_eq!(Handshake::decode(b"G"), Err(Error::BadProtocolLength(b'G')));
        let mut bytes = sample().encode();
        bytes[0] = 18;
        assert_eq!(Handshake::decode(&bytes), Err(Error::BadProtocolLength(18)));
    }

    #[test]
    fn rejects_wrong_protocol_string_early() {
        let e = Handshake::decode(b"\x13BitTorrent pr0").unwrap_err();
        assert_eq!(e, Error::BadProtocol("BitTorrent pr0".into()));
        let mut bytes = sample().encode();
        bytes[19] = b'\xff';
        let e = Handshake::decode(&bytes).unwrap_err();
        assert_eq!(
            e.to_string(),
            "handshake protocol string is \"BitTorrent protoco\\xff\", expected \"BitTorrent protocol\""
        );
    }

    proptest! {
        #[test]
        fn round_trip_and_split_anywhere(reserved: [u8; 8], hash: [u8; 20], id: [u8; 20]) {
            let h = Handshake {
                reserved: Reserved(reserved),
                info_hash: InfoHash(hash),
                peer_id: PeerId(id),
            };
            let bytes = h.encode();
            prop_assert_eq!(Handshake::decode(&bytes), Ok(Some(h)));
            for cut in 0..HANDSHAKE_LEN {
                prop_assert_eq!(Handshake::decode(&bytes[..cut]), Ok(None));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = Handshake::decode(&bytes);
        }
    }
}
