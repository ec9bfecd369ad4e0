//! Scenario files: TOML, one per scenario, parsed strictly. Unknown keys, wrong types,
//! out-of-range values and faults that name groups the world does not have are errors that
//! name the file, the key and what was expected (exit code 2); nothing is half-run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The zones every scenario's world has (one region, three zones, one broker each).
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Claim ids from CLAIMS.md this scenario verifies.
    pub claims: Vec<String>,
    /// Simulated seconds of the safety phase (faults happen inside it).
    pub duration_s: u64,
    /// Seeds the nightly catalog runs, as "A..B" (B excluded).
    pub nightly_seeds: String,
    #[serde(default)]
    pub topics: Vec<TopicSpec>,
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// Faults drawn from the seed (swarm testing), in addition to `faults`.
    #[serde(default)]
    pub generate: Option<GenerateSpec>,
    pub liveness: LivenessSpec,
    /// Expectation name -> "= 0", "<= 3", ">= 0.99" or a bare number (meaning "=").
    pub expectations: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub producers: u32,
    pub consumers: u32,
    /// Pause between one producer's sends (each waits for its acknowledgement).
    pub produce_interval_ms: u64,
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
}

fn default_commit_interval() -> u64 {
    1_000
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Kill a node's process (page cache survives), restart it at `end_s`.
    KillNode,
    /// Power loss in a zone: unsynced writes are lost, disks survive; back at `end_s`.
    ZoneOutage,
    /// A zone's disks are destroyed; its nodes come back empty at `end_s`.
    ZoneLoss,
    /// No traffic between `target` and `peer` in either direction.
    Partition,
    /// No traffic from `target` to `peer` (the reverse still flows).
    OneWayPartition,
    /// Extra latency on every link (madsim's latency is global).
    Latency,
    /// Packet loss on every link (madsim delivers lost packets late: it shows as delay).
    Loss,
    /// Pause a node's process (no progress, connections stay open).
    Pause,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::KillNode,
        FaultKind::ZoneOutage,
        FaultKind::ZoneLoss,
        FaultKind::Partition,
        FaultKind::OneWayPartition,
        FaultKind::Latency,
        FaultKind::Loss,
        FaultKind::Pause,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::KillNode => "kill-node",
            FaultKind::ZoneOutage => "zone-outage",
            FaultKind::ZoneLoss => "zone-loss",
            FaultKind::Partition => "partition",
            FaultKind::OneWayPartition => "one-way-partition",
            FaultKind::Latency => "latency",
            FaultKind::Loss => "loss",
            FaultKind::Pause => "pause",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// A group: "zone-a", "broker-2", "peering" (the customer VPC), "controller-leader-zone",
    /// "partition-leader:<topic>/<partition>", or "cluster" for latency and loss.
    #[serde(default)]
    pub target: Option<String>,
    /// The other side of a partition (a group as above, or "rest" for everything else).
    #[serde(default)]
    pub peer: Option<String>,
    pub start_s: f64,
    pub end_s: f64,
    /// Latency in ms, or loss rate in [0, 1).
    #[serde(default)]
    pub amount: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    pub kinds: Vec<FaultKind>,
    /// Expected faults per simulated minute.
    pub rate_per_minute: f64,
    pub duration_s_min: f64,
    pub duration_s_max: f64,
    /// How fault lengths are drawn: `uniform` in [min, max], or `straddle-timeouts` (each
    /// length just under, just over, half or twice one of the service's timeouts, clamped).
    #[serde(default)]
    pub durations: DurationDraw,
    /// Swarm testing: each seed enables a random non-empty subset of `kinds`, so rare
    /// combinations (one kind alone, many at once) are drawn too.
    #[serde(default)]
    pub swarm: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurationDraw {
    #[default]
    Uniform,
    StraddleTimeouts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LivenessSpec {
    /// After the last fault ends: full ISR, all partitions led, consumers caught up, within this.
    pub converge_within_s: u64,
}

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    /// TOML syntax, an unknown key or a wrong type (the message names the key and the expectation).
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    /// A value out of its range or a reference to something that does not exist.
    #[error("{file}: key `{key}`: {expected}")]
    Invalid { file: String, key: String, expected: String },
}

impl ScenarioError {
    fn invalid(file: &str, key: impl Into<String>, expected: impl Into<String>) -> Self {
        ScenarioError::Invalid { file: file.to_string(), key: key.into(), expected: expected.into() }
    }
}

/// A comparison from the expectations table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub name: String,
    pub operator: String,
    pub bound: f64,
}

