//! The run outcome model. The harness fills it; the renderers in this crate read it.
//!
//! Field names are the JSON contract: every struct serializes with exactly the
//! snake_case names declared here, in declaration order. Floats that may be
//! unknown are `Option<f64>` — the model never carries NaN.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Outcome of one harness invocation (e.g. `cargo faultline nightly`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Summary {
    pub faultline_version: String,
    /// The harness command that produced this summary, e.g. `"nightly"`.
    pub command: String,
    pub scenarios: Vec<ScenarioSummary>,
    /// What ran where: commit, machine, wall time. `None` in summaries older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
    /// Scenarios of the catalog with no outcome in a run directory rebuilt by `faultline report`
    /// (a run cut short): their claims have no evidence from this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_scenarios: Vec<String>,
}

/// Where and from what a run came, for a reader who must trust or reproduce it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct RunInfo {
    /// The run's key in the history (`FAULTLINE_RUN_ID` joins shards into one run).
    #[serde(default)]
    pub run_id: String,
    /// Seconds since the Unix epoch at the start.
    #[serde(default)]
    pub started_unix_s: i64,
    /// `git rev-parse HEAD` of the working tree, with `-dirty` when it had changes.
    pub commit: String,
    /// Host name, logical CPUs and OS.
    pub machine: String,
    /// Wall time of the whole command.
    pub wall_seconds: f64,
    /// What the run directory keeps. `None` in summaries older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskUse>,
}

/// The bytes a run leaves in its directory: every seed's outcome JSON and every capsule, and the
/// traces it kept (zstd; a failing seed's and each scenario's first, or all with `--keep-traces`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Default)]
pub struct DiskUse {
    pub seeds: u64,
    pub outcome_bytes: u64,
    pub traces_kept: u64,
    pub trace_bytes: u64,
}

impl DiskUse {
    pub fn total_bytes(&self) -> u64 {
        self.outcome_bytes + self.trace_bytes
    }

    pub fn add(&mut self, other: &DiskUse) {
        self.seeds += other.seeds;
        self.outcome_bytes += other.outcome_bytes;
        self.traces_kept += other.traces_kept;
        self.trace_bytes += other.trace_bytes;
    }
}

impl std::fmt::Display for DiskUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} outcomes and their capsules {}, {} traces (zstd) {}",
            bytes(self.total_bytes()),
            self.seeds,
            bytes(self.outcome_bytes),
            self.traces_kept,
            bytes(self.trace_bytes)
        )
    }
}

/// A size as people read it: kB below a megabyte, MB below a gigabyte, then GB (powers of ten).
fn bytes(count: u64) -> String {
    match count {
        0..1_000_000 => format!("{:.0} kB", count as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", count as f64 / 1e6),
        _ => format!("{:.2} GB", count as f64 / 1e9),
    }
}

/// Outcome of one scenario over all the seeds it ran.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ScenarioSummary {
    pub name: String,
    pub scenario_hash: String,
    /// Seeds run (a plain JSON array of numbers).
    pub seeds: Vec<u64>,
    /// Total simulated time over all seeds.
    pub simulated_hours: f64,
    pub wall_seconds: f64,
    /// Every expectation held on every seed.
    pub passed: bool,
    /// Fault kind -> injection count over all seeds.
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    #[serde(default)]
    pub expectations: Vec<ExpectationResult>,
    /// Claim id (e.g. `"C20"`) -> verdict.
    #[serde(default)]
    pub claims: BTreeMap<String, ClaimVerdict>,
    #[serde(default)]
    pub latency_ms: LatencySummary,
    #[serde(default)]
    pub availability: Availability,
    /// Evidence for the C20 two-zone read claim, one entry per partition.
    #[serde(default)]
    pub partition_reads: Vec<PartitionReadEvidence>,
    #[serde(default)]
    pub failures: Vec<Failure>,
    #[serde(default)]
    pub planted_bugs: Vec<String>,
    /// C23: every confirmed breach's notification, one entry per incident per seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breach_notices: Vec<BreachNotice>,
    /// Availability in simulated time, per seed: the share of partition-time in which writes
    /// succeeded and of consumer-time in which reads did, by fault phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uptime: Vec<SeedUptime>,
    /// How long writes took to come back after each fault ended, per seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<Recovery>,
    /// One seed's latency over simulated time, with its fault windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
    /// SLA months (C03), one per seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sla_months: Vec<SlaMonth>,
}

