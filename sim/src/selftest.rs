//! `faultline selftest`: a checker that cannot fail proves nothing. Each planted bug runs on
//! the scenario that should catch it, seed after seed, until a safety check reports it; the
//! same seed must then pass without the bug.

use crate::runner::{run_seed, FirstViolation, RunRequest};
use crate::scenario::LoadedScenario;

/// Each planted bug and the catalog scenario whose checkers must catch it.
pub const PLANTED_BUG_SCENARIOS: [(&str, &str); 6] = [
    ("unclean-leader-election", "random-faults"),
    ("ack-before-replication", "random-faults"),
    ("skip-truncation", "random-faults"),
    ("high-watermark-regression", "random-faults"),
    ("restarted-broker-keeps-leadership", "zone-loss-short"),
    ("non-atomic-metadata-batches", "zone-loss-short"),
];

/// What a planted bug's hunt found.
#[derive(Debug, Clone)]
pub struct Catch {
    pub bug: &'static str,
    pub seed: u64,
    pub violation: FirstViolation,
    /// The same seed without the bug passed.
    pub clean_passes: bool,
}

/// Runs `bug` on `scenario` from seed 1 until a violation, at most `seeds_max` seeds.
pub fn hunt(bug: &'static str, scenario: &LoadedScenario, seeds_max: u64) -> Option<Catch> {
    let request = |seed: u64, bugs: Vec<String>| RunRequest { scenario: scenario.clone(), seed, bugs, schedule: None, duration_s: None };
    (1..=seeds_max).find_map(|seed| {
        let outcome = run_seed(&request(seed, vec![bug.to_string()]));
        let violation = outcome.violation?;
        let clean_passes = run_seed(&request(seed, Vec::new())).violation.is_none();
        Some(Catch { bug, seed, violation, clean_passes })
    })
}
