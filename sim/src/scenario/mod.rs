//! Scenarios: TOML files, one per scenario, parsed once and strictly into typed values (enums
//! for fault kinds, groups, expectation names and comparisons). Unknown keys, wrong types,
//! out-of-range values and faults that name groups the world does not have are errors that
//! name the file, the key and what was expected (exit code 2); nothing is half-run. The seed
//! worker receives the typed scenario, never the text.
//!
//! The format grows by sections: a new subsystem adds its table to `ScenarioFile` and its
//! typed value to `Scenario`, validated in `parse`.

mod breach;
mod control_plane;
mod expectation;
mod group;
mod keys;
mod log_store;
mod network;
mod operators;
mod region;
mod schedule;
mod sla;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use breach::{BreachKind, BreachSpec, Delay, Window, WindowKind};
pub use control_plane::{
    AclSpec, ActionKind, ActionSpec, ClientKind, ClientSpec, ControlPlaneSpec, ProvisionerSpec, ServiceAccountSpec,
    TenantSpec,
};
pub use expectation::{Comparison, Expectation, ExpectationName};
pub use group::{Group, UnknownGroup, ZONES};
pub use keys::{KeyAction, KeyActionSpec, KeysSpec};
pub use log_store::LogStoreSpec;
pub use network::{NetworkSpec, CUSTOMER_VPC, PRIVATE_LINK_VPC, SERVICE_RANGES, TRANSIT_GATEWAY_VPC};
pub use operators::{OperatorsSpec, PersonKind, PersonSpec};
pub use region::RegionSpec;
pub use schedule::Fault;
pub use sla::{FaultRate, RateTarget, Simulate, SlaMonthSpec};

/// A validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Claim ids from scenarios/CLAIMS.md this scenario verifies.
    pub claims: Vec<String>,
    /// Simulated seconds of the safety phase (faults happen inside it).
    pub duration_s: u64,
    /// Seeds the nightly catalog runs.
    pub nightly_seeds: Range<u64>,
    pub topics: Vec<TopicSpec>,
    pub workload: WorkloadSpec,
    pub faults: Vec<FaultSpec>,
    /// Faults drawn from the seed (swarm testing), in addition to `faults`.
    pub generate: Option<GenerateSpec>,
    pub liveness: LivenessSpec,
    pub expectations: Vec<Expectation>,
    /// Service accounts, actions and clients of the control plane (empty: only the workload).
    pub control_plane: ControlPlaneSpec,
    /// A private cluster network peered with the customer VPC (`None`: public endpoints).
    pub network: Option<NetworkSpec>,
    /// A second region of the service, and a cluster asked for in the customer's (C07).
    pub region: Option<RegionSpec>,
    /// The cluster's master key and what is done to it (C09).
    pub keys: KeysSpec,
    /// The security log store, its source and its tamperer (C12).
    pub log_store: Option<LogStoreSpec>,
    /// The staff directory, the bastions and the people who use them (C10).
    pub operators: Option<OperatorsSpec>,
    /// An attacker, detection, the incident desk, the on-call rota and the customer (C23).
    pub breach: Option<BreachSpec>,
    /// A month of one cluster type against its SLA (C03).
    #[serde(default)]
    pub sla_month: Option<SlaMonthSpec>,
}

