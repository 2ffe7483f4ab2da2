//! The swarm simulator: the real bitswarm client on turmoil, against the mock tracker and
//! synthetic seeders, driven by scenario files and replayable by seed.

pub mod avail;
mod build;
pub mod faults;
mod hosts;
mod judge;
pub mod matrix;
pub mod net;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shaping;
pub mod shared;
pub mod trace;
pub mod trading;
pub mod watch;

pub use net::TurmoilNet;
pub use run::{run, Outcome};
pub use scenario::Scenario;