impl Expectation {
    pub fn holds(&self, observed: f64) -> bool {
        match self.operator.as_str() {
            "=" => (observed - self.bound).abs() < 1e-9,
            "<=" => observed <= self.bound + 1e-9,
            ">=" => observed >= self.bound - 1e-9,
            "<" => observed < self.bound,
            ">" => observed > self.bound,
            other => unreachable!("operator {other} was validated at parse time"),
        }
    }

    pub fn expected(&self) -> String {
        format!("{} {}", self.operator, self.bound)
    }
}

/// Names the harness can observe; anything else in `[expectations]` is an error.
pub const EXPECTATION_NAMES: &[&str] = &[
    "lost_acked_writes",
    "duplicates",
    "inconsistent_offsets",
    "reorders",
    "poll_skips",
    "nonmonotonic_polls",
    "committed_offset_regressions",
    "unseen_acked_writes",
    "phantom_writes",
    "produce_availability.before",
    "produce_availability.during",
    "produce_availability.after",
    "poll_availability.during",
    "converged",
    "acked_writes",
    "acked_writes.during",
    "plaintext_leaks",
    "divergent_replicas",
    "high_watermark_regressions",
];

/// Loaded and validated.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    pub path: PathBuf,
    pub text: String,
    pub scenario: Scenario,
    pub expectations: Vec<Expectation>,
    pub nightly_seeds: std::ops::Range<u64>,
}

impl LoadedScenario {
    /// SHA-256 of the file text, so a capsule knows whether its scenario changed.
    pub fn hash(&self) -> String {
        hex(ring::digest::digest(&ring::digest::SHA256, self.text.as_bytes()).as_ref())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { file: file.clone(), source })?;
    parse(&file, &text).map(|(scenario, expectations, nightly_seeds)| LoadedScenario {
        path: path.to_path_buf(),
        text,
        scenario,
        expectations,
        nightly_seeds,
    })
}

pub fn parse_seed_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (start, end) = text.split_once("..")?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    (start < end).then_some(start..end)
}

/// Groups a fault may name.
pub fn is_group(name: &str) -> bool {
    ZONES.contains(&name)
        || matches!(
            name,
            "broker-1" | "broker-2" | "broker-3" | "peering" | "controller-leader-zone" | "rest" | "cluster"
        )
        || name
            .strip_prefix("partition-leader:")
            .is_some_and(|rest| rest.split_once('/').is_some_and(|(t, p)| !t.is_empty() && p.parse::<i32>().is_ok()))
}

pub fn parse(file: &str, text: &str) -> Result<(Scenario, Vec<Expectation>, std::ops::Range<u64>), ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|error| ScenarioError::Parse {
        file: file.to_string(),
        message: error.to_string().trim_end().to_string(),
    })?;
    if scenario.name.is_empty()
        || !scenario.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ScenarioError::invalid(file, "name", "lowercase letters, digits and '-'"));
    }
    let nightly_seeds = parse_seed_range(&scenario.nightly_seeds)
        .ok_or_else(|| ScenarioError::invalid(file, "nightly_seeds", "a range \"A..B\" with A < B"))?;
    if !(10..=86_400).contains(&scenario.duration_s) {
        return Err(ScenarioError::invalid(file, "duration_s", "10 to 86400 simulated seconds"));
    }
    for claim in &scenario.claims {
        if !(claim.len() == 3 && claim.starts_with('C') && claim[1..].parse::<u32>().is_ok()) {
            return Err(ScenarioError::invalid(file, "claims", format!("claim ids like \"C20\", got {claim:?}")));
        }
    }
    for (index, topic) in scenario.topics.iter().enumerate() {
        if topic.name.is_empty() || topic.name.starts_with("__") {
            return Err(ScenarioError::invalid(
                file,
                format!("topics[{index}].name"),
                "a non-empty name not starting with \"__\"",
            ));
        }
        if !(1..=64).contains(&topic.partitions) {
            return Err(ScenarioError::invalid(file, format!("topics[{index}].partitions"), "1 to 64"));
        }
    }
    if scenario.topics.is_empty() {
        return Err(ScenarioError::invalid(file, "topics", "at least one [[topics]] table"));
    }
    let workload = &scenario.workload;
    if !(1..=16).contains(&workload.producers) {
        return Err(ScenarioError::invalid(file, "workload.producers", "1 to 16"));
    }
    if workload.consumers > 16 {
        return Err(ScenarioError::invalid(file, "workload.consumers", "0 to 16"));
    }
    if !(1..=60_000).contains(&workload.produce_interval_ms) {
        return Err(ScenarioError::invalid(file, "workload.produce_interval_ms", "1 to 60000"));
    }
    for (index, fault) in scenario.faults.iter().enumerate() {
        validate_fault(file, &format!("faults[{index}]"), fault, scenario.duration_s)?;
    }
    if let Some(generate) = &scenario.generate {
        if generate.kinds.is_empty() {
            return Err(ScenarioError::invalid(file, "generate.kinds", "at least one fault kind"));
        }
        if !(generate.rate_per_minute > 0.0 && generate.rate_per_minute <= 60.0) {
            return Err(ScenarioError::invalid(file, "generate.rate_per_minute", "more than 0 and at most 60"));
        }
        if !(generate.duration_s_min > 0.0 && generate.duration_s_min <= generate.duration_s_max) {
            return Err(ScenarioError::invalid(
                file,
                "generate.duration_s_min",
                "more than 0 and at most duration_s_max",
            ));
        }
    }
    if !(1..=3_600).contains(&scenario.liveness.converge_within_s) {
        return Err(ScenarioError::invalid(file, "liveness.converge_within_s", "1 to 3600"));
    }
    let mut expectations = Vec::new();
    for (name, value) in &scenario.expectations {
        let key = format!("expectations.{name}");
        if !EXPECTATION_NAMES.contains(&name.as_str()) {
            return Err(ScenarioError::invalid(file, key, format!("one of {}", EXPECTATION_NAMES.join(", "))));
        }
        let (operator, bound) = match value {
            toml::Value::Integer(n) => ("=".to_string(), *n as f64),
            toml::Value::Float(f) => ("=".to_string(), *f),
            toml::Value::Boolean(b) => ("=".to_string(), if *b { 1.0 } else { 0.0 }),
            toml::Value::String(text) => {
                let text = text.trim();
                let operator = ["<=", ">=", "=", "<", ">"].into_iter().find(|op| text.starts_with(op));
                let parsed = operator
                    .and_then(|op| text[op.len()..].trim().parse::<f64>().ok().map(|bound| (op.to_string(), bound)));
                parsed
                    .ok_or_else(|| ScenarioError::invalid(file, &key, "a number or a comparison such as \">= 0.99\""))?
            }
            _ => return Err(ScenarioError::invalid(file, key, "a number or a comparison such as \">= 0.99\"")),
        };
        expectations.push(Expectation { name: name.clone(), operator, bound });
    }
    Ok((scenario, expectations, nightly_seeds))
}

