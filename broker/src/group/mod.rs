//! Consumer groups: membership and rebalancing (`coordinator`, a state machine, and `service`,
//! its async shell) and committed offsets (`offsets`).
pub(crate) mod coordinator;
pub(crate) mod offsets;
pub(crate) mod service;
