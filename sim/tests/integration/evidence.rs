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

#[test]
fn a_hung_seed_is_a_finding_with_a_capsule_and_the_sweep_goes_on() {
    crate::use_faultline_worker();
    let scenario = crate::scenario("single-zone-outage");
    let request =
        RunRequest { scenario: scenario.clone(), seed: 1, bugs: Vec::new(), schedule: None, duration_s: None };
    let outcome = sim::runner::run_seed_within(&request, std::time::Duration::from_millis(30));
    let violation = outcome.violation.clone().expect("a hung seed fails");
    assert_eq!((violation.expectation.as_str(), violation.kind.as_str()), ("seed", "hung"), "{violation}");
    assert!(sim::capsule::Capsule::from_outcome(&scenario, &outcome).is_some(), "a hung seed leaves a capsule");
    // The CLI: every seed of the sweep hangs, each is reported, and the summary is written.
    let out = std::env::temp_dir().join(format!("faultline-hung-{}", std::process::id()));
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["sweep", "single-zone-outage", "--seeds", "1..3", "--scenarios"])
        .arg(&scenarios)
        .arg("--out")
        .arg(&out)
        .env("FAULTLINE_SEED_TIMEOUT_S", "0.03")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    // Each seed once as a progress line (no terminal: plain lines with the counts) and once in
    // the closing table.
    assert!(stdout.contains("FAIL (2 seeds)") && stdout.matches("hung at").count() == 4, "{stdout}");
    assert!(stdout.contains("[2/2 seeds, 2 failed, ~0 s left]"), "{stdout}");
    assert!(out.join("summary.json").exists() && out.join("capsules").join("single-zone-outage-seed-2.json").exists());
    std::fs::remove_dir_all(out).ok();
}
