//! The system under test: a Kafka-protocol broker cluster stretched across three zones. It
//! runs on tokio (real mode) and, unchanged, on madsim (`--cfg madsim`); nothing here asks
//! which. The simulation-only switches live in `planted_bugs`.
pub mod bench;
pub mod client;
pub mod controller;
pub mod dev;
pub mod group;
pub mod log;
pub mod net;
pub mod node;
pub mod planted_bugs;
pub mod protocol;
pub mod replication;
pub mod security;
