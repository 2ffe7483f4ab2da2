//! Deliberate ends: half a block then a FIN or a RST (`drop_after_blocks`), and hanging up
//! after sabotage once the peer has reacted.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep, timeout};

use super::{Conn, Ended, HANG_UP_WAIT, RST_LINGER};
use crate::behaviour::DropMode;
use crate::event::EventKind;

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// `drop_mode = "fin"`: half a block, then a clean close; the peer's reaction ends it.
    pub(super) async fn finish(&mut self) -> Ended {
        self.cut_block();
        if let Err(ended) = self.flush().await {
            return ended;
        }
        self.shared
            .emit(self.peer, EventKind::Dropped(DropMode::Fin));
        let _ = self.stream.shutdown().await;
        self.drain(HANG_UP_WAIT).await;
        Ended::seeder("dropped mid-piece (fin)")
    }

    /// `drop_mode = "rst"`: wait without reading, half a block, then close with data unread.
    pub(super) async fn reset(&mut self) -> Ended {
        sleep(RST_LINGER).await;
        self.cut_block();
        if let Err(ended) = self.flush().await {
            return ended;
        }
        self.shared
            .emit(self.peer, EventKind::Dropped(DropMode::Rst));
        // Returning drops the stream with the peer's requests unread: a reset.
        Ended::seeder("dropped mid-piece (rst)")
    }

    /// Sends what is queued, then waits (reading and discarding) for the peer to hang up.
    /// The peer hanging up in reaction is its doing, so a rejoining seeder comes back.
    pub(super) async fn hang_up(&mut self, what: &str) -> Ended {
        if let Err(ended) = self.flush().await {
            return ended;
        }
        if self.drain(HANG_UP_WAIT).await {
            Ended::peer(what)
        } else {
            Ended::seeder(what)
        }
    }

    /// Reads and discards until end-of-stream, an error, or `limit`; whether the peer hung
    /// up (end-of-stream or an error) before `limit`.
    pub(super) async fn drain(&mut self, limit: Duration) -> bool {
        let work = async {
            let mut sink = [0u8; 4096];
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        timeout(limit, work).await.is_ok()
    }
}
