//! The network seam: everything the IO shell needs from a network, as one trait.
//!
//! The shell is generic over [`Net`], so the same code runs on real sockets ([`TokioNet`]) and on
//! the simulator's sockets (an implementation in the `sim` crate). Only implementations of this
//! trait may name `tokio::net`.

mod tokio_net;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite};

pub use tokio_net::TokioNet;

/// The largest HTTP body we accept: tracker answers are a few KB, so anything near this is
/// hostile or broken, and must not grow our memory.
pub const MAX_HTTP_BODY: usize = 4 * 1024 * 1024;

/// The most redirects an HTTP GET follows. Trackers behind a load balancer or moved to https
/// redirect once or twice; more is a loop or a trap, and each hop costs a connection.
pub const MAX_REDIRECTS: usize = 3;

/// Why a redirect is not followed (see [`follow_redirect`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooMany,
    #[error("redirect to a `{0}` url")]
    Scheme(String),
}

/// The one redirect policy of every [`Net`]: after `followed` redirects, the next one (to a
/// URL of `scheme`) is followed only if it is at most the [`MAX_REDIRECTS`]th and goes to
/// `http` or `https`. A tracker (or whoever took over its domain) must not send us around
/// in circles or to `file://`.
pub fn follow_redirect(followed: usize, scheme: &str) -> Result<(), RedirectRefused> {
    if !matches!(scheme, "http" | "https") {
        Err(RedirectRefused::Scheme(scheme.to_owned()))
    } else if followed >= MAX_REDIRECTS {
        Err(RedirectRefused::TooMany)
    } else {
        Ok(())
    }
}

/// Why an HTTP GET did not produce a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("http status {0}")]
    Status(u16),
    #[error("http body larger than {MAX_HTTP_BODY} bytes")]
    TooLarge,
    #[error("invalid url {0:?}")]
    InvalidUrl(String),
    #[error("http: {0}")]
    Transport(String),
    /// A redirect we would not follow: too many, or to a scheme other than http and https.
    #[error("http redirect not followed: {0}")]
    Redirect(String),
}

/// A network: TCP, UDP, name resolution and HTTP GET.
pub trait Net: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound TCP listener.
    type Listener: Listener<Stream = Self::Stream>;
    /// A bound UDP socket.
    type Udp: Udp;

    /// Opens a TCP connection (the caller bounds it with a timeout).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Listens for TCP connections on `addr` (port 0 picks a free port).
    fn listen(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// Binds a UDP socket on `addr`; one on an IPv6 address talks IPv6 only.
    fn bind_udp(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Udp>> + Send;
    /// Joins the multicast `group` on the local network (BEP 14's local peer discovery): a
    /// socket on the group's port, shared with other programs on the host, that receives what
    /// is sent to the group and sends to it (sent datagrams also come back to the host).
    fn join_multicast(
        &self,
        group: SocketAddr,
    ) -> impl Future<Output = io::Result<Self::Udp>> + Send;
    /// Resolves a host name (or an address literal) to socket addresses.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
    /// The host's own addresses (every interface's), so the client can tell its own listening
    /// address among the peers others name. Empty when they cannot be listed.
    fn local_ips(&self) -> Vec<IpAddr>;
    /// GETs `url` (http or https) and returns the body of a 2xx answer, at most
    /// [`MAX_HTTP_BODY`] bytes, following at most [`MAX_REDIRECTS`] redirects to http or https
    /// (an implementation may follow none). The caller bounds it with a timeout.
    fn http_get(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, HttpError>> + Send;
}

/// A TCP listener.
pub trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Waits for the next incoming connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// The address actually bound.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A UDP socket, shared by reference between a sender and a receiver.
pub trait Udp: Send + Sync + 'static {
    fn send_to(
        &self,
        buf: &[u8],
        addr: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send;
    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send;
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_followed_three_times_to_http_or_https_only() {
        assert_eq!(follow_redirect(0, "http"), Ok(()));
        assert_eq!(follow_redirect(2, "https"), Ok(()));
        assert_eq!(follow_redirect(3, "http"), Err(RedirectRefused::TooMany));
        let scheme = |s: &str| Err(RedirectRefused::Scheme(s.to_owned()));
        assert_eq!(follow_redirect(0, "file"), scheme("file"));
        assert_eq!(follow_redirect(0, "udp"), scheme("udp"));
    }
}
