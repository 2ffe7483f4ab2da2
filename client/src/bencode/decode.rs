//! The strict bencode decoder: every rejection names the byte offset where it happened.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::{Kind, Node};

/// How deeply lists and dictionaries may nest. Real torrents nest four or five levels; the
/// limit keeps hostile input such as `llll…` from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// Why bencode was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bencode: {kind} at byte {offset}")]
pub struct DecodeError {
    /// Offset of the byte where decoding stopped.
    pub offset: usize,
    /// What was wrong there.
    pub kind: ErrorKind,
}

/// The ways bencode can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("unexpected end of input")]
    Truncated,
    #[error("trailing data after the value")]
    TrailingData,
    #[error("unexpected byte 0x{0:02x}")]
    UnexpectedByte(u8),
    #[error("number with a leading zero")]
    LeadingZero,
    #[error("negative zero")]
    NegativeZero,
    #[error("integer without digits")]
    EmptyInteger,
    #[error("integer does not fit in 64 bits")]
    IntegerOverflow,
    #[error("string length does not fit in memory")]
    LengthOverflow,
    #[error("string length {0} runs past the end of the input")]
    LengthExceedsInput(usize),
    #[error("dictionary key is not a string")]
    NonStringKey,
    #[error("duplicate dictionary key")]
    DuplicateKey,
    #[error("nesting deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Decodes exactly one value spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Node<'_>, DecodeError> {
    let (node, end) = decode_prefix(input)?;
    if end != input.len() {
        return Err(DecodeError {
            offset: end,
            kind: ErrorKind::TrailingData,
        });
    }
    Ok(node)
}

