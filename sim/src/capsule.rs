//! Capsules: everything needed to rerun a failing seed exactly (JSON). The scenario text is
//! embedded, so a capsule replays even after the file changed (its hash says whether it did).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::FaultlineError;
pub use crate::outcome::FirstViolation;
#[cfg(madsim)]
use crate::outcome::{RunOutcome, RunRequest};
use crate::scenario::{Fault, LoadedScenario};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capsule {
    pub format: u32,
    pub scenario: String,
    pub scenario_path: String,
    pub scenario_hash: String,
    pub scenario_text: String,
    pub seed: u64,
    pub commit: String,
    pub bugs: Vec<String>,
    pub schedule: Vec<Fault>,
    pub duration_s: u64,
    pub violation: FirstViolation,
    pub trace_hash: String,
    /// Absent in capsules written before wire hashes were recorded.
    #[serde(default)]
    pub wire_hash: Option<String>,
}

/// The commit this binary was built from (for capsules), or "unknown".
pub fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl Capsule {
    #[cfg(madsim)]
    pub fn from_outcome(scenario: &LoadedScenario, outcome: &RunOutcome) -> Option<Capsule> {
        Some(Capsule {
            format: 1,
            scenario: scenario.scenario.name.clone(),
            scenario_path: scenario.path.display().to_string(),
            scenario_hash: scenario.hash.clone(),
            scenario_text: scenario.text.clone(),
            seed: outcome.seed,
            commit: commit(),
            bugs: outcome.bugs.clone(),
            schedule: outcome.schedule.clone(),
            duration_s: outcome.duration_s,
            violation: outcome.violation.clone()?,
            trace_hash: outcome.trace_hash.clone(),
            wire_hash: Some(outcome.wire_hash.clone()),
        })
    }

    pub fn load(path: &Path) -> Result<Capsule, FaultlineError> {
        let text = std::fs::read_to_string(path).map_err(FaultlineError::io(path))?;
        Capsule::from_json(&text).map_err(|source| FaultlineError::NotACapsule { path: path.into(), source })
    }

    pub fn from_json(text: &str) -> Result<Capsule, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("capsules serialize") + "\n"
    }

    /// Writes the capsule; returns the bytes written.
    pub fn write(&self, path: &Path) -> Result<u64, FaultlineError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(FaultlineError::io(parent))?;
        }
        let json = self.to_json();
        std::fs::write(path, &json).map_err(FaultlineError::io(path))?;
        Ok(json.len() as u64)
    }

    pub fn file_name(&self) -> PathBuf {
        PathBuf::from(format!("{}-seed-{}.json", self.scenario, self.seed))
    }

    /// The scenario embedded in the capsule, validated as a scenario file is.
    pub fn scenario(&self) -> Result<LoadedScenario, FaultlineError> {
        let label = format!("{} (embedded in capsule)", self.scenario_path);
        Ok(LoadedScenario::from_text(Path::new(&self.scenario_path), &label, self.scenario_text.clone())?)
    }

    /// The run request that reproduces this capsule.
    #[cfg(madsim)]
    pub fn request(&self) -> Result<RunRequest, FaultlineError> {
        Ok(RunRequest {
            scenario: self.scenario()?,
            seed: self.seed,
            bugs: self.bugs.clone(),
            schedule: Some(self.schedule.clone()),
            duration_s: Some(self.duration_s),
        })
    }
}
