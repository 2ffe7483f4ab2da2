//! The HTTP tracker protocol (BEP 3, with BEP 7 IPv6 peers, BEP 23 compact peers, BEP 24 external
//! IP and the BEP 48 scrape convention): URLs we send and bencoded bodies we get back.
//!
//! Both directions are here, because the in-repo mock tracker answers with the same codec the
//! client parses with: `url` builds and parses query strings, `body` parses and encodes
//! response bodies. Fetching is the IO side's job; it must bound the body size it reads, since
//! the bencode decoder holds the whole body in memory.

mod body;
mod url;

pub use body::{
    encode_announce_response, encode_failure, encode_scrape_response, parse_announce, parse_scrape,
};
pub use url::{announce_url, parse_announce_query, parse_scrape_query, scrape_url};

#[cfg(test)]
mod tests;
