//! KRPC (BEP 5): the bencoded UDP messages of the DHT: queries (`ping`, `find_node`,
//! `get_peers`, `announce_peer`), responses and errors, with compact node and peer lists for
//! IPv4 and IPv6 (BEP 32) and the responder's view of our address (BEP 42's `ip`).
//!
//! Parsing is strict about what decides behaviour (types, id lengths, whole compact entries)
//! and bounded everywhere: transaction ids, tokens and lists are capped, so a datagram costs
//! at most its own size to read. A malformed message yields its transaction id when one could
//! be read, so the node can answer with a KRPC error instead of silence.

use std::net::SocketAddr;

use crate::bencode::{self, Node, Value};
pub use crate::tracker::peers::decode_compact;
use crate::tracker::peers::encode_compact;

use super::id::NodeId;

/// Transaction ids longer than this are refused (ours are 2 bytes; clients use up to 8).
pub const MAX_TID_LEN: usize = 32;
/// Tokens longer than this are refused (ours are 8 bytes; 20 is common).
pub const MAX_TOKEN_LEN: usize = 64;
/// Compact nodes kept per list (a response carries 8).
pub const MAX_NODES: usize = 32;
/// Peers kept from one `values` list (BEP 5 answers fit a datagram: about 100 at most).
pub const MAX_VALUES: usize = 200;

/// KRPC error codes (BEP 5).
pub const ERROR_GENERIC: i64 = 201;
pub const ERROR_PROTOCOL: i64 = 203;
pub const ERROR_METHOD_UNKNOWN: i64 = 204;

/// A query's method and arguments (besides the querying node's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Ping,
    FindNode {
        target: NodeId,
    },
    GetPeers {
        info_hash: NodeId,
    },
    AnnouncePeer {
        info_hash: NodeId,
        /// The port to record, unless `implied_port` says to use the datagram's.
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
}

/// What a response carries; which fields are present depends on the query it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub id: Option<NodeId>,
    /// Compact IPv4 nodes (`nodes`) and IPv6 nodes (`nodes6`), in one list.
    pub nodes: Vec<(NodeId, SocketAddr)>,
    /// Peers of the info-hash (`values`).
    pub values: Vec<SocketAddr>,
    pub token: Option<Vec<u8>>,
}

/// The kind of a KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Query { id: NodeId, query: Query },
    Response(Response),
    Error { code: i64, message: String },
}

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Krpc {
    /// The transaction id, echoed by the response.
    pub tid: Vec<u8>,
    pub body: Body,
    /// BEP 42: the address the sender sees us at (in responses).
    pub ip: Option<SocketAddr>,
}

/// Why a datagram is not a KRPC message we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrpcError {
    #[error("krpc: {0}")]
    Bencode(crate::bencode::DecodeError),
    #[error("krpc message is not a dictionary")]
    NotDict,
    #[error("krpc message has no valid {0}")]
    Missing(&'static str),
    #[error("krpc {key} is {len} bytes, over the limit of {max}")]
    TooLong {
        key: &'static str,
        len: usize,
        max: usize,
    },
    #[error("krpc {key} is {len} bytes, not a whole number of {entry}-byte entries")]
    BadLength {
        key: &'static str,
        len: usize,
        entry: usize,
    },
    #[error("krpc message type {0:?} is unknown")]
    UnknownType(String),
    #[error("krpc method {0:?} is unknown")]
    UnknownMethod(String),
}

/// A message we refuse, with its transaction id when one could be read (to answer with an
/// error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub tid: Option<Vec<u8>>,
    pub error: KrpcError,
}

impl Malformed {
    /// The KRPC error code that answers it.
    pub fn code(&self) -> i64 {
        match self.error {
            KrpcError::UnknownMethod(_) => ERROR_METHOD_UNKNOWN,
            _ => ERROR_PROTOCOL,
        }
    }
}

