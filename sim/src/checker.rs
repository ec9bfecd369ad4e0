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

use crate::history::{
    CommitOutcome, History, OpKind, Phase, Phases, PollOutcome, ProcessId, SendOutcome, TopicPartition, WriteValue,
};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

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

/// Success ratio per phase; `None` when the phase had no such operation.
/// Operations are assigned to a phase by their `start_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseRatios {
    pub before: Option<f64>,
    pub during: Option<f64>,
    pub after: Option<f64>,
}

/// `produce`: `Acked` sends / all sends (indeterminate counts as failure).
/// `poll`: `Ok` polls (empty or not) / all polls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub produce: PhaseRatios,
    pub poll: PhaseRatios,
}

/// Latency percentiles in simulated ms (hdrhistogram, 3 significant digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// `produce`: `Acked` sends; `poll`: `Ok` polls. `None` without samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    pub produce: Option<LatencySummary>,
    pub poll: Option<LatencySummary>,
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

/// A small, fast, deterministic hasher (FxHash) for the checker's internal
/// maps; the inputs are not attacker-controlled.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u64(i as u32 as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A vector that stores up to one element inline (the common case: one value
/// per offset, one position per value), to avoid an allocation per entry.
#[derive(Default)]
enum Few<T> {
    #[default]
    Empty,
    One(T),
    Many(Vec<T>),
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> Few<T> {
    fn as_slice(&self) -> &[T] {
        match self {
            Few::Empty => &[],
            Few::One(t) => std::slice::from_ref(t),
            Few::Many(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Few::Empty => &mut [],
            Few::One(t) => std::slice::from_mut(t),
            Few::Many(v) => v,
        }
    }

    fn push(&mut self, t: T) {
        match std::mem::take(self) {
            Few::Empty => *self = Few::One(t),
            Few::One(a) => *self = Few::Many(vec![a, t]),
            Few::Many(mut v) => {
                v.push(t);
                *self = Few::Many(v);
            }
        }
    }
}

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
struct PhaseCounter {
    ok: [u64; 3],
    total: [u64; 3],
}

impl PhaseCounter {
    fn add(&mut self, phase: Phase, ok: bool) {
        let i = phase as usize;
        self.total[i] += 1;
        if ok {
            self.ok[i] += 1;
        }
    }

    fn ratios(&self) -> PhaseRatios {
        let r = |i: usize| (self.total[i] > 0).then(|| self.ok[i] as f64 / self.total[i] as f64);
        PhaseRatios { before: r(0), during: r(1), after: r(2) }
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new(3).expect("3 significant figures is a valid histogram precision")
}

fn summarize(h: &Histogram<u64>) -> Option<LatencySummary> {
    (!h.is_empty()).then(|| LatencySummary {
        count: h.len(),
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    })
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
        self.parts.push(PartState { tp: tp.clone(), slots: BTreeMap::new() });
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
    let mut produce_avail = PhaseCounter::default();
    let mut poll_avail = PhaseCounter::default();
    let mut produce_lat = new_histogram();
    let mut poll_lat = new_histogram();
    let mut acked_sends: FxMap<(ProcessId, u32), Vec<AckedSend>> = FxMap::default();
    let mut group_ids: FxMap<&str, u32> = FxMap::default();
    // (group, partition) -> (highest committed offset, its commit end_ms, process)
    let mut commits: FxMap<(u32, u32), (i64, u64, ProcessId)> = FxMap::default();
    let history_end = history.end_ms();

    // Pass 1: build the version order; commits; availability; latency.
    for op in &history.ops {
        let phase = phases.phase_of(op.start_ms);
        match &op.kind {
            OpKind::Send { partition, value, outcome } => {
                let part = st.intern(partition);
                match outcome {
                    SendOutcome::Acked { offset } => {
                        report_counts.0 += 1;
                        produce_avail.add(phase, true);
                        produce_lat.saturating_record(op.latency_ms());
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
                        produce_avail.add(phase, false);
                        st.record_send(*value, part, SendStatus::Failed);
                    }
                    SendOutcome::Indeterminate { .. } => {
                        report_counts.2 += 1;
                        produce_avail.add(phase, false);
                        st.record_send(*value, part, SendStatus::Indeterminate);
                    }
                }
            }
            OpKind::Poll { outcome, .. } => match outcome {
                PollOutcome::Ok { records } => {
                    poll_avail.add(phase, true);
                    poll_lat.saturating_record(op.latency_ms());
                    report_counts.3 += records.len() as u64;
                    for (tp, offset, value) in records {
                        let part = st.intern(tp);
                        st.observe(part, *offset, *value, op.end_ms, false);
                    }
                }
                PollOutcome::Failed { .. } => poll_avail.add(phase, false),
            },
            OpKind::Assign { .. } => {}
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
        availability: Availability { produce: produce_avail.ratios(), poll: poll_avail.ratios() },
        latency_ms: Latency { produce: summarize(&produce_lat), poll: summarize(&poll_lat) },
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
                let evidence = if !seen {
                    min_opt(passed_at, other_polled).map(|e| (e, "was never read although a consumer read past it"))
                } else {
                    other_polled.map(|e| (e, "was overwritten: a consumer read another value there"))
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
mod tests {
    use super::*;
    use crate::history::{Op, PollOutcome};
    use proptest::prelude::*;

    const GROUP: &str = "g";

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    /// Builds histories of sequential ops: each op takes 1 ms and the next
    /// starts 1 ms after it ended.
    #[derive(Default, Clone)]
    struct B {
        ops: Vec<Op>,
        t: u64,
    }

    impl B {
        fn new() -> Self {
            Self::default()
        }
        fn op(mut self, process: ProcessId, kind: OpKind) -> Self {
            self.ops.push(Op { process, start_ms: self.t, end_ms: self.t + 1, kind });
            self.t += 2;
            self
        }
        fn send_at(mut self, process: ProcessId, p: i32, value: u64, offset: i64, start: u64, end: u64) -> Self {
            self.ops.push(Op {
                process,
                start_ms: start,
                end_ms: end,
                kind: OpKind::Send { partition: tp(p), value, outcome: SendOutcome::Acked { offset } },
            });
            self.t = self.t.max(end + 1);
            self
        }
        fn send(self, process: ProcessId, p: i32, value: u64, outcome: SendOutcome) -> Self {
            self.op(process, OpKind::Send { partition: tp(p), value, outcome })
        }
        fn ack(self, process: ProcessId, p: i32, value: u64, offset: i64) -> Self {
            self.send(process, p, value, SendOutcome::Acked { offset })
        }
        fn fail(self, process: ProcessId, p: i32, value: u64) -> Self {
            self.send(process, p, value, SendOutcome::Failed { error: "NOT_LEADER".into() })
        }
        fn indet(self, process: ProcessId, p: i32, value: u64) -> Self {
            self.send(process, p, value, SendOutcome::Indeterminate { error: "timeout".into() })
        }
        fn poll(self, process: ProcessId, recs: &[(i32, i64, u64)]) -> Self {
            let records = recs.iter().map(|&(p, o, v)| (tp(p), o, v)).collect();
            self.op(process, OpKind::Poll { group: GROUP.into(), outcome: PollOutcome::Ok { records } })
        }
        fn poll_fail(self, process: ProcessId) -> Self {
            self.op(process, OpKind::Poll { group: GROUP.into(), outcome: PollOutcome::Failed { error: "x".into() } })
        }
        fn assign(self, process: ProcessId, parts: &[i32]) -> Self {
            let partitions = parts.iter().map(|&p| tp(p)).collect();
            self.op(process, OpKind::Assign { group: GROUP.into(), partitions })
        }
        fn commit(self, process: ProcessId, p: i32, offset: i64) -> Self {
            self.op(
                process,
                OpKind::Commit { group: GROUP.into(), partition: tp(p), offset, outcome: CommitOutcome::Ok },
            )
        }
        fn commit_fail(self, process: ProcessId, p: i32, offset: i64) -> Self {
            let outcome = CommitOutcome::Failed { error: "REBALANCE_IN_PROGRESS".into() };
            self.op(process, OpKind::Commit { group: GROUP.into(), partition: tp(p), offset, outcome })
        }
        fn build(self) -> History {
            History { ops: self.ops }
        }
    }

    fn run(h: &History) -> CheckReport {
        check(h, &Phases { faults_start_ms: 0, faults_end_ms: 0 })
    }

    struct Case {
        name: &'static str,
        kind: ViolationKind,
        bad: History,
        good: History,
    }

    fn cases() -> Vec<Case> {
        use ViolationKind::*;
        vec![
            Case {
                name: "lost_acked_write_read_past",
                kind: LostAckedWrite,
                bad: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 1, 11)]).build(),
                good: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 0, 10), (0, 1, 11)]).build(),
            },
            Case {
                name: "lost_acked_write_overwritten",
                kind: LostAckedWrite,
                bad: B::new().ack(1, 0, 10, 0).poll(9, &[(0, 0, 99)]).build(),
                good: B::new().ack(1, 0, 10, 0).indet(1, 0, 99).poll(9, &[(0, 0, 10), (0, 1, 99)]).build(),
            },
            Case {
                name: "duplicate_read_at_two_offsets",
                kind: Duplicate,
                bad: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 0, 10), (0, 1, 11), (0, 2, 10)]).build(),
                good: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 0, 10), (0, 1, 11)]).build(),
            },
            Case {
                name: "duplicate_retry_acked_twice",
                kind: Duplicate,
                bad: B::new().ack(1, 0, 10, 0).ack(1, 0, 10, 1).poll(9, &[(0, 0, 10), (0, 1, 10)]).build(),
                good: B::new().indet(1, 0, 10).ack(1, 0, 10, 0).poll(9, &[(0, 0, 10)]).build(),
            },
            Case {
                name: "inconsistent_offset_two_acks",
                kind: InconsistentOffset,
                bad: B::new().ack(1, 0, 10, 0).ack(2, 0, 11, 0).poll(9, &[(0, 0, 10)]).build(),
                good: B::new().ack(1, 0, 10, 0).ack(2, 0, 11, 1).poll(9, &[(0, 0, 10), (0, 1, 11)]).build(),
            },
            Case {
                name: "inconsistent_offset_wrong_partition",
                kind: InconsistentOffset,
                bad: B::new().indet(1, 0, 10).poll(9, &[(1, 0, 10)]).build(),
                good: B::new().indet(1, 0, 10).poll(9, &[(0, 0, 10)]).build(),
            },
            Case {
                name: "reorder_sequential_sends",
                kind: Reorder,
                bad: B::new()
                    .send_at(1, 0, 10, 5, 0, 1)
                    .send_at(1, 0, 11, 3, 2, 3)
                    .poll(9, &[(0, 3, 11), (0, 5, 10)])
                    .build(),
                // Overlapping sends may land in either order.
                good: B::new()
                    .send_at(1, 0, 10, 5, 0, 10)
                    .send_at(1, 0, 11, 3, 5, 12)
                    .poll(9, &[(0, 3, 11), (0, 5, 10)])
                    .build(),
            },
            Case {
                name: "poll_skip_across_polls",
                kind: PollSkip,
                bad: B::new()
                    .ack(1, 0, 10, 0)
                    .ack(1, 0, 11, 1)
                    .ack(1, 0, 12, 2)
                    .poll(9, &[(0, 0, 10)])
                    .poll(9, &[(0, 2, 12)])
                    .poll(8, &[(0, 0, 10), (0, 1, 11), (0, 2, 12)])
                    .build(),
                // A rebalance in between resets the position.
                good: B::new()
                    .ack(1, 0, 10, 0)
                    .ack(1, 0, 11, 1)
                    .ack(1, 0, 12, 2)
                    .poll(9, &[(0, 0, 10)])
                    .assign(9, &[0])
                    .poll(9, &[(0, 2, 12)])
                    .poll(8, &[(0, 0, 10), (0, 1, 11), (0, 2, 12)])
                    .build(),
            },
            Case {
                name: "poll_skip_within_poll",
                kind: PollSkip,
                bad: B::new()
                    .ack(1, 0, 10, 0)
                    .ack(1, 0, 11, 1)
                    .ack(1, 0, 12, 2)
                    .poll(9, &[(0, 0, 10), (0, 2, 12)])
                    .poll(8, &[(0, 1, 11)])
                    .build(),
                // Gap at an offset nobody ever observed (e.g. a txn marker).
                good: B::new().ack(1, 0, 10, 0).ack(1, 0, 12, 2).poll(9, &[(0, 0, 10), (0, 2, 12)]).build(),
            },
            Case {
                name: "nonmonotonic_poll_reread",
                kind: NonmonotonicPoll,
                bad: B::new()
                    .ack(1, 0, 10, 0)
                    .ack(1, 0, 11, 1)
                    .poll(9, &[(0, 0, 10), (0, 1, 11)])
                    .poll_fail(9)
                    .poll(9, &[(0, 1, 11)])
                    .build(),
                good: B::new()
                    .ack(1, 0, 10, 0)
                    .ack(1, 0, 11, 1)
                    .poll(9, &[(0, 0, 10), (0, 1, 11)])
                    .assign(9, &[0])
                    .poll(9, &[(0, 1, 11)])
                    .build(),
            },
            Case {
                name: "nonmonotonic_poll_backwards_in_batch",
                kind: NonmonotonicPoll,
                bad: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 1, 11), (0, 0, 10)]).build(),
                // Different consumers have independent positions.
                good: B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 1, 11)]).poll(8, &[(0, 0, 10)]).build(),
            },
            Case {
                name: "committed_offset_regression",
                kind: CommittedOffsetRegression,
                bad: B::new().commit(9, 0, 5).commit(8, 0, 3).build(),
                good: B::new()
                    .commit(9, 0, 5)
                    .commit_fail(8, 0, 3)
                    .commit(8, 0, 5)
                    .commit(9, 1, 2)
                    .commit(9, 0, 6)
                    .build(),
            },
            Case {
                name: "unseen_acked_write",
                kind: UnseenAckedWrite,
                bad: B::new().ack(1, 0, 10, 0).build(),
                good: B::new().ack(1, 0, 10, 0).poll(9, &[(0, 0, 10)]).build(),
            },
            Case {
                name: "phantom_write",
                kind: PhantomWrite,
                bad: B::new().fail(1, 0, 10).poll(9, &[(0, 0, 10)]).build(),
                good: B::new().indet(1, 0, 10).poll(9, &[(0, 0, 10)]).fail(1, 0, 11).build(),
            },
        ]
    }

    #[test]
    fn every_kind_triggers_and_has_a_clean_counterpart() {
        let cases = cases();
        for kind in ViolationKind::ALL {
            assert!(cases.iter().any(|c| c.kind == kind), "no case for {kind}");
        }
        for c in &cases {
            let bad = run(&c.bad);
            assert!(bad.count(c.kind) >= 1, "{}: expected {} in {:#?}", c.name, c.kind, bad.violations);
            assert!(bad.violations.iter().any(|v| v.kind == c.kind && v.partition.is_some()), "{}", c.name);
            let good = run(&c.good);
            assert!(good.is_clean(), "{}: clean history flagged: {:#?}", c.name, good.violations);
            assert!(good.counts.values().all(|n| *n == 0));
            assert_eq!(good.counts.len(), ViolationKind::ALL.len());
        }
    }

    #[test]
    fn lost_write_evidence_time_and_no_double_count_as_unseen() {
        let h = B::new().ack(1, 0, 10, 0).ack(1, 0, 11, 1).poll(9, &[(0, 1, 11)]).build();
        let r = run(&h);
        assert_eq!(r.count(ViolationKind::LostAckedWrite), 1);
        assert_eq!(r.count(ViolationKind::UnseenAckedWrite), 0);
        assert_eq!(r.violations[0].at_ms, 5); // the poll's end
        assert_eq!(r.violations[0].partition, Some(tp(0)));
    }

    #[test]
    fn overwritten_write_is_lost_and_inconsistent() {
        let h = B::new().ack(1, 0, 10, 0).ack(2, 0, 11, 0).poll(9, &[(0, 0, 10)]).poll(8, &[(0, 0, 11)]).build();
        let r = run(&h);
        assert_eq!(r.count(ViolationKind::InconsistentOffset), 1);
        assert_eq!(r.count(ViolationKind::LostAckedWrite), 2);
    }

    #[test]
    fn empty_history_reports_all_kinds_zero_and_no_ratios() {
        let r = run(&History::default());
        assert!(r.is_clean());
        assert_eq!(r.counts.len(), 9);
        assert_eq!(r.failures(true), 0);
        assert_eq!(r.availability, Availability::default());
        assert_eq!(r.latency_ms, Latency::default());
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["counts"]["lost-acked-write"], 0);
        assert_eq!(json["counts"]["committed-offset-regression"], 0);
        assert!(json["availability"]["produce"]["before"].is_null());
    }

    #[test]
    fn report_serializes_kebab_case_and_round_trips() {
        let r = run(&B::new().ack(1, 0, 10, 0).build());
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"unseen-acked-write\":1"), "{json}");
        assert!(json.contains("\"kind\":\"unseen-acked-write\""), "{json}");
        let back: CheckReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.failures(false), 0);
        assert_eq!(r.failures(true), 1);
        for k in ViolationKind::ALL {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
        }
    }

    #[test]
    fn availability_and_counts_per_phase() {
        // before: [0,10), during: [10,20), after: [20,..)
        let phases = Phases { faults_start_ms: 10, faults_end_ms: 20 };
        let mut b = B::new().ack(1, 0, 1, 0).ack(1, 0, 2, 1).poll(9, &[(0, 0, 1), (0, 1, 2)]); // t = 0..6
        b.t = 10;
        let mut b = b.fail(1, 0, 3).indet(1, 0, 4).ack(1, 0, 5, 2).poll_fail(9); // 10..17
        b.t = 30;
        let h = b.poll(9, &[(0, 2, 5)]).build();
        let r = check(&h, &phases);
        assert!(r.is_clean(), "{:#?}", r.violations);
        assert_eq!((r.acked_writes, r.failed_writes, r.indeterminate_writes, r.polled_records), (3, 1, 1, 3));
        let a = r.availability;
        assert_eq!(a.produce, PhaseRatios { before: Some(1.0), during: Some(1.0 / 3.0), after: None });
        assert_eq!(a.poll, PhaseRatios { before: Some(1.0), during: Some(0.0), after: Some(1.0) });
    }

    #[test]
    fn latency_percentiles() {
        let mut b = B::new();
        for i in 0..100u64 {
            b = b.send_at(1, 0, i, i as i64, i * 1000, i * 1000 + i + 1); // latencies 1..=100
        }
        let recs: Vec<(i32, i64, u64)> = (0..100u64).map(|i| (0, i as i64, i)).collect();
        let h = b.poll(9, &recs).build();
        let r = run(&h);
        assert!(r.is_clean(), "{:#?}", r.violations);
        let p = r.latency_ms.produce.unwrap();
        assert_eq!((p.count, p.p50, p.p90, p.p99, p.max), (100, 50, 90, 99, 100));
        let q = r.latency_ms.poll.unwrap();
        assert_eq!((q.count, q.max), (1, 1));
    }

    #[test]
    fn violations_sorted_and_deterministic() {
        let h = B::new()
            .ack(1, 0, 10, 0)
            .ack(1, 0, 11, 1)
            .ack(1, 1, 12, 0)
            .ack(1, 1, 13, 1)
            .poll(9, &[(0, 1, 11), (1, 1, 13)])
            .commit(9, 0, 4)
            .commit(9, 0, 2)
            .fail(1, 2, 20)
            .poll(8, &[(2, 0, 20), (0, 0, 11)])
            .build();
        let a = run(&h);
        let b = run(&h);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        assert!(a
            .violations
            .windows(2)
            .all(|w| (w[0].at_ms, w[0].kind, &w[0].partition) <= (w[1].at_ms, w[1].kind, &w[1].partition)));
        assert!(a.count(ViolationKind::LostAckedWrite) >= 2);
        assert_eq!(a.count(ViolationKind::CommittedOffsetRegression), 1);
        assert_eq!(a.count(ViolationKind::PhantomWrite), 1);
        assert_eq!(a.count(ViolationKind::Duplicate), 1);
    }

    // -----------------------------------------------------------------------
    // A perfect single-log-per-partition model, for property tests and the
    // 1M-op benchmark.
    // -----------------------------------------------------------------------

    const PARTS: usize = 3;

    #[derive(Clone, Debug)]
    enum Step {
        /// outcome: 0..=6 acked, 7 failed, 8 indeterminate but written, 9 indeterminate not written
        Send {
            producer: u8,
            part: u8,
            outcome: u8,
            latency: u8,
        },
        Poll {
            consumer: u8,
            max: u8,
            fail: bool,
            latency: u8,
        },
        Commit {
            consumer: u8,
            part: u8,
            fail: bool,
        },
        Assign {
            consumer: u8,
            mask: u8,
        },
    }

    fn step_strategy() -> impl Strategy<Value = Step> {
        prop_oneof![
            5 => (0..3u8, 0..PARTS as u8, 0..10u8, 0..20u8)
                .prop_map(|(producer, part, outcome, latency)| Step::Send { producer, part, outcome, latency }),
            4 => (0..3u8, 0..6u8, proptest::bool::weighted(0.15), 0..20u8)
                .prop_map(|(consumer, max, fail, latency)| Step::Poll { consumer, max, fail, latency }),
            1 => (0..3u8, 0..PARTS as u8, proptest::bool::weighted(0.2))
                .prop_map(|(consumer, part, fail)| Step::Commit { consumer, part, fail }),
            1 => (0..3u8, 0..(1u8 << PARTS)).prop_map(|(consumer, mask)| Step::Assign { consumer, mask }),
        ]
    }

    /// Forced prefix: three acked writes to partition 0 read by consumer 0,
    /// which commits offset 3 (so every mutation has a target).
    fn prefix() -> Vec<Step> {
        let mut v: Vec<Step> = (0..3).map(|_| Step::Send { producer: 0, part: 0, outcome: 0, latency: 1 }).collect();
        v.push(Step::Assign { consumer: 0, mask: 1 });
        v.push(Step::Poll { consumer: 0, max: 3, fail: false, latency: 1 });
        v.push(Step::Commit { consumer: 0, part: 0, fail: false });
        v
    }

    const DRAIN: ProcessId = 999;

    /// Runs the steps against perfect logs; ops are sequential in time. Ends
    /// with a drain consumer that reads every partition from offset 0.
    fn simulate(steps: &[Step], n_parts: usize) -> History {
        let mut logs: Vec<Vec<u64>> = vec![Vec::new(); n_parts];
        let mut ops = Vec::with_capacity(steps.len() + 2);
        let mut t = 0u64;
        let mut next_value = 1u64;
        // consumer c: process 100 + c, group c % 2
        let mut assigned: BTreeMap<u8, Vec<bool>> = BTreeMap::new();
        let mut pos: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
        let mut committed: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
        let group = |c: u8| format!("g{}", c % 2);
        let mut push = |process: ProcessId, latency: u64, kind: OpKind, t: &mut u64| {
            ops.push(Op { process, start_ms: *t, end_ms: *t + latency, kind });
            *t += latency + 1;
        };
        for s in steps {
            match *s {
                Step::Send { producer, part, outcome, latency } => {
                    let (part, value) = (part as usize % n_parts, next_value);
                    next_value += 1;
                    let outcome = match outcome {
                        0..=6 => {
                            logs[part].push(value);
                            SendOutcome::Acked { offset: logs[part].len() as i64 - 1 }
                        }
                        7 => SendOutcome::Failed { error: "INVALID_RECORD".into() },
                        8 => {
                            logs[part].push(value);
                            SendOutcome::Indeterminate { error: "timeout".into() }
                        }
                        _ => SendOutcome::Indeterminate { error: "timeout".into() },
                    };
                    let kind = OpKind::Send { partition: TopicPartition::new("t", part as i32), value, outcome };
                    push(producer as ProcessId, latency as u64, kind, &mut t);
                }
                Step::Poll { consumer, max, fail, latency } => {
                    let outcome = if fail {
                        PollOutcome::Failed { error: "timeout".into() }
                    } else {
                        let mut records = Vec::new();
                        let asg = assigned.entry(consumer).or_insert_with(|| vec![false; n_parts]);
                        let ps = pos.entry(consumer).or_insert_with(|| vec![0; n_parts]);
                        for p in 0..n_parts {
                            if !asg[p] {
                                continue;
                            }
                            let end = (ps[p] as usize + max as usize).min(logs[p].len());
                            for (o, v) in logs[p].iter().enumerate().take(end).skip(ps[p] as usize) {
                                records.push((TopicPartition::new("t", p as i32), o as i64, *v));
                            }
                            ps[p] = ps[p].max(end as i64);
                        }
                        PollOutcome::Ok { records }
                    };
                    push(
                        100 + consumer as ProcessId,
                        latency as u64,
                        OpKind::Poll { group: group(consumer), outcome },
                        &mut t,
                    );
                }
                Step::Commit { consumer, part, fail } => {
                    let part = part as usize % n_parts;
                    let asg = assigned.entry(consumer).or_insert_with(|| vec![false; n_parts]);
                    if !asg[part] {
                        continue;
                    }
                    let offset = pos.entry(consumer).or_insert_with(|| vec![0; n_parts])[part];
                    let c = committed.entry(consumer % 2).or_insert_with(|| vec![0; n_parts]);
                    let outcome = if fail {
                        CommitOutcome::Failed { error: "REBALANCE_IN_PROGRESS".into() }
                    } else if offset >= c[part] {
                        c[part] = offset;
                        CommitOutcome::Ok
                    } else {
                        continue; // a correct client never commits backwards
                    };
                    let kind = OpKind::Commit {
                        group: group(consumer),
                        partition: TopicPartition::new("t", part as i32),
                        offset,
                        outcome,
                    };
                    push(100 + consumer as ProcessId, 1, kind, &mut t);
                }
                Step::Assign { consumer, mask } => {
                    let c = committed.entry(consumer % 2).or_insert_with(|| vec![0; n_parts]).clone();
                    let asg: Vec<bool> = (0..n_parts).map(|p| mask & (1 << p) != 0).collect();
                    let partitions =
                        (0..n_parts).filter(|&p| asg[p]).map(|p| TopicPartition::new("t", p as i32)).collect();
                    assigned.insert(consumer, asg);
                    pos.insert(consumer, c);
                    push(100 + consumer as ProcessId, 1, OpKind::Assign { group: group(consumer), partitions }, &mut t);
                }
            }
        }
        let partitions: Vec<TopicPartition> = (0..n_parts).map(|p| TopicPartition::new("t", p as i32)).collect();
        push(DRAIN, 1, OpKind::Assign { group: "drain".into(), partitions }, &mut t);
        let mut records = Vec::new();
        for (p, log) in logs.iter().enumerate() {
            for (o, v) in log.iter().enumerate() {
                records.push((TopicPartition::new("t", p as i32), o as i64, *v));
            }
        }
        push(DRAIN, 1, OpKind::Poll { group: "drain".into(), outcome: PollOutcome::Ok { records } }, &mut t);
        History { ops }
    }

    fn drain_records(h: &mut History) -> &mut Vec<(TopicPartition, i64, WriteValue)> {
        match &mut h.ops.last_mut().unwrap().kind {
            OpKind::Poll { outcome: PollOutcome::Ok { records }, .. } => records,
            _ => unreachable!("the drain poll is last"),
        }
    }

    fn acked_value(h: &History, value: WriteValue) -> bool {
        h.ops.iter().any(
            |o| matches!(&o.kind, OpKind::Send { value: v, outcome: SendOutcome::Acked { .. }, .. } if *v == value),
        )
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        DropPolledRecord(usize),
        SwapOffsets(usize, usize),
        DuplicateValue(usize),
        LowerCommit(usize),
    }

    fn mutation_strategy() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            any::<usize>().prop_map(Mutation::DropPolledRecord),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapOffsets(a, b)),
            any::<usize>().prop_map(Mutation::DuplicateValue),
            any::<usize>().prop_map(Mutation::LowerCommit),
        ]
    }

    /// Applies the mutation; every mutation has a candidate thanks to `prefix()`.
    fn mutate(h: &mut History, m: &Mutation) {
        match *m {
            Mutation::DropPolledRecord(sel) => {
                // A drain record between two drain records of its partition,
                // whose offset is known from its ack: dropping it is a skip.
                let recs = drain_records(h).clone();
                let cands: Vec<usize> = (1..recs.len().saturating_sub(1))
                    .filter(|&i| recs[i - 1].0 == recs[i].0 && recs[i + 1].0 == recs[i].0 && acked_value(h, recs[i].2))
                    .collect();
                let i = cands[sel % cands.len()];
                drain_records(h).remove(i);
            }
            Mutation::SwapOffsets(a, b) => {
                // Two acked sends to one partition exchange their offsets.
                let mut by_part: BTreeMap<TopicPartition, Vec<usize>> = BTreeMap::new();
                for (i, op) in h.ops.iter().enumerate() {
                    if let OpKind::Send { partition, outcome: SendOutcome::Acked { .. }, .. } = &op.kind {
                        by_part.entry(partition.clone()).or_default().push(i);
                    }
                }
                let parts: Vec<&Vec<usize>> = by_part.values().filter(|v| v.len() >= 2).collect();
                let idx = parts[a % parts.len()];
                let x = idx[b % idx.len()];
                let y = idx[(b / idx.len() + 1 + b % idx.len()) % idx.len()];
                let y = if y == x { idx[(b % idx.len() + 1) % idx.len()] } else { y };
                let off = |op: &Op| match &op.kind {
                    OpKind::Send { outcome: SendOutcome::Acked { offset }, .. } => *offset,
                    _ => unreachable!(),
                };
                let (ox, oy) = (off(&h.ops[x]), off(&h.ops[y]));
                for (i, o) in [(x, oy), (y, ox)] {
                    if let OpKind::Send { outcome: SendOutcome::Acked { offset }, .. } = &mut h.ops[i].kind {
                        *offset = o;
                    }
                }
            }
            Mutation::DuplicateValue(sel) => {
                // The drain reads some value a second time at a fresh offset.
                let recs = drain_records(h);
                let (p, _, v) = recs[sel % recs.len()].clone();
                let next = recs.iter().filter(|r| r.0 == p).map(|r| r.1).max().unwrap() + 1;
                recs.push((p, next, v));
            }
            Mutation::LowerCommit(sel) => {
                // Right after a successful commit of k >= 1, commit k - 1.
                let cands: Vec<usize> = h
                    .ops
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| matches!(&o.kind, OpKind::Commit { offset, outcome: CommitOutcome::Ok, .. } if *offset >= 1))
                    .map(|(i, _)| i)
                    .collect();
                let i = cands[sel % cands.len()];
                let mut op = h.ops[i].clone();
                if let OpKind::Commit { offset, .. } = &mut op.kind {
                    *offset -= 1;
                }
                h.ops.insert(i + 1, op);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn prop_correct_history_has_no_violations(body in proptest::collection::vec(step_strategy(), 0..150)) {
            let steps: Vec<Step> = prefix().into_iter().chain(body).collect();
            let h = simulate(&steps, PARTS);
            let r = run(&h);
            prop_assert!(r.is_clean(), "{:#?}", r.violations);
            prop_assert!(r.acked_writes >= 3);
        }

        #[test]
        fn prop_one_mutation_yields_a_violation(
            body in proptest::collection::vec(step_strategy(), 0..150),
            m in mutation_strategy(),
        ) {
            let steps: Vec<Step> = prefix().into_iter().chain(body).collect();
            let mut h = simulate(&steps, PARTS);
            mutate(&mut h, &m);
            let r = run(&h);
            prop_assert!(!r.is_clean(), "mutation {:?} went unnoticed", m);
            let expected = match m {
                Mutation::DropPolledRecord(_) => ViolationKind::PollSkip,
                Mutation::SwapOffsets(..) => ViolationKind::InconsistentOffset,
                Mutation::DuplicateValue(_) => ViolationKind::Duplicate,
                Mutation::LowerCommit(_) => ViolationKind::CommittedOffsetRegression,
            };
            prop_assert!(r.count(expected) >= 1, "mutation {:?}: {:#?}", m, r.violations);
        }
    }

    /// Deterministic pseudo-random steps (xorshift64*).
    fn synthetic_steps(n: usize, seed: u64) -> Vec<Step> {
        let mut x = seed | 1;
        let mut rnd = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        (0..n)
            .map(|_| {
                let r = rnd();
                let (a, b, c) = ((r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8);
                match r % 100 {
                    0..=54 => Step::Send { producer: a % 16, part: b, outcome: c % 10, latency: (r >> 32) as u8 % 50 },
                    55..=94 => Step::Poll {
                        consumer: a % 8,
                        max: 1 + b % 16,
                        fail: c % 10 == 0,
                        latency: (r >> 32) as u8 % 50,
                    },
                    95..=98 => Step::Commit { consumer: a % 8, part: b, fail: c % 5 == 0 },
                    _ => Step::Assign { consumer: a % 8, mask: b },
                }
            })
            .collect()
    }

    /// 1,000,000 ops over 8 partitions, 16 producers, 8 consumers. Prints the
    /// wall time; run with `--release -- --nocapture` for the real number.
    #[test]
    fn check_one_million_ops() {
        let mut n = 1_000_000;
        let h = loop {
            let h = simulate(&synthetic_steps(n, 0x5eed), 8);
            if h.ops.len() >= 1_000_000 {
                break h;
            }
            n += 1_000_000 - h.ops.len() + 1_000;
        };
        #[allow(clippy::disallowed_methods, reason = "a test that reports the checker's wall time")]
        let t0 = std::time::Instant::now();
        let r = check(&h, &Phases { faults_start_ms: 1_000_000, faults_end_ms: 2_000_000 });
        let elapsed = t0.elapsed();
        println!(
            "check_one_million_ops: {} ops, {} acked, {} polled records, {} violations: check took {:.3} s",
            h.ops.len(),
            r.acked_writes,
            r.polled_records,
            r.violations.len(),
            elapsed.as_secs_f64()
        );
        assert!(h.ops.len() >= 1_000_000);
        assert!(r.is_clean(), "{:#?}", &r.violations[..r.violations.len().min(5)]);
    }
}
