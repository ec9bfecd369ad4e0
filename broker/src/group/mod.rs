//! Consumer group coordination and committed offsets.
pub mod coordinator;
pub mod offsets;
pub use coordinator::GroupCoordinator;
