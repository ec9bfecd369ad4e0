//! An append-only log of opaque records sealed in segments, for the metadata log (C08): the
//! same segment files and keys as a partition's, under the cluster's own key. Segments are
//! numbered; each process start writes a new one. Recovery reads up to the first torn frame.

use std::sync::Arc;

use super::disk::Disk;
use super::error::LogError;
use super::segment::{self, Segment};
use crate::encryption::KeySource;

/// The scope (a topic name for the keyring) the metadata log's key is looked up under.
pub const METADATA_SCOPE: &str = "__cluster_metadata";

pub struct SealedLog {
    disk: Arc<dyn Disk>,
    keys: Arc<dyn KeySource>,
    directory: String,
    next_base: i64,
    active: Option<Segment>,
}

impl SealedLog {
    /// Opens the log under `directory` and returns its records in order.
    pub fn open(
        disk: Arc<dyn Disk>,
        keys: Arc<dyn KeySource>,
        directory: &str,
    ) -> Result<(SealedLog, Vec<Vec<u8>>), LogError> {
        let mut records = Vec::new();
        let on_disk = segment::list(disk.as_ref(), directory)?;
        let mut torn = false;
        let mut next_base = 0;
        for (base, file) in &on_disk {
            next_base = base + 1;
            if torn {
                // Records after a torn one were never acknowledged by it: drop them.
                disk.remove_prefix(file)?;
                disk.remove_prefix(&segment::key_file(file))?;
                continue;
            }
            let (mut loaded, bytes) = Segment::load(disk.as_ref(), file, *base)?;
            let (frames, end) = loaded.recover(keys.as_ref(), &bytes)?;
            if end < bytes.len() as u64 {
                tracing::warn!(file = %file, kept = end, dropped = bytes.len() as u64 - end, "metadata log: truncated a torn tail");
                loaded.truncate(disk.as_ref(), end, frames.len() as u64)?;
                torn = true;
            }
            records.extend(frames.into_iter().map(|frame| frame.plaintext));
        }
        Ok((SealedLog { disk, keys, directory: directory.to_string(), next_base, active: None }, records))
    }

    /// Appends a record and makes it durable.
    pub fn append(&mut self, record: &[u8]) -> Result<(), LogError> {
        if self.active.is_none() {
            let segment = Segment::create(
                self.disk.as_ref(),
                self.keys.as_ref(),
                METADATA_SCOPE,
                &self.directory,
                self.next_base,
                crate::clock::wall_clock_ms(),
            )?;
            self.next_base += 1;
            self.active = Some(segment);
        }
        let segment = self.active.as_mut().expect("created above");
        segment.append(self.disk.as_ref(), self.keys.as_ref(), record)?;
        self.disk.sync(&segment.file)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::FixedKeys;
    use crate::log::MemoryDisk;

    #[test]
    fn records_survive_restarts_each_in_a_new_segment_and_a_torn_tail_is_cut() {
        let (disk, keys) = (MemoryDisk::new(), Arc::new(FixedKeys::default()));
        let (mut log, records) = SealedLog::open(Arc::new(disk.clone()), keys.clone(), "metadata").unwrap();
        assert!(records.is_empty());
        log.append(b"first").unwrap();
        log.append(b"second").unwrap();
        let (mut log, records) = SealedLog::open(Arc::new(disk.clone()), keys.clone(), "metadata").unwrap();
        assert_eq!(records, vec![b"first".to_vec(), b"second".to_vec()]);
        log.append(b"third").unwrap();
        assert_eq!(disk.list("metadata/").unwrap().len(), 4, "two segments and their key files");
        disk.append("metadata/00000000000000000001.log", b"\0\0\0\x40torn").unwrap();
        disk.power_loss();
        let (_, records) = SealedLog::open(Arc::new(disk.clone()), keys, "metadata").unwrap();
        assert_eq!(records.len(), 3);
    }
}
