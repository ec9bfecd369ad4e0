//! Evidence that can fail the way a reader assumes: each test shows a check failing on a real
//! simulated run where an older, weaker check passed.

use sim::runner::{run_seed, RunRequest};
use sim::scenario::LoadedScenario;

fn scenario_from(text: &str) -> LoadedScenario {
    LoadedScenario::from_text(std::path::Path::new("scenarios/evidence.toml"), "evidence.toml", text.to_string())
        .unwrap()
}

fn expectation<'a>(outcome: &'a sim::runner::RunOutcome, name: &str) -> &'a sim::runner::ExpectationOutcome {
    outcome.expectations.iter().find(|e| e.name.name() == name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn a_twenty_second_silence_towards_the_clients_breaks_the_gap_bound_that_the_ratio_misses() {
    crate::use_faultline_worker();
    // The cluster cannot send anything to the client network for 20 s; every send retries for
    // up to 30 s, so each one succeeds eventually and the operation ratio stays at 100 %.
    let scenario = scenario_from(
        r#"
name = "client-silence"
description = "The cluster cannot send to the client network for 20 s."
claims = ["C20"]
duration_s = 90
nightly_seeds = "1..2"
[[topics]]
name = "orders"
partitions = 3
[workload]
producers = 2
consumers = 1
produce_interval_ms = 100
[[faults]]
kind = "one-way-partition"
target = "cluster"
peer = "peering"
start_s = 30
end_s = 50
[liveness]
converge_within_s = 60
[expectations]
lost_acked_writes = 0
"produce_availability.during" = ">= 0.99"
max_produce_gap_s = "<= 10"
"produce_uptime.during" = ">= 0.9"
"#,
    );
    let outcome = run_seed(&RunRequest { scenario, seed: 1, bugs: Vec::new(), schedule: None, duration_s: None });
    let ratio = expectation(&outcome, "produce_availability.during");
    assert!(ratio.passed, "the operation ratio was blind to it: {ratio:?}");
    let gap = expectation(&outcome, "max_produce_gap_s");
    assert!(!gap.passed && gap.observed.is_some_and(|s| (18.0..=32.0).contains(&s)), "{gap:?}");
    let uptime = expectation(&outcome, "produce_uptime.during");
    assert!(!uptime.passed, "{uptime:?}");
    let violation = outcome.violation.expect("the run fails");
    assert!(
        violation.expectation.starts_with("max_produce_gap_s") || violation.expectation.starts_with("produce_uptime"),
        "{violation}"
    );
    let worst = outcome.report.outages.worst_produce_gap.expect("a worst gap");
    assert!(worst.start_ms >= 29_000 && worst.end_ms <= 62_000, "{worst:?}");
}
