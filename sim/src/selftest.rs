//! `faultline selftest`: a checker that cannot fail proves nothing. Each planted bug runs on
//! the scenario that should catch it, seed after seed, until a safety check reports it (a
//! seed that only fails to converge or to stay available does not count: a safety bug must
//! be caught by a safety check); the same seed must then pass without the bug.

use crate::runner::{run_seed, FirstViolation, RunOutcome, RunRequest};
use crate::scenario::LoadedScenario;

/// Each planted bug and the catalog scenario whose checkers must catch it.
pub const PLANTED_BUG_SCENARIOS: [(&str, &str); 7] = [
    ("unclean-leader-election", "random-faults"),
    ("ack-before-replication", "random-faults"),
    ("skip-truncation", "random-faults"),
    ("high-watermark-regression", "random-faults"),
    ("restarted-broker-keeps-leadership", "zone-loss-short"),
    ("non-atomic-metadata-batches", "zone-loss-short"),
    ("plaintext-inter-broker", "single-zone-outage"),
];

/// What a planted bug's hunt found.
#[derive(Debug, Clone)]
pub struct Catch {
    pub bug: &'static str,
    /// The run that a safety check failed.
    pub outcome: RunOutcome,
    /// Seeds before it that failed only a liveness expectation.
    pub liveness_only: Vec<u64>,
    /// The same seed without the bug passed.
    pub clean_passes: bool,
}

impl Catch {
    pub fn seed(&self) -> u64 {
        self.outcome.seed
    }

    pub fn violation(&self) -> &FirstViolation {
        self.outcome.violation.as_ref().expect("a catch has a violation")
    }
}

/// Runs `bug` on `scenario` from seed 1 until a safety check fails, at most `seeds_max` seeds.
pub fn hunt(bug: &'static str, scenario: &LoadedScenario, seeds_max: u64) -> Option<Catch> {
    let request = |seed: u64, bugs: Vec<String>| RunRequest {
        scenario: scenario.clone(),
        seed,
        bugs,
        schedule: None,
        duration_s: None,
    };
    let mut liveness_only = Vec::new();
    for seed in 1..=seeds_max {
        let outcome = run_seed(&request(seed, vec![bug.to_string()]));
        let Some(violation) = &outcome.violation else { continue };
        let safety = violation.expectation == "invariants"
            || outcome.expectations.iter().any(|e| !e.passed && !e.name.is_liveness());
        if !safety {
            liveness_only.push(seed);
            continue;
        }
        let clean_passes = run_seed(&request(seed, Vec::new())).violation.is_none();
        return Some(Catch { bug, outcome, liveness_only, clean_passes });
    }
    None
}
