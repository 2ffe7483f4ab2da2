//! The swarm simulator: the real bitswarm client on turmoil, against the mock tracker and
//! synthetic seeders, driven by scenario files and replayable by seed.

pub mod net;
pub mod trace;
pub mod watch;

pub use net::TurmoilNet;