/// One simulated month of a cluster type against its SLA (C03).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SlaMonth {
    pub seed: u64,
    /// `Basic`, `Standard` or `Dedicated`.
    pub cluster_type: String,
    /// The type's monthly uptime commitment, e.g. 99.95.
    pub sla_percent: f64,
    pub days: f64,
    /// The share of the month's time in which writes and reads both succeeded (0.0..=1.0).
    pub availability: f64,
    pub downtime_s: f64,
    /// Minutes in which any downtime fell (a stricter, per-minute reading).
    pub down_minutes: u64,
    /// Faults the month drew.
    pub faults: u32,
    /// Simulations run: fault episodes and the quiet sample (1 when simulated in full).
    pub episodes: u32,
    /// Simulated seconds actually run.
    pub simulated_s: f64,
    /// `episodes` or `full`.
    pub simulate: String,
}

impl SlaMonth {
    pub fn meets_sla(&self) -> bool {
        self.availability * 100.0 >= self.sla_percent
    }
}

/// The Wilson score interval (95 %: `z` = 1.96) for `k` successes in `n` trials; `None` for none.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// One seed's availability in simulated time, by fault phase (0.0..=1.0).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct SeedUptime {
    pub seed: u64,
    pub produce: PhaseRatios,
    pub fetch: PhaseRatios,
}

/// The time from a fault's end until every partition took writes again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Recovery {
    pub seed: u64,
    /// The fault kind, e.g. `"zone-outage"`.
    pub kind: String,
    pub seconds: f64,
}

/// Produce and fetch latency percentiles per time bucket of one seed, and its faults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Timeline {
    pub seed: u64,
    pub bucket_s: f64,
    pub points: Vec<LatencyPoint>,
    pub faults: Vec<FaultWindow>,
}

/// Latency percentiles (ms) of the operations that completed in one bucket; `None`: none did.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct LatencyPoint {
    /// The bucket's start, in simulated seconds.
    pub t_s: f64,
    pub produce_p50: Option<f64>,
    pub produce_p99: Option<f64>,
    pub fetch_p50: Option<f64>,
    pub fetch_p99: Option<f64>,
}

/// One injected fault's window, in simulated seconds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct FaultWindow {
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// One confirmed breach's written notice (C23).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct BreachNotice {
    pub seed: u64,
    pub incident: String,
    /// The confirmation, in the desk's local time.
    pub confirmed_local: String,
    /// Confirmation to arrival in the customer's inbox; `None`: never arrived.
    pub hours: Option<f64>,
    /// The first malicious request to the confirmation.
    pub confirmed_after_h: Option<f64>,
    /// Arrival to the customer's acknowledgement.
    pub acknowledged_after_h: Option<f64>,
}

/// The distribution of notification times (confirmation to inbox) over notices, in hours.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct NoticeDistribution {
    pub notices: usize,
    /// Notices that never arrived.
    pub undelivered: usize,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Share of all notices (undelivered count as late) that arrived within `deadline_h`.
    pub within_deadline: Option<f64>,
    pub deadline_h: f64,
}

impl NoticeDistribution {
    /// Nearest-rank percentiles over the delivered notices.
    pub fn of<'a>(notices: impl Iterator<Item = &'a BreachNotice>, deadline_h: f64) -> NoticeDistribution {
        let all: Vec<&BreachNotice> = notices.collect();
        let mut hours: Vec<f64> = all.iter().filter_map(|n| n.hours).collect();
        hours.sort_by(f64::total_cmp);
        let rank = |q: f64| -> Option<f64> {
            let index = ((q * hours.len() as f64).ceil() as usize).clamp(1, hours.len().max(1)) - 1;
            hours.get(index).copied()
        };
        let within = hours.iter().filter(|h| **h <= deadline_h).count();
        NoticeDistribution {
            notices: all.len(),
            undelivered: all.len() - hours.len(),
            min: hours.first().copied(),
            median: rank(0.5),
            p99: rank(0.99),
            max: hours.last().copied(),
            within_deadline: (!all.is_empty()).then(|| within as f64 / all.len() as f64),
            deadline_h,
        }
    }
}