impl Krpc {
    /// Parses one datagram.
    pub fn parse(datagram: &[u8]) -> Result<Krpc, Malformed> {
        let root = bencode::decode(datagram).map_err(|e| Malformed {
            tid: None,
            error: KrpcError::Bencode(e),
        })?;
        if root.as_dict().is_none() {
            return Err(Malformed {
                tid: None,
                error: KrpcError::NotDict,
            });
        }
        let tid = bytes(&root, "t")?.to_vec();
        if tid.len() > MAX_TID_LEN {
            let len = tid.len();
            let error = KrpcError::TooLong {
                key: "t",
                len,
                max: MAX_TID_LEN,
            };
            return Err(Malformed { tid: None, error });
        }
        let with_tid = |error| Malformed {
            tid: Some(tid.clone()),
            error,
        };
        let kind = bytes(&root, "y").map_err(|m| with_tid(m.error))?;
        let body = match kind {
            b"q" => query(&root),
            b"r" => root
                .get("r")
                .ok_or(KrpcError::Missing("r"))
                .and_then(response)
                .map(Body::Response),
            b"e" => error(&root),
            other => Err(KrpcError::UnknownType(
                String::from_utf8_lossy(other).into_owned(),
            )),
        }
        .map_err(with_tid)?;
        let ip = root
            .get("ip")
            .and_then(Node::as_bytes)
            .and_then(decode_compact);
        Ok(Krpc { tid, body, ip })
    }

    /// The datagram for this message (canonical bencode).
    pub fn encode(&self) -> Vec<u8> {
        let mut root = Value::dict();
        root.insert("t", Value::bytes(&self.tid));
        if let Some(ip) = self.ip {
            root.insert("ip", Value::Bytes(compact(ip)));
        }
        match &self.body {
            Body::Query { id, query } => {
                root.insert("y", Value::bytes("q"));
                let (method, args) = encode_query(id, query);
                root.insert("q", Value::bytes(method));
                root.insert("a", args);
            }
            Body::Response(r) => {
                root.insert("y", Value::bytes("r"));
                root.insert("r", encode_response(r));
            }
            Body::Error { code, message } => {
                root.insert("y", Value::bytes("e"));
                let e = vec![Value::Int(*code), Value::bytes(message)];
                root.insert("e", Value::List(e));
            }
        }
        bencode::encode(&root)
    }
}

fn bytes<'a>(node: &Node<'a>, key: &'static str) -> Result<&'a [u8], Malformed> {
    node.get(key).and_then(Node::as_bytes).ok_or(Malformed {
        tid: None,
        error: KrpcError::Missing(key),
    })
}

fn field<'a>(node: &Node<'a>, key: &'static str) -> Result<&'a [u8], KrpcError> {
    node.get(key)
        .and_then(Node::as_bytes)
        .ok_or(KrpcError::Missing(key))
}

fn id_field(node: &Node<'_>, key: &'static str) -> Result<NodeId, KrpcError> {
    <[u8; 20]>::try_from(field(node, key)?)
        .map(NodeId)
        .map_err(|_| KrpcError::Missing(key))
}

/// The `token` of a query's arguments or a response, if any, within [`MAX_TOKEN_LEN`].
fn token(node: &Node<'_>) -> Result<Option<Vec<u8>>, KrpcError> {
    let Some(token) = node.get("token").and_then(Node::as_bytes) else {
        return Ok(None);
    };
    if token.len() > MAX_TOKEN_LEN {
        let (len, max) = (token.len(), MAX_TOKEN_LEN);
        return Err(KrpcError::TooLong {
            key: "token",
            len,
            max,
        });
    }
    Ok(Some(token.to_vec()))
}

fn query(root: &Node<'_>) -> Result<Body, KrpcError> {
    let method = root
        .get("q")
        .and_then(Node::as_bytes)
        .ok_or(KrpcError::Missing("q"))?;
    let args = root.get("a").ok_or(KrpcError::Missing("a"))?;
    if args.as_dict().is_none() {
        return Err(KrpcError::Missing("a"));
    }
    let id = id_field(args, "id")?;
    let query = match method {
        b"ping" => Query::Ping,
        b"find_node" => Query::FindNode {
            target: id_field(args, "target")?,
        },
        b"get_peers" => Query::GetPeers {
            info_hash: id_field(args, "info_hash")?,
        },
        b"announce_peer" => {
            let token = token(args)?.ok_or(KrpcError::Missing("token"))?;
            let implied_port = args.get("implied_port").and_then(Node::as_int) == Some(1);
            let port = args
                .get("port")
                .and_then(Node::as_int)
                .and_then(|p| u16::try_from(p).ok());
            let port = match (port, implied_port) {
                (Some(p), _) => p,
                (None, true) => 0,
                (None, false) => return Err(KrpcError::Missing("port")),
            };
            Query::AnnouncePeer {
                info_hash: id_field(args, "info_hash")?,
                port,
                implied_port,
                token,
            }
        }
        other => {
            let name = String::from_utf8_lossy(&other[..other.len().min(32)]).into_owned();
            return Err(KrpcError::UnknownMethod(name));
        }
    };
    Ok(Body::Query { id, query })
}

