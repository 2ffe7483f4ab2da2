//! Validated identifiers shared by every layer: [`InfoHash`] and [`PeerId`].

use std::fmt;

/// The SHA-1 of a torrent's bencoded `info` dictionary: the torrent's identity on the wire.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InfoHash(pub [u8; 20]);

/// A 20-byte peer id (BEP 20 style: `-BW0100-` followed by 12 random bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub [u8; 20]);

/// A 40-character hex string that is not a valid 20-byte id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 40 hex digits, got {0:?}")]
pub struct BadHex(pub String);

fn parse_hex20(s: &str) -> Result<[u8; 20], BadHex> {
    let mut out = [0u8; 20];
    if s.len() != 40 {
        return Err(BadHex(s.to_string()));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| BadHex(s.to_string()))?;
    Ok(out)
}

impl InfoHash {
    /// Parses 40 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, BadHex> {
        parse_hex20(s).map(InfoHash)
    }

    /// The 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl PeerId {
    /// The client prefix of our peer ids (Azureus style: `-BW` + version).
    pub const PREFIX: &'static [u8; 8] = b"-BW0100-";

    /// Our peer id: the prefix followed by 12 bytes from the caller's (seeded) randomness.
    pub fn ours(random: [u8; 12]) -> Self {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(Self::PREFIX);
        id[8..].copy_from_slice(&random);
        PeerId(id)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

impl fmt::Display for PeerId {
    /// Printable bytes as they are, the rest escaped, so client prefixes stay readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash::from_hex("0123456789ABCDEF0123456789abcdef01234567").unwrap();
        assert_eq!(h.to_hex(), "0123456789abcdef0123456789abcdef01234567");
        assert!(InfoHash::from_hex("0123").is_err());
        assert!(InfoHash::from_hex("zz23456789abcdef0123456789abcdef01234567").is_err());
    }

    #[test]
    fn peer_id_has_prefix() {
        let id = PeerId::ours([7; 12]);
        assert!(id.0.starts_with(b"-BW0100-"));
        assert!(id.to_string().starts_with("-BW0100-"));
    }
}
