//! The harness's expected failures: bad input of every kind. Each is reported with what was
//! wrong and where, and exits 2 (`faultline` never half-runs on bad input).

use std::path::PathBuf;

use broker::planted_bugs::UnknownPlantedBug;

use crate::scenario::ScenarioError;

#[derive(Debug, thiserror::Error)]
pub enum FaultlineError {
    /// A scenario file that cannot be read or used.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A scenario name that is not in the catalog.
    #[error("unknown scenario {name:?} (no {path}); known: {known}")]
    UnknownScenario { name: String, path: String, known: String },
    /// A planted bug that does not exist.
    #[error(transparent)]
    PlantedBug(#[from] UnknownPlantedBug),
    /// A command-line value that does not parse.
    #[error("{flag} {value:?}: expected {expected}")]
    BadArgument { flag: &'static str, value: String, expected: &'static str },
    /// A file or directory that cannot be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A capsule file that is not a faultline capsule.
    #[error("{path}: not a faultline capsule: {source}")]
    NotACapsule { path: PathBuf, source: serde_json::Error },
    /// A summary file that is not a faultline summary.
    #[error("{path}: not a faultline summary: {detail}")]
    NotASummary { path: PathBuf, detail: String },
    /// The run history could not be opened or written (the reports were written).
    #[error("history {location}: not recorded (the reports were written)")]
    HistoryUnavailable { location: String },
    /// The history said no (unreachable, not a history, or no such run in it).
    #[error("{0}")]
    History(String),
    /// `report-merge` was given nothing to merge.
    #[error("report-merge needs at least one summary.json")]
    NothingToMerge,
}

impl FaultlineError {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> FaultlineError {
        let path = path.into();
        move |source| FaultlineError::Io { path, source }
    }
}
