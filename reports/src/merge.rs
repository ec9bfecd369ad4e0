//! Combine shards of one sweep into a single [`Summary`].

use crate::model::{
    Availability, ExpectationResult, LatencySummary, PartitionReadEvidence, Percentiles, PhaseRatios, ScenarioSummary,
    Summary,
};

/// Merge shards of the same sweep (scenarios matched by name).
///
/// - `faultline_version` / `command`: from the first shard.
/// - Scenarios appear in order of first appearance; `scenario_hash` is the first seen.
/// - `seeds`: union, sorted, deduplicated.
/// - `simulated_hours`, `wall_seconds`, fault counts: summed.
/// - `passed`: all shards passed.
/// - Expectations merged by name (order of first appearance): passed only if
///   every shard passed; `observed` / `worst_seed` come from the first failing
///   shard, else from the first shard.
/// - Claims: violated beats holds beats not-tested.
/// - Partition read evidence merged by (topic, partition): readable only if
///   readable in every shard; evidence from the first shard saying unreadable,
///   else the first; fetch counts summed.
/// - Failures: concatenated, stably sorted by seed.
/// - Latency: **conservative merge** — percentiles cannot be combined exactly
///   without the histograms, so each percentile (and max) is the maximum over
///   shards; `count` is summed.
/// - Availability: minimum of each phase over the shards that measured it.
/// - Planted bugs: union, order of first appearance.
/// - Per-seed uptime, recoveries and SLA months: concatenated, sorted by seed; the timeline is the first
///   shard's that has one.
/// - Run info: the first shard's, with the shards' wall times and disk use summed.
pub fn merge(summaries: &[Summary]) -> Summary {
    let mut out = Summary {
        faultline_version: summaries.first().map(|s| s.faultline_version.clone()).unwrap_or_default(),
        command: summaries.first().map(|s| s.command.clone()).unwrap_or_default(),
        scenarios: Vec::new(),
        missing_scenarios: Vec::new(),
        run: summaries.iter().find_map(|s| s.run.clone()).map(|run| crate::model::RunInfo {
            wall_seconds: summaries.iter().filter_map(|s| s.run.as_ref()).map(|r| r.wall_seconds).sum(),
            disk: summaries.iter().filter_map(|s| s.run.as_ref()?.disk).reduce(|mut all, shard| {
                all.add(&shard);
                all
            }),
            ..run
        }),
    };
    for shard in summaries {
        for scenario in &shard.scenarios {
            match out.scenarios.iter_mut().find(|s| s.name == scenario.name) {
                Some(acc) => merge_scenario(acc, scenario),
                None => {
                    let mut first = scenario.clone();
                    normalize(&mut first);
                    out.scenarios.push(first);
                }
            }
        }
    }
    out
}

fn normalize(s: &mut ScenarioSummary) {
    s.seeds.sort_unstable();
    s.seeds.dedup();
    s.failures.sort_by_key(|f| f.seed);
    s.uptime.sort_by_key(|u| u.seed);
    s.recoveries.sort_by_key(|r| r.seed);
    s.sla_months.sort_by_key(|m| m.seed);
}

fn merge_scenario(acc: &mut ScenarioSummary, other: &ScenarioSummary) {
    acc.seeds.extend_from_slice(&other.seeds);
    acc.simulated_hours += other.simulated_hours;
    acc.wall_seconds += other.wall_seconds;
    acc.passed &= other.passed;
    for (kind, count) in &other.faults {
        *acc.faults.entry(kind.clone()).or_insert(0) += count;
    }
    for e in &other.expectations {
        merge_expectation(&mut acc.expectations, e);
    }
    for (claim, verdict) in &other.claims {
        acc.claims.entry(claim.clone()).and_modify(|v| *v = v.combine(*verdict)).or_insert(*verdict);
    }
    acc.latency_ms = merge_latency(&acc.latency_ms, &other.latency_ms);
    acc.availability = Availability {
        produce: merge_phases(&acc.availability.produce, &other.availability.produce),
        fetch: merge_phases(&acc.availability.fetch, &other.availability.fetch),
    };
    for r in &other.partition_reads {
        merge_partition_read(&mut acc.partition_reads, r);
    }
    acc.failures.extend(other.failures.iter().cloned());
    acc.breach_notices.extend(other.breach_notices.iter().cloned());
    acc.uptime.extend(other.uptime.iter().cloned());
    acc.recoveries.extend(other.recoveries.iter().cloned());
    acc.sla_months.extend(other.sla_months.iter().cloned());
    if acc.timeline.is_none() {
        acc.timeline = other.timeline.clone();
    }
    for bug in &other.planted_bugs {
        if !acc.planted_bugs.contains(bug) {
            acc.planted_bugs.push(bug.clone());
        }
    }
    normalize(acc);
}

fn merge_expectation(acc: &mut Vec<ExpectationResult>, e: &ExpectationResult) {
    match acc.iter_mut().find(|a| a.name == e.name) {
        None => acc.push(e.clone()),
        Some(a) => {
            if a.passed && !e.passed {
                a.observed = e.observed.clone();
                a.worst_seed = e.worst_seed;
            }
            a.passed &= e.passed;
        }
    }
}

fn merge_partition_read(acc: &mut Vec<PartitionReadEvidence>, r: &PartitionReadEvidence) {
    match acc.iter_mut().find(|a| a.topic == r.topic && a.partition == r.partition) {
        None => acc.push(r.clone()),
        Some(a) => {
            a.successful_fetches += r.successful_fetches;
            a.failed_fetches += r.failed_fetches;
            if a.readable_during_outage && !r.readable_during_outage {
                a.readable_during_outage = false;
                a.evidence = r.evidence.clone();
            }
        }
    }
}

fn merge_latency(a: &LatencySummary, b: &LatencySummary) -> LatencySummary {
    LatencySummary {
        produce: merge_percentiles(a.produce.as_ref(), b.produce.as_ref()),
        fetch: merge_percentiles(a.fetch.as_ref(), b.fetch.as_ref()),
    }
}

fn merge_percentiles(a: Option<&Percentiles>, b: Option<&Percentiles>) -> Option<Percentiles> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(a), Some(b)) => Some(Percentiles {
            count: a.count + b.count,
            p50: a.p50.max(b.p50),
            p90: a.p90.max(b.p90),
            p99: a.p99.max(b.p99),
            p999: a.p999.max(b.p999),
            max: a.max.max(b.max),
        }),
    }
}

fn merge_phases(a: &PhaseRatios, b: &PhaseRatios) -> PhaseRatios {
    fn min(a: Option<f64>, b: Option<f64>) -> Option<f64> {
        match (a, b) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, None) => x,
            (None, y) => y,
        }
    }
    PhaseRatios { before: min(a.before, b.before), during: min(a.during, b.during), after: min(a.after, b.after) }
}
