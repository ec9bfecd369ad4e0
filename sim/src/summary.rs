//! Turns run outcomes into the `reports` model and writes summary.json, summary.md and
//! summary.xml (JUnit) under the run directory.

use std::collections::BTreeMap;
use std::path::Path;

use reports::{
    Availability, ClaimVerdict, ExpectationResult, Failure, LatencySummary, PartitionReadEvidence, Percentiles,
    PhaseRatios, ScenarioSummary, Summary,
};

use reports::history::{Findings, History, RunRecord, SeedRecord};

use crate::error::FaultlineError;
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
    let mut fetches: BTreeMap<(String, i32), (u64, u64)> = BTreeMap::new();
    for outcome in outcomes.iter().filter(|_| zone_faults_only) {
        for read in outcome.partition_reads.iter().filter(tried) {
            let key = (read.partition.topic.clone(), read.partition.partition);
            let counts = fetches.entry(key.clone()).or_default();
            counts.0 += read.successful_fetches;
            counts.1 += read.failed_fetches;
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
        .map(|((topic, partition), (readable, evidence))| {
            let (successful_fetches, failed_fetches) = fetches[&(topic.clone(), partition)];
            PartitionReadEvidence {
                topic,
                partition,
                readable_during_outage: readable,
                evidence,
                successful_fetches,
                failed_fetches,
            }
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
        uptime: outcomes
            .iter()
            .filter(|o| o.history_ops > 0)
            .map(|o| reports::SeedUptime {
                seed: o.seed,
                produce: phase_ratios(o.report.outages.produce_uptime),
                fetch: phase_ratios(o.report.outages.poll_uptime),
            })
            .collect(),
        recoveries: outcomes.iter().flat_map(|o| o.recoveries.iter().cloned()).collect(),
        timeline: outcomes.iter().find_map(|o| o.timeline.clone()),
        sla_months: outcomes.iter().filter_map(|o| o.sla.clone()).collect(),
    }
}

fn phase_ratios(r: crate::checkers::availability::PhaseRatios) -> PhaseRatios {
    PhaseRatios { before: r.before, during: r.during, after: r.after }
}

/// Writes every report format of `summary` into `out`; the HTML shows the history's findings.
pub fn write(out: &Path, summary: &Summary, findings: Option<&Findings>) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("summary.html"), reports::html::render(summary, &reports::claims::catalog(), findings))?;
    std::fs::write(out.join("summary.json"), reports::json::render(summary))?;
    std::fs::write(out.join("summary.md"), reports::markdown::render(summary))?;
    std::fs::write(out.join("summary.xml"), reports::junit::render(summary))?;
    Ok(())
}

/// One seed as the history keeps it.
pub fn seed_record(loaded: &LoadedScenario, outcome: &RunOutcome, capsules: &BTreeMap<u64, String>) -> SeedRecord {
    SeedRecord {
        scenario: loaded.scenario.name.clone(),
        scenario_hash: loaded.hash.clone(),
        seed: outcome.seed,
        violation: outcome.violation.as_ref().map(|v| v.to_string()),
        capsule: capsules.get(&outcome.seed).cloned(),
        trace_hash: outcome.trace_hash.clone(),
    }
}

/// Records the run in `location` and compares it with the earlier runs of its catalog (the
/// command and the scenarios it ran).
pub fn record(location: &str, summary: &Summary, seeds: Vec<SeedRecord>) -> Result<Findings, FaultlineError> {
    let error = |e: reports::history::HistoryError| FaultlineError::History(e.to_string());
    let run = summary.run.clone().unwrap_or_default();
    // Shards of one run that ran different scenarios name their catalog (FAULTLINE_CATALOG);
    // otherwise it is the command and the scenarios it ran.
    let names: Vec<&str> = summary.scenarios.iter().map(|s| s.name.as_str()).collect();
    let catalog = std::env::var("FAULTLINE_CATALOG").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| {
        format!(
            "{} {}",
            summary.command,
            &crate::scenario::hex(ring::digest::digest(&ring::digest::SHA256, names.join(",").as_bytes()).as_ref())
                [..12]
        )
    });
    let mut history = History::open(location).map_err(error)?;
    history
        .record(&RunRecord {
            run_id: run.run_id.clone(),
            catalog,
            commit: run.commit,
            machine: run.machine,
            started_unix_s: run.started_unix_s,
            seeds,
            claims: summary
                .claim_verdicts()
                .into_iter()
                .map(|(claim, (verdict, _))| (claim.to_string(), verdict))
                .collect(),
        })
        .map_err(error)?;
    Ok(reports::history::analyze(&history.runs_up_to(&run.run_id).map_err(error)?))
}

/// The history's findings for the run of `dir` (its summary's run id): from `location`, or
/// from `dir/history.sqlite` when that exists; `None` when there is no history to ask.
pub fn findings(dir: &Path, location: Option<&str>, summary: &Summary) -> Result<Option<Findings>, FaultlineError> {
    let local = dir.join("history.sqlite");
    let location = match location {
        Some(location) => location.to_string(),
        None if local.exists() => local.display().to_string(),
        None => return Ok(None),
    };
    let Some(run) = summary.run.as_ref().filter(|r| !r.run_id.is_empty()) else {
        eprintln!("the summary names no run id (written before the history existed): no history in the report");
        return Ok(None);
    };
    let error = |e: reports::history::HistoryError| FaultlineError::History(e.to_string());
    let runs = History::open(&location).map_err(error)?.runs_up_to(&run.run_id).map_err(error)?;
    if runs.is_empty() {
        return Err(FaultlineError::History(format!(
            "history {}: no run {} in it",
            reports::history::redacted(&location),
            run.run_id
        )));
    }
    Ok(Some(reports::history::analyze(&runs)))
}

