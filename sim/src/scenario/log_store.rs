//! The `[log_store]` section (C12): the service runs its security log store (a replica per
//! zone; brokers ship their authentication and authorization decisions to it) and the
//! security-operations host, where the harness's log source ships an event every
//! `source_interval_s` and an agent whose token an attacker holds tries to alter, delete or
//! truncate the log every `tamper_interval_s`.
//!
//! `days_after` runs the security services on for that many simulated days after the
//! cluster's part of the run (`duration_s`, its faults, its checks): the cluster's machines are
//! paused for that stretch (nothing of theirs runs or is judged), so that a year costs what
//! the log store's own work costs. Timing settings of the service do not change.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

/// Long enough for a year and its purge bound, with room.
const DAYS_AFTER_MAX: f64 = 800.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogStoreSpec {
    /// Simulated seconds between the harness source's events.
    pub source_interval_s: f64,
    /// Simulated seconds between tampering attempts (none without it).
    #[serde(default)]
    pub tamper_interval_s: Option<f64>,
    /// Simulated days the security services run on after the cluster's part.
    #[serde(default)]
    pub days_after: f64,
}

impl LogStoreSpec {
    pub fn validate(&self, file: &str) -> Result<(), ScenarioError> {
        // NaN is refused with the rest.
        if !(0.1..=f64::MAX).contains(&self.source_interval_s) {
            return Err(ScenarioError::invalid(file, "log_store.source_interval_s", "at least 0.1"));
        }
        if self.tamper_interval_s.is_some_and(|s| !(1.0..=f64::MAX).contains(&s)) {
            return Err(ScenarioError::invalid(file, "log_store.tamper_interval_s", "at least 1"));
        }
        if !(0.0..=DAYS_AFTER_MAX).contains(&self.days_after) {
            return Err(ScenarioError::invalid(file, "log_store.days_after", format!("0 to {DAYS_AFTER_MAX}")));
        }
        Ok(())
    }

    /// The whole run's end in simulated ms from t = 0, with the cluster's part `duration_s`.
    pub fn end_ms(&self, duration_s: u64) -> u64 {
        duration_s * 1000 + (self.days_after * 86_400_000.0) as u64
    }
}
