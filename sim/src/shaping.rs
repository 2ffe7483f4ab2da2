//! Per-host bandwidth: every TCP stream of a host with an `up` or `down` cap shares that
//! host's token buckets (the client's [`RateLimiter`], on simulated time), so a scenario can
//! model a slow uplink for everything a host runs, whatever its software does.
//!
//! Writes wait while the host's upload bucket is in debt, reads while its download bucket
//! is; bytes moved are taken afterwards (a write or read is never split), so the long-run
//! rate is the cap. A read held back leaves the data in turmoil's buffers, whose flow control
//! then slows the sender, as a full receive window does. UDP is not shaped.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future as _;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bitswarm_client::shell::limit::RateLimiter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A host's upload and download buckets (none where it has no cap).
type Buckets = (Option<Arc<RateLimiter>>, Option<Arc<RateLimiter>>);

/// A host's caps in bytes per second, and its buckets once made.
#[derive(Default)]
struct Host {
    up: Option<u64>,
    down: Option<u64>,
    buckets: Option<Buckets>,
}

thread_local! {
    /// The caps of the current simulation's hosts, by address (the simulation runs on one
    /// thread, like the LAN list in `net`).
    static HOSTS: RefCell<BTreeMap<IpAddr, Host>> = const { RefCell::new(BTreeMap::new()) };
}

/// Sets the hosts' caps, `(address, up, down)`, for the simulation run on this thread.
pub fn set_caps(caps: Vec<(IpAddr, Option<u64>, Option<u64>)>) {
    HOSTS.with(|hosts| {
        *hosts.borrow_mut() = caps
            .into_iter()
            .map(|(ip, up, down)| {
                let host = Host {
                    up,
                    down,
                    buckets: None,
                };
                (ip, host)
            })
            .collect();
    });
}

/// Forgets a crashed host's buckets: its restart makes new ones on its new runtime's clock
/// (each turmoil host run has its own, so instants of the old one mean nothing there).
pub fn forget(ip: IpAddr) {
    HOSTS.with(|hosts| {
        if let Some(h) = hosts.borrow_mut().get_mut(&ip) {
            h.buckets = None;
        }
    });
}

/// The buckets of the host at `ip`, made on first use, from inside that host.
fn buckets(ip: IpAddr) -> Buckets {
    HOSTS.with(|hosts| {
        let mut hosts = hosts.borrow_mut();
        let Some(h) = hosts.get_mut(&ip) else {
            return (None, None);
        };
        let (up, down) = (h.up, h.down);
        h.buckets
            .get_or_insert_with(|| {
                let make = |rate: Option<u64>| rate.map(|r| Arc::new(RateLimiter::new(r)));
                (make(up), make(down))
            })
            .clone()
    })
}

/// A turmoil TCP stream under its host's caps.
pub struct Shaped {
    inner: turmoil::net::TcpStream,
    up: Option<Arc<RateLimiter>>,
    down: Option<Arc<RateLimiter>>,
    write_wait: Option<Pin<Box<Sleep>>>,
    read_wait: Option<Pin<Box<Sleep>>>,
}

impl Shaped {
    /// Puts `inner` under the caps of the host it belongs to (its local address).
    pub fn new(inner: turmoil::net::TcpStream) -> Shaped {
        let (up, down) = inner
            .local_addr()
            .map(|a| buckets(a.ip()))
            .unwrap_or_default();
        Shaped {
            inner,
            up,
            down,
            write_wait: None,
            read_wait: None,
        }
    }
}

/// Whether the caller must wait for `bucket` (then `wait` is armed and registered).
fn must_wait(
    bucket: Option<&RateLimiter>,
    wait: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> bool {
    let Some(bucket) = bucket else {
        return false;
    };
    let ready = bucket.ready_at();
    if ready <= Instant::now() {
        *wait = None;
        return false;
    }
    let sleep = wait.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ready)));
    sleep.as_mut().reset(ready);
    sleep.as_mut().poll(cx).is_pending()
}

impl AsyncRead for Shaped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if must_wait(this.down.as_deref(), &mut this.read_wait, cx) {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(down) = &this.down {
            down.take(buf.filled().len() - before);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Shaped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if must_wait(this.up.as_deref(), &mut this.write_wait, cx) {
            return Poll::Pending;
        }
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if let Some(up) = &this.up {
            up.take(n);
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