/// The file as written: the untyped parts (`nightly_seeds`, groups, expectations) are typed by
/// `parse`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    description: String,
    claims: Vec<String>,
    duration_s: u64,
    /// "A..B", B excluded.
    nightly_seeds: String,
    #[serde(default)]
    topics: Vec<TopicSpec>,
    workload: WorkloadSpec,
    #[serde(default)]
    faults: Vec<FaultFile>,
    #[serde(default)]
    generate: Option<GenerateSpec>,
    liveness: LivenessSpec,
    /// Expectation name -> "= 0", "<= 3", ">= 0.99" or a bare number (meaning "=").
    expectations: BTreeMap<String, toml::Value>,
    #[serde(default)]
    control_plane: ControlPlaneSpec,
    #[serde(default)]
    network: Option<NetworkSpec>,
    #[serde(default)]
    region: Option<RegionSpec>,
    #[serde(default)]
    keys: KeysSpec,
    #[serde(default)]
    log_store: Option<LogStoreSpec>,
    #[serde(default)]
    operators: Option<OperatorsSpec>,
    #[serde(default)]
    breach: Option<BreachSpec>,
    #[serde(default)]
    sla_month: Option<sla::SlaMonthFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultFile {
    kind: FaultKind,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    peer: Option<String>,
    start_s: f64,
    end_s: f64,
    #[serde(default)]
    amount: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Whether the workload's producers and consumers use it (false: only control-plane
    /// clients, and for a topic with a retention its own client, whose records the history
    /// checker does not know).
    #[serde(default = "yes")]
    pub workload: bool,
    /// The topic's `retention.ms` (C13; default: the service's, 7 days).
    #[serde(default)]
    pub retention_ms: Option<u64>,
}

fn yes() -> bool {
    true
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
    /// Producers seal a field of every value with client-side field encryption, under a key
    /// the service never gets, and consumers open it (C26).
    #[serde(default)]
    pub protected_field: bool,
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
    /// The customer VPC's route toward the cluster is removed (`target = "peering"`): new
    /// connects hang, established ones stall, until it is restored at `end_s`.
    RouteWithdrawn,
    /// Every DNS server of the service is down; clients live on their caches.
    DnsOutage,
    /// The cluster network is detached from the customer's transit gateway: connections over
    /// it hang and stall until it is attached again.
    TransitGatewayDetach,
    /// The customer deletes its peering through the control plane (`target = "peering"`) and
    /// peers again at `end_s`; routes follow the control plane's records.
    PeeringDeleted,
    /// The brokers' public endpoints move to new addresses (a load balancer replaced): the DNS
    /// answers change, the old addresses stop answering; they move back at `end_s`.
    DnsChange,
    /// Every zone of the customer's region loses power (its brokers and DNS servers; unsynced
    /// writes lost, disks kept); back at `end_s`. Nothing may move to another region (C07).
    RegionOutage,
    /// Every frontend of the region's key service is down: brokers carry on with the keys they
    /// hold for a lease, then stop serving (C09); back at `end_s`.
    KmsOutage,
    /// The target's disks are under write-back pressure: a group commit's fsync takes `amount`
    /// ms instead of 2.2 (acknowledgements wait for it); back to normal at `end_s`.
    SlowDisk,
}

impl FaultKind {
    pub const ALL: [FaultKind; 16] = [
        FaultKind::KillNode,
        FaultKind::ZoneOutage,
        FaultKind::ZoneLoss,
        FaultKind::Partition,
        FaultKind::OneWayPartition,
        FaultKind::Latency,
        FaultKind::Loss,
        FaultKind::Pause,
        FaultKind::RouteWithdrawn,
        FaultKind::DnsOutage,
        FaultKind::TransitGatewayDetach,
        FaultKind::PeeringDeleted,
        FaultKind::DnsChange,
        FaultKind::RegionOutage,
        FaultKind::KmsOutage,
        FaultKind::SlowDisk,
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
            FaultKind::RouteWithdrawn => "route-withdrawn",
            FaultKind::DnsOutage => "dns-outage",
            FaultKind::TransitGatewayDetach => "transit-gateway-detach",
            FaultKind::PeeringDeleted => "peering-deleted",
            FaultKind::DnsChange => "dns-change",
            FaultKind::RegionOutage => "region-outage",
            FaultKind::KmsOutage => "kms-outage",
            FaultKind::SlowDisk => "slow-disk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// Whom the fault hits; `None` only for latency and loss (every link).
    pub target: Option<Group>,
    /// The other side of a partition (`Group::Rest` for everything else).
    pub peer: Option<Group>,
    pub start_s: f64,
    pub end_s: f64,
    /// Latency in ms (of links, or of a slow disk's fsync), or loss rate in [0, 1).
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

/// Loaded and validated, with where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadedScenario {
    pub path: PathBuf,
    /// The file's text, for capsules (which embed it); not sent to seed workers.
    #[serde(skip)]
    pub text: String,
    /// SHA-256 of the text, so a capsule knows whether its scenario changed.
    pub hash: String,
    pub scenario: Scenario,
}

impl LoadedScenario {
    /// Parses `text` as the scenario at `path` (`label` names it in errors).
    pub fn from_text(path: &Path, label: &str, text: String) -> Result<LoadedScenario, ScenarioError> {
        let scenario = parse(label, &text)?;
        let hash = hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref());
        Ok(LoadedScenario { path: path.to_path_buf(), text, hash, scenario })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn load(path: &Path) -> Result<LoadedScenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { file: file.clone(), source })?;
    LoadedScenario::from_text(path, &file, text)
}

