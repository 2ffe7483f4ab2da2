//! The start of a connection: the handshake (answered, or sent first on a rejoin), the
//! sabotage that replaces everything after it, and the opening messages.

use bitswarm_client::wire::{Handshake, Message, Reserved, HANDSHAKE_LEN};
use bitswarm_client::InfoHash;
use bytes::Buf;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use super::{Conn, Ended};

/// How many bytes of garbage `garbage_after_handshake` sends.
const GARBAGE_LEN: usize = 1024;

/// Reserved handshake bits with only BEP 6 (byte 7, bit 0x04): the seeder speaks BEP 10 only
/// when it serves metadata, adding [`EXTENDED_BIT`].
const FAST_ONLY: Reserved = Reserved([0, 0, 0, 0, 0, 0, 0, 0x04]);

/// BEP 10 in the reserved bytes: byte 5, bit 0x10.
const EXTENDED_BIT: u8 = 0x10;

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Exchanges handshakes: on an accepted connection reads the peer's first, checks its
    /// info-hash and answers; on a dialled one (a rejoin) sends ours first, as a BEP 3
    /// initiator does. Ours carries the wrong info-hash if so scripted.
    pub(super) async fn handshake(&mut self) -> Result<(), Ended> {
        let ours = self.our_handshake();
        if self.dialled {
            self.out.extend_from_slice(&ours.encode());
            self.flush().await?;
        }
        let theirs = loop {
            match Handshake::decode(&self.buf) {
                Ok(Some(h)) => break h,
                Ok(None) => {}
                Err(e) => return Err(Ended::seeder(format!("bad handshake: {e}"))),
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => return Err(Ended::peer("closed during the handshake")),
                Ok(_) => {}
                Err(e) => return Err(Ended::peer(format!("read: {e}"))),
            }
        };
        self.buf.advance(HANDSHAKE_LEN.min(self.buf.len()));
        if theirs.info_hash != self.shared.info_hash {
            let wanted = theirs.info_hash;
            return Err(Ended::seeder(format!(
                "peer wants another torrent ({wanted})"
            )));
        }
        self.fast = self.shared.behaviour.fast && theirs.reserved.supports_fast();
        self.extended = self.shared.metadata.is_some() && theirs.reserved.supports_extended();
        if !self.dialled {
            self.out.extend_from_slice(&ours.encode());
            self.flush().await?;
        }
        Ok(())
    }

    fn our_handshake(&self) -> Handshake {
        let b = &self.shared.behaviour;
        let info_hash = if b.wrong_info_hash {
            InfoHash(self.shared.info_hash.0.map(|byte| !byte))
        } else {
            self.shared.info_hash
        };
        let mut reserved = if b.fast {
            FAST_ONLY
        } else {
            Reserved::default()
        };
        if self.shared.metadata.is_some() {
            reserved.0[5] |= EXTENDED_BIT;
        }
        Handshake {
            reserved,
            info_hash,
            peer_id: self.peer_id,
        }
    }

    /// The scripts that replace the whole session after the handshake (a wrong info-hash,
    /// garbage, an oversized message): they send their bytes and wait for the peer to hang
    /// up. `None`: the session goes on normally.
    pub(super) async fn sabotage(&mut self) -> Option<Ended> {
        let b = &self.shared.behaviour;
        if b.wrong_info_hash {
            return Some(self.hang_up("sent a wrong info-hash").await);
        }
        if b.garbage_after_handshake {
            let mut garbage = vec![0u8; GARBAGE_LEN];
            self.rng.fill(garbage.as_mut_slice());
            self.out.extend_from_slice(&garbage);
            return Some(self.hang_up("sent garbage").await);
        }
        if b.oversized_message {
            // A 2 GiB `piece` message, of which only the start ever comes.
            self.out.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
            self.out.extend_from_slice(&[7, 0, 0, 0, 0, 0, 0, 0, 0]);
            return Some(self.hang_up("sent an oversized message").await);
        }
        None
    }

    /// Queues the opening messages: what we have, then our allowed-fast pieces.
    pub(super) fn greet(&mut self) {
        let claimed = &self.shared.plan.claimed;
        let first = if self.fast && claimed.is_full() {
            Some(Message::HaveAll)
        } else if self.fast && claimed.is_empty() {
            Some(Message::HaveNone)
        } else if !claimed.is_empty() {
            Some(Message::Bitfield(claimed.as_bytes().to_vec().into()))
        } else {
            // Without BEP 6 an empty bitfield may simply be left out.
            None
        };
        if let Some(msg) = first {
            msg.encode(&mut self.out);
        }
        if self.fast {
            for &piece in &self.shared.allowed_fast {
                Message::AllowedFast(piece).encode(&mut self.out);
            }
        }
        self.greet_extended();
    }
}
