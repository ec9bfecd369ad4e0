//! Leader and follower roles, the ISR and the high watermark.
pub mod fetcher;
pub mod replica;
pub use replica::{IsrChangeRequest, Replica, ReplicationConfig, Role};
