//! The mainline DHT (BEP 5), sans-IO like the engine: node ids bound to IPs (BEP 42, `id`),
//! the KRPC codec (`krpc`, with BEP 32's IPv6 lists), the routing table (`routing`) and the
//! node that answers queries and runs lookups (`node`).

pub mod id;
pub mod krpc;
pub mod node;
pub mod routing;

pub use id::NodeId;
