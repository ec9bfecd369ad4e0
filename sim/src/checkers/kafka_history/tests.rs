//! Bad histories and clean ones for the Kafka history checker.
use super::*;
use crate::checkers::availability::PhaseRatios;
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
        self.op(process, OpKind::Commit { group: GROUP.into(), partition: tp(p), offset, outcome: CommitOutcome::Ok })
    }
    fn commit_fail(self, process: ProcessId, p: i32, offset: i64) -> Self {
        let outcome = CommitOutcome::Failed { error: "REBALANCE_IN_PROGRESS".into() };
        self.op(process, OpKind::Commit { group: GROUP.into(), partition: tp(p), offset, outcome })
    }
    fn survey(self, p: i32, log_end_offset: i64) -> Self {
        self.op(9_998, OpKind::Survey { partition: tp(p), log_end_offset })
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
            good: B::new().commit(9, 0, 5).commit_fail(8, 0, 3).commit(8, 0, 5).commit(9, 1, 2).commit(9, 0, 6).build(),
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
fn a_write_acknowledged_before_a_survey_found_its_partition_on_no_disk_is_lost() {
    // Read once, then every disk came back empty: no later read can say so, the survey can.
    let h = B::new().ack(1, 0, 10, 0).poll(9, &[(0, 0, 10)]).ack(1, 0, 11, 1).survey(0, 0).build();
    let r = run(&h);
    assert_eq!(r.count(ViolationKind::LostAckedWrite), 2);
    assert!(r.violations[0].detail.contains("is on no broker's disk"), "{}", r.violations[0].detail);
    assert_eq!(r.violations[0].at_ms, 7, "the survey's end");
    // A log that ends above the write holds it; a write acknowledged after the survey is not
    // judged by it.
    let kept = B::new().ack(1, 0, 10, 0).survey(0, 1).survey(1, 0).ack(1, 1, 11, 0).poll(9, &[(0, 0, 10), (1, 0, 11)]);
    assert_eq!(run(&kept.build()).count(ViolationKind::LostAckedWrite), 0);
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
                let partitions = (0..n_parts).filter(|&p| asg[p]).map(|p| TopicPartition::new("t", p as i32)).collect();
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
    h.ops
        .iter()
        .any(|o| matches!(&o.kind, OpKind::Send { value: v, outcome: SendOutcome::Acked { .. }, .. } if *v == value))
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
                55..=94 => {
                    Step::Poll { consumer: a % 8, max: 1 + b % 16, fail: c % 10 == 0, latency: (r >> 32) as u8 % 50 }
                }
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
