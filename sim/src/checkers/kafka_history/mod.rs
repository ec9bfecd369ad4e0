//! Safety checker for the Kafka workload, modelled on Jepsen's
//! `jepsen.tests.kafka` checker.
//!
//! [`check`] reads a [`History`] and reports every [`Violation`] it can prove,
//! plus counts, per-phase availability and latency percentiles.
//!
//! # Model
//!
//! **Observation.** An *observation* is a triple `(partition, offset, value)`
//! with a time: every `Send` whose outcome is `Acked { offset }` observes
//! `(partition, offset, value)` at the send's `end_ms`, and every record of a
//! `Poll` with outcome `Ok` observes its triple at the poll's `end_ms`.
//! Failed polls, failed/indeterminate sends, assigns and commits observe
//! nothing.
//!
//! **Version order.** For each partition, the version order is the map
//! `offset -> set of values` of all observations in that partition. In a
//! correct run every offset holds at most one value and every value sits at
//! exactly one `(partition, offset)`.
//!
//! **Send status of a value.** Values are unique per run; if the workload
//! nevertheless sends a value more than once (a retry), its status is the
//! best outcome of those sends: `Acked` beats `Indeterminate` beats `Failed`.
//! Its *target partition* is the partition of its first send.
//!
//! **Evidence time.** Each violation carries `at_ms`: the simulated time at
//! which the last observation needed to prove it completed (the `end_ms` of
//! an op). When the same observation is made several times, the earliest is
//! used.
//!
//! # Violation kinds
//!
//! See [`ViolationKind`] for the precise definition of each.
//!
//! # Cost
//!
//! `O(n log n)` in the number of observations: one pass builds the version
//! order (`BTreeMap` per partition, `HashMap` per value), a second pass
//! replays the consumers; no quadratic step.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::availability::{self, Availability, Latency, Outages};
use crate::history::{
    CommitOutcome, History, OpKind, Phases, PollOutcome, ProcessId, SendOutcome, TopicPartition, WriteValue,
};

/// The kinds of anomaly [`check`] reports. Serialized as kebab-case strings
/// (`"lost-acked-write"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// An `Acked` write `v` at offset `o` of partition `p` is lost when the
    /// log is known to have moved past it and it was overwritten or vanished:
    /// * *moved past*: some poll returned an offset `> o` in `p`, or some poll
    ///   returned offset `o` of `p` holding a value other than `v`;
    /// * *vanished*: no poll ever returned `v` (at any position); or
    ///   *overwritten*: some poll returned a value other than `v` at `(p, o)`
    ///   (this is also an [`InconsistentOffset`](Self::InconsistentOffset)).
    ///
    /// `at_ms` = max(ack time, earliest poll proving the log moved past `o`).
    LostAckedWrite,
    /// One value observed at two or more distinct `(partition, offset)`
    /// positions (acked or polled). One violation per value; `partition` is
    /// the partition of the earliest position, `at_ms` the time the second
    /// position was first observed.
    Duplicate,
    /// Either (a) two or more distinct values observed at the same
    /// `(partition, offset)` — one violation per offset, `at_ms` = time the
    /// second value was first observed; or (b) a poll returned value `v` from
    /// a partition other than `v`'s target partition — one violation per such
    /// position, `at_ms` = that poll.
    InconsistentOffset,
    /// For one producer process and one partition, two `Acked` sends `A`, `B`
    /// with `A.end_ms < B.start_ms` (A completed strictly before B was
    /// invoked) but `A.offset > B.offset`. One violation per such `B` (paired
    /// with the highest-offset such `A`); `at_ms` = `B.end_ms`. Concurrent
    /// (overlapping) sends are never compared.
    Reorder,
    /// For one consumer process and one partition, consecutive records
    /// (within a poll, or across its successive `Ok` polls) with no `Assign`
    /// by that process in between: it read offset `o` and then `o' > o + 1`
    /// while the version order holds a value at some offset in `(o, o')`.
    /// Gaps at offsets nobody ever observed (transaction markers,
    /// compaction) are not skips. `at_ms` = the poll that read `o'`.
    PollSkip,
    /// For one consumer process and one partition, with no `Assign` by that
    /// process in between, a record whose offset is `<=` the offset of the
    /// record it read before (within a poll or across polls). `at_ms` = the
    /// poll that returned it.
    NonmonotonicPoll,
    /// For one group and partition, a successful commit (outcome `Ok`) whose
    /// offset is lower than the highest offset successfully committed earlier
    /// in completion order for that group and partition (from any process).
    /// Failed commits are ignored. `at_ms` = the lower commit's `end_ms`.
    CommittedOffsetRegression,
    /// An `Acked` value that no poll returned by the end of the history and
    /// that is not already a [`LostAckedWrite`](Self::LostAckedWrite).
    /// `at_ms` = the last `end_ms` of the history. The harness should treat it
    /// as a failure only after its convergence phase (final drain).
    UnseenAckedWrite,
    /// A poll returned a value whose every send ended `Failed` (definitely
    /// not written). One violation per value; `at_ms` = the first such poll.
    PhantomWrite,
}

