//! Why one tracker did not answer ([`Error`]), and why a whole announce round failed
//! ([`AnnounceError`]).

use std::io;
use std::time::Duration;

use crate::net::HttpError;

/// Why one tracker gave no usable answer. Every variant names the tracker's URL, because these
/// are logged and skipped one by one and the user must be able to tell which tracker is broken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used at all (not a URL, or a UDP URL without host or port).
    #[error("tracker {url}: invalid url: {problem}")]
    BadUrl {
        /// The URL as the torrent gave it.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The scheme is neither `http`, `https` nor `udp` (`wss://` WebTorrent trackers, typos).
    #[error("tracker {url}: unsupported scheme `{scheme}`")]
    UnsupportedScheme {
        /// The URL as the torrent gave it.
        url: String,
        /// Its scheme, lowercased.
        scheme: String,
    },
    /// The HTTP request failed: transport, non-2xx status, oversized body.
    #[error("tracker {url}: {source}")]
    Http {
        /// The tracker's announce URL.
        url: String,
        /// What the network layer reported.
        source: HttpError,
    },
    /// No answer in time: the HTTP timeout, or every UDP retransmission, ran out.
    #[error("tracker {url}: no answer after {after:?}")]
    Timeout {
        /// The tracker's announce URL.
        url: String,
        /// How long we waited in total, so the log shows the retransmission budget was spent.
        after: Duration,
    },
    /// The tracker answered with a refusal: an HTTP `failure reason` or a UDP error packet.
    #[error("tracker {url}: refused: {message}")]
    Refused {
        /// The tracker's announce URL.
        url: String,
        /// The tracker's own words, shown to the user as they are.
        message: String,
    },
    /// The answer could not be parsed: not bencode, a malformed field, a truncated packet.
    #[error("tracker {url}: {source}")]
    Protocol {
        /// The tracker's announce URL.
        url: String,
        /// What the codec found wrong.
        source: crate::tracker::Error,
    },
    /// A well-formed UDP answer of the wrong kind (a scrape answer to an announce, say).
    #[error("tracker {url}: udp {got} answer to a {expected} request")]
    UnexpectedAnswer {
        /// The tracker's announce URL.
        url: String,
        /// The request we sent (`connect`, `announce`, `scrape`).
        expected: &'static str,
        /// The answer we got.
        got: &'static str,
    },
    /// The UDP tracker's host name did not resolve to any address.
    #[error("tracker {url}: cannot resolve host: {reason}")]
    Resolve {
        /// The tracker's announce URL.
        url: String,
        /// The resolver's error, or "no addresses".
        reason: String,
    },
    /// Binding or using our UDP socket failed.
    #[error("tracker {url}: udp socket: {source}")]
    Io {
        /// The tracker's announce URL.
        url: String,
        /// The socket error.
        source: io::Error,
    },
    /// The HTTP tracker's URL does not follow the BEP 48 convention, so it cannot be scraped.
    #[error("tracker {url}: no scrape url (last path segment does not start with `announce`)")]
    NoScrape {
        /// The tracker's announce URL.
        url: String,
    },
}

/// Why an announce (or scrape) round produced nothing. Single trackers failing is normal and
/// only logged; this is what is left when no tracker at all could help.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The torrent lists no tracker we can speak to (none at all, or only unsupported ones).
    #[error("no usable tracker (none with an http, https or udp url)")]
    NoTrackers,
    /// Every tracker was tried and failed; each failure was logged as it happened.
    #[error("every tracker failed ({failed} tried), the last with: {last}")]
    AllFailed {
        /// How many trackers were tried.
        failed: usize,
        /// The last failure, as a sample of what went wrong (boxed: it is large and rare).
        last: Box<Error>,
    },
    /// A `stopped` announce ran into its bound; we leave without the tracker's answer rather than
    /// make exit slow.
    #[error("stopped announce unanswered after {0:?}")]
    StoppedTimeout(Duration),
}
