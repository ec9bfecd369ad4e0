//! faultline: the deterministic chaos harness for the broker in `broker/`.
//!
//! The pure parts (scenario parsing, history, checker) build in both modes so they are unit
//! tested everywhere; the simulated world, faults, workload and runner need `--cfg madsim`
//! (build with `cargo faultline ...`).

pub mod capsule;
pub mod checkers;
pub mod claims;
pub mod error;
pub mod history;
pub mod outcome;
pub mod recorded;
pub mod scenario;
pub mod seeded;
pub mod seeds;
pub mod sla;

#[cfg(madsim)]
pub mod cli;
#[cfg(madsim)]
pub mod faults;
#[cfg(madsim)]
pub mod runner;
#[cfg(madsim)]
pub mod selftest;
#[cfg(madsim)]
pub mod summary;
#[cfg(madsim)]
pub mod workload;
#[cfg(madsim)]
pub mod world;
