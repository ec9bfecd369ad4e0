//! What a seed run is asked and what it found: the request a seed worker reads, its outcome,
//! and the first violation a capsule keeps. Below the runner, so that what builds on outcomes
//! (capsules, SLA months) does not need the runner.

use serde::{Deserialize, Serialize};

use crate::checkers::kafka_history::{self as checker, CheckReport};
use crate::history::{History, Phases, TopicPartition};
use crate::scenario::{ExpectationName, Fault, LoadedScenario};

/// The first thing that went wrong: what a capsule stores and replay must reproduce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstViolation {
    pub expectation: String,
    pub kind: String,
    pub detail: String,
    pub at_ms: u64,
}

impl std::fmt::Display for FirstViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {:.3}s: {}", self.kind, self.at_ms as f64 / 1000.0, self.detail)
    }
}

/// What to run; also what a seed worker process receives on stdin (the typed scenario, as
/// JSON: the worker never parses TOML).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub scenario: LoadedScenario,
    pub seed: u64,
    pub bugs: Vec<String>,
    /// A fixed schedule (replay and shrink); otherwise expanded from the seed.
    pub schedule: Option<Vec<Fault>>,
    /// A shorter safety phase (shrink).
    pub duration_s: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectationOutcome {
    pub name: ExpectationName,
    pub expected: String,
    /// `None` when the run had nothing to measure (no operation in that phase).
    pub observed: Option<f64>,
    pub passed: bool,
}

/// C20 two-zone read evidence for one partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionRead {
    pub partition: TopicPartition,
    pub successful_fetches: u64,
    pub failed_fetches: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunOutcome {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub schedule: Vec<Fault>,
    pub duration_s: u64,
    pub trace_hash: String,
    pub wire_hash: String,
    pub wire_bytes: u64,
    /// Every nemesis event and completed operation in time order, one per line (hashed into
    /// `trace_hash`). One string, not a list: parsing ~35,000 strings per seed in the parent
    /// (and the fresh pages they took) cost 10 % of a sweep's CPU (perf). A seed worker sends
    /// it before the JSON, not in it (`runner::parse_outcome`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace: String,
    pub report: CheckReport,
    pub expectations: Vec<ExpectationOutcome>,
    pub converged_after_ms: Option<u64>,
    pub violation: Option<FirstViolation>,
    pub simulated_ms: u64,
    pub partition_reads: Vec<PartitionRead>,
    /// Each confirmed breach's notification (C23), for the report's distribution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breach_notices: Vec<crate::checkers::breaches::NoticeTime>,
    /// How long writes took to come back after each fault (the report's recovery histograms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<reports::Recovery>,
    /// Latency per time bucket with the fault windows (the report's timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<reports::Timeline>,
    /// When writes or reads were down (simulated ms, merged): episodes of an SLA month only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down_ms: Vec<(u64, u64)>,
    /// The SLA month this outcome is (C03).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<reports::SlaMonth>,
    pub history_ops: usize,
    /// Why sends and polls failed, by error, for people reading a failing run.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Wall time of the whole seed, and of the checker and trace hashing within it.
    pub wall_ms: f64,
    pub check_wall_ms: f64,
}

impl RunOutcome {
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }
}

/// The check report of a run that recorded nothing.
pub fn empty_report() -> CheckReport {
    checker::check(&History::new(), &Phases { faults_start_ms: 0, faults_end_ms: 0 })
}
