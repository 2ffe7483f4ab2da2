//! Synthetic BitTorrent seeders: generated content, so a 1 GiB torrent costs neither disk nor
//! memory, and scripted misbehaviour (slow, partial, choking, corrupting, dropping, stalling,
//! lying, garbage, joining late, leaving early, and the hostile peers: pushing unrequested
//! blocks, rejoining after a ban, flooding requests without reading, trickling, squatting,
//! shifting blocks), for the simulator, `bitswarm demo` and benchmarks; and hostile DHT nodes
//! (silent, garbage, lying) for the simulator's DHT (`dht_node`).
//!
//! Seeders reach the network only through the client's [`Net`](bitswarm_client::net::Net)
//! trait, so the same code runs on real sockets and on turmoil's; they reuse the client's
//! codecs for the wire, the metainfo and the tracker protocol.
//!
//! **Architecture Invariant:** nothing here names `tokio::net` or turmoil; time is
//! `tokio::time` only; randomness comes from seeded `ChaCha8Rng`s; every `select!` is
//! `biased`. A seeder's behaviour is therefore a function of its seed and of what its peers
//! send and when.

mod announce;
pub mod behaviour;
pub mod content;
pub mod dht_node;
pub mod event;
pub mod peer;
pub mod rejoin;
pub mod serve;

pub use behaviour::{Behaviour, BehaviourError, DropMode, LieMode, PiecePlan, PieceSet};
pub use content::{Content, ContentError, Layout};
pub use event::{EventKind, Events, SeederEvent};
pub use serve::{
    serve, serve_bound, spawn_many, spawn_many_at, SeedSwarm, Seeder, ServeError, Spec,
};