fn response(r: &Node<'_>) -> Result<Response, KrpcError> {
    if r.as_dict().is_none() {
        return Err(KrpcError::Missing("r"));
    }
    let mut out = Response {
        id: Some(id_field(r, "id")?),
        ..Response::default()
    };
    for (key, entry) in [("nodes", 26), ("nodes6", 38)] {
        let Some(raw) = r.get(key).and_then(Node::as_bytes) else {
            continue;
        };
        if raw.len() % entry != 0 {
            let len = raw.len();
            return Err(KrpcError::BadLength { key, len, entry });
        }
        for chunk in raw.chunks_exact(entry).take(MAX_NODES) {
            let (id, addr) = chunk.split_at(20);
            let mut node = [0u8; 20];
            node.copy_from_slice(id);
            if let Some(addr) = decode_compact(addr) {
                out.nodes.push((NodeId(node), addr));
            }
        }
    }
    if let Some(values) = r.get("values").and_then(Node::as_list) {
        // Entries of another length are skipped: one odd value does not spoil the rest.
        out.values = values
            .iter()
            .filter_map(Node::as_bytes)
            .filter_map(decode_compact)
            .take(MAX_VALUES)
            .collect();
    }
    out.token = token(r)?;
    Ok(out)
}

fn error(root: &Node<'_>) -> Result<Body, KrpcError> {
    let list = root
        .get("e")
        .and_then(Node::as_list)
        .ok_or(KrpcError::Missing("e"))?;
    let code = list
        .first()
        .and_then(Node::as_int)
        .ok_or(KrpcError::Missing("e"))?;
    let message = list
        .get(1)
        .and_then(Node::as_bytes)
        .map(|m| String::from_utf8_lossy(&m[..m.len().min(200)]).into_owned())
        .unwrap_or_default();
    Ok(Body::Error { code, message })
}

fn encode_query(id: &NodeId, query: &Query) -> (&'static str, Value) {
    let mut a = Value::dict();
    a.insert("id", Value::bytes(id.0));
    let method = match query {
        Query::Ping => "ping",
        Query::FindNode { target } => {
            a.insert("target", Value::bytes(target.0));
            "find_node"
        }
        Query::GetPeers { info_hash } => {
            a.insert("info_hash", Value::bytes(info_hash.0));
            "get_peers"
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            a.insert("info_hash", Value::bytes(info_hash.0));
            a.insert("port", Value::Int(i64::from(*port)));
            if *implied_port {
                a.insert("implied_port", Value::Int(1));
            }
            a.insert("token", Value::bytes(token));
            "announce_peer"
        }
    };
    (method, a)
}

fn encode_response(r: &Response) -> Value {
    let mut d = Value::dict();
    if let Some(id) = r.id {
        d.insert("id", Value::bytes(id.0));
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (id, addr) in &r.nodes {
        let out = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&compact(*addr));
    }
    if !v4.is_empty() {
        d.insert("nodes", Value::Bytes(v4));
    }
    if !v6.is_empty() {
        d.insert("nodes6", Value::Bytes(v6));
    }
    if !r.values.is_empty() {
        let values = r.values.iter().map(|a| Value::Bytes(compact(*a))).collect();
        d.insert("values", Value::List(values));
    }
    if let Some(token) = &r.token {
        d.insert("token", Value::bytes(token));
    }
    d
}

/// An address as 6 (IPv4) or 18 (IPv6) bytes (BEP 5 and BEP 32 "compact" form).
pub fn compact(addr: SocketAddr) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    encode_compact(&addr, &mut out);
    out
}

#[cfg(test)]
mod tests;