fn validate_fault(file: &str, key: &str, fault: &FaultSpec, duration_s: u64) -> Result<(), ScenarioError> {
    if !(fault.start_s >= 0.0 && fault.start_s < fault.end_s && fault.end_s <= duration_s as f64) {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.end_s"),
            format!("start_s < end_s <= duration_s ({duration_s})"),
        ));
    }
    let needs_target = !matches!(fault.kind, FaultKind::Latency | FaultKind::Loss);
    match (&fault.target, needs_target) {
        (None, true) => {
            return Err(ScenarioError::invalid(
                file,
                format!("{key}.target"),
                "a group such as \"zone-a\", \"broker-2\" or \"peering\"",
            ))
        }
        (Some(target), _) if !is_group(target) => {
            return Err(ScenarioError::invalid(file, format!("{key}.target"), format!("a group that exists (zone-a..zone-c, broker-1..broker-3, peering, controller-leader-zone, partition-leader:<topic>/<n>), got {target:?}")));
        }
        _ => {}
    }
    if matches!(fault.kind, FaultKind::ZoneOutage | FaultKind::ZoneLoss)
        && !fault.target.as_deref().is_some_and(|t| ZONES.contains(&t) || t == "controller-leader-zone")
    {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.target"),
            "a zone (zone-a, zone-b, zone-c or controller-leader-zone)",
        ));
    }
    if matches!(fault.kind, FaultKind::Partition | FaultKind::OneWayPartition) {
        match &fault.peer {
            None => {
                return Err(ScenarioError::invalid(
                    file,
                    format!("{key}.peer"),
                    "the other group of the partition (or \"rest\")",
                ))
            }
            Some(peer) if !is_group(peer) => {
                return Err(ScenarioError::invalid(
                    file,
                    format!("{key}.peer"),
                    format!("a group that exists, got {peer:?}"),
                ))
            }
            _ => {}
        }
    }
    match fault.kind {
        FaultKind::Latency if !fault.amount.is_some_and(|a| (1.0..=10_000.0).contains(&a)) => {
            Err(ScenarioError::invalid(file, format!("{key}.amount"), "latency in ms, 1 to 10000"))
        }
        FaultKind::Loss if !fault.amount.is_some_and(|a| (0.0..1.0).contains(&a)) => {
            Err(ScenarioError::invalid(file, format!("{key}.amount"), "a loss rate in [0, 1)"))
        }
        _ => Ok(()),
    }
}
