//! The metadata quorum: Raft across one controller per zone, and the decisions of the active controller.
pub mod metadata;
pub mod quorum;
pub mod raft;
