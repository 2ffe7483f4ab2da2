//! [`Net`] on real sockets: tokio TCP and UDP, the system resolver, reqwest for HTTP(S).

use std::io;
use std::net::SocketAddr;

use super::{follow_redirect, HttpError, Listener, Net, RedirectRefused, Udp, MAX_HTTP_BODY};

/// The real network.
#[derive(Clone)]
pub struct TokioNet {
    /// One HTTP client for every tracker, so connections and TLS sessions are reused.
    http: reqwest::Client,
}

impl TokioNet {
    /// A network whose HTTP requests identify as bitswarm.
    pub fn new() -> Result<Self, HttpError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("bitswarm/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::custom(redirect_policy))
            .build()
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        Ok(TokioNet { http })
    }
}

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;
    type Udp = tokio::net::UdpSocket;

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // Requests and small control messages must not wait for Nagle's timer.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn local_ips(&self) -> Vec<std::net::IpAddr> {
        if_addrs::get_if_addrs()
            .map(|interfaces| interfaces.iter().map(if_addrs::Interface::ip).collect())
            .unwrap_or_default()
    }

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        if addr.is_ipv4() {
            return tokio::net::UdpSocket::bind(addr).await;
        }
        // IPv6 only: the same port on IPv4 is another socket's (the DHT runs one per family).
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_only_v6(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        tokio::net::UdpSocket::from_std(socket.into())
    }

    async fn join_multicast(&self, group: SocketAddr) -> io::Result<Self::Udp> {
        multicast_socket(group)
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }

    async fn http_get(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| HttpError::InvalidUrl(url.into()))?;
        let mut response = self.http.get(parsed).send().await.map_err(send_error)?;
        if response.status().is_redirection() {
            return Err(unfollowed(&response));
        }
        if !response.status().is_success() {
            return Err(HttpError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpError::Transport(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_HTTP_BODY {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Follows redirects as [`follow_redirect`] allows.
fn redirect_policy(attempt: reqwest::redirect::Attempt<'_>) -> reqwest::redirect::Action {
    // `previous` holds the first URL and every redirect already followed.
    let followed = attempt.previous().len().saturating_sub(1);
    let scheme = attempt.url().scheme().to_owned();
    match follow_redirect(followed, &scheme) {
        Ok(()) => attempt.follow(),
        Err(refused) => attempt.error(refused),
    }
}

/// A redirect that reqwest handed back instead of following: it does so, without asking
/// [`redirect_policy`], when the target is not a URL it can request (`file:///...`).
fn unfollowed(response: &reqwest::Response) -> HttpError {
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| response.url().join(location).ok());
    HttpError::Redirect(match target {
        Some(url) if !matches!(url.scheme(), "http" | "https") => {
            RedirectRefused::Scheme(url.scheme().to_owned()).to_string()
        }
        _ => format!(
            "status {} without a usable location",
            response.status().as_u16()
        ),
    })
}

/// A failed send as an [`HttpError`]; a refused redirect says why, not only that it failed.
fn send_error(e: reqwest::Error) -> HttpError {
    if e.is_redirect() {
        // The source is the policy's reason (a `RedirectRefused`) or reqwest's own.
        let reason =
            std::error::Error::source(&e).map_or_else(|| "refused".to_owned(), ToString::to_string);
        return HttpError::Redirect(reason);
    }
    HttpError::Transport(e.without_url().to_string())
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, addr) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl Udp for tokio::net::UdpSocket {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        tokio::net::UdpSocket::send_to(self, buf, addr).await
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        tokio::net::UdpSocket::recv_from(self, buf).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::UdpSocket::local_addr(self)
    }
}

/// A UDP socket on `group`'s port (address and port reusable, so several clients on a host
/// can listen), joined to the group on the default interface, its own datagrams looped back.
fn multicast_socket(group: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if group.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    match group.ip() {
        std::net::IpAddr::V4(g) => {
            let any = std::net::Ipv4Addr::UNSPECIFIED;
            socket.bind(&SocketAddr::from((any, group.port())).into())?;
            socket.join_multicast_v4(&g, &any)?;
            socket.set_multicast_loop_v4(true)?;
            socket.set_multicast_ttl_v4(1)?;
        }
        std::net::IpAddr::V6(g) => {
            socket.set_only_v6(true)?;
            let any = std::net::Ipv6Addr::UNSPECIFIED;
            socket.bind(&SocketAddr::from((any, group.port())).into())?;
            socket.join_multicast_v6(&g, 0)?;
            socket.set_multicast_loop_v6(true)?;
        }
    }
    tokio::net::UdpSocket::from_std(socket.into())
}
