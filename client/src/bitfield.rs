//! The set of pieces a peer has, as carried by the BEP 3 `bitfield` message.
//!
//! Bit `i` is the piece with index `i`, most significant bit of the first byte first. The byte
//! length is always `ceil(len / 8)` and the spare bits at the end are always zero: BEP 3 lets a
//! receiver drop peers that set them, so [`Bitfield::from_bytes`] refuses them and no method can
//! create them.

/// Why a received bitfield was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The byte length does not match the torrent's piece count.
    #[error("bitfield is {got} bytes, expected {expected} for {pieces} pieces")]
    WrongLength {
        /// The number of bytes received.
        got: usize,
        /// `ceil(pieces / 8)`.
        expected: usize,
        /// The torrent's piece count.
        pieces: u32,
    },
    /// A bit past the last piece is set.
    #[error("bitfield sets spare bit {bit} past the last piece ({pieces} pieces)")]
    SpareBits {
        /// The index of the first offending bit, counted like a piece index.
        bit: u32,
        /// The torrent's piece count.
        pieces: u32,
    },
}

/// A fixed-length set of piece indices with an O(1) count of the pieces present.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    /// The bits in wire order, so [`Bitfield::as_bytes`] can be sent as is.
    bytes: Vec<u8>,
    /// The number of pieces; bits at or beyond it are always zero.
    len: u32,
    /// The number of bits set, kept up to date by [`Bitfield::set`] so that completion checks
    /// and rarity counts do not rescan the whole field.
    ones: u32,
}

/// The number of bytes needed to hold `len` bits.
fn byte_len(len: u32) -> usize {
    // Widening after the division cannot overflow: u32::MAX / 8 fits in any usize we support.
    len.div_ceil(8) as usize
}

/// The byte index and mask of bit `i`.
fn locate(i: u32) -> (usize, u8) {
    ((i / 8) as usize, 0x80 >> (i % 8))
}

impl Bitfield {
    /// An empty field (no piece present) for a torrent of `len` pieces.
    pub fn new(len: u32) -> Self {
        Bitfield {
            bytes: vec![0; byte_len(len)],
            len,
            ones: 0,
        }
    }

    /// A full field (every piece present), as a seeder announces.
    pub fn full(len: u32) -> Self {
        let mut bytes = vec![0xff; byte_len(len)];
        let spare = (8 - len % 8) % 8;
        if let Some(last) = bytes.last_mut() {
            // Clear the spare low bits of the last byte so the invariant holds.
            *last &= 0xffu8 << spare;
        }
        Bitfield {
            bytes,
            len,
            ones: len,
        }
    }

    /// Validates a received bitfield against the torrent's piece count.
    ///
    /// The allocation is bounded by `len` (which comes from the metainfo), never by the input.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, Error> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(Error::WrongLength {
                got: bytes.len(),
                expected,
                pieces: len,
            });
        }
        let spare = (8 - len % 8) % 8;
        if let Some(&last) = bytes.last() {
            let spare_mask = !(0xffu8 << spare);
            let stray = last & spare_mask;
            if stray != 0 {
                // Spare bits only exist when `len % 8 != 0`, so the last byte starts at bit
                // `len - len % 8`; the highest stray bit is the first offender in piece order.
                let bit = len - len % 8 + stray.leading_zeros();
                return Err(Error::SpareBits { bit, pieces: len });
            }
        }
        let ones = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones,
        })
    }

    /// The bits in wire order, ready to be the payload of a `bitfield` message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The number of pieces the field covers.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether piece `i` is present; `false` for indices out of range, so a peer's `have` for a
    /// piece we do not know about never reads as "present".
    pub fn get(&self, i: u32) -> bool {
        if i >= self.len {
            return false;
        }
        let (byte, mask) = locate(i);
        self.bytes.get(byte).is_some_and(|b| b & mask != 0)
    }

    /// Marks piece `i` present or absent. Returns `false` (and changes nothing) when `i` is out of
    /// range, so callers handling a peer's `have` can treat that as a protocol violation.
    pub fn set(&mut self, i: u32, present: bool) -> bool {
        if i >= self.len {
            return false;
        }
        let (byte, mask) = locate(i);
        let Some(b) = self.bytes.get_mut(byte) else {
            return false;
        };
        let was = *b & mask != 0;
        if present && !was {
            *b |= mask;
            self.ones += 1;
        } else if !present && was {
            *b &= !mask;
            self.ones -= 1;
        }
        true
    }

    /// The number of pieces present, in O(1).
    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    /// Whether every piece is present (true for a zero-piece field).
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether no piece is present. Note this is about the bits set, not about [`Bitfield::len`]:
    /// a fresh `Bitfield::new(10)` is empty.
    pub fn is_empty(&self) -> bool {
        self.ones == 0
    }

    /// The indices of the pieces present, in increasing order. Whole zero bytes are skipped, so
    /// iterating a sparse field costs about one step per byte plus one per piece present.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().zip(0u32..).flat_map(|(&byte, index)| {
            let mut rest = byte;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.leading_zeros();
                rest &= !(0x80 >> bit);
                Some(index * 8 + bit)
            })
        })
    }
}

