//! Turns run outcomes into the `reports` model and writes summary.json, summary.md and
//! summary.xml (JUnit) under the run directory.

use std::collections::BTreeMap;
use std::path::Path;

use reports::{
    Availability, ClaimVerdict, ExpectationResult, Failure, LatencySummary, PartitionReadEvidence, Percentiles,
    PhaseRatios, ScenarioSummary, Summary,
};

use crate::runner::RunOutcome;
use crate::scenario::FaultKind;
use crate::scenario::{Comparison, LoadedScenario};

fn percentiles(summary: Option<crate::checkers::availability::LatencySummary>) -> Option<Percentiles> {
    summary.map(|s| Percentiles {
        count: s.count,
        p50: s.p50 as f64,
        p90: s.p90 as f64,
        p99: s.p99 as f64,
        p999: s.p999 as f64,
        max: s.max as f64,
    })
}

fn worst(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.flatten().fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.min(v))))
}

fn format_observed(value: Option<f64>) -> String {
    match value {
        None => "n/a".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// One scenario's summary over its seeds. `capsules` maps seed -> capsule path.
pub fn scenario_summary(
    scenario: &LoadedScenario,
    outcomes: &[RunOutcome],
    capsules: &BTreeMap<u64, String>,
    wall_seconds: f64,
) -> ScenarioSummary {
    let mut faults: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in outcomes {
        for fault in &outcome.schedule {
            *faults.entry(fault.kind.name().to_string()).or_default() += 1;
        }
    }
    let expectations = scenario
        .scenario
        .expectations
        .iter()
        .enumerate()
        .map(|(index, expectation)| {
            // A crashed seed has no measured expectations: it fails as `invariants`, not here.
            let measured = || outcomes.iter().filter_map(|o| o.expectations.get(index));
            let failing = outcomes.iter().find(|o| o.expectations.get(index).is_some_and(|e| !e.passed));
            let observed = match failing {
                Some(outcome) => outcome.expectations[index].observed,
                // The worst value over seeds: the largest count, the smallest ratio.
                None if matches!(expectation.comparison, Comparison::AtLeast | Comparison::Above) => {
                    worst(measured().map(|e| e.observed))
                }
                None => measured()
                    .filter_map(|e| e.observed)
                    .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v)))),
            };
            ExpectationResult {
                name: expectation.name.to_string(),
                expected: expectation.expected(),
                observed: format_observed(observed),
                passed: failing.is_none(),
                worst_seed: failing.map(|o| o.seed),
            }
        })
        .collect();
    let passed = outcomes.iter().all(RunOutcome::passed);
    // C20's "with two zones down reads still work" is judged per partition, from fetches during
    // zone faults only (a cut client network says nothing about it).
    // The rule is about two zones down at once: every seed must have two zone faults on
    // different zones that overlap in time (a single zone's outage says nothing about it).
    let two_zones_down = |schedule: &[crate::scenario::Fault]| {
        let zone_faults: Vec<_> =
            schedule.iter().filter(|f| matches!(f.kind, FaultKind::ZoneOutage | FaultKind::ZoneLoss)).collect();
        zone_faults.iter().enumerate().any(|(i, a)| {
            zone_faults[i + 1..].iter().any(|b| a.target != b.target && a.start_ms < b.end_ms && b.start_ms < a.end_ms)
        })
    };
    let zone_faults_only = !outcomes.is_empty()
        && outcomes.iter().all(|o| {
            two_zones_down(&o.schedule)
                && o.schedule.iter().all(|f| matches!(f.kind, FaultKind::ZoneOutage | FaultKind::ZoneLoss))
        });
    // A partition nobody tried to read in the window is no evidence either way.
    let tried = |read: &&crate::runner::PartitionRead| read.successful_fetches + read.failed_fetches > 0;
    let read_evidence = zone_faults_only && outcomes.iter().any(|o| o.partition_reads.iter().any(|r| tried(&r)));
    let unreadable = zone_faults_only
        && outcomes.iter().any(|o| o.partition_reads.iter().filter(tried).any(|r| r.successful_fetches == 0));
    let claims = scenario
        .scenario
        .claims
        .iter()
        .map(|claim| {
            let verdict = if outcomes.is_empty() {
                ClaimVerdict::NotTested
            } else if !passed || (claim == "C20" && unreadable) {
                ClaimVerdict::Violated
            } else if claim == "C20" && zone_faults_only && !read_evidence {
                // The two-zone read check saw no fetch in any fault window: not tested, not "holds".
                ClaimVerdict::NotTested
            } else {
                ClaimVerdict::Holds
            };
            (claim.clone(), verdict)
        })
        .collect();
    let failures = outcomes
        .iter()
        .filter_map(|o| {
            let violation = o.violation.as_ref()?;
            let capsule = capsules.get(&o.seed).cloned().unwrap_or_default();
            Some(Failure {
                seed: o.seed,
                replay: format!("cargo faultline replay {capsule}"),
                capsule,
                violation: violation.to_string(),
            })
        })
        .collect();
    // Latency: the seed with the worst p99 stands for the scenario (conservative).
    let worst_latency = |pick: fn(&RunOutcome) -> Option<crate::checkers::availability::LatencySummary>| {
        outcomes.iter().filter_map(pick).max_by_key(|s| (s.p99, s.max))
    };
    let latency_ms = LatencySummary {
        produce: percentiles(worst_latency(|o| o.report.latency_ms.produce)),
        fetch: percentiles(worst_latency(|o| o.report.latency_ms.poll)),
    };
    let ratios = |pick: fn(&RunOutcome) -> crate::checkers::availability::PhaseRatios| PhaseRatios {
        before: worst(outcomes.iter().map(|o| pick(o).before)),
        during: worst(outcomes.iter().map(|o| pick(o).during)),
        after: worst(outcomes.iter().map(|o| pick(o).after)),
    };
    let availability = Availability {
        produce: ratios(|o| o.report.availability.produce),
        fetch: ratios(|o| o.report.availability.poll),
    };
    // C20's two-zone read claim, per partition: readable if every seed saw a successful fetch during the outage.
    let mut reads: BTreeMap<(String, i32), (bool, String)> = BTreeMap::new();
    for outcome in outcomes.iter().filter(|_| zone_faults_only) {
        for read in outcome.partition_reads.iter().filter(tried) {
            let key = (read.partition.topic.clone(), read.partition.partition);
            let readable = read.successful_fetches > 0;
            let evidence = format!(
                "seed {}: {} successful / {} failed fetches during the fault window{}",
                outcome.seed,
                read.successful_fetches,
                read.failed_fetches,
                read.last_error.as_ref().map(|e| format!(", last error {e}")).unwrap_or_default()
            );
            let entry = reads.entry(key).or_insert((true, String::new()));
            if !readable || entry.1.is_empty() {
                *entry = (entry.0 && readable, evidence);
            }
        }
    }
    let partition_reads = reads
        .into_iter()
        .map(|((topic, partition), (readable, evidence))| PartitionReadEvidence {
            topic,
            partition,
            readable_during_outage: readable,
            evidence,
        })
        .collect();
    ScenarioSummary {
        name: scenario.scenario.name.clone(),
        scenario_hash: scenario.hash.clone(),
        seeds: outcomes.iter().map(|o| o.seed).collect(),
        simulated_hours: outcomes.iter().map(|o| o.simulated_ms as f64).sum::<f64>() / 3_600_000.0,
        wall_seconds,
        passed,
        faults,
        expectations,
        claims,
        latency_ms,
        availability,
        partition_reads,
        failures,
        planted_bugs: outcomes.first().map(|o| o.bugs.clone()).unwrap_or_default(),
        breach_notices: outcomes
            .iter()
            .flat_map(|o| o.breach_notices.iter().map(|n| reports::BreachNotice { seed: o.seed, ..n.clone() }))
            .collect(),
    }
}

pub fn write(out: &Path, summary: &Summary) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("summary.json"), reports::json::render(summary))?;
    std::fs::write(out.join("summary.md"), reports::markdown::render(summary))?;
    std::fs::write(out.join("summary.xml"), reports::junit::render(summary))?;
    Ok(())
}