/// One line for the console: what the history says about this run.
pub fn findings_line(findings: &Findings) -> String {
    format!(
        "history: {} runs of this catalog compared; {} new failure signatures since the previous run, {} failure groups, {} seeds whose outcome changed at one commit",
        findings.runs_compared,
        findings.new_failures.len(),
        findings.groups.len(),
        findings.nondeterministic.len()
    )
}

/// What ran where, for the report: the run id (`FAULTLINE_RUN_ID`, or one made of the command,
/// the start time, the host and the process), the commit (with `-dirty` for local changes), the
/// machine and the command's wall time. Unknown parts say so rather than fail the run.
pub fn run_info(command: &str, wall_seconds: f64) -> reports::RunInfo {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = match (git(&["rev-parse", "HEAD"]), git(&["status", "--porcelain", "--untracked-files=no"])) {
        (Some(head), Some(changes)) if !changes.is_empty() => format!("{head}-dirty"),
        (Some(head), _) => head,
        // A container image is built from a commit and says which (Dockerfile).
        (None, _) => std::env::var("FAULTLINE_COMMIT")
            .ok()
            .filter(|c| !c.is_empty() && c != "unknown")
            .unwrap_or_else(|| "unknown (not a git checkout)".to_string()),
    };
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_string()).ok();
    let machine = format!(
        "{}, {} logical CPUs, {} {}",
        read("/etc/hostname").unwrap_or_else(|| "unknown host".into()),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::OS,
        read("/proc/sys/kernel/osrelease").unwrap_or_default()
    );
    let started = std::time::SystemTime::now() - std::time::Duration::from_secs_f64(wall_seconds);
    let started_unix_s = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let run_id = std::env::var("FAULTLINE_RUN_ID").ok().filter(|id| !id.is_empty()).unwrap_or_else(|| {
        format!(
            "{command}-{started_unix_s}-{}-{}",
            read("/etc/hostname").unwrap_or_else(|| "host".into()),
            std::process::id()
        )
    });
    reports::RunInfo { run_id, started_unix_s, commit, machine, wall_seconds, disk: None }
}

/// The summary of run directory `dir`: its summary.json, or when that is missing, one rebuilt
/// from its per-seed outcomes and capsules against `catalog`. Scenarios of the catalog with
/// no outcome, and outcomes of scenarios not in it, are named on stderr; an empty directory
/// gives an empty summary (whose report says that nothing ran), not an error.
pub fn rebuild(dir: &Path, catalog: &[LoadedScenario]) -> Result<Summary, FaultlineError> {
    let summary_path = dir.join("summary.json");
    if summary_path.exists() {
        let text = std::fs::read_to_string(&summary_path).map_err(FaultlineError::io(&summary_path))?;
        return reports::json::parse(&text)
            .map_err(|e| FaultlineError::NotASummary { path: summary_path, detail: e.to_string() });
    }
    if !dir.is_dir() {
        return Err(FaultlineError::io(dir)(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such run directory",
        )));
    }
    let mut outcomes: BTreeMap<String, Vec<RunOutcome>> = BTreeMap::new();
    let outcomes_dir = dir.join("outcomes");
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(&outcomes_dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|x| x == "json"));
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(FaultlineError::io(&path))?;
        match serde_json::from_str::<RunOutcome>(&text) {
            Ok(outcome) => outcomes.entry(outcome.scenario.clone()).or_default().push(outcome),
            Err(error) => eprintln!("skipped {}: not a seed outcome ({error})", path.display()),
        }
    }
    let mut scenarios = Vec::new();
    let mut missing_scenarios = Vec::new();
    for loaded in catalog {
        let Some(mut ran) = outcomes.remove(&loaded.scenario.name) else {
            eprintln!("missing: no outcome of {} in {}", loaded.scenario.name, outcomes_dir.display());
            missing_scenarios.push(loaded.scenario.name.clone());
            continue;
        };
        ran.sort_by_key(|o| o.seed);
        let capsules = ran
            .iter()
            .map(|o| (o.seed, dir.join("capsules").join(format!("{}-seed-{}.json", o.scenario, o.seed))))
            .filter(|(_, path)| path.exists())
            .map(|(seed, path)| (seed, path.display().to_string()))
            .collect();
        let wall = ran.iter().map(|o| o.wall_ms).sum::<f64>() / 1000.0;
        scenarios.push(scenario_summary(loaded, &ran, &capsules, wall));
    }
    for name in outcomes.keys() {
        eprintln!("skipped outcomes of {name}: not a scenario of the catalog");
    }
    Ok(Summary {
        faultline_version: env!("CARGO_PKG_VERSION").into(),
        command: "report".into(),
        scenarios,
        run: None,
        missing_scenarios,
    })
}
