//! Availability, in operations and in time. Success ratios count operations per phase; but a
//! send retries for up to 30 s, so a 20-second leader gap shows as one slow success and the
//! ratio cannot see it. The time figures can: a partition is *down* from the start of a send
//! to it that failed or took longer than `SLOW_MS` until a send to it is acknowledged quickly
//! again (or, at the end, until the last attempt gave up) — only while a producer was trying.
//! The same holds for each consumer's polls. From the down intervals come the longest gap and
//! the time-weighted uptime of each phase.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::history::{History, OpKind, Phase, Phases, PollOutcome, SendOutcome, TopicPartition};

/// A send or poll slower than this is a symptom of unavailability, not latency.
pub const SLOW_MS: u64 = 1_000;

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

/// Unavailability measured in simulated time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outages {
    /// The longest interval in which a partition accepted no acknowledged write while a
    /// producer was trying; `None` without sends.
    pub max_produce_gap_ms: Option<u64>,
    /// Where and when the longest produce gap was.
    pub worst_produce_gap: Option<Gap>,
    /// The longest interval in which a consumer was polling without success.
    pub max_poll_gap_ms: Option<u64>,
    /// The share of each phase's time that partitions (that saw sends) were up.
    pub produce_uptime: PhaseRatios,
    /// The share of each phase's time that consumers (that polled) could poll.
    pub poll_uptime: PhaseRatios,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The partition (produce gaps) or the consumer process (poll gaps).
    pub subject: String,
    pub start_ms: u64,
    pub end_ms: u64,
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

/// Ratios and latency per phase.
pub fn measure(history: &History, phases: &Phases) -> (Availability, Latency) {
    let mut produce = PhaseCounter::default();
    let mut poll = PhaseCounter::default();
    let mut produce_latency = new_histogram();
    let mut poll_latency = new_histogram();
    for op in &history.ops {
        let phase = phases.phase_of(op.start_ms);
        match &op.kind {
            OpKind::Send { outcome, .. } => {
                let acked = matches!(outcome, SendOutcome::Acked { .. });
                produce.add(phase, acked);
                if acked {
                    produce_latency.saturating_record(op.latency_ms());
                }
            }
            OpKind::Poll { outcome, .. } => {
                let ok = matches!(outcome, PollOutcome::Ok { .. });
                poll.add(phase, ok);
                if ok {
                    poll_latency.saturating_record(op.latency_ms());
                }
            }
            OpKind::Assign { .. } | OpKind::Commit { .. } | OpKind::Survey { .. } => {}
        }
    }
    (
        Availability { produce: produce.ratios(), poll: poll.ratios() },
        Latency { produce: summarize(&produce_latency), poll: summarize(&poll_latency) },
    )
}

/// One attempt, as the gap sweep sees it.
#[derive(Clone, Copy)]
struct Attempt {
    start_ms: u64,
    end_ms: u64,
    /// Succeeded within `SLOW_MS`.
    fast_success: bool,
    succeeded: bool,
}

/// Down intervals of one subject from its attempts (sorted by start).
fn down_intervals(attempts: &mut [Attempt]) -> Vec<(u64, u64)> {
    attempts.sort_by_key(|a| (a.start_ms, a.end_ms));
    let mut intervals = Vec::new();
    let mut down_since: Option<u64> = None;
    let mut last_failure_end = 0;
    for attempt in attempts.iter() {
        if attempt.fast_success {
            if let Some(since) = down_since.take() {
                intervals.push((since, attempt.start_ms.max(since)));
            }
        } else if attempt.succeeded {
            // Slow but acknowledged: down from the first trouble until this answer.
            let since = down_since.take().unwrap_or(attempt.start_ms);
            intervals.push((since, attempt.end_ms));
        } else {
            down_since.get_or_insert(attempt.start_ms);
            last_failure_end = last_failure_end.max(attempt.end_ms);
        }
    }
    if let Some(since) = down_since {
        intervals.push((since, last_failure_end.max(since)));
    }
    merged(intervals)
}

