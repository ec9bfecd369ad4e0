//! The system under test: a Kafka-protocol broker cluster stretched across three zones. It
//! runs on tokio (real mode) and, unchanged, on madsim (`--cfg madsim`); nothing here asks
//! which. The simulation-only switches live in `planted_bugs`.
#![warn(unreachable_pub)]

pub mod bench;
pub mod client;
pub mod clock;
pub mod control_plane;
pub mod controller;
pub mod detection;
pub mod dev;
pub mod encryption;
pub mod entropy;
// Fuzz entry points run the service on tokio (cargo-fuzz builds without `--cfg madsim`).
#[cfg(not(madsim))]
pub mod fuzzing;
mod group;
pub mod incidents;
pub mod kms;
pub mod log;
pub mod log_store;
mod messages;
pub mod net;
pub mod network;
pub mod node;
pub mod operators;
pub mod planted_bugs;
mod protocol;
pub mod quorum;
pub mod replication;
pub mod runtime;
pub mod security;

/// The prefix of every panic that reports a broken invariant. Real mode stops the process on
/// it (fail-stop: no limping on with state it can no longer trust); the simulation reports the
/// seed as a finding. Other panics (a decoder's on hostile bytes) only cost their connection.
pub const INVARIANT_BROKEN: &str = "invariant broken: ";
