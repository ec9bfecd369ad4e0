//! Consumer groups: membership and rebalancing (`coordinator`, a state machine, and `service`,
//! its async shell) and committed offsets (`offsets`).
pub mod coordinator;
pub mod offsets;
pub mod service;
