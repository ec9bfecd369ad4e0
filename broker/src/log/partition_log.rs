//! The log of one partition replica: record batches in offset order, their leader epochs
//! (KIP-101's epoch cache is derived from them), idempotent producer state (KIP-98), and the
//! high watermark. The on-disk format is the concatenation of the batches, as in Kafka's
//! segment files; recovery reads batches until the first torn or corrupt one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::batch::{self, BatchError, BatchHeader};
use super::disk::Disk;
use crate::INVARIANT_BROKEN;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
const PRODUCER_BATCHES_REMEMBERED: usize = 5;
/// Batch bytes kept in memory per partition; older batches are read back from the disk (its
/// page cache), so memory stays bounded however long the log grows.
const CACHED_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Expected failures of log operations.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The payload is not a valid v2 record batch.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// An idempotent producer skipped or repeated a sequence out of order.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {received}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, received: i32 },
    /// A producer epoch older than the one already seen.
    #[error("producer {producer_id} epoch {received} is fenced by epoch {current}")]
    ProducerFenced { producer_id: i64, current: i16, received: i16 },
    /// The disk refused the write.
    #[error("storage error: {0}")]
    Storage(#[from] std::io::Error),
}

/// One stored batch.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub last_offset: i64,
    pub leader_epoch: i32,
    pub file_position: u64,
    pub length: usize,
    /// `None` once evicted from the in-memory tail (read it from the disk).
    pub bytes: Option<Bytes>,
}

#[derive(Debug, Clone, Default)]
struct ProducerState {
    epoch: i16,
    /// (first sequence, last sequence, base offset) of the latest batches.
    recent: VecDeque<(i32, i32, i64)>,
}

/// Tracks an idempotent producer's latest batches (a new epoch starts over).
fn remember_producer(producers: &mut BTreeMap<i64, ProducerState>, header: &BatchHeader) {
    if !header.is_idempotent() {
        return;
    }
    let state = producers.entry(header.producer_id).or_default();
    if header.producer_epoch != state.epoch {
        state.epoch = header.producer_epoch;
        state.recent.clear();
    }
    state.recent.push_back((header.base_sequence, header.last_sequence(), header.base_offset));
    if state.recent.len() > PRODUCER_BATCHES_REMEMBERED {
        state.recent.pop_front();
    }
}

/// The result of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Written at these offsets.
    Appended { base_offset: i64, last_offset: i64 },
    /// An idempotent retry of a batch already in the log at this base offset: nothing written.
    Duplicate { base_offset: i64, last_offset: i64 },
}

pub struct PartitionLog {
    disk: Arc<dyn Disk>,
    log_file: String,
    high_watermark_file: String,
    batches: Vec<StoredBatch>,
    file_length: u64,
    log_end_offset: i64,
    high_watermark: i64,
    /// (leader epoch, start offset), strictly increasing in both.
    epochs: Vec<(i32, i64)>,
    producers: BTreeMap<i64, ProducerState>,
    cached_bytes: usize,
    /// Index of the oldest batch whose bytes are still in memory.
    first_cached: usize,
}

impl PartitionLog {
    /// Opens (recovering) the log stored under `directory`.
    pub fn open(disk: Arc<dyn Disk>, directory: &str) -> Result<Self, LogError> {
        let log_file = format!("{directory}/00000000000000000000.log");
        let high_watermark_file = format!("{directory}/high-watermark");
        let mut log = PartitionLog {
            disk,
            log_file,
            high_watermark_file,
            batches: Vec::new(),
            file_length: 0,
            log_end_offset: 0,
            high_watermark: 0,
            epochs: Vec::new(),
            producers: BTreeMap::new(),
            cached_bytes: 0,
            first_cached: 0,
        };
        log.recover()?;
        Ok(log)
    }

