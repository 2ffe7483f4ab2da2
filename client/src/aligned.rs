//! Page-aligned windows into byte buffers, for reads of file data: the kernel copies into a
//! buffer that starts on a page boundary far faster than into one a few bytes past it. On
//! this project's 2-core AMD EPYC test machine, `create` of a 1 GiB file spent 0.8 s of
//! system time in the kernel's copy with malloc's 16-byte-aligned buffer and 0.2 s with an
//! aligned one (0.75 s -> 0.48 s wall).

use bytes::{Buf, BytesMut};

/// Where windows start.
pub const ALIGN: usize = 4096;

/// A `len`-byte window of `buf` that starts on an [`ALIGN`] boundary. Grows `buf` to
/// `len + ALIGN` bytes if it is shorter (the new bytes are zeros); never shrinks it.
pub fn window(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    let need = len.saturating_add(ALIGN);
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let at = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
    &mut buf[at..at + len]
}

/// `len` zeros in a `BytesMut` that starts on an [`ALIGN`] boundary (it holds `ALIGN` bytes
/// more than it shows).
pub fn zeroed_bytes(len: usize) -> BytesMut {
    let mut buf = BytesMut::zeroed(len.saturating_add(ALIGN));
    buf.advance(buf.as_ptr().align_offset(ALIGN).min(ALIGN));
    buf.truncate(len);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_of_the_length_asked() {
        let mut buf = Vec::new();
        for len in [0, 1, 16384, 262144, 1 << 20] {
            let w = window(&mut buf, len);
            assert_eq!(w.len(), len);
            assert_eq!(w.as_ptr() as usize % ALIGN, 0);
        }
        assert_eq!(buf.len(), (1 << 20) + ALIGN);
        // A shorter window reuses the buffer as it is.
        let w = window(&mut buf, 100);
        assert_eq!(w.len(), 100);
        assert_eq!(buf.len(), (1 << 20) + ALIGN);
    }

    #[test]
    fn zeroed_bytes_are_aligned_zeros() {
        for len in [0, 1, 131072] {
            let b = zeroed_bytes(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 0));
            assert_eq!(b.as_ptr().align_offset(ALIGN), 0);
        }
    }
}
