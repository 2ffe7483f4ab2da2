//! What the peer's messages do: interest unchokes it, requests are queued, refused or
//! ignored as the script says, cancels unqueue; and the seeder's choking, flapping included.

use bitswarm_client::wire::Message;
use bitswarm_client::BlockRef;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::{Conn, Ended, MAX_QUEUE};
use crate::behaviour::LieMode;
use crate::event::EventKind;

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Decodes and handles every whole message received.
    pub(super) fn on_bytes(&mut self) -> Result<(), Ended> {
        loop {
            match self.shared.decoder.decode(&mut self.buf) {
                Ok(Some(msg)) => self.on_message(msg)?,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Ended::seeder(format!("protocol: {e}"))),
            }
        }
    }

    fn on_message(&mut self, msg: Message) -> Result<(), Ended> {
        if self.leech_on_message(&msg)? {
            return Ok(());
        }
        match msg {
            Message::Interested => {
                let b = &self.shared.behaviour;
                if self.choked && !b.never_unchoke && self.flap_at.is_none() {
                    if let Some(period) = b.choke_flap() {
                        self.flap_at = Some(Instant::now() + period);
                    }
                    self.unchoke();
                }
            }
            Message::Request(block) => self.on_request(block)?,
            Message::Cancel(block) => {
                if let Some(at) = self.queue.iter().position(|b| *b == block) {
                    self.queue.remove(at);
                    // BEP 6: every request gets exactly one answer, a cancelled one a reject.
                    if self.fast {
                        self.reject(block);
                    }
                }
            }
            Message::Extended { id, payload } => self.on_extended(id, &payload),
            // A seeder (free riders aside) wants nothing: the peer's pieces, interest and
            // choking do not matter.
            _ => {}
        }
        Ok(())
    }

    fn on_request(&mut self, block: BlockRef) -> Result<(), Ended> {
        if !self.shared.content.geometry().is_valid_block(block) {
            return Err(Ended::seeder(format!("invalid request {block:?}")));
        }
        if self.queue.len() >= MAX_QUEUE {
            return Err(Ended::seeder(format!(
                "more than {MAX_QUEUE} requests queued"
            )));
        }
        if self.queue.contains(&block) {
            return Ok(());
        }
        let piece = block.piece;
        let plan = &self.shared.plan;
        // Serve it, or refuse: a lie as scripted, anything else the peer should not have
        // asked for (a piece we never claimed, or while choked) with a reject.
        let serve = plan.serves(piece)
            && (!self.choked || (self.fast && self.shared.allowed_fast.contains(&piece)));
        if serve {
            self.queue.push_back(block);
            return Ok(());
        }
        let refuse = !plan.lies.get(piece) || self.shared.behaviour.lie_mode == LieMode::Reject;
        // Refused requests are rejected where BEP 6 allows; a lie in `ignore` mode is silent.
        if refuse && self.fast {
            self.reject(block);
        }
        Ok(())
    }

    pub(super) fn reject(&mut self, block: BlockRef) {
        Message::Reject(block).encode(&mut self.out);
        let kind = EventKind::Rejected {
            piece: block.piece,
            offset: block.offset,
        };
        self.shared.emit(self.peer, kind);
    }

    fn unchoke(&mut self) {
        self.choked = false;
        Message::Unchoke.encode(&mut self.out);
        self.shared.emit(self.peer, EventKind::Unchoked);
    }

    /// Chokes the peer. With BEP 6 the queued requests are rejected (except allowed-fast
    /// ones, which stay served); without it a choke discards them silently (BEP 3).
    fn choke(&mut self) {
        self.choked = true;
        Message::Choke.encode(&mut self.out);
        self.shared.emit(self.peer, EventKind::Choked);
        let queued: Vec<BlockRef> = self.queue.drain(..).collect();
        for block in queued {
            if self.fast && self.shared.allowed_fast.contains(&block.piece) {
                self.queue.push_back(block);
            } else if self.fast {
                self.reject(block);
            }
        }
    }

    /// One step of `choke_flap_ms`.
    pub(super) fn flap(&mut self) {
        if self.choked {
            self.unchoke();
        } else {
            self.choke();
        }
        if let (Some(at), Some(period)) = (self.flap_at, self.shared.behaviour.choke_flap()) {
            self.flap_at = Some(at + period);
        }
    }
}
