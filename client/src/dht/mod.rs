//! The mainline DHT (BEP 5), sans-IO like the engine: node ids bound to IPs (BEP 42, `id`),
//! the KRPC codec (`krpc`, with BEP 32's IPv6 lists) and the routing table (`routing`).

pub mod id;
pub mod krpc;
pub mod routing;

pub use id::NodeId;
