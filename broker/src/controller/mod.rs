//! The controller's state machines: Raft (`raft`) and the metadata image it replicates, with the
//! active controller's decisions (`metadata`). Their async shell is `crate::quorum`.
pub mod metadata;
pub mod raft;
