//! The main loop of a connection: wait for the peer or a timer, react, write. Writing is
//! whole turns at a time, or one byte per period when trickling.

use std::time::Duration;

use bitswarm_client::wire::Message;
use bytes::Buf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep, sleep_until, Instant};

use super::{Conn, Ended, IDLE_TIMEOUT, STALL_HOLD};
use crate::behaviour::DropMode;
use crate::event::EventKind;

/// Free buffer space kept before each read: a request is 17 bytes, so this fits many.
pub(super) const READ_SLACK: usize = 4096;

/// What woke the loop.
enum Wake {
    Read(std::io::Result<usize>),
    Flap,
    Send,
    Push,
    Trickle,
    KeepAlive,
    Idle,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// The main loop, until the connection ends.
    pub(super) async fn serve(&mut self) -> Ended {
        let drop_after = self.shared.behaviour.drop_after_blocks;
        let drop_mode = self.shared.behaviour.drop_mode;
        let stall_after = self.shared.behaviour.stall_after_blocks;
        loop {
            if stall_after.is_some_and(|n| self.blocks >= n) {
                self.shared.emit(self.peer, EventKind::Stalled);
                sleep(STALL_HOLD).await;
                return Ended::seeder("stalled");
            }
            let drop_due = drop_after.is_some_and(|n| self.blocks >= n);
            // A RST needs unread data: stop reading from the last whole block on.
            let reading = match (drop_after, drop_mode) {
                (Some(n), DropMode::Rst) => self.blocks.saturating_add(1) < n,
                _ => true,
            };
            if drop_mode == DropMode::Rst && (drop_due || (!reading && self.queue.is_empty())) {
                return self.reset().await;
            }
            if drop_mode == DropMode::Fin && drop_due && !self.queue.is_empty() {
                return self.finish().await;
            }
            let wake = self.wait(reading).await;
            if let Err(ended) = self.on_wake(wake).await {
                return ended;
            }
            // A trickling connection writes from its own timer, a byte per wake.
            if self.trickle.is_none() {
                if let Err(ended) = self.flush().await {
                    return ended;
                }
            }
        }
    }

    async fn on_wake(&mut self, wake: Wake) -> Result<(), Ended> {
        match wake {
            Wake::Read(Ok(0)) => return Err(Ended::peer("closed by peer")),
            Wake::Read(Ok(_)) => {
                self.last_heard = Instant::now();
                self.on_bytes()?;
                self.leech_step();
            }
            Wake::Read(Err(e)) => return Err(Ended::peer(format!("read: {e}"))),
            Wake::Flap => self.flap(),
            Wake::Send => self.send_block(),
            Wake::Push => {
                self.push_block();
                if let (Some(at), Some(period)) =
                    (self.push_at, self.shared.behaviour.unrequested_blocks())
                {
                    self.push_at = Some(at + period);
                }
            }
            Wake::Trickle => self.trickle_byte().await?,
            Wake::KeepAlive => Message::KeepAlive.encode(&mut self.out),
            Wake::Idle => return Err(Ended::seeder("idle")),
        }
        Ok(())
    }

    /// Waits for the next thing to do. Reading comes first, so cancels and chokes are seen
    /// before the next block goes out.
    async fn wait(&mut self, reading: bool) -> Wake {
        if self.buf.capacity() - self.buf.len() < READ_SLACK {
            self.buf.reserve(READ_SLACK);
        }
        let now = Instant::now();
        let far = now + Duration::from_secs(86_400);
        // While a trickle is under way, new blocks wait for it: `out` must not grow faster
        // than it drains.
        let writable = self.trickle.is_none() || self.out.is_empty();
        let send_at = match (&self.shared.bucket, self.queue.is_empty() || !writable) {
            (_, true) => None,
            (Some(bucket), false) => Some(bucket.ready_at()),
            (None, false) => Some(now),
        };
        let flap_at = self.flap_at;
        let push_at = self.push_at.filter(|_| writable);
        let trickle_at =
            (!self.out.is_empty() && self.trickle.is_some()).then_some(self.trickle_at);
        // Bytes still trickling out are not silence.
        let keepalive_at = self
            .out
            .is_empty()
            .then(|| self.last_sent + self.shared.behaviour.keepalive());
        let idle_at = self.last_heard + IDLE_TIMEOUT;
        tokio::select! {
            biased;
            r = self.stream.read_buf(&mut self.buf), if reading => Wake::Read(r),
            () = sleep_until(flap_at.unwrap_or(far)), if flap_at.is_some() => Wake::Flap,
            () = sleep_until(send_at.unwrap_or(far)), if send_at.is_some() => Wake::Send,
            () = sleep_until(push_at.unwrap_or(far)), if push_at.is_some() => Wake::Push,
            () = sleep_until(trickle_at.unwrap_or(far)), if trickle_at.is_some() => Wake::Trickle,
            () = sleep_until(keepalive_at.unwrap_or(far)), if keepalive_at.is_some() => Wake::KeepAlive,
            () = sleep_until(idle_at), if reading => Wake::Idle,
        }
    }

    /// Writes the next byte of `out` (`trickle_ms`).
    async fn trickle_byte(&mut self) -> Result<(), Ended> {
        let Some(&byte) = self.out.first() else {
            return Ok(());
        };
        if let Err(e) = self.stream.write_all(&[byte]).await {
            return Err(Ended::peer(format!("write: {e}")));
        }
        self.out.advance(1);
        self.last_sent = Instant::now();
        self.trickle_at = self.last_sent + self.trickle.unwrap_or_default();
        Ok(())
    }

    /// Writes everything queued: at once, or a byte per period when trickling (where the
    /// loop's own trickle does not apply: the endings and the flood).
    pub(super) async fn flush(&mut self) -> Result<(), Ended> {
        if self.trickle.is_some() {
            while !self.out.is_empty() {
                sleep_until(self.trickle_at).await;
                self.trickle_byte().await?;
            }
            return Ok(());
        }
        if self.out.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.stream.write_all(&self.out).await {
            return Err(Ended::peer(format!("write: {e}")));
        }
        self.out.clear();
        self.last_sent = Instant::now();
        Ok(())
    }
}
