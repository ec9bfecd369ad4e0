//! The log of one partition replica: record batches in offset order, their leader epochs
//! (KIP-101's epoch cache is derived from them), idempotent producer state (KIP-98), and the
//! high watermark. On disk the batches lie in segments (`segment.rs`), each batch one frame
//! sealed under the segment's key (C08); a segment rolls by size and age, when the tenant's
//! root key changes (a master-key rotation), and after recovery or truncation (a key is only
//! ever used by the process that made it). Recovery reads frames until the first torn or
//! unauthentic one.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::batch::{self, BatchHeader};
use super::disk::Disk;
use super::error::LogError;
use super::segment::{self, Segment};
use crate::controller::metadata::TopicConfig;
use crate::encryption::{KeySource, KeyUnavailable, WrappedKey};
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::INVARIANT_BROKEN;

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
const PRODUCER_BATCHES_REMEMBERED: usize = 5;
/// Batch bytes kept in memory per partition; older batches are read back from the disk (its
/// page cache), so memory stays bounded however long the log grows.
const CACHED_BYTES_MAX: usize = 16 * 1024 * 1024;

/// When a segment rolls (Kafka's `segment.bytes` and `segment.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPolicy {
    pub segment_bytes: u64,
    pub segment_age: Duration,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        // Smaller than Kafka's 1 GiB: a data key protects at most this much (and a rotation
        // reaches old data faster).
        SegmentPolicy { segment_bytes: 64 * 1024 * 1024, segment_age: Duration::from_secs(24 * 3600) }
    }
}

/// How often a node applies retention (its tick runs it every 5 s).
pub const RETENTION_PASS_MS: u64 = 5_000;

/// The latest a record of a topic with `retention_ms` goes after it was written, on a node that
/// runs: the retention, the roll age (at most a tenth of it), and one retention pass.
pub fn retention_bound_ms(retention_ms: u64) -> u64 {
    retention_ms + retention_ms / 10 + RETENTION_PASS_MS
}

/// The wall clock the log dates segments by (ms since the epoch); tests set their own.
pub type Clock = fn() -> u64;

/// One stored batch.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub last_offset: i64,
    pub leader_epoch: i32,
    /// The base offset of the segment it is in.
    pub segment: i64,
    /// Where its frame starts in the segment, and the frame's length.
    pub file_position: u64,
    pub length: usize,
    /// The plaintext batch; `None` once evicted from the in-memory tail (read and open the
    /// frame then).
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

/// A sync a group commit owes a log: its active segment, up to `end_offset`. Done off the
/// partition's lock (an fsync takes milliseconds), then handed back to `PartitionLog::synced`.
#[derive(Clone)]
pub(crate) struct PendingSync {
    disk: Arc<dyn Disk>,
    file: String,
    end_offset: i64,
    generation: u64,
}

impl PendingSync {
    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.disk.sync(&self.file)?;
        Ok(())
    }

    /// The disk's simulated fsync latency (zero for a real disk).
    #[cfg_attr(not(madsim), allow(dead_code))]
    pub(crate) fn latency(&self) -> std::time::Duration {
        self.disk.sync_latency()
    }
}

pub struct PartitionLog {
    disk: Arc<dyn Disk>,
    keys: Arc<dyn KeySource>,
    /// Whose key protects it: the topic.
    topic: String,
    directory: String,
    high_watermark_file: String,
    policy: SegmentPolicy,
    /// The topic's retention (C13).
    config: TopicConfig,
    clock: Clock,
    bugs: PlantedBugs,
    segments: Vec<Segment>,
    /// The first offset still held: older segments went to retention.
    log_start_offset: i64,
    batches: Vec<StoredBatch>,
    log_end_offset: i64,
    /// Offsets below it are on stable storage. Appends do not sync: a group commit
    /// (`replication::group_commit`) syncs many partitions' appends at once, and only durable
    /// offsets count towards the high watermark.
    durable_end_offset: i64,
    /// Bumped when the log is cut or restarted: a sync captured before says nothing after.
    sync_generation: u64,
    high_watermark: i64,
    /// (leader epoch, start offset), strictly increasing in both.
    epochs: Vec<(i32, i64)>,
    producers: BTreeMap<i64, ProducerState>,
    cached_bytes: usize,
    /// Index of the oldest batch whose bytes are still in memory.
    first_cached: usize,
}

impl PartitionLog {
    /// Opens (recovering) the log of `topic`'s partition stored under `directory`.
    pub fn open(
        disk: Arc<dyn Disk>,
        keys: Arc<dyn KeySource>,
        topic: &str,
        directory: &str,
        policy: SegmentPolicy,
        bugs: PlantedBugs,
    ) -> Result<Self, LogError> {
        let mut log = PartitionLog {
            disk,
            keys,
            topic: topic.to_string(),
            directory: directory.to_string(),
            high_watermark_file: format!("{directory}/high-watermark"),
            policy,
            config: TopicConfig::default(),
            clock: crate::clock::wall_clock_ms,
            bugs,
            segments: Vec::new(),
            log_start_offset: 0,
            batches: Vec::new(),
            log_end_offset: 0,
            durable_end_offset: 0,
            sync_generation: 0,
            high_watermark: 0,
            epochs: Vec::new(),
            producers: BTreeMap::new(),
            cached_bytes: 0,
            first_cached: 0,
        };
        log.recover()?;
        Ok(log)
    }

