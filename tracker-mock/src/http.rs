//! The HTTP front end: `GET /announce` (BEP 3, with BEP 7 `peers6` and BEP 23 compact peers)
//! and `GET /scrape` (BEP 48), served by hyper's HTTP/1 server over any [`Net`]'s TCP streams.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitswarm_client::net::{Listener, Net};
use bitswarm_client::tracker::http as codec;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::config::{FaultKind, Protocol};
use crate::swarm::Family;
use crate::tracker::{Fault, Tracker};

/// How long a client may take to send its request head before the connection is closed, so
/// idle or stuck connections do not pile up. 30 s is hyper's own default, made explicit.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after a failed `accept` (out of file descriptors, say) before trying again, so the
/// loop does not spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The body of a [`FaultKind::Garbage`] answer: what a misconfigured proxy sends, a 200 with an
/// HTML page, which is not bencode.
pub const GARBAGE_BODY: &[u8] = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n";

/// Why a request got no response at all; returning it makes hyper close the connection without
/// writing anything.
#[derive(Debug, thiserror::Error)]
enum Unanswered {
    #[error("tracker is down (fault window)")]
    Down,
    #[error("request held until its timeout window ended")]
    Held,
}

/// What a handler answers: a whole body, or nothing.
type Served = Result<Response<Full<Bytes>>, Unanswered>;

impl Tracker {
    /// Listens on `addr` through `net` and serves HTTP announces and scrapes on a spawned task
    /// until the runtime ends. Returns the address actually bound (port 0 picks one).
    pub async fn serve_http<N: Net>(
        self: Arc<Self>,
        net: N,
        addr: SocketAddr,
    ) -> io::Result<SocketAddr> {
        let listener = net.listen(addr).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(accept_loop(self, listener));
        Ok(bound)
    }
}

/// Accepts connections forever, each served on its own task.
async fn accept_loop<L: Listener>(tracker: Arc<Tracker>, mut listener: L) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                tokio::spawn(connection(tracker.clone(), stream, from));
            }
            Err(e) => {
                warn!("http tracker: accept failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// Serves the one request of a connection from `from`.
async fn connection<S>(tracker: Arc<Tracker>, stream: S, from: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| respond(tracker.clone(), from.ip(), req));
    let result = http1::Builder::new()
        // hyper's timer is tokio's, so in the simulator the header timeout is simulated too.
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // One request per connection, as opentracker does: announces are minutes apart, so
        // keep-alive saves nothing, and an idle connection closed by the header timeout just
        // as the client reuses it for its next announce would fail that announce.
        .keep_alive(false)
        // The `date` header would read the wall clock and make simulated runs differ.
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = result {
        debug!(%from, "http tracker: connection ended: {e}");
    }
}

/// Answers one request, applying the fault in force when it arrived.
async fn respond(tracker: Arc<Tracker>, source: IpAddr, req: Request<Incoming>) -> Served {
    match reply(&tracker, source, req.method(), req.uri()) {
        Reply::Send(response) => Ok(response),
        Reply::Close => Err(Unanswered::Down),
        Reply::Hold(until) => {
            hold(until).await;
            Err(Unanswered::Held)
        }
    }
}

/// What to do with a request, decided (and the announce recorded) the moment it arrives.
#[derive(Debug)]
enum Reply {
    /// Answer with this response.
    Send(Response<Full<Bytes>>),
    /// Close the connection without a response ([`FaultKind::Down`]).
    Close,
    /// Hold the request without answering until the window ends ([`FaultKind::Timeout`]).
    Hold(Option<Instant>),
}

/// Decides the reply to `method uri` from `source` under the fault in force now.
fn reply(tracker: &Tracker, source: IpAddr, method: &Method, uri: &Uri) -> Reply {
    if method != Method::GET {
        return Reply::Send(text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n"));
    }
    let query = uri.query().unwrap_or_default();
    let fault = tracker.fault(Protocol::Http);
    let kind = fault.as_ref().map(|f| &f.kind);
    let body = match uri.path() {
        "/announce" => announce(tracker, source, query, kind),
        "/scrape" => scrape(tracker, query),
        _ => return Reply::Send(text(StatusCode::NOT_FOUND, "try /announce or /scrape\n")),
    };
    let Some(Fault { kind, until }) = fault else {
        return Reply::Send(bencoded(body));
    };
    match kind {
        FaultKind::NoPeers => Reply::Send(bencoded(body)),
        FaultKind::Failure(reason) => Reply::Send(bencoded(codec::encode_failure(&reason))),
        FaultKind::Garbage => Reply::Send(with_type(
            StatusCode::OK,
            GARBAGE_BODY.to_vec(),
            "text/html",
        )),
        FaultKind::HttpError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Reply::Send(text(status, "mock tracker fault\n"))
        }
        FaultKind::Down => Reply::Close,
        FaultKind::Timeout => Reply::Hold(until),
        FaultKind::Redirect(to) if uri.path() == "/announce" => Reply::Send(redirect(&to, query)),
        FaultKind::Redirect(_) => Reply::Send(bencoded(body)),
    }
}

/// A `302 Found` to `to` with the request's `query` carried along.
fn redirect(to: &str, query: &str) -> Response<Full<Bytes>> {
    let location = match (query.is_empty(), to.contains('?')) {
        (true, _) => to.to_string(),
        (false, false) => format!("{to}?{query}"),
        (false, true) => format!("{to}&{query}"),
    };
    let mut response = text(StatusCode::FOUND, "moved\n");
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        // Validation admits only http(s) URLs, but a query is the client's: a header that
        // cannot carry it is a redirect without a location, which clients refuse.
        Err(_) => debug!("http tracker: redirect location is not a header value"),
    }
    response
}

/// The body of a normal announce answer (also the answer under `NoPeers`): the announce
/// answer, or a `failure reason` naming what is wrong with the query. Under other faults the
/// request is still parsed and reported, but the body goes unused.
fn announce(tracker: &Tracker, source: IpAddr, query: &str, fault: Option<&FaultKind>) -> Vec<u8> {
    let req = match codec::parse_announce_query(query) {
        Ok(req) => req,
        Err(e) => return codec::encode_failure(&e.to_string()),
    };
    let response = tracker.announce(Protocol::Http, source, &req, fault, Family::Any, usize::MAX);
    response.map_or_else(Vec::new, |resp| {
        codec::encode_announce_response(&resp, compact(query))
    })
}

/// The body of a scrape answer: the asked torrents, or every torrent when none is named.
fn scrape(tracker: &Tracker, query: &str) -> Vec<u8> {
    match codec::parse_scrape_query(query) {
        Ok(hashes) => codec::encode_scrape_response(&tracker.scrape(&hashes)),
        Err(e) => codec::encode_failure(&e.to_string()),
    }
}

/// Whether the client wants compact peers: yes unless its first `compact` parameter is `0`
/// (BEP 23 lets a tracker default to compact, and every modern client asks for it anyway).
fn compact(query: &str) -> bool {
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("compact="));
    value != Some("0")
}

/// Waits until the timeout window ends; forever if it never does. hyper drops this future (and
/// the connection) if the client gives up and closes first.
async fn hold(until: Option<Instant>) {
    match until {
        Some(until) => tokio::time::sleep_until(until).await,
        None => std::future::pending().await,
    }
}

fn bencoded(body: Vec<u8>) -> Response<Full<Bytes>> {
    with_type(StatusCode::OK, body, "text/plain")
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, body.as_bytes().to_vec(), "text/plain")
}

fn with_type(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests;
