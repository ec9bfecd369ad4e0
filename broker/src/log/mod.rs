//! The partition log and the disk under it.
pub mod batch;
pub mod disk;
pub mod meta_properties;
pub mod partition_log;

pub use disk::{Disk, FileDisk, MemoryDisk};
pub use meta_properties::{MetaProperties, MetaPropertiesError};
pub use partition_log::{AppendOutcome, LogError, PartitionLog};
