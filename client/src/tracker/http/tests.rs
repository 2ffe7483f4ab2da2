//! Tests of the HTTP tracker codec, split by what is tested: `url` for query strings,
//! `body` for bencoded answers; the fixtures both use are here.

mod body;
mod url;

use std::net::SocketAddr;

use super::*;
use crate::tracker::{AnnounceRequest, Error, Event};
use crate::{InfoHash, PeerId};

/// An info-hash holding every class of byte: escaped controls, space, unreserved marks,
/// alphanumerics, reserved delimiters and high bytes.
pub(super) const TRICKY: [u8; 20] = *b"\x00\x20\x7e\xff-._~Az09/?&=%+ \x80";
pub(super) const TRICKY_ESCAPED: &str = "%00%20~%FF-._~Az09%2F%3F%26%3D%25%2B%20%80";
pub(super) const PEER_ESCAPED: &str = "-BW0100-%01%01%01%01%01%01%01%01%01%01%01%01";

pub(super) fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash(TRICKY),
        peer_id: PeerId::ours([1; 12]),
        port: 6881,
        uploaded: 5,
        downloaded: 4386,
        left: 0,
        event: Event::Completed,
        numwant: Some(50),
        key: 0xbeef,
        tracker_id: Some("a b/é".into()),
    }
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn malformed(field: &'static str, problem: &str) -> Error {
    Error::Malformed {
        field,
        problem: problem.into(),
    }
}
