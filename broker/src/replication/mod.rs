//! Leader and follower roles, the ISR and the high watermark (`replica`, a state machine), and
//! the async parts around it: the acks=all wait (`acks`), the follower's fetch loop
//! (`fetcher`) and the node's shared fsyncs (`group_commit`).
pub mod acks;
pub mod fetcher;
pub mod group_commit;
pub mod partition;
pub mod replica;
pub use replica::{IsrChangeRequest, Replica, ReplicationConfig, Role};