/// One expectation evaluated over all seeds of a scenario.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct ExpectationResult {
    pub name: String,
    /// The bound, as written in the scenario, e.g. `"= 0"` or `">= 0.99"`.
    pub expected: String,
    /// The observed value (the worst over all seeds).
    pub observed: String,
    pub passed: bool,
    /// The seed that produced `observed`, when known.
    #[serde(default)]
    pub worst_seed: Option<u64>,
}

/// Verdict on a documented claim. Serializes as `"holds"`, `"violated"` or `"not-tested"`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimVerdict {
    Holds,
    Violated,
    NotTested,
}

impl ClaimVerdict {
    /// The serialized form: `"holds"`, `"violated"` or `"not-tested"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::Violated => "violated",
            ClaimVerdict::NotTested => "not-tested",
        }
    }

    /// Combine two verdicts on the same claim: violated beats holds beats not-tested.
    pub fn combine(self, other: ClaimVerdict) -> ClaimVerdict {
        fn rank(v: ClaimVerdict) -> u8 {
            match v {
                ClaimVerdict::NotTested => 0,
                ClaimVerdict::Holds => 1,
                ClaimVerdict::Violated => 2,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl std::fmt::Display for ClaimVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Client-observed latency, in milliseconds. `None` when there were no samples.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct LatencySummary {
    pub produce: Option<Percentiles>,
    pub fetch: Option<Percentiles>,
}

/// Latency percentiles in milliseconds over `count` samples.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Success ratios (0.0..=1.0) by fault phase.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Availability {
    pub produce: PhaseRatios,
    pub fetch: PhaseRatios,
}

/// Success ratio before, during and after the fault window; `None` when no
/// requests were made in that phase.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PhaseRatios {
    pub before: Option<f64>,
    pub during: Option<f64>,
    pub after: Option<f64>,
}

/// Per-partition evidence for the C20 two-zone read claim.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct PartitionReadEvidence {
    pub topic: String,
    pub partition: i32,
    pub readable_during_outage: bool,
    pub evidence: String,
    /// Fetches of the partition during the outage, over every seed.
    #[serde(default)]
    pub successful_fetches: u64,
    #[serde(default)]
    pub failed_fetches: u64,
}

/// One seed's violation, with the capsule that reproduces it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Failure {
    pub seed: u64,
    /// Path of the replay capsule.
    pub capsule: String,
    pub violation: String,
    /// Full replay command, e.g. `"cargo faultline replay runs/x/capsules/....json"`.
    pub replay: String,
}

impl Summary {
    /// Number of scenarios whose `passed` is false.
    pub fn failed_count(&self) -> usize {
        self.scenarios.iter().filter(|s| !s.passed).count()
    }

    /// True when every scenario passed.
    pub fn passed(&self) -> bool {
        self.failed_count() == 0
    }

    /// Each claim any scenario names, with its verdict over the whole run (violated beats holds
    /// beats not tested) and the scenarios that violated it.
    pub fn claim_verdicts(&self) -> BTreeMap<&str, (ClaimVerdict, Vec<&str>)> {
        let mut claims: BTreeMap<&str, (ClaimVerdict, Vec<&str>)> = BTreeMap::new();
        for s in &self.scenarios {
            for (claim, verdict) in &s.claims {
                let entry = claims.entry(claim.as_str()).or_insert((*verdict, Vec::new()));
                entry.0 = entry.0.combine(*verdict);
                if *verdict == ClaimVerdict::Violated {
                    entry.1.push(s.name.as_str());
                }
            }
        }
        claims
    }
}

impl ScenarioSummary {
    /// Total fault injections over all kinds.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}
