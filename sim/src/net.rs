//! [`Net`] on turmoil's simulated sockets: TCP (under per-host caps, `shaping`), UDP,
//! turmoil's DNS, HTTP GET with hyper (following redirects under the client's one policy),
//! and multicast emulated over a list of hosts.

use std::io;
use std::net::{IpAddr, SocketAddr};

use bitswarm_client::net::{follow_redirect, HttpError, Listener, Net, Udp, MAX_HTTP_BODY};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::shaping::Shaped;

/// The simulated network of the current turmoil host.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNet {
    /// The host's address, its only interface besides loopback (unknown: none listed).
    me: Option<IpAddr>,
}

impl TurmoilNet {
    /// The network of the host at `ip`, which `local_ips` lists.
    pub fn on(ip: IpAddr) -> Self {
        TurmoilNet { me: Some(ip) }
    }
}

/// A turmoil TCP listener.
pub struct TurmoilListener(turmoil::net::TcpListener);

/// A turmoil UDP socket; one joined to a multicast group delivers what is sent to the group
/// to every host of the simulated LAN ([`set_lan`]) on the group's port.
pub struct TurmoilUdp {
    socket: turmoil::net::UdpSocket,
    group: Option<SocketAddr>,
}

thread_local! {
    /// The hosts of the current simulation that a multicast reaches (turmoil has no
    /// multicast; the simulation runs on one thread).
    static LAN: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Sets the hosts a multicast reaches in the simulation run on this thread.
pub fn set_lan(hosts: Vec<String>) {
    LAN.with(|lan| *lan.borrow_mut() = hosts);
}

impl Net for TurmoilNet {
    type Stream = Shaped;
    type Listener = TurmoilListener;
    type Udp = TurmoilUdp;

    async fn connect(&self, addr: SocketAddr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect(addr)
            .await
            .map(Shaped::new)
    }

    async fn listen(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr)
            .await
            .map(TurmoilListener)
    }

    async fn bind_udp(&self, addr: SocketAddr) -> io::Result<Self::Udp> {
        let socket = turmoil::net::UdpSocket::bind(addr).await?;
        Ok(TurmoilUdp {
            socket,
            group: None,
        })
    }

    async fn join_multicast(&self, group: SocketAddr) -> io::Result<Self::Udp> {
        let any = SocketAddr::from(([0, 0, 0, 0], group.port()));
        let socket = turmoil::net::UdpSocket::bind(any).await?;
        Ok(TurmoilUdp {
            socket,
            group: Some(group),
        })
    }

    fn local_ips(&self) -> Vec<IpAddr> {
        self.me.into_iter().collect()
    }

    async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        // turmoil panics on unknown names; only names of registered hosts resolve.
        let known = std::panic::catch_unwind(|| turmoil::lookup(host)).ok();
        match known {
            Some(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("unknown host {host}"),
            )),
        }
    }

    async fn http_get(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let mut url = url::Url::parse(url).map_err(|_| HttpError::InvalidUrl(url.into()))?;
        let mut followed = 0;
        loop {
            let response = self.request(&url).await?;
            let status = response.status();
            // The statuses reqwest (the real client's HTTP) follows, and only those.
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                url = redirect_target(&url, &response)?;
                follow_redirect(followed, url.scheme())
                    .map_err(|refused| HttpError::Redirect(refused.to_string()))?;
                followed += 1;
                continue;
            }
            if !status.is_success() {
                return Err(HttpError::Status(status.as_u16()));
            }
            return read_body(response).await;
        }
    }
}

impl TurmoilNet {
    /// Sends one GET for `url` (http only: the simulator has no TLS) on a new connection.
    async fn request(
        &self,
        url: &url::Url,
    ) -> Result<hyper::Response<hyper::body::Incoming>, HttpError> {
        if url.scheme() != "http" {
            return Err(HttpError::InvalidUrl(url.to_string()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| HttpError::InvalidUrl(url.to_string()))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let addr = self
            .resolve(host, port)
            .await
            .ok()
            .and_then(|a| a.into_iter().next())
            .ok_or_else(|| HttpError::Transport(format!("cannot resolve {host}")))?;
        let stream = self
            .connect(addr)
            .await
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let request = http::Request::get(target)
            .header(http::header::HOST, host)
            .body(Empty::<bytes::Bytes>::new())
            .map_err(|e| HttpError::Transport(e.to_string()))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| HttpError::Transport(e.to_string()))
    }
}

/// Where a redirect from `url` points, resolved against it.
fn redirect_target(
    url: &url::Url,
    response: &hyper::Response<hyper::body::Incoming>,
) -> Result<url::Url, HttpError> {
    response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| url.join(location).ok())
        .ok_or_else(|| {
            HttpError::Redirect(format!(
                "status {} without a usable location",
                response.status().as_u16()
            ))
        })
}

/// The body of an answer, at most [`MAX_HTTP_BODY`] bytes.
async fn read_body(response: hyper::Response<hyper::body::Incoming>) -> Result<Vec<u8>, HttpError> {
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| HttpError::Transport(e.to_string()))?;
        if let Some(chunk) = frame.data_ref() {
            if out.len() + chunk.len() > MAX_HTTP_BODY {
                return Err(HttpError::TooLarge);
            }
            out.extend_from_slice(chunk);
        }
    }
    Ok(out)
}

impl Listener for TurmoilListener {
    type Stream = Shaped;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, from) = self.0.accept().await?;
        Ok((Shaped::new(stream), from))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Udp for TurmoilUdp {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        if self.group != Some(addr) {
            return self.socket.send_to(buf, addr).await;
        }
        // To the group: a copy to every host on the LAN, this one included, as a multicast
        // with loopback does. A host that is down or partitioned misses it.
        let hosts = LAN.with(|lan| lan.borrow().clone());
        for host in hosts {
            let known = std::panic::catch_unwind(|| turmoil::lookup(host.as_str())).ok();
            if let Some(ip) = known {
                let _ = self
                    .socket
                    .send_to(buf, SocketAddr::new(ip, addr.port()))
                    .await;
            }
        }
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.socket.recv_from(buf).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}
