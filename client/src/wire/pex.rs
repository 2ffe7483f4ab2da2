//! BEP 11 `ut_pex` messages: the peers a peer connected to and dropped since its last message,
//! IPv4 (`added`, `dropped`, 6 bytes each) and IPv6 (`added6`, `dropped6`, 18 bytes each), with
//! one flags byte per added peer (`added.f`, `added6.f`).
//!
//! Parsing refuses a list whose length is not a whole number of entries; flags of the wrong
//! length are ignored (they are hints). At most [`MAX_PEX_ENTRIES`] entries per list are kept,
//! so a message costs bounded memory whatever its size.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::bencode::{self, Node, Value};
use crate::tracker::peers::{decode_compact, encode_compact};

/// The extended message id we ask peers to use for `ut_pex`.
pub const OUR_UT_PEX_ID: u8 = 1;

/// Entries kept per list of one message; BEP 11 asks senders for at most 50 added and 50
/// dropped, so this leaves room for lenient senders without letting one message cost much.
pub const MAX_PEX_ENTRIES: usize = 200;

/// BEP 11 flag: the peer is a seed (or only uploads).
pub const PEX_SEED: u8 = 0x02;
/// BEP 11 flag: the peer accepts incoming connections (we reached it ourselves).
pub const PEX_REACHABLE: u8 = 0x10;

/// One `ut_pex` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PexMessage {
    /// Peers connected since the last message, with their flags (0 when none were sent).
    pub added: Vec<(SocketAddr, u8)>,
    /// Peers disconnected since the last message.
    pub dropped: Vec<SocketAddr>,
}

/// Why a `ut_pex` payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PexError {
    #[error("ut_pex message: {0}")]
    Bencode(crate::bencode::DecodeError),
    #[error("ut_pex message is a {0}, not a dictionary")]
    NotDict(&'static str),
    #[error("ut_pex {key} is {len} bytes, not a whole number of {entry}-byte entries")]
    BadLength {
        key: &'static str,
        len: usize,
        entry: usize,
    },
}

impl PexMessage {
    /// Parses the payload of a `ut_pex` extended message (after the extension id byte).
    pub fn parse(payload: &[u8]) -> Result<PexMessage, PexError> {
        let root = bencode::decode(payload).map_err(PexError::Bencode)?;
        if root.as_dict().is_none() {
            return Err(PexError::NotDict(root.type_name()));
        }
        let mut msg = PexMessage::default();
        for (key, flags_key, entry) in [("added", "added.f", 6), ("added6", "added6.f", 18)] {
            let addrs = compact(&root, key, entry)?;
            let flags = root.get(flags_key).and_then(Node::as_bytes);
            let flags = flags.filter(|f| f.len() == addrs.len());
            for (i, addr) in addrs.into_iter().enumerate() {
                let flag = flags.and_then(|f| f.get(i).copied()).unwrap_or(0);
                msg.added.push((addr, flag));
            }
        }
        for (key, entry) in [("dropped", 6), ("dropped6", 18)] {
            msg.dropped.extend(compact(&root, key, entry)?);
        }
        Ok(msg)
    }

