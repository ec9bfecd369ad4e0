//! The `[sla_month]` section (C03): a cluster of one type runs for `days` simulated days with
//! faults drawn at the rates the scenario file gives (and cites), under the scenario's light
//! workload; its availability is measured in time and compared with the type's SLA.
//!
//! A month is simulated as episodes (`crate::sla`): each fault, with a lead-in before it and a
//! settling stretch after, runs in full on a fresh cluster; the quiet time between episodes is
//! counted as up, and one quiet stretch per month, drawn from the seed, is simulated to check
//! that it is. `simulate = "full"` runs the whole month as one simulation instead (what the
//! episodes are validated against).

use broker::control_plane::model::ClusterType;
use serde::{Deserialize, Serialize};

use super::{FaultKind, ScenarioError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaMonthFile {
    pub cluster_type: ClusterType,
    #[serde(default = "thirty")]
    pub days: f64,
    #[serde(default)]
    pub simulate: Simulate,
    /// Simulated seconds of steady state before each episode's first fault.
    #[serde(default = "lead_in")]
    pub lead_in_s: u64,
    /// Simulated seconds after an episode's last fault ends: recovery happens inside it.
    #[serde(default = "settle")]
    pub settle_s: u64,
    /// The quiet stretch simulated per month to check that quiet time is up.
    #[serde(default = "quiet_sample")]
    pub quiet_sample_s: u64,
    pub faults: Vec<FaultRate>,
}

fn thirty() -> f64 {
    30.0
}
fn lead_in() -> u64 {
    30
}
fn settle() -> u64 {
    180
}
fn quiet_sample() -> u64 {
    600
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Simulate {
    /// Faults in full, quiet time counted as up (and sampled).
    #[default]
    Episodes,
    /// The whole month as one simulation.
    Full,
}

/// One kind of failure and how often it strikes the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRate {
    pub kind: FaultKind,
    /// What one event strikes.
    pub target: RateTarget,
    /// Expected events per month for the whole cluster (a Poisson process).
    pub per_month: f64,
    /// Length of one event: drawn log-uniformly between the two (failure lengths are heavy-tailed).
    pub duration_s: [f64; 2],
    /// The fault's amount (ms of latency or fsync, a loss ratio), drawn uniformly between the two.
    #[serde(default)]
    pub amount: Option<[f64; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateTarget {
    /// One broker, drawn per event.
    Broker,
    /// One zone, drawn per event (for a partition: cut from the rest).
    Zone,
    /// Every zone at once: the one zone a single-zone (Basic) cluster lives in.
    ClusterZone,
    /// The customer VPC's link to the cluster network (a partition from the cluster).
    Peering,
    /// No target (latency, loss).
    None,
}

/// The validated section; `episode` is set by the harness on the scenarios it derives for one
/// episode (never from a file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaMonthSpec {
    pub cluster_type: ClusterType,
    pub days: f64,
    pub simulate: Simulate,
    pub lead_in_s: u64,
    pub settle_s: u64,
    pub quiet_sample_s: u64,
    pub faults: Vec<FaultRate>,
    pub episode: Option<u32>,
}

impl SlaMonthSpec {
    pub fn month_ms(&self) -> u64 {
        (self.days * 86_400_000.0) as u64
    }

    pub fn sla_percent(&self) -> f64 {
        self.cluster_type.sla_target_percent()
    }
}

impl SlaMonthFile {
    pub fn validate(self, file: &str) -> Result<SlaMonthSpec, ScenarioError> {
        let invalid = |key: String, needs: &str| ScenarioError::invalid(file, key, needs);
        if !(0.01..=400.0).contains(&self.days) {
            return Err(invalid("sla_month.days".into(), "between 0.01 and 400"));
        }
        if self.faults.is_empty() {
            return Err(invalid("sla_month.faults".into(), "at least one fault rate"));
        }
        for (i, rate) in self.faults.iter().enumerate() {
            let key = |field: &str| format!("sla_month.faults[{i}].{field}");
            if !(0.0..=1000.0).contains(&rate.per_month) {
                return Err(invalid(key("per_month"), "between 0 and 1000"));
            }
            let [low, high] = rate.duration_s;
            if !(low >= 0.1 && low <= high && high <= 7.0 * 86_400.0) {
                return Err(invalid(key("duration_s"), "[min, max] with 0.1 <= min <= max <= 7 days"));
            }
            let targeted = matches!(
                rate.kind,
                FaultKind::KillNode
                    | FaultKind::Pause
                    | FaultKind::ZoneOutage
                    | FaultKind::ZoneLoss
                    | FaultKind::Partition
                    | FaultKind::OneWayPartition
                    | FaultKind::SlowDisk
            );
            let fits = match rate.target {
                RateTarget::Broker => {
                    matches!(rate.kind, FaultKind::KillNode | FaultKind::Pause | FaultKind::Partition)
                }
                RateTarget::Zone => targeted && !matches!(rate.kind, FaultKind::KillNode | FaultKind::Pause),
                RateTarget::ClusterZone => {
                    matches!(rate.kind, FaultKind::ZoneOutage | FaultKind::ZoneLoss | FaultKind::SlowDisk)
                }
                RateTarget::Peering => rate.kind == FaultKind::Partition,
                RateTarget::None => matches!(rate.kind, FaultKind::Latency | FaultKind::Loss),
            };
            if !fits {
                return Err(invalid(
                    key("target"),
                    "a target the kind takes: broker (kill-node, pause, partition), zone (zone faults, partitions, slow-disk), peering (partition), cluster-zone (zone-outage, zone-loss, slow-disk), none (latency, loss)",
                ));
            }
            let needs_amount = matches!(rate.kind, FaultKind::Latency | FaultKind::Loss | FaultKind::SlowDisk);
            if needs_amount != rate.amount.is_some() {
                return Err(invalid(key("amount"), "[min, max] for latency, loss and slow-disk only"));
            }
        }
        Ok(SlaMonthSpec {
            cluster_type: self.cluster_type,
            days: self.days,
            simulate: self.simulate,
            lead_in_s: self.lead_in_s,
            settle_s: self.settle_s,
            quiet_sample_s: self.quiet_sample_s,
            faults: self.faults,
            episode: None,
        })
    }
}
