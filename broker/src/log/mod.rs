//! The partition log and the disk under it.
pub mod batch;
pub mod disk;
pub mod meta_properties;
pub mod partition_log;
pub mod sealed_log;
pub mod segment;

pub(crate) use disk::FileDisk;
pub use disk::{Disk, MemoryDisk};
pub use meta_properties::MetaProperties;
pub use meta_properties::MetaPropertiesError;
pub use partition_log::PartitionLog;
pub use partition_log::{AppendOutcome, LogError, SegmentPolicy};
