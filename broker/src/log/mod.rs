//! The partition log and the disk under it.
pub mod batch;
pub mod disk;
pub mod partition_log;

pub use disk::{Disk, FileDisk, MemoryDisk};
pub use partition_log::{AppendOutcome, LogError, PartitionLog};
