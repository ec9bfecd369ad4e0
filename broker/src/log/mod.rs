//! The partition log (segments sealed under keys of their own), the metadata log sealed the
//! same way, and the disk under them.
pub mod batch;
pub mod disk;
mod error;
pub mod meta_properties;
pub mod partition_log;
pub mod sealed_log;
pub mod segment;

pub(crate) use disk::FileDisk;
pub use disk::{Disk, MemoryDisk};
pub use error::LogError;
pub use meta_properties::MetaProperties;
pub use meta_properties::MetaPropertiesError;
pub(crate) use partition_log::PendingSync;
pub use partition_log::{shred, PartitionLog};
pub use partition_log::{AppendOutcome, SegmentPolicy};
