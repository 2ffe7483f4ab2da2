//! One HTTP(S) tracker over [`Net`]: the announce URL, a GET bounded by a timeout, the bencoded
//! answer parsed, and every way that can fail turned into an [`Error`] naming the tracker.

use std::time::Duration;

use tokio::time::timeout;

use super::Error;
use crate::net::Net;
use crate::tracker::{self, http, AnnounceRequest, AnnounceResponse, ScrapeStats};
use crate::InfoHash;

/// Announces `req` to the HTTP tracker at `url`, waiting at most `limit` for the whole answer.
pub async fn announce<N: Net>(
    net: &N,
    url: &str,
    req: &AnnounceRequest,
    limit: Duration,
) -> Result<AnnounceResponse, Error> {
    let body = get(net, url, &http::announce_url(url, req), limit).await?;
    http::parse_announce(&body).map_err(|e| codec_error(url, e))
}

/// Scrapes `hashes` from the HTTP tracker whose announce URL is `url` (BEP 48), returning their
/// counts in the same order. A tracker whose URL has no scrape form is [`Error::NoScrape`].
pub async fn scrape<N: Net>(
    net: &N,
    url: &str,
    hashes: &[InfoHash],
    limit: Duration,
) -> Result<Vec<ScrapeStats>, Error> {
    let scrape_url = http::scrape_url(url, hashes).ok_or_else(|| Error::NoScrape {
        url: url.to_owned(),
    })?;
    let body = get(net, url, &scrape_url, limit).await?;
    hashes
        .iter()
        .map(|hash| http::parse_scrape(&body, hash).map_err(|e| codec_error(url, e)))
        .collect()
}

/// GETs `target`, blaming failures on the tracker `url`.
async fn get<N: Net>(net: &N, url: &str, target: &str, limit: Duration) -> Result<Vec<u8>, Error> {
    match timeout(limit, net.http_get(target)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(source)) => Err(Error::Http {
            url: url.to_owned(),
            source,
        }),
        Err(_) => Err(Error::Timeout {
            url: url.to_owned(),
            after: limit,
        }),
    }
}

/// A tracker's `failure reason` is a refusal in its own words; anything else the codec reports
/// is a broken answer.
fn codec_error(url: &str, e: tracker::Error) -> Error {
    match e {
        tracker::Error::Failure(message) => Error::Refused {
            url: url.to_owned(),
            message,
        },
        source => Error::Protocol {
            url: url.to_owned(),
            source,
        },
    }
}