    /// The topic's settings (from the metadata; the service's own topics keep everything).
    pub fn set_config(&mut self, config: TopicConfig) {
        self.config = config;
    }

    /// Another clock (tests).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    fn recover(&mut self) -> Result<(), LogError> {
        let on_disk = segment::list(self.disk.as_ref(), &self.directory)?;
        let mut corrupt_from = None;
        for (index, (base, file)) in on_disk.iter().enumerate() {
            if index == 0 {
                // Retention may have taken the segments before it.
                self.log_end_offset = *base;
            }
            if corrupt_from.is_some() || *base != self.log_end_offset {
                // After a torn or corrupt segment, or a gap: nothing later can be trusted.
                corrupt_from.get_or_insert(index);
                continue;
            }
            let (mut segment, bytes) = Segment::load(self.disk.as_ref(), file, *base)?;
            // A segment dated before key files carried a date: its age counts from now (late,
            // never early). Planted: every segment's age counts from the restart.
            if segment.created_ms.is_none() || self.bugs.is_on(PlantedBug::RetentionClockRestarts) {
                segment.created_ms = Some((self.clock)());
            }
            let (frames, good) = segment.recover(self.keys.as_ref(), &bytes)?;
            let mut kept = 0u64;
            let mut end = 0u64;
            for frame in frames {
                let (position, length, plaintext) = (frame.position, frame.length, Bytes::from(frame.plaintext));
                let header = match batch::parse_header(&plaintext, true) {
                    Ok(header) if header.base_offset == self.log_end_offset => header,
                    _ => break,
                };
                self.push_batch(&header, plaintext, *base, position, length);
                kept += 1;
                end = position + length as u64;
            }
            if end < bytes.len() as u64 {
                tracing::warn!(file = %file, kept = end, dropped = bytes.len() as u64 - end, authenticated = good, "recovery truncated a torn or corrupt segment tail");
                segment.truncate(self.disk.as_ref(), end, kept)?;
                corrupt_from = Some(index + 1);
            }
            // Planted: keep appending to the recovered segment, counting on from the frames kept.
            segment.writable = self.bugs.is_on(PlantedBug::NonceReuse);
            // An empty segment goes, unless it is the last: its base is where the log ends
            // once retention has taken everything before it.
            if segment.length == 0 && !segment.writable && index + 1 < on_disk.len() {
                segment.remove(self.disk.as_ref())?;
                continue;
            }
            self.segments.push(segment);
        }
        if let Some(index) = corrupt_from {
            for (_, file) in &on_disk[index..] {
                tracing::warn!(file = %file, "dropped a segment after a torn or corrupt one; it is fetched again from the leader");
                self.disk.remove_prefix(file)?;
                self.disk.remove_prefix(&segment::key_file(file))?;
            }
        }
        let checkpoint = self
            .disk
            .read(&self.high_watermark_file)?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.trim().parse::<i64>().ok());
        self.log_start_offset = self.segments.first().map_or(self.log_end_offset, |s| s.base);
        // What a killed process left in the page cache is not yet durable: sync it before it
        // counts (the earlier segments were synced when they rolled).
        if let Some(last) = self.segments.last() {
            self.disk.sync(&last.file)?;
        }
        self.durable_end_offset = self.log_end_offset;
        self.high_watermark = checkpoint.unwrap_or(0).clamp(self.log_start_offset, self.log_end_offset);
        Ok(())
    }

    fn push_batch(&mut self, header: &BatchHeader, bytes: Bytes, segment: i64, file_position: u64, length: usize) {
        let epoch = header.partition_leader_epoch;
        if self.epochs.last().is_none_or(|&(last, _)| epoch > last) {
            self.epochs.push((epoch, header.base_offset));
        }
        remember_producer(&mut self.producers, header);
        self.cached_bytes += bytes.len();
        self.batches.push(StoredBatch {
            last_offset: header.last_offset(),
            leader_epoch: epoch,
            segment,
            file_position,
            length,
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
        self.segments.iter().map(|s| s.length).sum()
    }

    /// How many segments the log has (tests and the harness).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Replaces the key files of segments whose root is in `rewrapped` (root id -> the same
    /// root wrapped under a newer version of its master key); returns how many changed.
    pub fn rewrap_key_files(&mut self, rewrapped: &BTreeMap<u64, WrappedKey>) -> Result<usize, LogError> {
        if self.bugs.is_on(PlantedBug::RewrapSkipsKeyFiles) {
            // BUG (planted): the new wrappings are kept in memory only.
            return Ok(0);
        }
        let mut changed = 0;
        for segment in &mut self.segments {
            if let Some(wrapped) = rewrapped.get(&segment.root_id()) {
                segment.rewrap(self.disk.as_ref(), wrapped)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The end of what is on stable storage (at most the log end).
    pub fn durable_end_offset(&self) -> i64 {
        self.durable_end_offset
    }

    /// What a sync must cover to make the whole log durable; `None` if it already is.
    pub(crate) fn unsynced(&self) -> Option<PendingSync> {
        let last = self.segments.last().filter(|_| self.durable_end_offset < self.log_end_offset)?;
        Some(PendingSync {
            disk: self.disk.clone(),
            file: last.file.clone(),
            end_offset: self.log_end_offset,
            generation: self.sync_generation,
        })
    }

    /// A sync from `unsynced` finished: its offsets are durable, unless the log was cut or
    /// restarted since (then its end may name records that are not those it synced).
    pub(crate) fn synced(&mut self, pending: &PendingSync) {
        if pending.generation == self.sync_generation {
            self.durable_end_offset = self.durable_end_offset.max(pending.end_offset.min(self.log_end_offset));
        }
    }

    /// Syncs what is pending here and now (tests, and callers with no group commit).
    pub fn sync(&mut self) -> Result<(), LogError> {
        if let Some(pending) = self.unsynced() {
            pending.sync()?;
            self.synced(&pending);
        }
        Ok(())
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// How old a segment may grow before it rolls: the node's policy, and at most a tenth of
    /// the topic's retention, so that records go at most 10 % after their retention.
    fn roll_age(&self) -> Duration {
        let by_retention = self.config.retention_ms.map_or(Duration::MAX, |ms| Duration::from_millis(ms / 10));
        self.policy.segment_age.min(by_retention).max(Duration::from_secs(1))
    }

    /// Deletes the oldest segments whose every record is older than the topic's retention
    /// time, or that put the log over its retention size (C13). A segment goes only once all
    /// of it is below the high watermark (acknowledged everywhere it must be). Every record of
    /// a segment was appended before its successor began and before its own start plus the
    /// roll age (the next append after that rolls), so each goes between `retention.ms` and
    /// `retention.ms` plus the roll age after it was written. Returns the segments deleted.
    pub fn apply_retention(&mut self) -> Result<usize, LogError> {
        let now = (self.clock)();
        let roll_ms = self.roll_age().as_millis() as u64;
        let created = |segment: &Segment| segment.created_ms.unwrap_or(now);
        // Whether all of segment `index` is below the high watermark.
        let acknowledged = |log: &Self, index: usize| {
            log.segments.get(index + 1).map_or(log.log_end_offset, |next| next.base) <= log.high_watermark
        };
        let mut expired = 0;
        if let Some(retention_ms) = self.config.retention_ms {
            while expired < self.segments.len() && acknowledged(self, expired) {
                let segment = &self.segments[expired];
                let last = expired + 1 == self.segments.len();
                if segment.length == 0 {
                    // Holds nothing: goes, unless it is where the log ends.
                    if last {
                        break;
                    }
                    expired += 1;
                    continue;
                }
                // Planted: dated by when the segment began, as if it took nothing after that.
                let appended_by = if self.bugs.is_on(PlantedBug::RetentionDeletesEarly) {
                    created(segment)
                } else {
                    self.segments.get(expired + 1).map_or(u64::MAX, created).min(created(segment) + roll_ms)
                };
                if now < appended_by.saturating_add(retention_ms) {
                    break;
                }
                expired += 1;
            }
        }
        if let Some(limit) = self.config.retention_bytes {
            let mut size: u64 = self.segments[expired..].iter().map(|s| s.length).sum();
            while expired + 1 < self.segments.len() && size > limit && acknowledged(self, expired) {
                size -= self.segments[expired].length;
                expired += 1;
            }
        }
        if expired == 0 {
            return Ok(0);
        }
        if expired == self.segments.len() {
            // The active segment too: an empty one takes over at the log's end first, so that
            // the end survives a restart. Without its key, this waits for the next pass.
            match self.new_segment(self.log_end_offset) {
                Ok(segment) => self.segments.push(segment),
                Err(_) => expired -= 1,
            }
        }
        for segment in self.segments.drain(..expired) {
            segment.remove(self.disk.as_ref())?;
        }
        self.log_start_offset = self.segments.first().map_or(self.log_end_offset, |s| s.base);
        self.forget_below(self.log_start_offset);
        Ok(expired)
    }

    /// A new segment at `base`, begun now, under the topic's current root.
    fn new_segment(&self, base: i64) -> Result<Segment, LogError> {
        let segment = Segment::create(
            self.disk.as_ref(),
            self.keys.as_ref(),
            &self.topic,
            &self.directory,
            base,
            (self.clock)(),
        )?;
        if self.bugs.is_on(PlantedBug::RootKeyInJson) {
            // Planted: a cache of the root beside the data, for a restart without the key service.
            use base64::Engine;
            let (root, _) = self.keys.current_root(&self.topic)?;
            let cache = serde_json::json!({
                "root_id": root.id,
                "material": base64::engine::general_purpose::STANDARD.encode(root.material()),
            });
            self.disk.replace_durably(&format!("{}/root-cache.json", self.directory), cache.to_string().as_bytes())?;
        }
        Ok(segment)
    }

    /// Drops what the log remembers of batches below `offset` (they left the disk).
    fn forget_below(&mut self, offset: i64) {
        let gone = self.batches.partition_point(|batch| batch.last_offset < offset);
        self.cached_bytes -=
            self.batches[..gone].iter().filter_map(|b| b.bytes.as_ref()).map(Bytes::len).sum::<usize>();
        self.batches.drain(..gone);
        self.first_cached = self.first_cached.saturating_sub(gone);
        // The epoch in force at the new start stays, starting there (KIP-101 answers from it).
        let from = self.epochs.iter().rposition(|&(_, start)| start <= offset).unwrap_or(0);
        self.epochs.drain(..from);
        if let Some(first) = self.epochs.first_mut() {
            first.1 = first.1.max(offset);
        }
    }

    /// A follower that fell behind the leader's log start (its retention took what this log
    /// lacks): everything here goes, and the log starts again, empty, at `offset`.
    pub(crate) fn restart_at(&mut self, offset: i64) -> Result<(), LogError> {
        assert!(offset > self.log_end_offset, "a restart moves the log forward");
        let segment = self.new_segment(offset)?;
        for old in std::mem::replace(&mut self.segments, vec![segment]) {
            old.remove(self.disk.as_ref())?;
        }
        self.log_end_offset = offset;
        self.durable_end_offset = offset;
        self.sync_generation += 1;
        self.log_start_offset = offset;
        self.forget_below(offset);
        self.epochs.clear();
        self.producers.clear();
        Ok(())
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
    /// offset where it ends (the start of the next epoch, or the log end). (-1, -1) if none;
    /// but once retention took the log's start, an epoch older than every one kept ended at
    /// most where the log now starts (Kafka's answer): a follower that far behind is told its
    /// offset is out of range, not that all it holds diverges.
    pub(crate) fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let Some(index) = self.epochs.iter().rposition(|&(e, _)| e <= epoch) else {
            if self.log_start_offset > 0 && !self.epochs.is_empty() {
                return (epoch, self.log_start_offset);
            }
            return (-1, -1);
        };
        let end = self.epochs.get(index + 1).map_or(self.log_end_offset, |&(_, start)| start);
        (self.epochs[index].0, end)
    }

    /// Whether this partition's key may be used now (nothing is served or written otherwise).
    pub fn key_status(&self) -> Result<(), KeyUnavailable> {
        match self.segments.last() {
            Some(segment) => self.keys.check(segment.root_id()),
            None => self.keys.current_root(&self.topic).map(|_| ()),
        }
    }

    /// Appends a produce payload as the leader of `leader_epoch`: validates, drops idempotent
    /// duplicates, assigns offsets, writes, and syncs before returning.
    pub fn append_as_leader(&mut self, records: Bytes, leader_epoch: i32) -> Result<AppendOutcome, LogError> {
        let batches = batch::split_batches(records, true)?;
        if batches.is_empty() {
            return Err(batch::BatchError::Empty.into());
        }
        // Validate every batch before writing any, so a request is all or nothing.
        let mut duplicate = None;
        for (header, _) in &batches {
            if let Some(found) = self.check_sequence(header)? {
                duplicate = Some(found);
            }
        }
        if let Some((base_offset, last_offset)) = duplicate {
            if batches.len() == 1 {
                self.key_status()?;
                return Ok(AppendOutcome::Duplicate { base_offset, last_offset });
            }
        }
        self.prepare_segment()?;
        self.begin_epoch(leader_epoch);
        let base_offset = self.log_end_offset;
        for (header, bytes) in batches {
            let stamped = batch::restamp(&bytes, self.log_end_offset, leader_epoch);
            let header =
                BatchHeader { base_offset: self.log_end_offset, partition_leader_epoch: leader_epoch, ..header };
            self.write(&header, stamped)?;
        }
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

    /// Makes sure the last segment takes the next frames: rolls a new one when there is none,
    /// when it is read-only (recovered or truncated), full, old, or sealed under a root that is
    /// no longer the tenant's current one (a rotation). Fails closed when the key is not usable.
    fn prepare_segment(&mut self) -> Result<(), LogError> {
        let (current, _) = self.keys.current_root(&self.topic)?;
        let roll = match self.segments.last() {
            None => true,
            Some(last) => {
                !last.writable
                    || last.length >= self.policy.segment_bytes
                    || (self.clock)().saturating_sub(last.created_ms.unwrap_or(u64::MAX))
                        >= self.roll_age().as_millis() as u64
                    || last.root_id() != current.id
            }
        };
        if roll {
            if let Some(last) = self.segments.last() {
                self.disk.sync(&last.file)?;
            }
            // Only the active segment is ever unsynced.
            self.durable_end_offset = self.log_end_offset;
            let segment = self.new_segment(self.log_end_offset)?;
            self.segments.push(segment);
        }
        Ok(())
    }

    fn write(&mut self, header: &BatchHeader, bytes: Bytes) -> Result<(), LogError> {
        assert_eq!(header.base_offset, self.log_end_offset, "batches must be contiguous");
        let segment = self.segments.last_mut().expect("prepare_segment made one");
        let (position, length) = segment.append(self.disk.as_ref(), self.keys.as_ref(), &bytes)?;
        let base = segment.base;
        if self.bugs.is_on(PlantedBug::PlaintextSegment) {
            // Planted: a staging copy of the batch, in clear, beside the segment.
            self.disk.append(&format!("{}/staging", self.directory), &bytes)?;
        }
        self.push_batch(header, bytes, base, position, length);
        Ok(())
    }

    /// Appends batches fetched from the leader (offsets already assigned); a group commit
    /// syncs them.
    pub fn append_as_follower(&mut self, records: Bytes) -> Result<usize, LogError> {
        let batches = batch::split_batches(records, true)?;
        if batches.first().is_none_or(|(header, _)| header.base_offset != self.log_end_offset) {
            return Ok(0);
        }
        self.prepare_segment()?;
        let mut appended = 0;
        for (header, bytes) in batches {
            if header.base_offset != self.log_end_offset {
                // A response for an older position (a retry raced a truncation): ignore the rest.
                break;
            }
            self.write(&header, bytes)?;
            appended += 1;
        }
        Ok(appended)
    }

    /// Removes every batch at or after `offset` (rounded down to a batch boundary) and syncs.
    /// Records below the high watermark were acknowledged: dropping them is a broken
    /// invariant (a panic), unless `unclean_recovery` says the leader was elected from outside
    /// the ISR (KIP-704), where it is the explicit, reported price of that election.
    pub(crate) fn truncate_to(&mut self, offset: i64, unclean_recovery: bool) -> Result<(), LogError> {
        // Below the log start there is nothing to cut.
        let offset = offset.max(self.log_start_offset);
        let keep = self.batches.partition_point(|batch| batch.last_offset < offset);
        if keep == self.batches.len() {
            return Ok(());
        }
        let cut = self.batches[keep].clone();
        self.cached_bytes -=
            self.batches[keep..].iter().filter_map(|b| b.bytes.as_ref()).map(Bytes::len).sum::<usize>();
        self.batches.truncate(keep);
        self.first_cached = self.first_cached.min(self.batches.len());
        self.log_end_offset = self.batches.last().map_or(self.log_start_offset, |batch| batch.last_offset + 1);
        self.epochs.retain(|&(_, start)| start < self.log_end_offset || start == 0 && self.log_end_offset == 0);
        if self.log_end_offset == 0 {
            self.epochs.clear();
        }
        if self.high_watermark > self.log_end_offset {
            assert!(unclean_recovery, "{INVARIANT_BROKEN}{}: truncated below the high watermark ({} -> log end {}): acknowledged records would be lost", self.directory, self.high_watermark, self.log_end_offset);
            tracing::error!(directory = %self.directory, high_watermark = self.high_watermark, log_end_offset = self.log_end_offset, "unclean leader recovery: dropped acknowledged records (KIP-704)");
            self.high_watermark = self.log_end_offset;
        }
        // Whole segments after the cut go; the one holding it is cut at the batch's frame.
        while self.segments.last().is_some_and(|s| s.base > cut.segment) {
            self.segments.pop().expect("checked").remove(self.disk.as_ref())?;
        }
        let frames_kept = self.batches.iter().filter(|b| b.segment == cut.segment).count() as u64;
        // The first segment of a log retention shortened stays, emptied: its base is the start.
        let keeps_start = self.segments.len() == 1 && self.log_start_offset > 0;
        let segment = self.segments.last_mut().expect("the cut batch's segment");
        if cut.file_position == 0 && !keeps_start {
            self.segments.pop().expect("checked").remove(self.disk.as_ref())?;
        } else {
            segment.truncate(self.disk.as_ref(), cut.file_position, frames_kept)?;
            // Planted: keep appending to the cut segment, counting on from the frames kept.
            segment.writable &= self.bugs.is_on(PlantedBug::NonceReuse);
        }
        // The cut segment was synced at its cut, the earlier ones when they rolled.
        self.durable_end_offset = self.log_end_offset;
        self.sync_generation += 1;
        self.rebuild_producers();
        Ok(())
    }

    fn rebuild_producers(&mut self) {
        self.producers.clear();
        for index in 0..self.batches.len() {
            let Ok(bytes) = self.batch_bytes(index) else { continue };
            if let Ok(header) = batch::parse_header(&bytes, false) {
                remember_producer(&mut self.producers, &header);
            }
        }
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

    /// The plaintext of batch `index`, if its key may be used now: from memory, or its frame
    /// read back and opened.
    fn batch_bytes(&mut self, index: usize) -> Result<Bytes, LogError> {
        let stored = &self.batches[index];
        let at = self.segments.partition_point(|s| s.base <= stored.segment) - 1;
        let segment = &mut self.segments[at];
        debug_assert_eq!(segment.base, stored.segment);
        self.keys.check(segment.root_id())?;
        if let Some(bytes) = &stored.bytes {
            return Ok(bytes.clone());
        }
        let (position, length) = (stored.file_position, stored.length);
        let plaintext =
            segment.read(self.disk.as_ref(), self.keys.as_ref(), position, length).inspect_err(|error| {
                tracing::error!(%error, "a batch read back from disk is not served");
            })?;
        Ok(Bytes::from(plaintext))
    }

    /// Batches from the one holding `offset` up to (not including) `upper_bound`, at most
    /// `max_bytes` but always at least one batch when there is one (KIP-74). Nothing at all
    /// when the key may not be used.
    pub fn read(&mut self, offset: i64, upper_bound: i64, max_bytes: usize) -> Result<Bytes, LogError> {
        let start = self.first_batch_ending_at_or_after(offset);
        let (mut end, mut total) = (start, 0);
        for batch in &self.batches[start..] {
            let plain_length = batch.bytes.as_ref().map_or(batch.length, Bytes::len);
            if batch.last_offset >= upper_bound || (total > 0 && total + plain_length > max_bytes) {
                break;
            }
            (end, total) = (end + 1, total + plain_length);
        }
        // One batch (a follower or consumer at the log's end) is shared, not copied.
        if end == start + 1 {
            return self.batch_bytes(start);
        }
        let mut out = bytes::BytesMut::with_capacity(total);
        for index in start..end {
            out.extend_from_slice(&self.batch_bytes(index)?);
        }
        Ok(out.freeze())
    }

    /// The index of the first batch whose last offset is at least `offset`. Readers are mostly
    /// near the log's end (followers, consumers keeping up), so the tail is looked at first.
    fn first_batch_ending_at_or_after(&self, offset: i64) -> usize {
        const TAIL: usize = 32;
        let tail = self.batches.len().saturating_sub(TAIL);
        match self.batches.get(tail) {
            Some(batch) if batch.last_offset < offset => {
                tail + self.batches[tail..].partition_point(|batch| batch.last_offset < offset)
            }
            _ => self.batches.partition_point(|batch| batch.last_offset < offset),
        }
    }

    /// The bytes of every batch below `upper_bound`, in order (rebuilding committed offsets).
    pub(crate) fn batches_below(&mut self, upper_bound: i64) -> Result<Vec<Bytes>, LogError> {
        let end = self.batches.partition_point(|b| b.last_offset < upper_bound);
        (0..end).map(|index| self.batch_bytes(index)).collect()
    }
}

/// Removes a partition's log from `disk`, key files first (crypto-shredding, C13): once they
/// are gone, whatever is left of the segments is ciphertext under keys nobody holds. Returns
/// how many files went.
pub fn shred(disk: &dyn Disk, directory: &str) -> std::io::Result<usize> {
    let files = disk.list(&format!("{directory}/"))?;
    for key_file in files.iter().filter(|f| f.ends_with(".key")) {
        disk.remove_prefix(key_file)?;
    }
    disk.remove_prefix(&format!("{directory}/"))?;
    Ok(files.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::FixedKeys;
    use crate::log::batch::encode;
    use crate::log::disk::MemoryDisk;

    fn keys() -> Arc<FixedKeys> {
        Arc::new(FixedKeys::default())
    }

    fn open_with(disk: &MemoryDisk, keys: &Arc<FixedKeys>, policy: SegmentPolicy, bugs: PlantedBugs) -> PartitionLog {
        PartitionLog::open(Arc::new(disk.clone()), keys.clone(), "t", "t-0", policy, bugs).unwrap()
    }

    fn open(disk: &MemoryDisk) -> PartitionLog {
        thread_local!(static KEYS: Arc<FixedKeys> = keys());
        KEYS.with(|keys| open_with(disk, keys, SegmentPolicy::default(), PlantedBugs::none()))
    }

    thread_local!(static NOW: std::cell::Cell<u64> = const { std::cell::Cell::new(1_000_000) });

    fn fake_now() -> u64 {
        NOW.with(|now| now.get())
    }

    fn advance(ms: u64) {
        NOW.with(|now| now.set(now.get() + ms));
    }

    fn open_retained(disk: &MemoryDisk, keys: &Arc<FixedKeys>, retention_ms: u64, bytes: Option<u64>) -> PartitionLog {
        let mut log = open_with(disk, keys, SegmentPolicy::default(), PlantedBugs::none());
        log.set_clock(fake_now);
        log.set_config(TopicConfig { retention_ms: Some(retention_ms), retention_bytes: bytes });
        log
    }

    fn append_acknowledged(log: &mut PartitionLog, value: &str) -> i64 {
        let AppendOutcome::Appended { base_offset, .. } = log.append_as_leader(encode(&[value], -1, -1), 1).unwrap()
        else {
            panic!("a new value")
        };
        log.set_high_watermark(log.log_end_offset());
        base_offset
    }

    proptest::proptest! {
        /// Retention never takes a record younger than `retention.ms`, always takes one older
        /// than `retention.ms` plus the roll age (a tenth of it), never moves the log's end,
        /// and a restart finds the same start and end.
        #[test]
        fn retention_keeps_what_is_young_and_drops_what_is_old(
            retention_s in 60u64..600,
            gaps_ms in proptest::collection::vec(0u64..90_000, 1..60),
        ) {
            let (disk, keys) = (MemoryDisk::new(), keys());
            let retention_ms = retention_s * 1000;
            let mut log = open_retained(&disk, &keys, retention_ms, None);
            let mut appended: Vec<(i64, u64)> = Vec::new();
            for gap in gaps_ms {
                advance(gap);
                let offset = append_acknowledged(&mut log, "v");
                appended.push((offset, fake_now()));
                let end = log.log_end_offset();
                log.apply_retention().unwrap();
                proptest::prop_assert_eq!(log.log_end_offset(), end);
                let start = log.log_start_offset();
                for &(offset, at) in &appended {
                    let age = fake_now() - at;
                    if age < retention_ms {
                        proptest::prop_assert!(offset >= start, "offset {} ({} ms old) went with retention {}", offset, age, retention_ms);
                    }
                    if age > retention_ms + retention_ms / 10 && offset + 1 < end {
                        proptest::prop_assert!(offset < start, "offset {} ({} ms old) outlived retention {}", offset, age, retention_ms);
                    }
                }
                let read = log.read(start, end, usize::MAX).unwrap();
                proptest::prop_assert_eq!(crate::log::batch::split_batches(read, true).unwrap().len() as i64, end - start);
            }
            let reopened = open_retained(&disk, &keys, retention_ms, None);
            proptest::prop_assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (log.log_start_offset(), log.log_end_offset()));
        }
    }

    #[test]
    fn an_expired_active_segment_leaves_an_empty_one_that_keeps_the_end_across_a_restart() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let mut log = open_retained(&disk, &keys, 60_000, None);
        for value in ["a", "b", "c"] {
            append_acknowledged(&mut log, value);
        }
        advance(60_000 + 6_000 + 1);
        assert_eq!(log.apply_retention().unwrap(), 1);
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (3, 3));
        let mut reopened = open_retained(&disk, &keys, 60_000, None);
        assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (3, 3));
        assert_eq!(append_acknowledged(&mut reopened, "d"), 3, "offsets go on, never from 0 again");
        // Nothing is left to expire but the empty segment, which holds nothing: no churn.
        assert_eq!(reopened.apply_retention().unwrap(), 1);
        assert_eq!(reopened.apply_retention().unwrap(), 0);
    }

    #[test]
    fn size_retention_keeps_the_newest_segments_under_the_limit_and_never_unacknowledged_ones() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let mut log = open_retained(&disk, &keys, 86_400_000, Some(1));
        for value in ["a", "b", "c"] {
            append_acknowledged(&mut log, value);
            advance(8_640_001); // past the roll age: one segment per value
        }
        log.append_as_leader(encode(&["d"], -1, -1), 1).unwrap(); // not acknowledged yet
        assert_eq!(log.segment_count(), 4);
        assert_eq!(log.apply_retention().unwrap(), 3, "down to the active segment");
        assert_eq!(log.log_start_offset(), 3);
        assert!(matches!(log.read(0, 4, usize::MAX), Ok(bytes) if !bytes.is_empty()), "reads from the start go on");
    }

    #[test]
    fn after_retention_an_older_epoch_ends_at_the_log_start_and_truncation_stops_there() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let mut log = open_retained(&disk, &keys, 60_000, None);
        append_acknowledged(&mut log, "a");
        log.begin_epoch(3);
        advance(6_001);
        log.append_as_leader(encode(&["b"], -1, -1), 3).unwrap();
        log.set_high_watermark(log.log_end_offset());
        advance(60_001);
        assert_eq!(log.apply_retention().unwrap(), 1);
        assert_eq!(log.log_start_offset(), 1);
        // Epoch 1 is gone with its segment: it ended, at most, where the log starts now.
        assert_eq!(log.end_offset_for_epoch(1), (1, 1));
        assert_eq!(log.end_offset_for_epoch(3), (3, 2));
        // Unclean: everything kept goes, the start stays, and survives a restart.
        log.truncate_to(0, true).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (1, 1));
        let reopened = open_retained(&disk, &keys, 60_000, None);
        assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (1, 1));
    }

    #[test]
    fn a_follower_behind_the_leaders_log_start_starts_again_there() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let mut log = open_retained(&disk, &keys, 60_000, None);
        append_acknowledged(&mut log, "a");
        log.restart_at(10).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (10, 10));
        let reopened = open_retained(&disk, &keys, 60_000, None);
        assert_eq!((reopened.log_start_offset(), reopened.log_end_offset()), (10, 10));
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
        log.sync().unwrap();
        // A write that reached the page cache but not the platter: a torn tail.
        disk.append("t-0/00000000000000000000.log", &encode(&["b"], -1, -1)[..20]).unwrap();
        disk.power_loss();
        let recovered = open(&disk);
        assert_eq!(recovered.log_end_offset(), 1);
    }

    #[test]
    fn appends_are_durable_only_once_a_sync_covers_them() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a", "b"], -1, -1), 1).unwrap();
        assert_eq!((log.log_end_offset(), log.durable_end_offset()), (2, 0));
        let pending = log.unsynced().expect("two unsynced records");
        pending.sync().unwrap();
        // More arrive before the sync is handed back: they stay pending.
        log.append_as_leader(encode(&["c"], -1, -1), 1).unwrap();
        log.synced(&pending);
        assert_eq!(log.durable_end_offset(), 2);
        disk.power_loss();
        assert_eq!(open(&disk).log_end_offset(), 2, "the unsynced record is gone, the synced ones stay");
    }

    #[test]
    fn a_sync_captured_before_a_truncation_does_not_count_after_it() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a"], -1, -1), 1).unwrap();
        log.sync().unwrap();
        log.append_as_leader(encode(&["b", "c"], -1, -1), 1).unwrap();
        let pending = log.unsynced().unwrap();
        log.truncate_to(1, false).unwrap();
        log.append_as_leader(encode(&["x", "y"], -1, -1), 2).unwrap();
        pending.sync().unwrap();
        log.synced(&pending);
        assert_eq!(log.durable_end_offset(), 1, "offsets 1..3 now hold other records");
        assert!(log.unsynced().is_some());
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
        let first = batch::decode_values(log.read(0, 1, 1).unwrap()).unwrap();
        assert_eq!(first[0].1.as_deref(), Some(big.as_bytes()));
        assert_eq!(log.batches_below(20).unwrap().len(), 20);
    }

    #[test]
    fn reads_stop_at_the_bound() {
        let disk = MemoryDisk::new();
        let mut log = open(&disk);
        log.append_as_leader(encode(&["a"], -1, -1), 1).unwrap();
        log.append_as_leader(encode(&["b"], -1, -1), 1).unwrap();
        assert_eq!(batch::split_batches(log.read(0, 1, 1 << 20).unwrap(), true).unwrap().len(), 1);
        assert_eq!(batch::split_batches(log.read(0, 2, 1).unwrap(), true).unwrap().len(), 1, "at least one batch");
        assert_eq!(batch::split_batches(log.read(1, 2, 1 << 20).unwrap(), true).unwrap().len(), 1);
    }

    #[test]
    fn segments_roll_by_size_and_after_recovery_and_truncation() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let policy = SegmentPolicy { segment_bytes: 300, segment_age: Duration::from_secs(3600) };
        let mut log = open_with(&disk, &keys, policy, PlantedBugs::none());
        for i in 0..10 {
            log.append_as_leader(encode(&[&format!("record-{i}-{}", "x".repeat(100))], -1, -1), 1).unwrap();
        }
        let rolled = log.segment_count();
        assert!(rolled >= 4, "about two batches per 300-byte segment, got {rolled} segments");
        // A restart never appends to a segment it did not create.
        let mut log = open_with(&disk, &keys, policy, PlantedBugs::none());
        assert_eq!(log.log_end_offset(), 10);
        log.append_as_leader(encode(&["after restart"], -1, -1), 1).unwrap();
        assert_eq!(log.segment_count(), rolled + 1);
        // Nor after a truncation: the cut segment stays read-only.
        log.truncate_to(9, false).unwrap();
        log.append_as_leader(encode(&["after truncation"], -1, -1), 2).unwrap();
        let values: Vec<_> = batch::decode_values(log.read(0, 100, usize::MAX).unwrap()).unwrap();
        assert_eq!(values.len(), 10);
        assert_eq!(values[9].1.as_deref(), Some(&b"after truncation"[..]));
        let reopened = open_with(&disk, &keys, policy, PlantedBugs::none());
        assert_eq!(reopened.log_end_offset(), 10);
    }

    #[test]
    fn nothing_on_disk_is_in_clear_and_a_revoked_key_serves_nothing() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let mut log = open_with(&disk, &keys, SegmentPolicy::default(), PlantedBugs::none());
        log.append_as_leader(encode(&["canary-5bd1e9"], -1, -1), 1).unwrap();
        for file in disk.list("").unwrap() {
            let bytes = disk.read(&file).unwrap().unwrap();
            assert!(!bytes.windows(13).any(|w| w == b"canary-5bd1e9"), "{file} holds the canary in clear");
        }
        keys.revoked.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(matches!(log.read(0, 1, usize::MAX), Err(LogError::KeyUnavailable(_))), "not even from memory");
        assert!(matches!(log.append_as_leader(encode(&["more"], -1, -1), 1), Err(LogError::KeyUnavailable(_))));
        keys.revoked.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(batch::decode_values(log.read(0, 1, usize::MAX).unwrap()).unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_frame_is_detected_and_never_served() {
        let (disk, keys) = (MemoryDisk::new(), keys());
        let policy = SegmentPolicy { segment_bytes: 1, segment_age: Duration::from_secs(3600) };
        let mut log = open_with(&disk, &keys, policy, PlantedBugs::none());
        for value in ["a", "b", "c"] {
            log.append_as_leader(encode(&[value], -1, -1), 1).unwrap();
        }
        // A flipped bit in the middle segment's frame: that segment and the ones after go (the
        // replica fetches them again), what precedes it stays.
        let middle = segment::log_file("t-0", 1);
        let mut bytes = disk.read(&middle).unwrap().unwrap();
        bytes[30] ^= 1;
        disk.replace_durably(&middle, &bytes).unwrap();
        let mut recovered = open_with(&disk, &keys, policy, PlantedBugs::none());
        assert_eq!(recovered.log_end_offset(), 1);
        assert_eq!(batch::decode_values(recovered.read(0, 10, usize::MAX).unwrap()).unwrap().len(), 1);
        assert!(disk.read(&segment::log_file("t-0", 2)).unwrap().is_none());
    }

    proptest::proptest! {
        // Whatever the sizes, rolls and truncations: every batch reads back as written, from
        // memory and from disk, and after a reopen.
        #[test]
        fn batches_read_back_across_segments(
            sizes in proptest::collection::vec(1usize..400, 1..40),
            segment_bytes in 100u64..2000,
            cut in proptest::option::of(0usize..40),
        ) {
            let (disk, keys) = (MemoryDisk::new(), keys());
            let policy = SegmentPolicy { segment_bytes, segment_age: Duration::from_secs(3600) };
            let mut log = open_with(&disk, &keys, policy, PlantedBugs::none());
            let mut written: Vec<String> = Vec::new();
            for (i, size) in sizes.iter().enumerate() {
                let value = format!("{i}:{}", "v".repeat(*size));
                log.append_as_leader(encode(&[value.as_str()], -1, -1), 1).unwrap();
                written.push(value);
            }
            if let Some(cut) = cut.filter(|c| *c < written.len()) {
                log.truncate_to(cut as i64, false).unwrap();
                written.truncate(cut);
                log.append_as_leader(encode(&["tail"], -1, -1), 1).unwrap();
                written.push("tail".into());
            }
            let expect: Vec<Option<Vec<u8>>> = written.iter().map(|v| Some(v.clone().into_bytes())).collect();
            let read = |log: &mut PartitionLog| -> Vec<Option<Vec<u8>>> {
                batch::decode_values(log.read(0, i64::MAX, usize::MAX).unwrap()).unwrap().into_iter().map(|(_, v)| v.map(|b| b.to_vec())).collect()
            };
            proptest::prop_assert_eq!(read(&mut log), expect.clone());
            let mut reopened = open_with(&disk, &keys, policy, PlantedBugs::none());
            proptest::prop_assert_eq!(read(&mut reopened), expect);
        }
    }
}