impl ViolationKind {
    /// Every kind, in `Ord` order.
    pub const ALL: [ViolationKind; 9] = [
        ViolationKind::LostAckedWrite,
        ViolationKind::Duplicate,
        ViolationKind::InconsistentOffset,
        ViolationKind::Reorder,
        ViolationKind::PollSkip,
        ViolationKind::NonmonotonicPoll,
        ViolationKind::CommittedOffsetRegression,
        ViolationKind::UnseenAckedWrite,
        ViolationKind::PhantomWrite,
    ];

    /// The kebab-case name used in serialized reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::LostAckedWrite => "lost-acked-write",
            ViolationKind::Duplicate => "duplicate",
            ViolationKind::InconsistentOffset => "inconsistent-offset",
            ViolationKind::Reorder => "reorder",
            ViolationKind::PollSkip => "poll-skip",
            ViolationKind::NonmonotonicPoll => "nonmonotonic-poll",
            ViolationKind::CommittedOffsetRegression => "committed-offset-regression",
            ViolationKind::UnseenAckedWrite => "unseen-acked-write",
            ViolationKind::PhantomWrite => "phantom-write",
        }
    }
}

impl std::fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One proven anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub partition: Option<TopicPartition>,
    pub detail: String,
    /// Simulated time the evidence completed.
    pub at_ms: u64,
}

/// The result of [`check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Sorted by `(at_ms, kind, partition, detail)`; deterministic.
    pub violations: Vec<Violation>,
    /// Every kind, 0 when clean.
    pub counts: BTreeMap<ViolationKind, u64>,
    pub acked_writes: u64,
    pub failed_writes: u64,
    pub indeterminate_writes: u64,
    /// Records returned by `Ok` polls (re-reads counted each time).
    pub polled_records: u64,
    pub availability: Availability,
    pub latency_ms: Latency,
    /// Unavailability in simulated time (see `checkers::availability`).
    pub outages: Outages,
}