/// Every scenario file (`*.toml`) of the catalog directory `dir`, in file-name order.
pub fn load_catalog(dir: &Path) -> Result<Vec<LoadedScenario>, ScenarioError> {
    let unreadable = |source| ScenarioError::Read { file: dir.display().to_string(), source };
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p)).collect()
}

pub fn parse_seed_range(text: &str) -> Option<std::ops::Range<u64>> {
    let (start, end) = text.split_once("..")?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    (start < end).then_some(start..end)
}

pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let scenario: ScenarioFile = toml::from_str(text).map_err(|error| ScenarioError::Parse {
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
        use broker::controller::metadata::{RETENTION_MS_MAX, RETENTION_MS_MIN};
        if topic.retention_ms.is_some_and(|ms| !(RETENTION_MS_MIN..=RETENTION_MS_MAX).contains(&ms)) {
            return Err(ScenarioError::invalid(
                file,
                format!("topics[{index}].retention_ms"),
                format!("{RETENTION_MS_MIN} to {RETENTION_MS_MAX} (what the service accepts)"),
            ));
        }
        if topic.retention_ms.is_some() && topic.workload {
            // The history checker counts every acknowledged record it never reads as lost.
            return Err(ScenarioError::invalid(
                file,
                format!("topics[{index}].workload"),
                "false for a topic with retention_ms (its own client writes and reads it)",
            ));
        }
        if !(1..=64).contains(&topic.partitions) {
            return Err(ScenarioError::invalid(file, format!("topics[{index}].partitions"), "1 to 64"));
        }
    }
    if !scenario.topics.iter().any(|t| t.workload) {
        return Err(ScenarioError::invalid(file, "topics", "at least one [[topics]] table the workload uses"));
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
    let sla_month = scenario.sla_month.map(|m| m.validate(file)).transpose()?;
    if sla_month.is_some() && (!scenario.faults.is_empty() || scenario.generate.is_some()) {
        return Err(ScenarioError::invalid(
            file,
            "sla_month",
            "its own fault rates only (no [[faults]] or [generate])",
        ));
    }
    let faults = scenario
        .faults
        .iter()
        .enumerate()
        .map(|(index, fault)| typed_fault(file, &format!("faults[{index}]"), fault, scenario.duration_s))
        .collect::<Result<Vec<_>, _>>()?;
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
    scenario.control_plane.validate(file, &scenario.topics, scenario.duration_s)?;
    if let Some(network) = &scenario.network {
        network.validate(file, workload.producers + workload.consumers)?;
        if !scenario.control_plane.tenants.is_empty() {
            return Err(ScenarioError::invalid(
                file,
                "network",
                "no [[control_plane.tenants]]: a [network] cluster is Dedicated, with brokers of its own",
            ));
        }
    }
    if let Some(log_store) = &scenario.log_store {
        log_store.validate(file)?;
    }
    if let Some(operators) = &scenario.operators {
        operators.validate(file, scenario.duration_s, scenario.log_store.is_some())?;
    }
    if let Some(breach) = &scenario.breach {
        let end_s = scenario
            .log_store
            .as_ref()
            .map_or(scenario.duration_s as f64, |l| l.end_ms(scenario.duration_s) as f64 / 1000.0);
        breach.validate(file, scenario.duration_s, end_s, scenario.log_store.is_some())?;
    }
    if let Some(region) = &scenario.region {
        region.validate(file, scenario.duration_s)?;
        if scenario.network.is_some() {
            return Err(ScenarioError::invalid(
                file,
                "region",
                "a public cluster: [region] without [network] (for now)",
            ));
        }
    }
    for (index, tenant) in scenario.control_plane.tenants.iter().enumerate() {
        let offered: &[&str] = if scenario.region.is_some() { &["region-1", "region-2"] } else { &["region-1"] };
        if tenant.region.as_deref().is_some_and(|r| !offered.contains(&r)) {
            return Err(ScenarioError::invalid(
                file,
                format!("control_plane.tenants[{index}].region"),
                format!("one of {} (region-2 needs a [region] section)", offered.join(", ")),
            ));
        }
    }
    scenario.keys.validate(file, scenario.duration_s)?;
    if scenario.keys.byok && !scenario.control_plane.tenants.is_empty() {
        return Err(ScenarioError::invalid(
            file,
            "keys.byok",
            "no [[control_plane.tenants]]: a cluster with its own key is Dedicated, with brokers of its own",
        ));
    }
    if !(1..=3_600).contains(&scenario.liveness.converge_within_s) {
        return Err(ScenarioError::invalid(file, "liveness.converge_within_s", "1 to 3600"));
    }
    let mut expectations = Vec::new();
    for (name, value) in &scenario.expectations {
        let key = format!("expectations.{name}");
        let name: ExpectationName = name.parse().map_err(|_| {
            let names: Vec<&str> = ExpectationName::ALL.iter().map(|e| e.name()).collect();
            ScenarioError::invalid(file, &key, format!("one of {}", names.join(", ")))
        })?;
        let comparison = |value: f64| Some((Comparison::Equal, value));
        let parsed = match value {
            toml::Value::Integer(n) => comparison(*n as f64),
            toml::Value::Float(f) => comparison(*f),
            toml::Value::Boolean(b) => comparison(if *b { 1.0 } else { 0.0 }),
            toml::Value::String(text) => Comparison::parse(text),
            _ => None,
        };
        let (comparison, bound) =
            parsed.ok_or_else(|| ScenarioError::invalid(file, &key, "a number or a comparison such as \">= 0.99\""))?;
        expectations.push(Expectation { name, comparison, bound });
    }
    let regional = [
        ExpectationName::RegionViolations,
        ExpectationName::RegionCanariesAtHome,
        ExpectationName::RegionUnavailableAnswers,
        ExpectationName::RegionPlacements,
    ];
    if let Some(e) = expectations.iter().find(|e| regional.contains(&e.name)).filter(|_| scenario.region.is_none()) {
        // One region: nothing to cross, so a 0 would be "not tested", never "holds".
        return Err(ScenarioError::invalid(
            file,
            format!("expectations.{}", e.name.name()),
            "a [region] section: the boundary is judged only with a second region",
        ));
    }
    // Key checks with nothing to judge would read 0 for "not tested".
    let timeline = scenario.keys.timeline(scenario.duration_s);
    let revokes = timeline
        .iter()
        .any(|(_, a)| matches!(a, KeyAction::Disable | KeyAction::RevokeGrant | KeyAction::ScheduleDeletion));
    let kms_outage = faults.iter().any(|f| f.kind == FaultKind::KmsOutage)
        || scenario.generate.as_ref().is_some_and(|g| g.kinds.contains(&FaultKind::KmsOutage));
    let rotates = timeline.iter().any(|(_, a)| *a == KeyAction::Rotate);
    let deletes_a_cluster = scenario.control_plane.actions.iter().any(|a| a.action == ActionKind::DeleteCluster);
    for e in &expectations {
        let needs = match e.name {
            ExpectationName::OverdueSegments
            | ExpectationName::RetentionDeletions
            | ExpectationName::EarlyDeletions
            | ExpectationName::RecordsExpired
                if !scenario.topics.iter().any(|t| t.retention_ms.is_some()) =>
            {
                "a [[topics]] with retention_ms"
            }
            ExpectationName::ProtectedFieldsInClear
            | ExpectationName::ProtectedFieldsOpened
            | ExpectationName::ProtectedFieldsBroken
                if !scenario.workload.protected_field =>
            {
                "[workload] protected_field = true"
            }
            ExpectationName::ServedAfterClusterDelete
            | ExpectationName::DeletedClusterFiles
            | ExpectationName::DeletedClusterDecryptable
                if !deletes_a_cluster =>
            {
                "a [[control_plane.actions]] action \"delete-cluster\""
            }
            ExpectationName::ServedPastKeyBound | ExpectationName::KeyRefusals if !(revokes || kms_outage) => {
                "a revoking [[keys.actions]] (disable, revoke-grant, schedule-deletion) or a kms-outage fault"
            }
            ExpectationName::StaleKeyVersions | ExpectationName::KeyRotations if !rotates => {
                "a rotation in [keys] (an action \"rotate\" or rotate_every_s)"
            }
            ExpectationName::LogEntriesLost
            | ExpectationName::LogEntriesPurgedEarly
            | ExpectationName::LogEntriesOverdue
            | ExpectationName::LogEntriesAltered
            | ExpectationName::LogTamperingPerformed
            | ExpectationName::LogTamperingUnlogged
            | ExpectationName::LogEntriesChecked
            | ExpectationName::LogTamperAttempts
            | ExpectationName::LogPurges
                if scenario.log_store.is_none() =>
            {
                "a [log_store] section"
            }
            ExpectationName::OperatorAccessViolations
            | ExpectationName::OperatorRefusalsUnlogged
            | ExpectationName::OperatorAttempts
            | ExpectationName::OperatorRevocationS
                if scenario.operators.is_none() =>
            {
                "an [operators] section"
            }
            ExpectationName::BreachNoticesLate
            | ExpectationName::BreachesUndetected
            | ExpectationName::BreachNoticesChecked
            | ExpectationName::BreachesInjected
                if scenario.breach.is_none() =>
            {
                "a [breach] section"
            }
            ExpectationName::LogTamperingPerformed
            | ExpectationName::LogTamperingUnlogged
            | ExpectationName::LogTamperAttempts
                if scenario.log_store.as_ref().is_some_and(|l| l.tamper_interval_s.is_none()) =>
            {
                "log_store.tamper_interval_s"
            }
            _ => continue,
        };
        return Err(ScenarioError::invalid(file, format!("expectations.{}", e.name.name()), needs));
    }
    Ok(Scenario {
        name: scenario.name,
        description: scenario.description,
        claims: scenario.claims,
        duration_s: scenario.duration_s,
        nightly_seeds,
        topics: scenario.topics,
        workload: scenario.workload,
        faults,
        generate: scenario.generate,
        liveness: scenario.liveness,
        expectations,
        control_plane: scenario.control_plane,
        network: scenario.network,
        region: scenario.region,
        keys: scenario.keys,
        log_store: scenario.log_store,
        operators: scenario.operators,
        breach: scenario.breach,
        sla_month,
    })
}

fn typed_group(file: &str, key: String, name: &str) -> Result<Group, ScenarioError> {
    name.parse().map_err(|_| {
        ScenarioError::invalid(file, key, format!("a group that exists (zone-a..zone-c, broker-1..broker-3, peering, control-plane, controller-leader-zone, partition-leader:<topic>/<n>), got {name:?}"))
    })
}

fn typed_fault(file: &str, key: &str, fault: &FaultFile, duration_s: u64) -> Result<FaultSpec, ScenarioError> {
    if !(fault.start_s >= 0.0 && fault.start_s < fault.end_s && fault.end_s <= duration_s as f64) {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.end_s"),
            format!("start_s < end_s <= duration_s ({duration_s})"),
        ));
    }
    let needs_target = !matches!(
        fault.kind,
        FaultKind::Latency
            | FaultKind::Loss
            | FaultKind::DnsOutage
            | FaultKind::TransitGatewayDetach
            | FaultKind::DnsChange
            | FaultKind::RegionOutage
            | FaultKind::KmsOutage
    );
    let target = match (&fault.target, needs_target) {
        (None, true) => {
            return Err(ScenarioError::invalid(
                file,
                format!("{key}.target"),
                "a group such as \"zone-a\", \"broker-2\" or \"peering\"",
            ))
        }
        (None, false) => None,
        (Some(target), _) => Some(typed_group(file, format!("{key}.target"), target)?),
    };
    // The control plane's machine is alone in its zone: losing that zone is losing it.
    let zone_like = |t: &Group| t.is_zone() || *t == Group::ControlPlane;
    if matches!(fault.kind, FaultKind::ZoneOutage | FaultKind::ZoneLoss) && !target.as_ref().is_some_and(zone_like) {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.target"),
            "a zone (zone-a, zone-b, zone-c, controller-leader-zone, or control-plane for its own zone)",
        ));
    }
    let peer = match (&fault.peer, matches!(fault.kind, FaultKind::Partition | FaultKind::OneWayPartition)) {
        (None, true) => {
            return Err(ScenarioError::invalid(
                file,
                format!("{key}.peer"),
                "the other group of the partition (or \"rest\")",
            ))
        }
        (Some(peer), _) => Some(typed_group(file, format!("{key}.peer"), peer).map_err(|_| {
            ScenarioError::invalid(file, format!("{key}.peer"), format!("a group that exists, got {peer:?}"))
        })?),
        (None, false) => None,
    };
    if matches!(fault.kind, FaultKind::RouteWithdrawn | FaultKind::PeeringDeleted) && target != Some(Group::Peering) {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.target"),
            "\"peering\": the customer network whose route or peering to the cluster goes away",
        ));
    }
    if matches!(
        fault.kind,
        FaultKind::DnsOutage
            | FaultKind::TransitGatewayDetach
            | FaultKind::DnsChange
            | FaultKind::RegionOutage
            | FaultKind::KmsOutage
    ) && target.is_some()
    {
        return Err(ScenarioError::invalid(
            file,
            format!("{key}.target"),
            "none: a DNS outage takes every DNS server, a DNS change moves every public endpoint, a detach the cluster network's one attachment, a region outage every zone of the customer's region, a key-service outage every frontend of it",
        ));
    }
    match fault.kind {
        FaultKind::Latency if !fault.amount.is_some_and(|a| (1.0..=10_000.0).contains(&a)) => {
            Err(ScenarioError::invalid(file, format!("{key}.amount"), "latency in ms, 1 to 10000"))
        }
        FaultKind::Loss if !fault.amount.is_some_and(|a| (0.0..1.0).contains(&a)) => {
            Err(ScenarioError::invalid(file, format!("{key}.amount"), "a loss rate in [0, 1)"))
        }
        FaultKind::SlowDisk if !fault.amount.is_some_and(|a| (1.0..=10_000.0).contains(&a)) => {
            Err(ScenarioError::invalid(file, format!("{key}.amount"), "the fsync latency in ms, 1 to 10000"))
        }
        _ => Ok(FaultSpec {
            kind: fault.kind.clone(),
            target,
            peer,
            start_s: fault.start_s,
            end_s: fault.end_s,
            amount: fault.amount,
        }),
    }
}
