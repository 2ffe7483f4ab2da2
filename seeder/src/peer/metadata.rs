//! BEP 10 and BEP 9 on a synthetic seeder: the extended handshake offering `ut_metadata`, and
//! answers to metadata requests with the info dictionary as scripted (honest, corrupted, or
//! of a size that is a lie).

use bitswarm_client::wire::{
    metadata_piece_len, ExtendedHandshake, Message, MetadataMessage, MAX_METADATA_SIZE,
    METADATA_PIECE_LEN,
};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Conn;
use crate::behaviour::Behaviour;
use crate::content::Content;

/// The extended message id the seeder asks peers to send `ut_metadata` with.
pub(crate) const SEEDER_UT_METADATA_ID: u8 = 1;

/// What a seeder says and serves about its info dictionary.
pub(crate) struct Served {
    /// The `metadata_size` it claims.
    pub claimed: u32,
    /// The bytes it serves; `None` when the claim is too large to hold (every request is
    /// then rejected).
    pub bytes: Option<Bytes>,
}

impl Served {
    /// What `b` scripts for `content`; `None` unless it serves metadata at all.
    pub fn scripted(b: &Behaviour, content: &Content) -> Option<Served> {
        if !b.serve_metadata {
            return None;
        }
        let mut info = match b.metadata_size {
            Some(size) if size > MAX_METADATA_SIZE => {
                return Some(Served {
                    claimed: size,
                    bytes: None,
                })
            }
            // Filler of the claimed size: deterministic, and never the real dictionary.
            Some(size) => (0..size).map(|i| (i % 251) as u8).collect(),
            None => content.info_bytes(),
        };
        if b.corrupt_metadata {
            info.iter_mut().for_each(|byte| *byte = !*byte);
        }
        Some(Served {
            claimed: u32::try_from(info.len()).unwrap_or(u32::MAX),
            bytes: Some(Bytes::from(info)),
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Queues our extended handshake, if we serve metadata and the peer speaks BEP 10.
    pub(super) fn greet_extended(&mut self) {
        let Some(served) = &self.shared.metadata else {
            return;
        };
        if !self.extended {
            return;
        }
        let hs = ExtendedHandshake {
            extensions: [("ut_metadata".to_string(), SEEDER_UT_METADATA_ID)].into(),
            metadata_size: Some(served.claimed),
            ..ExtendedHandshake::default()
        };
        let payload = Bytes::from(hs.encode());
        Message::Extended { id: 0, payload }.encode(&mut self.out);
    }

    /// An extended message: the peer's handshake (its `ut_metadata` id) or a metadata request,
    /// answered with the piece as scripted or a reject. Anything else is ignored.
    pub(super) fn on_extended(&mut self, id: u8, payload: &Bytes) {
        if self.shared.metadata.is_none() {
            return;
        }
        if id == 0 {
            if let Ok(hs) = ExtendedHandshake::parse(payload) {
                self.their_ut_metadata = hs.id("ut_metadata");
            }
            return;
        }
        let (Some(their_id), SEEDER_UT_METADATA_ID) = (self.their_ut_metadata, id) else {
            return;
        };
        let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(payload) else {
            return;
        };
        let answer = self.metadata_piece(piece);
        let payload = answer.encode();
        Message::Extended {
            id: their_id,
            payload,
        }
        .encode(&mut self.out);
    }

    fn metadata_piece(&self, piece: u32) -> MetadataMessage {
        let served = self.shared.metadata.as_ref();
        let data = served.and_then(|s| {
            let bytes = s.bytes.as_ref()?;
            let len = metadata_piece_len(s.claimed, piece)?;
            let start = piece as usize * METADATA_PIECE_LEN as usize;
            Some(MetadataMessage::Data {
                piece,
                total_size: s.claimed,
                data: bytes.slice(start..start + len as usize),
            })
        });
        data.unwrap_or(MetadataMessage::Reject { piece })
    }
}