impl CheckReport {
    /// Number of violations of `kind`.
    pub fn count(&self, kind: ViolationKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Total violations, leaving out [`ViolationKind::UnseenAckedWrite`]
    /// unless `include_unseen` (set it after the convergence phase).
    pub fn failures(&self, include_unseen: bool) -> u64 {
        self.counts
            .iter()
            .filter(|(k, _)| include_unseen || **k != ViolationKind::UnseenAckedWrite)
            .map(|(_, n)| n)
            .sum()
    }

    /// No violation of any kind.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

/// FxHash: fast and deterministic (no per-process seed); the inputs are not attacker-controlled.
type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Up to one element inline (the common case: one value per offset, one position per value),
/// so that an entry costs no allocation.
type Few<T> = smallvec::SmallVec<[T; 1]>;

/// One value observed at one offset.
struct ValObs {
    value: WriteValue,
    /// Earliest observation (ack or poll).
    first_at: u64,
    /// Earliest ack at this offset.
    ack_at: Option<u64>,
    /// Earliest poll returning it at this offset.
    poll_at: Option<u64>,
}

/// Values observed at one offset (normally exactly one).
#[derive(Default)]
struct Slot {
    obs: Few<ValObs>,
}

struct PartState {
    tp: TopicPartition,
    slots: BTreeMap<i64, Slot>,
    /// The end of the longest log any disk held after the run, and when that was looked at.
    surveyed: Option<(i64, u64)>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SendStatus {
    Failed,
    Indeterminate,
    Acked,
}

#[derive(Default)]
struct ValueInfo {
    /// Best status over all sends of the value, and its first target partition.
    send: Option<(SendStatus, u32)>,
    /// Distinct positions `(partition, offset)` with earliest time and
    /// whether a poll (not only an ack) observed it there.
    positions: Few<(u32, i64, u64, bool)>,
    first_polled_at: Option<u64>,
    lost: bool,
}

/// An acked send, for the reorder check.
struct AckedSend {
    start: u64,
    end: u64,
    offset: i64,
    value: WriteValue,
}

#[derive(Default)]
struct State {
    part_ids: FxMap<TopicPartition, u32>,
    /// The last partition interned: records of one poll usually share it.
    last_part: Option<u32>,
    parts: Vec<PartState>,
    values: FxMap<WriteValue, ValueInfo>,
    violations: Vec<Violation>,
}

impl State {
    fn intern(&mut self, tp: &TopicPartition) -> u32 {
        if let Some(id) = self.last_part {
            if self.parts[id as usize].tp == *tp {
                return id;
            }
        }
        let id = self.lookup_or_insert(tp);
        self.last_part = Some(id);
        id
    }

    fn lookup_or_insert(&mut self, tp: &TopicPartition) -> u32 {
        if let Some(&id) = self.part_ids.get(tp) {
            return id;
        }
        let id = self.parts.len() as u32;
        self.part_ids.insert(tp.clone(), id);
        self.parts.push(PartState { tp: tp.clone(), slots: BTreeMap::new(), surveyed: None });
        id
    }

    fn observe(&mut self, part: u32, offset: i64, value: WriteValue, at: u64, is_ack: bool) {
        let slot = self.parts[part as usize].slots.entry(offset).or_default();
        let idx = match slot.obs.as_slice().iter().position(|o| o.value == value) {
            Some(i) => {
                let o = &mut slot.obs.as_mut_slice()[i];
                o.first_at = o.first_at.min(at);
                i
            }
            None => {
                slot.obs.push(ValObs { value, first_at: at, ack_at: None, poll_at: None });
                slot.obs.as_slice().len() - 1
            }
        };
        let o = &mut slot.obs.as_mut_slice()[idx];
        if is_ack {
            o.ack_at = min_opt(o.ack_at, Some(at));
        } else {
            o.poll_at = min_opt(o.poll_at, Some(at));
        }

        let info = self.values.entry(value).or_default();
        match info.positions.as_mut_slice().iter_mut().find(|p| p.0 == part && p.1 == offset) {
            Some(p) => {
                p.2 = p.2.min(at);
                p.3 |= !is_ack;
            }
            None => info.positions.push((part, offset, at, !is_ack)),
        }
        if !is_ack {
            info.first_polled_at = min_opt(info.first_polled_at, Some(at));
        }
    }

    fn record_send(&mut self, value: WriteValue, part: u32, status: SendStatus) {
        let info = self.values.entry(value).or_default();
        info.send = Some(match info.send {
            None => (status, part),
            Some((s, p)) => (s.max(status), p),
        });
    }

    fn push(&mut self, kind: ViolationKind, part: Option<u32>, at_ms: u64, detail: String) {
        let partition = part.map(|p| self.parts[p as usize].tp.clone());
        self.violations.push(Violation { kind, partition, detail, at_ms });
    }
}

/// Checks a history; see the module documentation and [`ViolationKind`] for
/// the exact definitions. Deterministic: the same history always yields the
/// same report.
pub fn check(history: &History, phases: &Phases) -> CheckReport {
    let mut st = State::default();
    let mut report_counts = (0u64, 0u64, 0u64, 0u64); // acked, failed, indeterminate, polled
    let mut acked_sends: FxMap<(ProcessId, u32), Vec<AckedSend>> = FxMap::default();
    let mut group_ids: FxMap<&str, u32> = FxMap::default();
    // (group, partition) -> (highest committed offset, its commit end_ms, process)
    let mut commits: FxMap<(u32, u32), (i64, u64, ProcessId)> = FxMap::default();
    let history_end = history.end_ms();

    // Pass 1: build the version order and commits.
    for op in &history.ops {
        match &op.kind {
            OpKind::Send { partition, value, outcome } => {
                let part = st.intern(partition);
                match outcome {
                    SendOutcome::Acked { offset } => {
                        report_counts.0 += 1;
                        st.record_send(*value, part, SendStatus::Acked);
                        st.observe(part, *offset, *value, op.end_ms, true);
                        acked_sends.entry((op.process, part)).or_default().push(AckedSend {
                            start: op.start_ms,
                            end: op.end_ms,
                            offset: *offset,
                            value: *value,
                        });
                    }
                    SendOutcome::Failed { .. } => {
                        report_counts.1 += 1;
                        st.record_send(*value, part, SendStatus::Failed);
                    }
                    SendOutcome::Indeterminate { .. } => {
                        report_counts.2 += 1;
                        st.record_send(*value, part, SendStatus::Indeterminate);
                    }
                }
            }
            OpKind::Poll { outcome, .. } => match outcome {
                PollOutcome::Ok { records } => {
                    report_counts.3 += records.len() as u64;
                    for (tp, offset, value) in records {
                        let part = st.intern(tp);
                        st.observe(part, *offset, *value, op.end_ms, false);
                    }
                }
                PollOutcome::Failed { .. } => {}
            },
            OpKind::Assign { .. } => {}
            OpKind::Survey { partition, log_end_offset } => {
                let part = st.intern(partition);
                st.parts[part as usize].surveyed = Some((*log_end_offset, op.end_ms));
            }
            OpKind::Commit { group, partition, offset, outcome } => {
                if *outcome != CommitOutcome::Ok {
                    continue;
                }
                let part = st.intern(partition);
                let next_gid = group_ids.len() as u32;
                let gid = *group_ids.entry(group.as_str()).or_insert(next_gid);
                match commits.get_mut(&(gid, part)) {
                    Some(best) if *offset < best.0 => {
                        let detail = format!(
                            "group {group:?}: process {} committed {offset} after process {} had committed {} (at {} ms)",
                            op.process, best.2, best.0, best.1
                        );
                        st.push(ViolationKind::CommittedOffsetRegression, Some(part), op.end_ms, detail);
                    }
                    Some(best) => *best = (*offset, op.end_ms, op.process),
                    None => {
                        commits.insert((gid, part), (*offset, op.end_ms, op.process));
                    }
                }
            }
        }
    }

    check_offsets(&mut st);
    check_values(&mut st, history_end);
    check_reorder(&mut st, acked_sends);
    check_consumers(&mut st, history);

    let (availability, latency_ms) = availability::measure(history, phases);
    let mut violations = std::mem::take(&mut st.violations);
    violations
        .sort_by(|a, b| (a.at_ms, a.kind, &a.partition, &a.detail).cmp(&(b.at_ms, b.kind, &b.partition, &b.detail)));
    let mut counts: BTreeMap<ViolationKind, u64> = ViolationKind::ALL.iter().map(|k| (*k, 0)).collect();
    for v in &violations {
        *counts.entry(v.kind).or_insert(0) += 1;
    }

    CheckReport {
        violations,
        counts,
        acked_writes: report_counts.0,
        failed_writes: report_counts.1,
        indeterminate_writes: report_counts.2,
        polled_records: report_counts.3,
        availability,
        latency_ms,
        outages: availability::outages(history, phases),
    }
}

/// InconsistentOffset (a) and LostAckedWrite, walking each partition's
/// version order from the highest offset down.
fn check_offsets(st: &mut State) {
    let mut found: Vec<(ViolationKind, u32, u64, String)> = Vec::new();
    let mut lost: Vec<WriteValue> = Vec::new();
    for (pid, ps) in st.parts.iter().enumerate() {
        let pid = pid as u32;
        // Earliest time any poll returned an offset strictly above the current one.
        let mut passed_at: Option<u64> = None;
        for (&offset, slot) in ps.slots.iter().rev() {
            if slot.obs.len() > 1 {
                let mut firsts: Vec<(u64, WriteValue)> = slot.obs.iter().map(|o| (o.first_at, o.value)).collect();
                firsts.sort_unstable();
                let mut vals: Vec<WriteValue> = firsts.iter().map(|f| f.1).collect();
                vals.sort_unstable();
                found.push((
                    ViolationKind::InconsistentOffset,
                    pid,
                    firsts[1].0,
                    format!("offset {offset} holds {} values: {vals:?}", vals.len()),
                ));
            }
            for (i, a) in slot.obs.iter().enumerate() {
                let Some(ack_at) = a.ack_at else { continue };
                let other_polled =
                    slot.obs.iter().enumerate().filter(|(j, _)| *j != i).fold(None, |m, (_, b)| min_opt(m, b.poll_at));
                let seen = st.values.get(&a.value).and_then(|v| v.first_polled_at).is_some();
                let off_every_disk = ps
                    .surveyed
                    .filter(|(log_end, surveyed_at)| offset >= *log_end && ack_at <= *surveyed_at)
                    .map(|(_, at)| (at, "is on no broker's disk: no log of its partition holds it"));
                let evidence = if !seen {
                    min_opt(passed_at, other_polled)
                        .map(|e| (e, "was never read although a consumer read past it"))
                        .or(off_every_disk)
                } else {
                    other_polled.map(|e| (e, "was overwritten: a consumer read another value there")).or(off_every_disk)
                };
                if let Some((e, why)) = evidence {
                    lost.push(a.value);
                    found.push((
                        ViolationKind::LostAckedWrite,
                        pid,
                        ack_at.max(e),
                        format!("value {} acked at offset {offset} {why}", a.value),
                    ));
                }
            }
            let slot_polled = slot.obs.iter().fold(None, |m, o| min_opt(m, o.poll_at));
            passed_at = min_opt(passed_at, slot_polled);
        }
    }
    for v in lost {
        if let Some(info) = st.values.get_mut(&v) {
            info.lost = true;
        }
    }
    for (kind, pid, at, detail) in found {
        st.push(kind, Some(pid), at, detail);
    }
}

/// Duplicate, InconsistentOffset (b), UnseenAckedWrite, PhantomWrite.
fn check_values(st: &mut State, history_end: u64) {
    let mut found: Vec<(ViolationKind, Option<u32>, u64, String)> = Vec::new();
    for (&value, info) in &st.values {
        if info.positions.len() > 1 {
            let mut pos: Vec<(u64, u32, i64)> = info.positions.iter().map(|p| (p.2, p.0, p.1)).collect();
            pos.sort_unstable();
            let mut listed = String::new();
            for (k, (_, p, o)) in pos.iter().take(8).enumerate() {
                let sep = if k == 0 { "" } else { ", " };
                let _ = write!(listed, "{sep}{}@{o}", st.parts[*p as usize].tp);
            }
            if pos.len() > 8 {
                let _ = write!(listed, ", ... ({} positions)", pos.len());
            }
            found.push((
                ViolationKind::Duplicate,
                Some(pos[0].1),
                pos[1].0,
                format!("value {value} at {} positions: {listed}", pos.len()),
            ));
        }
        if let Some((status, target)) = info.send {
            for &(p, o, at, polled) in info.positions.iter() {
                if polled && p != target {
                    found.push((
                        ViolationKind::InconsistentOffset,
                        Some(p),
                        at,
                        format!(
                            "value {value} sent to {} was read from {}@{o}",
                            st.parts[target as usize].tp, st.parts[p as usize].tp
                        ),
                    ));
                }
            }
            match (status, info.first_polled_at) {
                (SendStatus::Acked, None) if !info.lost => {
                    let offs: Vec<i64> = info.positions.iter().map(|p| p.1).collect();
                    found.push((
                        ViolationKind::UnseenAckedWrite,
                        Some(target),
                        history_end,
                        format!("value {value} acked at offset {offs:?} was never read"),
                    ));
                }
                (SendStatus::Failed, Some(at)) => {
                    found.push((
                        ViolationKind::PhantomWrite,
                        Some(target),
                        at,
                        format!("value {value} was read although its send failed definitively"),
                    ));
                }
                _ => {}
            }
        }
    }
    for (kind, part, at, detail) in found {
        st.push(kind, part, at, detail);
    }
}

/// Reorder: per producer and partition, sweep sends by invocation time while
/// adding, in completion order, every send that completed strictly earlier.
fn check_reorder(st: &mut State, acked_sends: FxMap<(ProcessId, u32), Vec<AckedSend>>) {
    for ((process, part), sends) in acked_sends {
        let mut by_end: Vec<usize> = (0..sends.len()).collect();
        by_end.sort_by_key(|&i| (sends[i].end, sends[i].offset));
        let mut by_start: Vec<usize> = (0..sends.len()).collect();
        by_start.sort_by_key(|&i| (sends[i].start, sends[i].offset));
        let mut next = 0;
        let mut highest: Option<usize> = None; // completed send with the highest offset
        for &b in &by_start {
            let bs = &sends[b];
            while next < by_end.len() && sends[by_end[next]].end < bs.start {
                let a = by_end[next];
                if highest.is_none_or(|h| sends[a].offset > sends[h].offset) {
                    highest = Some(a);
                }
                next += 1;
            }
            if let Some(h) = highest {
                let a = &sends[h];
                if a.offset > bs.offset {
                    let detail = format!(
                        "process {process}: value {} acked at offset {} ({}..{} ms) before value {} was sent ({}..{} ms) and acked at lower offset {}",
                        a.value, a.offset, a.start, a.end, bs.value, bs.start, bs.end, bs.offset
                    );
                    st.push(ViolationKind::Reorder, Some(part), bs.end, detail);
                }
            }
        }
    }
}

/// PollSkip and NonmonotonicPoll: replay each consumer's reads.
fn check_consumers(st: &mut State, history: &History) {
    // process -> partition -> last offset read since its last Assign
    let mut last: FxMap<ProcessId, FxMap<u32, i64>> = FxMap::default();
    let mut found: Vec<(ViolationKind, u32, u64, String)> = Vec::new();
    for op in &history.ops {
        match &op.kind {
            OpKind::Assign { .. } => {
                if let Some(m) = last.get_mut(&op.process) {
                    m.clear();
                }
            }
            OpKind::Poll { outcome: PollOutcome::Ok { records }, .. } => {
                let positions = last.entry(op.process).or_default();
                for (tp, offset, value) in records {
                    let part = st.intern(tp);
                    let offset = *offset;
                    if let Some(prev) = positions.insert(part, offset) {
                        if offset <= prev {
                            found.push((
                                ViolationKind::NonmonotonicPoll,
                                part,
                                op.end_ms,
                                format!(
                                    "process {}: read offset {offset} (value {value}) after offset {prev}",
                                    op.process
                                ),
                            ));
                        } else if offset > prev + 1 {
                            let slots = &st.parts[part as usize].slots;
                            if let Some((skipped, slot)) = slots.range(prev + 1..offset).next() {
                                let known = slots.range(prev + 1..offset).count();
                                found.push((
                                    ViolationKind::PollSkip,
                                    part,
                                    op.end_ms,
                                    format!(
                                        "process {}: read offset {prev} then {offset}, skipping {known} known offset(s) starting at {skipped} (value {})",
                                        op.process, slot.obs[0].value
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (kind, part, at, detail) in found {
        st.push(kind, Some(part), at, detail);
    }
}

#[cfg(test)]
mod tests;