impl std::fmt::Debug for Bitfield {
    /// A summary rather than the bits: fields of large torrents are thousands of bytes long.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.ones, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn msb_first_layout() {
        let mut b = Bitfield::new(10);
        assert_eq!(b.as_bytes(), &[0, 0]);
        assert!(b.set(0, true));
        assert!(b.set(9, true));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 9]);
        assert!(b.get(0) && b.get(9) && !b.get(1));
    }

    #[test]
    fn full_clears_spare_bits() {
        assert_eq!(Bitfield::full(10).as_bytes(), &[0xff, 0xc0]);
        assert_eq!(Bitfield::full(16).as_bytes(), &[0xff, 0xff]);
        assert_eq!(Bitfield::full(1).as_bytes(), &[0x80]);
        let f = Bitfield::full(10);
        assert!(f.is_full() && !f.is_empty());
        assert_eq!(f.count_ones(), 10);
        assert_eq!(
            f.iter_ones().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn zero_pieces() {
        let b = Bitfield::new(0);
        assert_eq!(b.as_bytes(), &[] as &[u8]);
        assert!(b.is_full() && b.is_empty());
        assert_eq!(Bitfield::full(0), b);
        assert_eq!(Bitfield::from_bytes(&[], 0), Ok(b));
        assert!(!Bitfield::new(0).get(0));
    }

    #[test]
    fn out_of_range_is_absent_and_refused() {
        let mut b = Bitfield::new(10);
        assert!(!b.set(10, true));
        assert!(!b.set(u32::MAX, true));
        assert!(!b.get(10));
        assert!(!b.get(u32::MAX));
        assert_eq!(b.as_bytes(), &[0, 0]);
        assert_eq!(b.count_ones(), 0);
    }

    #[test]
    fn set_is_idempotent_for_the_count() {
        let mut b = Bitfield::new(3);
        assert!(b.set(1, true));
        assert!(b.set(1, true));
        assert_eq!(b.count_ones(), 1);
        assert!(b.set(1, false));
        assert!(b.set(1, false));
        assert_eq!(b.count_ones(), 0);
        assert!(b.is_empty());
    }

    #[test]
    fn rejects_wrong_length() {
        let e = Bitfield::from_bytes(&[0, 0, 0], 10).unwrap_err();
        assert_eq!(
            e,
            Error::WrongLength {
                got: 3,
                expected: 2,
                pieces: 10
            }
        );
        assert_eq!(
            e.to_string(),
            "bitfield is 3 bytes, expected 2 for 10 pieces"
        );
        assert!(matches!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(Error::WrongLength { got: 1, .. })
        ));
        assert!(Bitfield::from_bytes(&[0], 0).is_err());
    }

    #[test]
    fn rejects_spare_bits_naming_the_first() {
        // 10 pieces: bits 10..15 are spare; 0x20 is bit 10, 0x01 is bit 15.
        assert_eq!(
            Bitfield::from_bytes(&[0, 0x21], 10),
            Err(Error::SpareBits {
                bit: 10,
                pieces: 10
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0, 0x01], 10),
            Err(Error::SpareBits {
                bit: 15,
                pieces: 10
            })
        );
        let ok = Bitfield::from_bytes(&[0x01, 0xc0], 10).unwrap();
        assert_eq!(ok.count_ones(), 3);
        assert!(!ok.is_full() && ok.get(7) && ok.get(8) && ok.get(9));
    }

    #[test]
    fn debug_is_a_summary() {
        let mut b = Bitfield::new(100);
        b.set(3, true);
        assert_eq!(format!("{b:?}"), "Bitfield(1/100)");
    }

    proptest! {
        #[test]
        fn matches_a_model(len in 0u32..200, ops in proptest::collection::vec((0u32..220, any::<bool>()), 0..100)) {
            let mut b = Bitfield::new(len);
            let mut model = vec![false; len as usize];
            for (i, v) in ops {
                prop_assert_eq!(b.set(i, v), i < len);
                if let Some(m) = model.get_mut(i as usize) {
                    *m = v;
                }
            }
            let ones: Vec<u32> = (0..len).filter(|&i| model[i as usize]).collect();
            prop_assert_eq!(b.iter_ones().collect::<Vec<_>>(), ones.clone());
            prop_assert_eq!(b.count_ones() as usize, ones.len());
            prop_assert_eq!(b.is_full(), ones.len() == len as usize);
            prop_assert_eq!(b.is_empty(), ones.is_empty());
            for i in 0..len + 10 {
                prop_assert_eq!(b.get(i), model.get(i as usize).copied().unwrap_or(false));
            }
            // Round trip through the wire form.
            prop_assert_eq!(Bitfield::from_bytes(b.as_bytes(), len), Ok(b));
        }

        #[test]
        fn from_bytes_never_panics_and_agrees_with_get(bytes in proptest::collection::vec(any::<u8>(), 0..40), len in 0u32..330) {
            if let Ok(b) = Bitfield::from_bytes(&bytes, len) {
                prop_assert_eq!(b.as_bytes(), &bytes[..]);
                let counted = (0..len).filter(|&i| b.get(i)).count();
                prop_assert_eq!(b.count_ones() as usize, counted);
            }
        }
    }
}
