//! The operation history recorded by the faultline workload.
//!
//! A [`History`] is the input of [`crate::checkers::kafka_history::check`]: every client
//! operation the workload issued against the Kafka-compatible cluster, each
//! with the simulated time it was invoked (`start_ms`) and completed
//! (`end_ms`), recorded in completion order.
//!
//! Conventions the checker relies on:
//! * every produced [`WriteValue`] is unique across the run (a retried send
//!   may reuse its value: the checker merges such sends, see
//!   [`crate::checkers::kafka_history`]);
//! * a [`ProcessId`] is one client (one producer or one consumer) and its
//!   operations do not overlap in time unless the client pipelines;
//! * offsets are Kafka log offsets (`>= 0`).
//!
//! Everything here is `serde`-serializable so that a run's history can be
//! written next to its report and re-checked offline.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One producer or consumer client.
pub type ProcessId = u32;
/// A produced value; unique across the run.
pub type WriteValue = u64;

/// A Kafka topic partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    /// `topic-partition`, as Kafka prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// How a produce request ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendOutcome {
    /// The broker acknowledged the write at `offset`.
    Acked { offset: i64 },
    /// The write definitely did not happen (e.g. a non-retriable error
    /// returned before the record was appended).
    Failed { error: String },
    /// Timeout or lost connection: the write may or may not have happened.
    Indeterminate { error: String },
}

/// How a consumer poll ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PollOutcome {
    /// The records returned, in the order the client delivered them:
    /// `(partition, offset, value)`.
    Ok {
        records: Vec<(TopicPartition, i64, WriteValue)>,
    },
    Failed {
        error: String,
    },
}

/// How an offset commit ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitOutcome {
    Ok,
    Failed { error: String },
}

/// What an operation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    Send {
        partition: TopicPartition,
        value: WriteValue,
        outcome: SendOutcome,
    },
    Poll {
        group: String,
        outcome: PollOutcome,
    },
    /// The consumer's assignment changed (rebalance): from now on its positions come from committed offsets.
    Assign {
        group: String,
        partitions: Vec<TopicPartition>,
    },
    /// `offset` is the Kafka commit offset: the next offset the group will read.
    Commit {
        group: String,
        partition: TopicPartition,
        offset: i64,
        outcome: CommitOutcome,
    },
    /// The harness looked at every broker's disk when the faults ended: no log of `partition`
    /// held an offset at or above `log_end_offset` (0: no disk held any file of the partition).
    /// A write acknowledged there before then is lost whether or not a consumer could still read.
    Survey {
        partition: TopicPartition,
        log_end_offset: i64,
    },
}

/// One client operation; times are simulated milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    pub process: ProcessId,
    pub start_ms: u64,
    pub end_ms: u64,
    pub kind: OpKind,
}

impl Op {
    /// `end_ms - start_ms`, saturating at 0.
    pub fn latency_ms(&self) -> u64 {
        self.end_ms.saturating_sub(self.start_ms)
    }
}

/// All operations of a run, in completion order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Latest completion time in the history (0 when empty).
    pub fn end_ms(&self) -> u64 {
        self.ops.iter().map(|o| o.end_ms).max().unwrap_or(0)
    }
}

/// Time windows of the run, for per-phase availability.
///
/// before = `[0, faults_start_ms)`, during = `[faults_start_ms, faults_end_ms)`,
/// after = `[faults_end_ms, ∞)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    pub faults_start_ms: u64,
    pub faults_end_ms: u64,
}

/// One of the three windows of [`Phases`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Before,
    During,
    After,
}

impl Phases {
    /// The window that contains simulated time `t_ms`.
    pub fn phase_of(&self, t_ms: u64) -> Phase {
        if t_ms < self.faults_start_ms {
            Phase::Before
        } else if t_ms < self.faults_end_ms {
            Phase::During
        } else {
            Phase::After
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_windows_are_half_open() {
        let p = Phases { faults_start_ms: 10, faults_end_ms: 20 };
        assert_eq!(p.phase_of(0), Phase::Before);
        assert_eq!(p.phase_of(9), Phase::Before);
        assert_eq!(p.phase_of(10), Phase::During);
        assert_eq!(p.phase_of(19), Phase::During);
        assert_eq!(p.phase_of(20), Phase::After);
    }

    #[test]
    fn history_round_trips_through_json() {
        let tp = TopicPartition::new("t", 1);
        let mut h = History::new();
        h.push(Op {
            process: 1,
            start_ms: 0,
            end_ms: 3,
            kind: OpKind::Send { partition: tp.clone(), value: 7, outcome: SendOutcome::Acked { offset: 0 } },
        });
        h.push(Op {
            process: 2,
            start_ms: 1,
            end_ms: 4,
            kind: OpKind::Poll { group: "g".into(), outcome: PollOutcome::Ok { records: vec![(tp.clone(), 0, 7)] } },
        });
        h.push(Op {
            process: 2,
            start_ms: 5,
            end_ms: 6,
            kind: OpKind::Commit { group: "g".into(), partition: tp.clone(), offset: 1, outcome: CommitOutcome::Ok },
        });
        h.push(Op {
            process: 2,
            start_ms: 7,
            end_ms: 8,
            kind: OpKind::Assign { group: "g".into(), partitions: vec![tp] },
        });
        let json = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
        assert_eq!(h.end_ms(), 8);
        assert_eq!(h.ops[0].latency_ms(), 3);
    }
}