    fn recover(&mut self) -> Result<(), LogError> {
        let bytes = Bytes::from(self.disk.read(&self.log_file)?.unwrap_or_default());
        let mut position = 0usize;
        while position < bytes.len() {
            // A torn or corrupt tail is where the last sync ended: cut it off.
            let Ok(header) = batch::parse_header(&bytes[position..], true) else { break };
            if header.base_offset != self.log_end_offset {
                break;
            }
            let batch_bytes = bytes.slice(position..position + header.total_bytes);
            self.push_batch(&header, batch_bytes, position as u64);
            position += header.total_bytes;
        }
        if (position as u64) < bytes.len() as u64 {
            tracing::warn!(file = %self.log_file, kept = position, dropped = bytes.len() - position, "recovery truncated a torn log tail");
            self.disk.truncate(&self.log_file, position as u64)?;
            self.disk.sync(&self.log_file)?;
        }
        self.file_length = position as u64;
        let checkpoint = self
            .disk
            .read(&self.high_watermark_file)?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<i64>().ok());
        self.high_watermark = checkpoint.unwrap_or(0).clamp(0, self.log_end_offset);
        Ok(())
    }

    fn push_batch(&mut self, header: &BatchHeader, bytes: Bytes, file_position: u64) {
        let epoch = header.partition_leader_epoch;
        if self.epochs.last().is_none_or(|&(last, _)| epoch > last) {
            self.epochs.push((epoch, header.base_offset));
        }
        remember_producer(&mut self.producers, header);
        self.cached_bytes += bytes.len();
        self.batches.push(StoredBatch {
            last_offset: header.last_offset(),
            leader_epoch: epoch,
            file_position,
            length: bytes.len(),
            bytes: Some(bytes),
        });
        self.log_end_offset = header.last_offset() + 1;
        while self.cached_bytes > CACHED_BYTES_MAX && self.first_cached + 1 < self.batches.len() {
            let evicted = self.batches[self.first_cached].bytes.take().map_or(0, |b| b.len());
            self.cached_bytes -= evicted;
            self.first_cached += 1;
        }
    }

    /// Bytes the log holds on disk.
    pub fn size_bytes(&self) -> u64 {
        self.file_length
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub(crate) fn log_start_offset(&self) -> i64 {
        0
    }

    /// Epoch of the last batch, or -1 for an empty log (the `last_fetched_epoch` of a fetch).
    pub fn last_epoch(&self) -> i32 {
        self.batches.last().map_or(-1, |batch| batch.leader_epoch)
    }

    /// Records that a leader epoch starts at the current end (a new leader with no writes yet).
    pub(crate) fn begin_epoch(&mut self, epoch: i32) {
        if self.epochs.last().is_none_or(|&(last, _)| epoch > last) {
            self.epochs.push((epoch, self.log_end_offset));
        }
    }

    /// KIP-101 `OffsetsForLeaderEpoch`: the largest epoch <= `epoch` this log knows and the
    /// offset where it ends (the start of the next epoch, or the log end). (-1, -1) if none.
    pub(crate) fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let Some(index) = self.epochs.iter().rposition(|&(e, _)| e <= epoch) else {
            return (-1, -1);
        };
        let end = self.epochs.get(index + 1).map_or(self.log_end_offset, |&(_, start)| start);
        (self.epochs[index].0, end)
    }

    /// Appends a produce payload as the leader of `leader_epoch`: validates, drops idempotent
    /// duplicates, assigns offsets, writes, and syncs before returning.
    pub fn append_as_leader(&mut self, records: Bytes, leader_epoch: i32) -> Result<AppendOutcome, LogError> {
        let batches = batch::split_batches(records, true)?;
        // Validate every batch before writing any, so a request is all or nothing.
        let mut duplicate = None;
        for (header, _) in &batches {
            if let Some(found) = self.check_sequence(header)? {
                duplicate = Some(found);
            }
        }
        if let Some((base_offset, last_offset)) = duplicate {
            if batches.len() == 1 {
                return Ok(AppendOutcome::Duplicate { base_offset, last_offset });
            }
        }
        self.begin_epoch(leader_epoch);
        let base_offset = self.log_end_offset;
        for (header, bytes) in batches {
            let stamped = batch::restamp(&bytes, self.log_end_offset, leader_epoch);
            let header =
                BatchHeader { base_offset: self.log_end_offset, partition_leader_epoch: leader_epoch, ..header };
            self.write(&header, stamped)?;
        }
        self.disk.sync(&self.log_file)?;
        Ok(AppendOutcome::Appended { base_offset, last_offset: self.log_end_offset - 1 })
    }

    /// `Some(offsets)` if this idempotent batch is already in the log; an error if out of order.
    fn check_sequence(&self, header: &BatchHeader) -> Result<Option<(i64, i64)>, LogError> {
        if !header.is_idempotent() {
            return Ok(None);
        }
        let Some(state) = self.producers.get(&header.producer_id) else {
            // Unknown producer: its history may predate this log (Kafka 2.5+ accepts it too).
            return Ok(None);
        };
        if header.producer_epoch < state.epoch {
            return Err(LogError::ProducerFenced {
                producer_id: header.producer_id,
                current: state.epoch,
                received: header.producer_epoch,
            });
        }
        if header.producer_epoch > state.epoch {
            if header.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence {
                    producer_id: header.producer_id,
                    expected: 0,
                    received: header.base_sequence,
                });
            }
            return Ok(None);
        }
        for &(first, last, base_offset) in &state.recent {
            if first == header.base_sequence && last == header.last_sequence() {
                return Ok(Some((base_offset, base_offset + header.last_offset_delta as i64)));
            }
        }
        let expected = state.recent.back().map_or(0, |&(_, last, _)| last.wrapping_add(1));
        if header.base_sequence != expected {
            return Err(LogError::OutOfOrderSequence {
                producer_id: header.producer_id,
                expected,
                received: header.base_sequence,
            });
        }
        Ok(None)
    }

    fn write(&mut self, header: &BatchHeader, bytes: Bytes) -> Result<(), LogError> {
        assert_eq!(header.base_offset, self.log_end_offset, "batches must be contiguous");
        self.disk.append(&self.log_file, &bytes)?;
        let position = self.file_length;
        self.file_length += bytes.len() as u64;
        self.push_batch(header, bytes, position);
        Ok(())
    }

    /// Appends batches fetched from the leader (offsets already assigned), then syncs.
    pub fn append_as_follower(&mut self, records: Bytes) -> Result<usize, LogError> {
        let batches = batch::split_batches(records, true)?;
        let mut appended = 0;
        for (header, bytes) in batches {
            if header.base_offset != self.log_end_offset {
                // A response for an older position (a retry raced a truncation): ignore the rest.
                break;
            }
            self.write(&header, bytes)?;
            appended += 1;
        }
        if appended > 0 {
            self.disk.sync(&self.log_file)?;
        }
        Ok(appended)
    }

    /// Removes every batch at or after `offset` (rounded down to a batch boundary) and syncs.
    /// Records below the high watermark were acknowledged: dropping them is a broken
    /// invariant (a panic), unless `unclean_recovery` says the leader was elected from outside
    /// the ISR (KIP-704), where it is the explicit, reported price of that election.
    pub(crate) fn truncate_to(&mut self, offset: i64, unclean_recovery: bool) -> Result<(), LogError> {
        let keep = self.batches.partition_point(|batch| batch.last_offset < offset);
        if keep == self.batches.len() {
            return Ok(());
        }
        let position = self.batches[keep].file_position;
        self.cached_bytes -=
            self.batches[keep..].iter().filter_map(|b| b.bytes.as_ref()).map(Bytes::len).sum::<usize>();
        self.batches.truncate(keep);
        self.first_cached = self.first_cached.min(self.batches.len());
        self.log_end_offset = self.batches.last().map_or(0, |batch| batch.last_offset + 1);
        self.file_length = position;
        self.epochs.retain(|&(_, start)| start < self.log_end_offset || start == 0 && self.log_end_offset == 0);
        if self.log_end_offset == 0 {
            self.epochs.clear();
        }
        if self.high_watermark > self.log_end_offset {
            assert!(unclean_recovery, "{INVARIANT_BROKEN}{}: truncated below the high watermark ({} -> log end {}): acknowledged records would be lost", self.log_file, self.high_watermark, self.log_end_offset);
            tracing::error!(file = %self.log_file, high_watermark = self.high_watermark, log_end_offset = self.log_end_offset, "unclean leader recovery: dropped acknowledged records (KIP-704)");
            self.high_watermark = self.log_end_offset;
        }
        self.rebuild_producers();
        self.disk.truncate(&self.log_file, position)?;
        self.disk.sync(&self.log_file)?;
        Ok(())
    }

    fn rebuild_producers(&mut self) {
        self.producers.clear();
        let batches = std::mem::take(&mut self.batches);
        let epochs = std::mem::take(&mut self.epochs);
        let end = self.log_end_offset;
        for stored in &batches {
            let Some(bytes) = self.batch_bytes_from(stored) else { continue };
            if let Ok(header) = batch::parse_header(&bytes, false) {
                remember_producer(&mut self.producers, &header);
            }
        }
        self.batches = batches;
        self.epochs = epochs;
        self.log_end_offset = end;
    }

    /// Moves the high watermark. It never moves back and never passes the log end.
    pub(crate) fn set_high_watermark(&mut self, high_watermark: i64) {
        assert!(
            high_watermark <= self.log_end_offset,
            "high watermark {high_watermark} beyond log end {}",
            self.log_end_offset
        );
        assert!(
            high_watermark >= self.high_watermark,
            "high watermark moved back from {} to {high_watermark}",
            self.high_watermark
        );
        self.high_watermark = high_watermark;
    }

    /// Like `set_high_watermark` without the monotonicity assertion: only the planted bug
    /// `high-watermark-regression` uses it.
    pub(crate) fn force_high_watermark(&mut self, high_watermark: i64) {
        self.high_watermark = high_watermark.min(self.log_end_offset);
    }

    /// Persists the high watermark (Kafka's replication-offset-checkpoint).
    pub(crate) fn checkpoint_high_watermark(&self) -> Result<(), LogError> {
        self.disk.replace_durably(&self.high_watermark_file, self.high_watermark.to_string().as_bytes())?;
        Ok(())
    }

    fn batch_bytes_from(&self, stored: &StoredBatch) -> Option<Bytes> {
        match &stored.bytes {
            Some(bytes) => Some(bytes.clone()),
            None => match self.disk.read_at(&self.log_file, stored.file_position, stored.length) {
                Ok(bytes) => Some(Bytes::from(bytes)),
                Err(error) => {
                    tracing::error!(file = %self.log_file, position = stored.file_position, %error, "cannot read a batch back from disk");
                    None
                }
            },
        }
    }

    /// Batches from the one holding `offset` up to (not including) `upper_bound`, at most
    /// `max_bytes` but always at least one batch when there is one (KIP-74).
    pub fn read(&self, offset: i64, upper_bound: i64, max_bytes: usize) -> Bytes {
        let start = self.batches.partition_point(|batch| batch.last_offset < offset);
        let mut out = bytes::BytesMut::new();
        for batch in &self.batches[start..] {
            if batch.last_offset >= upper_bound || (!out.is_empty() && out.len() + batch.length > max_bytes) {
                break;
            }
            let Some(bytes) = self.batch_bytes_from(batch) else { break };
            out.extend_from_slice(&bytes);
        }
        out.freeze()
    }

    /// The bytes of every batch below `upper_bound`, in order (rebuilding committed offsets).
    pub(crate) fn batches_below(&self, upper_bound: i64) -> Vec<Bytes> {
        self.batches
            .iter()
            .take_while(|b| b.last_offset < upper_bound)
            .filter_map(|b| self.batch_bytes_from(b))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::encode;
    use crate::log::disk::MemoryDisk;

    fn open(disk: &MemoryDisk) -> PartitionLog {
        PartitionLog::open(Arc::new(disk.clone()), "t-0").unwrap()
    }

    #[test]
    fn leader_assigns_contiguous_offsets_and_recovers_them() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        assert_eq!(
            log.append_as_leader(encode(&["a", "b"], -1, -1), 1).unwrap(),
            AppendOutcome::Appended { base_offset: 0, last_offset: 1 }
        );
        assert_eq!(
            log.append_as_leader(encode(&["c"], -1, -1), 2).unwrap(),
            AppendOutcome::Appended { base_offset: 2, last_offset: 2 }
        );
        let recovered = open(&disk);
        assert_eq!(recovered.log_end_offset(), 3);
        assert_eq!(recovered.end_offset_for_epoch(1), (1, 2));
        assert_eq!(recovered.end_offset_for_epoch(2), (2, 3));
        assert_eq!(recovered.end_offset_for_epoch(0), (-1, -1));
    }

    #[test]
    fn idempotent_duplicates_are_dropped_and_gaps_refused() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a", "b"], 7, 0), 1).unwrap();
        assert_eq!(
            log.append_as_leader(encode(&["a", "b"], 7, 0), 1).unwrap(),
            AppendOutcome::Duplicate { base_offset: 0, last_offset: 1 }
        );
        assert!(matches!(
            log.append_as_leader(encode(&["d"], 7, 5), 1),
            Err(LogError::OutOfOrderSequence { expected: 2, received: 5, .. })
        ));
        assert_eq!(
            log.append_as_leader(encode(&["c"], 7, 2), 1).unwrap(),
            AppendOutcome::Appended { base_offset: 2, last_offset: 2 }
        );
        assert_eq!(log.log_end_offset(), 3);
    }

    #[test]
    fn power_loss_keeps_synced_batches_only() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a"], -1, -1), 1).unwrap();
        // A write that reached the page cache but not the platter: a torn tail.
        disk.append("t-0/00000000000000000000.log", &encode(&["b"], -1, -1)[..20]).unwrap();
        disk.power_loss();
        let recovered = open(&disk);
        assert_eq!(recovered.log_end_offset(), 1);
    }

    #[test]
    #[should_panic(expected = "truncated below the high watermark")]
    fn truncating_acknowledged_records_is_a_broken_invariant() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a", "b"], -1, -1), 1).unwrap();
        log.set_high_watermark(2);
        log.truncate_to(1, false).unwrap();
    }

    #[test]
    fn unclean_recovery_may_truncate_acknowledged_records() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a", "b"], -1, -1), 1).unwrap();
        log.set_high_watermark(2);
        log.truncate_to(0, true).unwrap();
        assert_eq!((log.log_end_offset(), log.high_watermark()), (0, 0));
    }

    #[test]
    fn truncation_drops_whole_batches_and_epochs() {
        // KIP-101: a follower truncates to the leader's end offset for the diverging epoch.
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a"], -1, -1), 1).unwrap();
        log.append_as_leader(encode(&["b", "c"], -1, -1), 2).unwrap();
        log.truncate_to(1, false).unwrap();
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(log.end_offset_for_epoch(2), (1, 1));
        let recovered = open(&disk);
        assert_eq!(recovered.log_end_offset(), 1);
    }

    #[test]
    fn evicted_batches_are_read_back_from_disk() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        let big = "x".repeat(1 << 20);
        for _ in 0..20 {
            log.append_as_leader(encode(&[big.as_str()], -1, -1), 1).unwrap();
        }
        assert!(log.batches[0].bytes.is_none(), "the oldest batch left memory");
        let first = batch::decode_values(log.read(0, 1, 1)).unwrap();
        assert_eq!(first[0].1.as_deref(), Some(big.as_bytes()));
        assert_eq!(log.batches_below(20).len(), 20);
    }

    #[test]
    fn reads_stop_at_the_bound() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a"], -1, -1), 1).unwrap();
        log.append_as_leader(encode(&["b"], -1, -1), 1).unwrap();
        assert_eq!(batch::split_batches(log.read(0, 1, 1 << 20), true).unwrap().len(), 1);
        assert_eq!(batch::split_batches(log.read(0, 2, 1), true).unwrap().len(), 1, "at least one batch");
        assert_eq!(batch::split_batches(log.read(1, 2, 1 << 20), true).unwrap().len(), 1);
    }
}
