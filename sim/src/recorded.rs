//! A history recorded outside the simulation (real processes, real clients: `ci/chaos-real.sh`)
//! judged by the simulation's own Kafka checker, so that what the simulation says and what
//! real processes on real sockets do are held to one definition.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkers::kafka_history::{self, CheckReport};
use crate::history::{History, Phases};

/// What a real-mode run writes: its operations (wall-clock ms since the run started) and
/// when its faults began and ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRun {
    pub phases: Phases,
    pub history: History,
    /// The faults as applied, for the report (`"12.0 s: kill -9 node 2"`).
    #[serde(default)]
    pub schedule: Vec<String>,
}

/// Reads and judges a recorded run; its report, or a message that says what is wrong with the
/// file. Acknowledged writes no poll returned count as lost: the run ends with a full drain.
pub fn judge(path: &Path) -> Result<(RecordedRun, CheckReport), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let run: RecordedRun =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a recorded run: {e}", path.display()))?;
    if run.history.is_empty() {
        return Err(format!("{}: no operations recorded: nothing to judge", path.display()));
    }
    let report = kafka_history::check(&run.history, &run.phases);
    Ok((run, report))
}

/// `faultline check-history FILE`: prints the verdict; exit 0 clean, 1 on a violation, 2 on
/// bad input.
pub fn main(path: &Path) -> std::process::ExitCode {
    let (run, report) = match judge(path) {
        Ok(judged) => judged,
        Err(message) => {
            eprintln!("error: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    for line in &run.schedule {
        println!("fault: {line}");
    }
    println!(
        "operations: {}; writes acknowledged {}, failed {}, indeterminate {}; records polled {}",
        run.history.len(),
        report.acked_writes,
        report.failed_writes,
        report.indeterminate_writes,
        report.polled_records
    );
    let produce = &report.availability.produce;
    println!("produce success before/during/after faults: {}", serde_json::to_string(produce).unwrap_or_default());
    if report.acked_writes == 0 || report.polled_records == 0 {
        println!("verdict: NOT TESTED (no acknowledged write or no poll: nothing to hold the checker to)");
        return std::process::ExitCode::from(1);
    }
    if report.is_clean() {
        println!("verdict: HOLDS (kafka-history checker: no lost, duplicated, reordered or phantom write)");
        return std::process::ExitCode::SUCCESS;
    }
    for violation in report.violations.iter().take(20) {
        println!(
            "violation: {} {} at {} ms: {}",
            violation.kind,
            violation.partition.as_ref().map(ToString::to_string).unwrap_or_default(),
            violation.at_ms,
            violation.detail
        );
    }
    println!("verdict: VIOLATED ({} violations)", report.violations.len());
    std::process::ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(ops: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("recorded-{}-{}.json", std::process::id(), ops.len()));
        let text =
            format!(r#"{{"phases": {{"faults_start_ms": 10, "faults_end_ms": 20}}, "history": {{"ops": [{ops}]}}}}"#);
        std::fs::write(&path, text).unwrap();
        path
    }

    const ACKED: &str = r#"{"process": 1, "start_ms": 0, "end_ms": 5, "kind": {"send": {"partition": {"topic": "chaos", "partition": 0}, "value": 7, "outcome": {"acked": {"offset": 0}}}}}"#;

    #[test]
    fn an_acknowledged_write_the_drain_never_returned_is_a_violation() {
        let drained_nothing = r#"{"process": 11, "start_ms": 30, "end_ms": 31, "kind": {"poll": {"group": "chaos-drain", "outcome": {"ok": {"records": []}}}}}"#;
        let (_, report) = judge(&recorded(&format!("{ACKED}, {drained_nothing}"))).unwrap();
        assert!(!report.is_clean(), "{report:?}");
        let drained = r#"{"process": 11, "start_ms": 30, "end_ms": 31, "kind": {"poll": {"group": "chaos-drain", "outcome": {"ok": {"records": [[{"topic": "chaos", "partition": 0}, 0, 7]]}}}}}"#;
        let (_, report) = judge(&recorded(&format!("{ACKED}, {drained}"))).unwrap();
        assert!(report.is_clean(), "{report:?}");
    }

    #[test]
    fn an_empty_or_malformed_recording_is_refused_with_a_reason() {
        assert!(judge(&recorded("")).unwrap_err().contains("no operations"));
        let path = std::env::temp_dir().join(format!("recorded-{}-bad.json", std::process::id()));
        std::fs::write(&path, "{}").unwrap();
        assert!(judge(&path).unwrap_err().contains("not a recorded run"));
    }
}