    /// The payload for an extended message: every key present, lists possibly empty.
    pub fn encode(&self) -> Bytes {
        let mut out = Value::dict();
        let (mut a4, mut f4, mut a6, mut f6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for &(addr, flags) in &self.added {
            match addr {
                SocketAddr::V4(_) => {
                    encode_compact(&addr, &mut a4);
                    f4.push(flags);
                }
                SocketAddr::V6(_) => {
                    encode_compact(&addr, &mut a6);
                    f6.push(flags);
                }
            }
        }
        let (mut d4, mut d6) = (Vec::new(), Vec::new());
        for &addr in &self.dropped {
            match addr {
                SocketAddr::V4(_) => encode_compact(&addr, &mut d4),
                SocketAddr::V6(_) => encode_compact(&addr, &mut d6),
            }
        }
        for (key, bytes) in [
            ("added", a4),
            ("added.f", f4),
            ("added6", a6),
            ("added6.f", f6),
            ("dropped", d4),
            ("dropped6", d6),
        ] {
            out.insert(key, Value::Bytes(bytes));
        }
        Bytes::from(bencode::encode(&out))
    }
}

/// The compact addresses under `key` (absent: none), at most [`MAX_PEX_ENTRIES`].
fn compact(root: &Node<'_>, key: &'static str, entry: usize) -> Result<Vec<SocketAddr>, PexError> {
    let Some(bytes) = root.get(key).and_then(Node::as_bytes) else {
        return Ok(Vec::new());
    };
    if bytes.len() % entry != 0 {
        let len = bytes.len();
        return Err(PexError::BadLength { key, len, entry });
    }
    Ok(bytes
        .chunks_exact(entry)
        .take(MAX_PEX_ENTRIES)
        .filter_map(decode_compact)
        .collect())
}

/// Whether a peer named by PEX is worth dialling: a real unicast address and a port.
pub fn plausible_peer(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    addr.port() != 0 && !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, a], port))
    }

    #[test]
    fn parses_both_families_with_flags() {
        let mut raw = b"d5:added12:".to_vec();
        raw.extend_from_slice(&[10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80]);
        raw.extend_from_slice(b"7:added.f2:\x10\x02");
        raw.extend_from_slice(b"6:added618:");
        raw.extend_from_slice(&[
            0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 99,
        ]);
        raw.extend_from_slice(b"7:dropped6:");
        raw.extend_from_slice(&[10, 0, 0, 3, 0, 81]);
        raw.push(b'e');
        let msg = PexMessage::parse(&raw).unwrap();
        let six: SocketAddr = "[2001:db8::1]:99".parse().unwrap();
        assert_eq!(
            msg.added,
            vec![
                (v4(1, 6881), PEX_REACHABLE),
                (v4(2, 80), PEX_SEED),
                (six, 0)
            ]
        );
        assert_eq!(msg.dropped, vec![v4(3, 81)]);
    }

    #[test]
    fn refuses_torn_lists_and_caps_long_ones() {
        let err = PexMessage::parse(b"d5:added5:abcdee").unwrap_err();
        assert!(err.to_string().contains("not a whole number"), "{err}");
        assert!(PexMessage::parse(b"le").is_err());
        assert_eq!(PexMessage::parse(b"de").unwrap(), PexMessage::default());
        let many = PexMessage {
            added: (0..250).map(|i| (v4(i as u8, 1000 + i), 0)).collect(),
            dropped: Vec::new(),
        };
        let parsed = PexMessage::parse(&many.encode()).unwrap();
        assert_eq!(parsed.added.len(), MAX_PEX_ENTRIES);
        // Flags of the wrong length are dropped, the addresses kept.
        let mut raw = b"d5:added6:".to_vec();
        raw.extend_from_slice(&[10, 0, 0, 1, 0, 1]);
        raw.extend_from_slice(b"7:added.f2:xye");
        assert_eq!(PexMessage::parse(&raw).unwrap().added, vec![(v4(1, 1), 0)]);
    }

    #[test]
    fn only_dialable_addresses_are_plausible() {
        assert!(plausible_peer(&v4(1, 1)));
        assert!(!plausible_peer(&v4(1, 0)));
        assert!(!plausible_peer(&"0.0.0.0:1".parse().unwrap()));
        assert!(!plausible_peer(&"224.0.0.1:1".parse().unwrap()));
        assert!(!plausible_peer(&"255.255.255.255:1".parse().unwrap()));
        assert!(!plausible_peer(&"[::]:1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn round_trips(
            added in proptest::collection::vec((any::<[u8; 4]>(), any::<u16>(), any::<u8>()), 0..60),
            dropped in proptest::collection::vec((any::<[u8; 16]>(), any::<u16>()), 0..60),
        ) {
            let msg = PexMessage {
                added: added.iter().map(|(ip, port, f)| (SocketAddr::from((*ip, *port)), *f)).collect(),
                dropped: dropped.iter().map(|(ip, port)| SocketAddr::from((*ip, *port))).collect(),
            };
            prop_assert_eq!(PexMessage::parse(&msg.encode()), Ok(msg));
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = PexMessage::parse(&raw);
        }
    }
}