/// Decodes one value at the start of `input` and returns it with the number of bytes it used;
/// what follows is left to the caller (BEP 9 metadata messages append raw data this way).
pub fn decode_prefix(input: &[u8]) -> Result<(Node<'_>, usize), DecodeError> {
    let mut d = Decoder { input, pos: 0 };
    let node = d.value(0)?;
    Ok((node, d.pos))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn err<T>(&self, kind: ErrorKind) -> Result<T, DecodeError> {
        Err(DecodeError {
            offset: self.pos,
            kind,
        })
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        match self.input.get(self.pos) {
            Some(&b) => Ok(b),
            None => self.err(ErrorKind::Truncated),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, DecodeError> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'i' => {
                self.pos += 1;
                Kind::Int(self.integer()?)
            }
            b'0'..=b'9' => Kind::Bytes(self.bytes()?),
            b'l' => {
                if depth >= MAX_DEPTH {
                    return self.err(ErrorKind::TooDeep);
                }
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Kind::List(items)
            }
            b'd' => {
                if depth >= MAX_DEPTH {
                    return self.err(ErrorKind::TooDeep);
                }
                self.pos += 1;
                Kind::Dict(self.dict_entries(depth)?)
            }
            other => return self.err(ErrorKind::UnexpectedByte(other)),
        };
        Ok(Node {
            kind,
            span: start..self.pos,
        })
    }

    /// Parses the entries of a dictionary after its `d`, through its `e`.
    ///
    /// Duplicate keys are refused at the offset of the repeated key. While keys arrive sorted
    /// (the canonical case) comparing with the previous key suffices; once the order breaks,
    /// every key seen so far goes into a `BTreeSet`, so a hostile dictionary in reverse order
    /// costs O(n log n) comparisons instead of the O(n^2) of scanning the previous entries.
    fn dict_entries(&mut self, depth: usize) -> Result<Vec<(&'a [u8], Node<'a>)>, DecodeError> {
        let mut entries: Vec<(&'a [u8], Node<'a>)> = Vec::new();
        // `None` while the keys so far are strictly increasing.
        let mut seen: Option<BTreeSet<Key<'a>>> = None;
        while self.peek()? != b'e' {
            if !self.peek()?.is_ascii_digit() {
                return self.err(ErrorKind::NonStringKey);
            }
            let key_at = self.pos;
            let key = Key(self.bytes()?);
            let fresh = match (&mut seen, entries.last()) {
                (Some(set), _) => set.insert(key),
                (None, None) => true,
                (None, Some((last, _))) if Key(last) < key => true,
                (None, Some(_)) => {
                    // Keys before this one are strictly increasing, hence distinct.
                    let mut set: BTreeSet<Key<'a>> = entries.iter().map(|(k, _)| Key(k)).collect();
                    let fresh = set.insert(key);
                    seen = Some(set);
                    fresh
                }
            };
            if !fresh {
                return Err(DecodeError {
                    offset: key_at,
                    kind: ErrorKind::DuplicateKey,
                });
            }
            let value = self.value(depth + 1)?;
            entries.push((key.0, value));
        }
        self.pos += 1;
        Ok(entries)
    }

    /// Parses `-?[0-9]+e` after the `i`, with no leading zeros and no `-0`.
    fn integer(&mut self) -> Result<i64, DecodeError> {
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_at = self.pos;
        let mut value: i64 = 0;
        loop {
            let b = self.peek()?;
            match b {
                b'0'..=b'9' => {
                    if self.pos > digits_at && self.input[digits_at] == b'0' {
                        return Err(DecodeError {
                            offset: digits_at,
                            kind: if negative {
                                ErrorKind::NegativeZero
                            } else {
                                ErrorKind::LeadingZero
                            },
                        });
                    }
                    let digit = i64::from(b - b'0');
                    // Accumulate negatively so i64::MIN is representable.
                    value = match value.checked_mul(10).and_then(|v| v.checked_sub(digit)) {
                        Some(v) => v,
                        None => return self.err(ErrorKind::IntegerOverflow),
                    };
                    self.pos += 1;
                }
                b'e' => break,
                other => return self.err(ErrorKind::UnexpectedByte(other)),
            }
        }
        if self.pos == digits_at {
            return self.err(ErrorKind::EmptyInteger);
        }
        if negative && value == 0 {
            return Err(DecodeError {
                offset: digits_at,
                kind: ErrorKind::NegativeZero,
            });
        }
        self.pos += 1; // the 'e'
        if negative {
            Ok(value)
        } else {
            value.checked_neg().ok_or(DecodeError {
                offset: digits_at,
                kind: ErrorKind::IntegerOverflow,
            })
        }
    }

    /// Parses `<len>:<bytes>`.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len_at = self.pos;
        let mut len: usize = 0;
        loop {
            let b = self.peek()?;
            match b {
                b'0'..=b'9' => {
                    if self.pos > len_at && self.input[len_at] == b'0' {
                        return Err(DecodeError {
                            offset: len_at,
                            kind: ErrorKind::LeadingZero,
                        });
                    }
                    len = match len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(b - b'0')))
                    {
                        Some(l) => l,
                        None => return self.err(ErrorKind::LengthOverflow),
                    };
                    self.pos += 1;
                }
                b':' => break,
                other => return self.err(ErrorKind::UnexpectedByte(other)),
            }
        }
        self.pos += 1; // the ':'
        let remaining = self.input.len() - self.pos;
        if len > remaining {
            return Err(DecodeError {
                offset: len_at,
                kind: ErrorKind::LengthExceedsInput(len),
            });
        }
        let bytes = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }
}

/// A dictionary key, ordered as raw bytes (the order BEP 3 sorts keys by).
///
/// It exists so tests can count key comparisons: the cost of the duplicate check is asserted
/// as a deterministic number, not timed.
#[derive(Debug, Clone, Copy)]
struct Key<'a>(&'a [u8]);

impl Ord for Key<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        #[cfg(test)]
        comparisons::bump();
        self.0.cmp(other.0)
    }
}

impl PartialOrd for Key<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key<'_> {}

/// A per-thread count of key comparisons, so a test sees only its own decoding.
#[cfg(test)]
pub(super) mod comparisons {
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub(in crate::bencode) fn bump() {
        COUNT.with(|c| c.set(c.get() + 1));
    }

    /// Comparisons made on this thread so far.
    pub fn count() -> u64 {
        COUNT.with(Cell::get)
    }
}
