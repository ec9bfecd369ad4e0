//! Leader and follower roles, the ISR and the high watermark (`replica`, a state machine), and
//! the async parts around it: the acks=all wait (`acks`) and the follower's fetch loop
//! (`fetcher`).
pub mod acks;
pub mod fetcher;
pub mod partition;
pub mod replica;
pub use replica::{IsrChangeRequest, Replica, ReplicationConfig, Role};