/// Intervals sorted, with overlapping and touching ones merged.
pub fn merged(mut intervals: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    intervals.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Time-weighted uptime per phase over `subjects` down-interval lists.
fn uptime(subjects: &BTreeMap<String, Vec<(u64, u64)>>, phases: &Phases, end_ms: u64) -> PhaseRatios {
    let windows =
        [(0, phases.faults_start_ms), (phases.faults_start_ms, phases.faults_end_ms), (phases.faults_end_ms, end_ms)];
    let ratio = |(from, to): (u64, u64)| -> Option<f64> {
        if to <= from || subjects.is_empty() {
            return None;
        }
        let down: u64 = subjects
            .values()
            .flat_map(|intervals| intervals.iter())
            .map(|(start, end)| end.min(&to).saturating_sub(*start.max(&from)))
            .sum();
        Some(1.0 - down as f64 / ((to - from) as f64 * subjects.len() as f64))
    };
    PhaseRatios { before: ratio(windows[0]), during: ratio(windows[1]), after: ratio(windows[2]) }
}

fn longest(subjects: &BTreeMap<String, Vec<(u64, u64)>>) -> Option<Gap> {
    subjects
        .iter()
        .flat_map(|(subject, intervals)| intervals.iter().map(move |(start, end)| (end - start, subject, *start, *end)))
        .max_by_key(|(length, subject, start, _)| (*length, std::cmp::Reverse((*start, (*subject).clone()))))
        .map(|(_, subject, start_ms, end_ms)| Gap { subject: subject.clone(), start_ms, end_ms })
}

/// Down intervals of every partition that was written to and of every consumer process.
type DownIntervals = BTreeMap<String, Vec<(u64, u64)>>;

fn down_intervals_of(history: &History) -> (DownIntervals, DownIntervals) {
    let mut sends: BTreeMap<&TopicPartition, Vec<Attempt>> = BTreeMap::new();
    let mut polls: BTreeMap<u32, Vec<Attempt>> = BTreeMap::new();
    for op in &history.ops {
        let attempt = |succeeded: bool| Attempt {
            start_ms: op.start_ms,
            end_ms: op.end_ms,
            fast_success: succeeded && op.latency_ms() <= SLOW_MS,
            succeeded,
        };
        match &op.kind {
            OpKind::Send { partition, outcome, .. } => {
                sends.entry(partition).or_default().push(attempt(matches!(outcome, SendOutcome::Acked { .. })))
            }
            OpKind::Poll { outcome, .. } => {
                polls.entry(op.process).or_default().push(attempt(matches!(outcome, PollOutcome::Ok { .. })))
            }
            OpKind::Assign { .. } | OpKind::Commit { .. } | OpKind::Survey { .. } => {}
        }
    }
    let produce = sends
        .into_iter()
        .map(|(tp, mut attempts)| (format!("{}-{}", tp.topic, tp.partition), down_intervals(&mut attempts)))
        .collect();
    let poll = polls
        .into_iter()
        .map(|(process, mut attempts)| (format!("consumer {process}"), down_intervals(&mut attempts)))
        .collect();
    (produce, poll)
}

/// Produce gaps per partition and poll gaps per consumer process, in simulated time.
pub fn outages(history: &History, phases: &Phases) -> Outages {
    let (produce, poll) = down_intervals_of(history);
    let end_ms = history.end_ms();
    let worst_produce_gap = longest(&produce);
    let gap_or_zero = |subjects: &DownIntervals, worst: &Option<Gap>| {
        (!subjects.is_empty()).then(|| worst.as_ref().map_or(0, |gap| gap.end_ms - gap.start_ms))
    };
    Outages {
        max_produce_gap_ms: gap_or_zero(&produce, &worst_produce_gap),
        max_poll_gap_ms: gap_or_zero(&poll, &longest(&poll)),
        worst_produce_gap,
        produce_uptime: uptime(&produce, phases, end_ms),
        poll_uptime: uptime(&poll, phases, end_ms),
    }
}

/// When the cluster was down as an SLA counts it: some partition refused writes or some
/// consumer could not read (merged across subjects).
pub fn cluster_down_intervals(history: &History) -> Vec<(u64, u64)> {
    let (produce, poll) = down_intervals_of(history);
    merged(produce.into_values().chain(poll.into_values()).flatten().collect())
}

/// For each fault end (ms), how long writes took to come back: until the last partition that
/// was down at that moment was up again; 0 when none was down. It derives the down intervals
/// again rather than carry them in `Outages`, which is a stored report that must read back equal.
pub fn recoveries(history: &History, fault_ends_ms: &[u64]) -> Vec<u64> {
    let (produce, _) = down_intervals_of(history);
    fault_ends_ms
        .iter()
        .map(|end| {
            produce
                .values()
                .flatten()
                .filter(|(start, stop)| start <= end && end < stop)
                .map(|(_, stop)| stop - end)
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// Latency percentiles (ms) of the operations completed in one time bucket.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LatencyBucket {
    pub start_ms: u64,
    pub produce: Option<(u64, u64)>,
    pub fetch: Option<(u64, u64)>,
}

/// p50 and p99 of acknowledged sends and successful polls per `bucket_ms`, by completion time.
pub fn latency_timeline(history: &History, bucket_ms: u64) -> Vec<LatencyBucket> {
    let buckets = history.end_ms() / bucket_ms + 1;
    let mut produce: Vec<Vec<u64>> = vec![Vec::new(); buckets as usize];
    let mut fetch: Vec<Vec<u64>> = vec![Vec::new(); buckets as usize];
    for op in &history.ops {
        let bucket = (op.end_ms / bucket_ms) as usize;
        match &op.kind {
            OpKind::Send { outcome: SendOutcome::Acked { .. }, .. } => produce[bucket].push(op.latency_ms()),
            OpKind::Poll { outcome: PollOutcome::Ok { .. }, .. } => fetch[bucket].push(op.latency_ms()),
            _ => {}
        }
    }
    let p50_p99 = |mut values: Vec<u64>| -> Option<(u64, u64)> {
        values.sort_unstable();
        let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        (!values.is_empty()).then(|| (rank(0.5), rank(0.99)))
    };
    produce
        .into_iter()
        .zip(fetch)
        .enumerate()
        .map(|(i, (produce, fetch))| LatencyBucket {
            start_ms: i as u64 * bucket_ms,
            produce: p50_p99(produce),
            fetch: p50_p99(fetch),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, WriteValue};

    fn send(partition: i32, start_ms: u64, end_ms: u64, acked: bool) -> Op {
        let outcome =
            if acked { SendOutcome::Acked { offset: 0 } } else { SendOutcome::Failed { error: "timeout".into() } };
        let partition = TopicPartition { topic: "t".into(), partition };
        Op {
            process: 1,
            start_ms,
            end_ms,
            kind: OpKind::Send { partition, value: WriteValue::from(start_ms), outcome },
        }
    }

    fn history(ops: Vec<Op>) -> History {
        let mut history = History::new();
        history.ops = ops;
        history
    }

    #[test]
    fn a_twenty_second_wait_inside_one_successful_send_is_a_twenty_second_gap() {
        // The case the operation ratio misses: every send succeeded, one after 20 s.
        let ops = vec![send(0, 0, 10, true), send(0, 1_000, 21_000, true), send(0, 21_100, 21_110, true)];
        let phases = Phases { faults_start_ms: 1_000, faults_end_ms: 21_000 };
        let (availability, _) = measure(&history(ops.clone()), &phases);
        assert_eq!(availability.produce.during, Some(1.0), "the ratio says all is well");
        let outages = outages(&history(ops), &phases);
        assert_eq!(outages.max_produce_gap_ms, Some(20_000));
        assert_eq!(outages.worst_produce_gap, Some(Gap { subject: "t-0".into(), start_ms: 1_000, end_ms: 21_000 }));
        assert_eq!(outages.produce_uptime.during, Some(0.0));
        assert!(outages.produce_uptime.before.unwrap() > 0.99);
    }

    #[test]
    fn failures_and_retries_make_one_gap_until_a_fast_success() {
        let ops = vec![
            send(1, 0, 5, true),
            send(1, 2_000, 2_010, false),
            send(1, 2_500, 2_510, false),
            send(1, 9_000, 9_004, true),
            // Another partition is fine all along.
            send(2, 2_000, 2_003, true),
        ];
        let outages = outages(&history(ops), &Phases { faults_start_ms: 0, faults_end_ms: 10_000 });
        assert_eq!(outages.max_produce_gap_ms, Some(7_000));
        assert_eq!(outages.worst_produce_gap.unwrap().subject, "t-1");
        let during = outages.produce_uptime.during.unwrap();
        assert!((during - (1.0 - 7_000.0 / 20_000.0)).abs() < 1e-9, "{during}");
    }

    #[test]
    fn recovery_runs_from_a_faults_end_to_the_last_partition_back() {
        // Partition 0 down 1-9 s, partition 1 down 2-12 s; faults end at 5 s and at 20 s.
        let ops = vec![
            send(0, 1_000, 1_100, false),
            send(0, 9_000, 9_010, true),
            send(1, 2_000, 2_100, false),
            send(1, 12_000, 12_010, true),
        ];
        assert_eq!(recoveries(&history(ops), &[5_000, 20_000]), vec![7_000, 0]);
    }

    #[test]
    fn the_timeline_gives_percentiles_of_the_operations_completed_in_each_bucket() {
        let ops = vec![
            send(0, 0, 10, true),
            send(0, 100, 130, true),
            send(0, 5_000, 5_050, false),
            send(0, 6_000, 6_020, true),
        ];
        let timeline = latency_timeline(&history(ops), 5_000);
        assert_eq!(timeline.len(), 2);
        assert_eq!(timeline[0].produce, Some((10, 30)));
        assert_eq!(timeline[1].produce, Some((20, 20)), "the failed send is no latency sample");
        assert_eq!(timeline[0].fetch, None);
    }

    #[test]
    fn a_partition_that_never_recovers_is_down_until_the_last_attempt_and_no_sends_is_not_tested() {
        let ops = vec![send(0, 0, 5, true), send(0, 1_000, 31_000, false)];
        let outages_seen = outages(&history(ops), &Phases { faults_start_ms: 0, faults_end_ms: 40_000 });
        assert_eq!(outages_seen.max_produce_gap_ms, Some(30_000));
        let none = outages(&History::new(), &Phases { faults_start_ms: 0, faults_end_ms: 1 });
        assert_eq!((none.max_produce_gap_ms, none.produce_uptime.during), (None, None), "no evidence is not a pass");
    }
}
