//! `request_flood`: a peer that asks for everything and never reads a byte of the answers,
//! so they pile up on the other side.

use std::convert::Infallible;
use std::sync::Arc;

use bitswarm_client::wire::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{sleep, timeout};

use super::{Conn, Ended, FLOOD_PROBE, STALL_HOLD};
use crate::event::EventKind;

/// Requests per write: ~1 KiB, so a flood is many writes (many segments in the simulator,
/// where the peer's reading paces them) rather than one huge buffer.
const FLOOD_BATCH: u32 = 64;

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends the opening messages, `interested` and `count` block requests, then only a
    /// keep-alive each [`FLOOD_PROBE`], never reading, until a write fails (the peer is gone)
    /// or [`STALL_HOLD`] has passed.
    pub(super) async fn flood(&mut self, count: u32) -> Ended {
        self.shared
            .emit(self.peer, EventKind::Flooded { requests: count });
        match timeout(STALL_HOLD, self.flood_and_hold(count)).await {
            Ok(Err(ended)) => ended,
            Ok(Ok(never)) => match never {},
            Err(_) => Ended::seeder("flooded and held"),
        }
    }

    async fn flood_and_hold(&mut self, count: u32) -> Result<Infallible, Ended> {
        Message::Interested.encode(&mut self.out);
        let shared = Arc::clone(&self.shared);
        let geometry = shared.content.geometry();
        let pieces = geometry.piece_count();
        // Every block of the torrent in order, round and round.
        let (mut piece, mut index) = (0u32, 0u32);
        let mut sent = 0u32;
        while sent < count && pieces > 0 {
            let batch = (count - sent).min(FLOOD_BATCH);
            for _ in 0..batch {
                Message::Request(geometry.block(piece, index)).encode(&mut self.out);
                index += 1;
                if index >= geometry.block_count(piece) {
                    index = 0;
                    piece = (piece + 1) % pieces;
                }
            }
            self.flush().await?;
            sent += batch;
        }
        loop {
            self.flush().await?;
            sleep(FLOOD_PROBE).await;
            Message::KeepAlive.encode(&mut self.out);
        }
    }
}
