//! The `faultline` command line. Exit codes: 0 every expectation held, 1 a violation (or a
//! determinism mismatch), 2 bad input (clap's usage errors are 2 as well).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand};

use crate::capsule::Capsule;
use crate::error::FaultlineError;
use crate::faults;
use crate::runner::{run_seed, RunOutcome, RunRequest};
use crate::scenario::{self, parse_seed_range, LoadedScenario};

#[derive(Parser)]
#[command(name = "faultline", about = "Deterministic chaos harness for the three-zone Kafka service", version)]
struct Cli {
    /// Where scenario files live.
    #[arg(long, global = true, default_value = "scenarios")]
    scenarios: PathBuf,
    /// The run history: a SQLite file, or `postgres://user@host/db` for one that CI shards and
    /// machines share [default: history.sqlite in the run directory].
    #[arg(long, global = true)]
    history: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenario catalog.
    List,
    /// Run one seed of a scenario (a name from the catalog or a path to a TOML file).
    Run {
        scenario: String,
        #[arg(long)]
        seed: u64,
        /// Enable a planted bug (simulation only; `selftest` lists every one with its scenario, and a wrong name lists the names).
        #[arg(long = "bug")]
        bugs: Vec<String>,
        /// Run the seed twice and compare the trace and wire hashes.
        #[arg(long)]
        check_determinism: bool,
        /// Run directory [default: target/faultline/run].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a range of seeds: `--seeds 0..100`, optionally one shard (`--shard 2/8` runs every 8th seed from the 2nd).
    Sweep {
        scenario: String,
        /// A range A..B [default: the scenario's nightly_seeds].
        #[arg(long)]
        seeds: Option<String>,
        #[arg(long)]
        shard: Option<String>,
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        #[arg(long = "bug")]
        bugs: Vec<String>,
        #[arg(long)]
        check_determinism: bool,
        /// Run directory [default: target/faultline/sweep].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop at the first failing seed (useful with --bug).
        #[arg(long)]
        stop_at_first_failure: bool,
        /// Keep every seed's trace, not only a failing seed's and the first seed's.
        #[arg(long)]
        keep_traces: bool,
    },
    /// Rerun a capsule and report whether the same violation happens at the same simulated time.
    Replay {
        capsule: PathBuf,
        /// Write the regenerated trace here (zstd when the name ends in .zst).
        #[arg(long)]
        trace_out: Option<PathBuf>,
    },
    /// Remove faults and shorten the run while the violation persists; write the smaller capsule.
    Shrink {
        capsule: PathBuf,
        /// Where to write it [default: next to the capsule, with .shrunk.json].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The whole catalog on each scenario's default seeds.
    Nightly {
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        /// Also check determinism on the first N seeds of every scenario.
        #[arg(long, default_value_t = 0)]
        check_determinism_sample: usize,
        /// Run N times each scenario's nightly seeds (the same first ones, then the next): the
        /// weekly sweep is `--seeds-times 4`. The nightly's own ranges fit its 10-minute budget.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        seeds_times: u64,
        /// Run directory [default: target/faultline/nightly].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep every seed's trace, not only a failing seed's and each scenario's first.
        #[arg(long)]
        keep_traces: bool,
    },
    /// Rebuild every report format (summary.md, .json, .xml, .html) of a run directory from its
    /// summary.json, or from its per-seed outcomes when that is missing; nothing is rerun.
    Report {
        dir: PathBuf,
        /// Where to write the reports [default: the run directory].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merge the summary.json files of sweep shards into one report.
    ReportMerge {
        inputs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show that every checker can fail: hunt each planted bug on its scenario until caught.
    Selftest {
        /// Seeds every bug runs, for its detection rate.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// A bug not caught in `--seeds` keeps running up to this seed.
        #[arg(long, default_value_t = 200)]
        seeds_max: u64,
        #[arg(long, default_value_t = default_jobs())]
        jobs: usize,
        /// Run directory for the capsules [default: target/faultline/selftest].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Hunt only these planted bugs [default: every one].
        #[arg(long = "bug")]
        bugs: Vec<String>,
    },
    /// Internal: run one seed job from stdin (each seed gets a fresh process).
    #[command(hide = true)]
    SeedWorker,
    /// Measure simulation speed and checker cost on single-zone-outage.
    Bench {
        #[arg(long, default_value = "single-zone-outage")]
        scenario: String,
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Simulated seconds per seed.
        #[arg(long, default_value_t = 600)]
        duration_s: u64,
        /// Override the scenario's producer count and pause (a saturating load measures
        /// acknowledged produces per wall second).
        #[arg(long)]
        producers: Option<u32>,
        #[arg(long)]
        produce_interval_ms: Option<u64>,
    },
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A seed worker logs through its seed's own subscriber only. A global one beside it would
    // turn madsim's per-task spans on: tracing caches a callsite's interest across all
    // dispatchers, and an EnvFilter at `warn` is always interested in error-level spans
    // (registry lookups on every poll were 7 % of a seed, perf).
    if matches!(cli.command, Command::SeedWorker) {
        return crate::runner::seed_worker();
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn catalog(dir: &Path) -> Result<Vec<LoadedScenario>, FaultlineError> {
    Ok(scenario::load_catalog(dir)?)
}

fn find_scenario(dir: &Path, name: &str) -> Result<LoadedScenario, FaultlineError> {
    let path = if name.ends_with(".toml") || name.contains('/') {
        PathBuf::from(name)
    } else {
        dir.join(format!("{name}.toml"))
    };
    if !path.exists() {
        let known: Vec<String> =
            catalog(dir).map(|c| c.into_iter().map(|s| s.scenario.name).collect()).unwrap_or_default();
        return Err(FaultlineError::UnknownScenario {
            name: name.to_string(),
            path: path.display().to_string(),
            known: known.join(", "),
        });
    }
    Ok(scenario::load(&path)?)
}

fn validate_bugs(bugs: &[String]) -> Result<(), FaultlineError> {
    broker::planted_bugs::PlantedBugs::from_names(bugs.iter().map(String::as_str))?;
    Ok(())
}

/// When this command started, for the report's wall time.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn execute(cli: Cli) -> Result<bool, FaultlineError> {
    STARTED.get_or_init(std::time::Instant::now);
    let history = cli.history.clone();
    let history = history.as_deref();
    match cli.command {
        Command::List => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            for loaded in catalog(&cli.scenarios)? {
                let s = &loaded.scenario;
                let line = writeln!(
                    stdout,
                    "{:<26} {:>5} s  seeds {:<8} claims {:<12} {}",
                    s.name,
                    s.duration_s,
                    format!("{}..{}", s.nightly_seeds.start, s.nightly_seeds.end),
                    s.claims.join(","),
                    s.description
                );
                // `faultline list | head` closes the pipe early: that ends the listing, not in a panic.
                if line.is_err() {
                    break;
                }
            }
            Ok(true)
        }
        Command::Run { scenario, seed, bugs, check_determinism, out } => {
            validate_bugs(&bugs)?;
            let loaded = find_scenario(&cli.scenarios, &scenario)?;
            let out = out.unwrap_or_else(|| PathBuf::from("target/faultline/run"));
            let request = RunRequest { scenario: loaded.clone(), seed, bugs, schedule: None, duration_s: None };
            print_header(&request);
            let outcomes = run_all(vec![request], 1, check_determinism, false);
            let outcome = &outcomes[0].0;
            println!("trace-hash: {}", outcome.trace_hash);
            println!("wire-hash: {} ({} bytes)", outcome.wire_hash, outcome.wire_bytes);
            finish(&out, "run", vec![(loaded, outcomes)], history, Traces::FailingAndFirst)
        }
        Command::Sweep {
            scenario,
            seeds,
            shard,
            jobs,
            bugs,
            check_determinism,
            out,
            stop_at_first_failure,
            keep_traces,
        } => {
            validate_bugs(&bugs)?;
            let loaded = find_scenario(&cli.scenarios, &scenario)?;
            let range = match seeds {
                Some(seeds) => parse_seed_range(&seeds).ok_or(FaultlineError::BadArgument {
                    flag: "--seeds",
                    value: seeds.clone(),
                    expected: "a range A..B with A < B",
                })?,
                None => {
                    let nightly = loaded.scenario.nightly_seeds.clone();
                    eprintln!("== seeds {}..{} (the scenario's nightly_seeds)", nightly.start, nightly.end);
                    nightly
                }
            };
            let (index, count) = match shard {
                None => (0, 1),
                Some(text) => {
                    let parsed =
                        text.split_once('/').and_then(|(k, n)| Some((k.parse::<u64>().ok()?, n.parse::<u64>().ok()?)));
                    match parsed {
                        Some((k, n)) if n > 0 && k >= 1 && k <= n => (k - 1, n),
                        _ => {
                            return Err(FaultlineError::BadArgument {
                                flag: "--shard",
                                value: text,
                                expected: "K/N with 1 <= K <= N",
                            })
                        }
                    }
                }
            };
            let requests: Vec<RunRequest> = range
                .filter(|seed| seed % count == index)
                .map(|seed| RunRequest {
                    scenario: loaded.clone(),
                    seed,
                    bugs: bugs.clone(),
                    schedule: None,
                    duration_s: None,
                })
                .collect();
            let out = out.unwrap_or_else(|| PathBuf::from("target/faultline/sweep"));
            let outcomes = run_all(requests, jobs.max(1), check_determinism, stop_at_first_failure);
            finish(&out, "sweep", vec![(loaded, outcomes)], history, Traces::kept(keep_traces))
        }
        Command::Replay { capsule, trace_out } => replay(&capsule, trace_out.as_deref()),
        Command::Shrink { capsule, out } => shrink(&capsule, out),
        Command::Nightly { jobs, check_determinism_sample, seeds_times, out, keep_traces } => {
            let out = out.unwrap_or_else(|| PathBuf::from("target/faultline/nightly"));
            // Tests cap the seeds per scenario; the nightly job runs them all.
            let seeds_max: usize =
                std::env::var("FAULTLINE_NIGHTLY_SEEDS_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
            let catalog = catalog(&cli.scenarios)?;
            // One pool for the whole catalog: a per-scenario barrier left a worker idle behind
            // every scenario's last seed (and its determinism sample), a third of the wall time.
            let mut requests = Vec::new();
            for (scenario, loaded) in catalog.iter().enumerate() {
                let nightly = &loaded.scenario.nightly_seeds;
                let seeds = nightly.start..nightly.start + (nightly.end - nightly.start) * seeds_times;
                let seeds: Vec<u64> = seeds.take(seeds_max).collect();
                eprintln!("== {} ({} seeds)", loaded.scenario.name, seeds.len());
                for (index, seed) in seeds.into_iter().enumerate() {
                    let request = RunRequest {
                        scenario: loaded.clone(),
                        seed,
                        bugs: Vec::new(),
                        schedule: None,
                        duration_s: None,
                    };
                    requests.push((scenario, request, index < check_determinism_sample));
                }
            }
            let owners: Vec<usize> = requests.iter().map(|(scenario, _, _)| *scenario).collect();
            let outcomes = run_pool(requests.into_iter().map(|(_, r, check)| (r, check)).collect(), jobs.max(1), false);
            let mut results: Vec<_> = catalog.into_iter().map(|loaded| (loaded, Vec::new())).collect();
            for (scenario, outcome) in owners.into_iter().zip(outcomes) {
                results[scenario].1.push(outcome);
            }
            for (_, outcomes) in &mut results {
                outcomes.sort_by_key(|(o, _)| o.seed);
            }
            finish(&out, "nightly", results, history, Traces::kept(keep_traces))
        }
        Command::SeedWorker => unreachable!("handled before dispatch"),
        Command::Selftest { seeds, seeds_max, jobs, out, bugs } => {
            selftest(&cli.scenarios, &bugs, seeds, seeds_max, jobs, out)
        }
        Command::Report { dir, out } => {
            let summary = crate::summary::rebuild(&dir, &catalog(&cli.scenarios)?)?;
            let findings = crate::summary::findings(&dir, history, &summary)?;
            let out = out.unwrap_or(dir);
            crate::summary::write(&out, &summary, findings.as_ref()).map_err(FaultlineError::io(&out))?;
            println!(
                "{} scenarios: {}/summary.html (and summary.md, .json, .xml)",
                summary.scenarios.len(),
                out.display()
            );
            Ok(summary.passed())
        }
        Command::ReportMerge { inputs, out } => {
            if inputs.is_empty() {
                return Err(FaultlineError::NothingToMerge);
            }
            let mut summaries = Vec::new();
            for input in &inputs {
                let text = std::fs::read_to_string(input).map_err(FaultlineError::io(input))?;
                summaries.push(
                    reports::json::parse(&text)
                        .map_err(|e| FaultlineError::NotASummary { path: input.clone(), detail: e.to_string() })?,
                );
            }
            let merged = reports::merge::merge(&summaries);
            // Shards that shared a run id and a history: the merged report compares the whole run.
            let findings = match history {
                Some(_) => crate::summary::findings(&out, history, &merged)?,
                None => None,
            };
            crate::summary::write(&out, &merged, findings.as_ref()).map_err(FaultlineError::io(&out))?;
            println!("merged {} summaries: {}/summary.md", inputs.len(), out.display());
            Ok(merged.passed())
        }
        Command::Bench { scenario, seeds, duration_s, producers, produce_interval_ms } => {
            let mut loaded = find_scenario(&cli.scenarios, &scenario)?;
            // The worker receives the typed scenario, so an override is a field, not an edit.
            if let Some(producers) = producers {
                loaded.scenario.workload.producers = producers;
            }
            if let Some(interval) = produce_interval_ms {
                loaded.scenario.workload.produce_interval_ms = interval;
            }
            bench(&loaded, seeds, duration_s);
            Ok(true)
        }
    }
}

/// Hunts each planted bug (or those named) on its scenario and prints a line per bug: the seed
/// and check that caught it, its detection rate and a replay command. Exit 1 if any is missed.
fn selftest(
    scenarios: &Path,
    bugs: &[String],
    seeds: u64,
    seeds_max: u64,
    jobs: usize,
    out: Option<PathBuf>,
) -> Result<bool, FaultlineError> {
    validate_bugs(bugs)?;
    let out = out.unwrap_or_else(|| PathBuf::from("target/faultline/selftest"));
    let mut all_passed = true;
    println!(
        "{:<34} {:<30} {:>5}  {:<28} {:<9} {:>9}  replay",
        "planted bug", "scenario", "seed", "caught by", "kind", "detection"
    );
    for check in crate::selftest::PLANTED_BUGS.iter().filter(|c| bugs.is_empty() || bugs.iter().any(|b| b == c.bug)) {
        let loaded = find_scenario(scenarios, check.scenario)?;
        let catch = crate::selftest::hunt(check, &loaded, seeds, seeds_max, jobs.max(1));
        all_passed &= catch.passed();
        let rate = format!("{}/{} ({:.0} %)", catch.caught, catch.seeds_run, 100.0 * catch.detection_rate());
        match (&catch.outcome, &catch.wrong_check) {
            (_, Some((seed, expectation))) => println!(
                "{:<34} {:<30} {seed:>5}  {:<28} {:<9} {rate:>9}  WRONG CHECK: planted for {}",
                check.bug,
                check.scenario,
                expectation,
                "liveness",
                check.checks.join(" or ")
            ),
            (Some(outcome), None) => {
                let violation = outcome.violation.as_ref().expect("a catch has a violation");
                let capsule = Capsule::from_outcome(&loaded, outcome).expect("a catch makes a capsule");
                let path = out.join("capsules").join(check.bug).join(capsule.file_name());
                capsule.write(&path)?;
                let clean = if catch.clean_passes { "" } else { "  (FAILS WITHOUT THE BUG TOO)" };
                println!(
                    "{:<34} {:<30} {:>5}  {:<28} {:<9} {rate:>9}  cargo faultline replay {}{clean}",
                    check.bug,
                    check.scenario,
                    outcome.seed,
                    violation.expectation,
                    "safety",
                    path.display()
                );
            }
            (None, None) => println!(
                "{:<34} {:<30} {:>5}  {:<28} {:<9} {rate:>9}  NOT CAUGHT in {} seeds",
                check.bug, check.scenario, "-", "-", "-", catch.seeds_run
            ),
        }
    }
    Ok(all_passed)
}

fn print_header(request: &RunRequest) {
    let schedule = request.schedule.clone().unwrap_or_else(|| faults::expand(&request.scenario.scenario, request.seed));
    println!(
        "scenario: {}  seed: {}  planted bugs: {}",
        request.scenario.scenario.name,
        request.seed,
        if request.bugs.is_empty() { "none".into() } else { request.bugs.join(",") }
    );
    println!("knobs: {}", crate::world::Knobs::from_seed(request.seed));
    if schedule.is_empty() {
        println!("schedule: (no faults)");
    }
    for fault in &schedule {
        println!("  {fault}");
    }
}

/// A determinism mismatch for a seed: the first differing trace event.
type DeterminismFailure = Option<String>;

/// Runs requests on `jobs` worker threads (each seed still gets its own fresh thread).
fn run_all(
    requests: Vec<RunRequest>,
    jobs: usize,
    check_determinism: bool,
    stop_at_first_failure: bool,
) -> Vec<(RunOutcome, DeterminismFailure)> {
    run_pool(requests.into_iter().map(|r| (r, check_determinism)).collect(), jobs, stop_at_first_failure)
}

/// Runs each request (twice, comparing hashes, when its flag says so) on `jobs` workers;
/// outcomes in request order.
fn run_pool(
    requests: Vec<(RunRequest, bool)>,
    jobs: usize,
    stop_at_first_failure: bool,
) -> Vec<(RunOutcome, DeterminismFailure)> {
    if requests.is_empty() {
        return Vec::new();
    }
    // A terminal gets a bar (seeds done, failures so far, time left); a CI log gets one plain
    // line per seed with the same counts, since a hidden bar would print nothing at all.
    let attended = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let total = requests.len();
    let progress = if attended { indicatif::ProgressBar::new(total as u64) } else { indicatif::ProgressBar::hidden() };
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} seeds  {msg}  {elapsed} elapsed, ~{eta} left")
            .expect("template"),
    );
    progress.set_message("0 failed");
    let started = std::time::Instant::now();
    let tally = Arc::new(Mutex::new((0usize, 0usize)));
    let queue = Arc::new(Mutex::new(
        requests.into_iter().enumerate().collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (queue, results, progress, failed, tally) =
                (queue.clone(), results.clone(), progress.clone(), failed.clone(), tally.clone());
            scope.spawn(move || loop {
                if stop_at_first_failure && failed.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let Some((index, (request, check_determinism))) = queue.lock().unwrap().pop() else { return };
                let outcome = run_seed(&request);
                let mismatch = if check_determinism { compare(&outcome, &run_seed(&request)) } else { None };
                let verdict = match (&outcome.violation, &mismatch) {
                    (_, Some(difference)) => format!("NONDETERMINISTIC: {difference}"),
                    (Some(violation), None) => format!("FAIL {violation}"),
                    (None, None) => "ok".into(),
                };
                if outcome.violation.is_some() || mismatch.is_some() {
                    failed.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let line = format!(
                    "seed {:>5} {:<22} {:>6.0} ms wall  {}",
                    request.seed, request.scenario.scenario.name, outcome.wall_ms, verdict
                );
                let (done, failures) = {
                    let mut tally = tally.lock().unwrap();
                    tally.0 += 1;
                    tally.1 += usize::from(verdict != "ok");
                    *tally
                };
                if attended {
                    progress.set_message(format!("{failures} failed"));
                    progress.println(line);
                } else {
                    let left = started.elapsed().as_secs_f64() / done as f64 * (total - done) as f64;
                    println!("{line}  [{done}/{total} seeds, {failures} failed, ~{left:.0} s left]");
                }
                progress.inc(1);
                results.lock().unwrap().push((index, outcome, mismatch));
            });
        }
    });
    progress.finish_and_clear();
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|(index, _, _)| *index);
    results.into_iter().map(|(_, outcome, mismatch)| (outcome, mismatch)).collect()
}

/// `None` when both runs hashed the same; otherwise the first differing trace event.
fn compare(first: &RunOutcome, second: &RunOutcome) -> Option<String> {
    if first.trace_hash == second.trace_hash && first.wire_hash == second.wire_hash {
        return None;
    }
    let (one, two): (Vec<&str>, Vec<&str>) = (first.trace.lines().collect(), second.trace.lines().collect());
    let position = one.iter().zip(&two).position(|(a, b)| a != b);
    Some(match position {
        Some(index) => format!("first differing event #{index}:\n  run 1: {}\n  run 2: {}", one[index], two[index]),
        None if one.len() != two.len() => {
            format!("traces differ in length ({} vs {} events)", one.len(), two.len())
        }
        None => format!("same events, different bytes on the wire ({} vs {})", first.wire_hash, second.wire_hash),
    })
}

/// Which seeds' traces a run keeps. A trace is about 1.4 MB a seed, nobody reads a passing
/// seed's, and `replay --trace-out` regenerates any seed's from its capsule; so by default a run
/// keeps a failing seed's and, as a sample to compare against, each scenario's first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traces {
    FailingAndFirst,
    All,
}

impl Traces {
    fn kept(keep_all: bool) -> Self {
        if keep_all {
            Traces::All
        } else {
            Traces::FailingAndFirst
        }
    }
}

/// Writes a trace compressed with zstd, byte for byte as it was hashed (so its SHA-256 is the
/// run's trace hash); returns the bytes written.
fn write_trace(path: &Path, trace: &str) -> Result<u64, FaultlineError> {
    let compressed =
        zstd::encode_all(trace.as_bytes(), zstd::DEFAULT_COMPRESSION_LEVEL).map_err(FaultlineError::io(path))?;
    std::fs::write(path, &compressed).map_err(FaultlineError::io(path))?;
    Ok(compressed.len() as u64)
}

fn finish(
    out: &Path,
    command: &str,
    results: Vec<(LoadedScenario, Vec<(RunOutcome, DeterminismFailure)>)>,
    history: Option<&str>,
    traces: Traces,
) -> Result<bool, FaultlineError> {
    let mut scenarios = Vec::new();
    let mut seeds = Vec::new();
    let mut all_passed = true;
    let mut table = Vec::new();
    let mut disk = reports::DiskUse::default();
    for (loaded, outcomes) in results {
        let mut capsules = BTreeMap::new();
        for (index, (outcome, mismatch)) in outcomes.iter().enumerate() {
            let path = out.join("outcomes").join(format!("{}-seed-{}.json", loaded.scenario.name, outcome.seed));
            let dir = path.parent().expect("has a parent");
            std::fs::create_dir_all(dir).map_err(FaultlineError::io(dir))?;
            let mut stored = outcome.clone();
            let trace = std::mem::take(&mut stored.trace);
            let json = serde_json::to_string_pretty(&stored).expect("outcomes serialize") + "\n";
            std::fs::write(&path, &json).map_err(FaultlineError::io(&path))?;
            disk.seeds += 1;
            disk.outcome_bytes += json.len() as u64;
            let failed = outcome.violation.is_some() || mismatch.is_some();
            if traces == Traces::All || failed || index == 0 {
                disk.trace_bytes += write_trace(&path.with_extension("trace.zst"), &trace)?;
                disk.traces_kept += 1;
            }
            if let Some(difference) = mismatch {
                all_passed = false;
                eprintln!("determinism check failed for {} seed {}: {difference}", loaded.scenario.name, outcome.seed);
            }
            if let Some(capsule) = Capsule::from_outcome(&loaded, outcome) {
                let path = out.join("capsules").join(capsule.file_name());
                disk.outcome_bytes += capsule.write(&path)?;
                capsules.insert(outcome.seed, path.display().to_string());
            }
        }
        let outcomes: Vec<RunOutcome> = outcomes.into_iter().map(|(o, _)| o).collect();
        seeds.extend(outcomes.iter().map(|o| crate::summary::seed_record(&loaded, o, &capsules)));
        let wall: f64 = outcomes.iter().map(|o| o.wall_ms).sum::<f64>() / 1000.0;
        let summary = crate::summary::scenario_summary(&loaded, &outcomes, &capsules, wall);
        all_passed &= summary.passed;
        table.push(format!(
            "{:<26} {:>5} seeds  {:>7.2} sim h  {:>7.1} s wall  {}",
            summary.name,
            summary.seeds.len(),
            summary.simulated_hours,
            summary.wall_seconds,
            if summary.passed { "PASS".to_string() } else { format!("FAIL ({} seeds)", summary.failures.len()) }
        ));
        for failure in &summary.failures {
            table.push(format!("    seed {}: {}\n      replay: {}", failure.seed, failure.violation, failure.replay));
        }
        scenarios.push(summary);
    }
    let summary = reports::Summary {
        faultline_version: env!("CARGO_PKG_VERSION").into(),
        command: command.into(),
        scenarios,
        run: Some(reports::RunInfo {
            disk: Some(disk),
            ..crate::summary::run_info(command, STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64()))
        }),
        missing_scenarios: Vec::new(),
    };
    // The reports are written even when the history cannot be: a run's evidence is not lost
    // to a database that is down. The command then fails, naming the history.
    let history = history.map(String::from).unwrap_or_else(|| out.join("history.sqlite").display().to_string());
    let recorded = std::fs::create_dir_all(out)
        .map_err(FaultlineError::io(out))
        .and_then(|_| crate::summary::record(&history, &summary, seeds));
    let findings = match recorded {
        Ok(findings) => Some(findings),
        Err(error) => {
            eprintln!("error: the run was not recorded in the history: {error}");
            None
        }
    };
    crate::summary::write(out, &summary, findings.as_ref()).map_err(FaultlineError::io(out))?;
    println!("\n{}", table.join("\n"));
    if let Some(findings) = &findings {
        println!("{}", crate::summary::findings_line(findings));
    }
    println!("disk: {disk} in {}", out.display());
    println!("summary: {}/summary.html (and summary.md, .json, .xml)", out.display());
    if findings.is_none() && all_passed {
        return Err(FaultlineError::HistoryUnavailable { location: reports::history::redacted(&history) });
    }
    Ok(all_passed)
}

/// Replays a capsule. Exit 0: the same violation at the same simulated time with the same trace
/// and wire hashes; 1: it did not reproduce, or differently; 2: bad input.
fn replay(path: &Path, trace_out: Option<&Path>) -> Result<bool, FaultlineError> {
    let capsule = Capsule::load(path)?;
    let request = capsule.request()?;
    if let Ok(current) = std::fs::read_to_string(&capsule.scenario_path) {
        let hash = crate::scenario::hex(ring::digest::digest(&ring::digest::SHA256, current.as_bytes()).as_ref());
        if hash != capsule.scenario_hash {
            eprintln!(
                "note: {} changed since the capsule was written; replaying the embedded copy",
                capsule.scenario_path
            );
        }
    }
    print_header(&request);
    let outcome = run_seed(&request);
    println!("trace-hash: {} (capsule: {})", outcome.trace_hash, capsule.trace_hash);
    println!("wire-hash: {} (capsule: {})", outcome.wire_hash, capsule.wire_hash.as_deref().unwrap_or("not recorded"));
    if let Some(file) = trace_out {
        if file.extension().is_some_and(|e| e == "zst") {
            write_trace(file, &outcome.trace)?;
        } else {
            std::fs::write(file, &outcome.trace).map_err(FaultlineError::io(file))?;
        }
        println!("trace: {} ({} events)", file.display(), outcome.trace.lines().count());
    }
    let same_violation = outcome.violation.as_ref().is_some_and(|v| {
        v.kind == capsule.violation.kind && v.at_ms == capsule.violation.at_ms && v.detail == capsule.violation.detail
    });
    let same_trace = outcome.trace_hash == capsule.trace_hash;
    let same_wire = capsule.wire_hash.as_ref().is_none_or(|wire| *wire == outcome.wire_hash);
    match &outcome.violation {
        Some(violation) if same_violation && same_trace && same_wire => {
            println!("reproduced: {violation}");
            Ok(true)
        }
        Some(violation) if same_violation => {
            println!("the same violation, but the run differs (trace or wire hash): {violation}");
            Ok(false)
        }
        Some(violation) => {
            println!("a different violation: {violation}\n  (capsule: {})", capsule.violation);
            Ok(false)
        }
        None => {
            println!("not reproduced: no violation (capsule: {})", capsule.violation);
            Ok(false)
        }
    }
}

/// Shrinks a capsule's schedule and duration while the violation stays. Exit 0: a capsule was
/// written; 1: the capsule no longer fails, so there is nothing to shrink; 2: bad input.
fn shrink(path: &Path, out: Option<PathBuf>) -> Result<bool, FaultlineError> {
    let original = Capsule::load(path)?;
    let still_fails = |candidate: &Capsule| -> Option<Capsule> {
        let outcome = run_seed(&candidate.request().ok()?);
        let violation = outcome.violation?;
        (violation.kind == original.violation.kind).then(|| Capsule {
            violation,
            trace_hash: outcome.trace_hash,
            wire_hash: Some(outcome.wire_hash),
            ..candidate.clone()
        })
    };
    let Some(reproduced) = still_fails(&original) else {
        println!("not shrunk: the capsule no longer fails ({}); nothing to shrink", original.violation);
        return Ok(false);
    };
    let mut best = reproduced;
    eprintln!("shrinking {} faults, {} s", best.schedule.len(), best.duration_s);
    // Remove faults one at a time, keeping each removal that keeps the violation.
    let mut index = 0;
    while index < best.schedule.len() {
        let mut candidate = best.clone();
        let removed = candidate.schedule.remove(index);
        match still_fails(&candidate) {
            Some(smaller) => {
                eprintln!("  removed {removed}");
                best = smaller;
            }
            None => index += 1,
        }
    }
    // Shorten the run to just past the violation, halving the slack while it still fails.
    loop {
        let end_s = (best.violation.at_ms / 1000 + 1).max(10);
        let target = end_s + (best.duration_s.saturating_sub(end_s)) / 2;
        if target >= best.duration_s {
            break;
        }
        let mut candidate = best.clone();
        candidate.duration_s = target;
        candidate.schedule.retain(|f| f.start_ms < target * 1000);
        for fault in &mut candidate.schedule {
            fault.end_ms = fault.end_ms.min(target * 1000);
        }
        match still_fails(&candidate) {
            Some(shorter) => {
                eprintln!("  shortened to {target} s");
                best = shorter;
            }
            None => break,
        }
    }
    let out = out.unwrap_or_else(|| path.with_extension("shrunk.json"));
    best.write(&out)?;
    println!(
        "shrunk: {} -> {} faults, {} -> {} simulated s; violation: {}",
        original.schedule.len(),
        best.schedule.len(),
        original.duration_s,
        best.duration_s,
        best.violation
    );
    println!("wrote {}", out.display());
    println!("replay: cargo faultline replay {}", out.display());
    Ok(true)
}

fn bench(loaded: &LoadedScenario, seeds: u64, duration_s: u64) {
    let mut simulated_s = 0.0;
    let mut wall_s = 0.0;
    let mut acked = 0u64;
    let mut check_s = 0.0;
    for seed in 0..seeds {
        let outcome = run_seed(&RunRequest {
            scenario: loaded.clone(),
            seed,
            bugs: Vec::new(),
            schedule: None,
            duration_s: Some(duration_s),
        });
        simulated_s += outcome.simulated_ms as f64 / 1000.0;
        wall_s += outcome.wall_ms / 1000.0;
        check_s += outcome.check_wall_ms / 1000.0;
        acked += outcome.report.acked_writes;
        println!("seed {seed}: {:.0} simulated s in {:.3} s wall, {} acknowledged produces, {} ops, checker+hashing {:.1} ms, {}", outcome.simulated_ms as f64 / 1000.0, outcome.wall_ms / 1000.0, outcome.report.acked_writes, outcome.history_ops, outcome.check_wall_ms, match &outcome.violation { None => "pass".to_string(), Some(violation) => format!("FAIL {violation}") });
    }
    println!("\n{} ({} simulated s per seed, {} seeds, one job)", loaded.scenario.name, duration_s, seeds);
    println!("  simulated seconds per wall second: {:.0}", simulated_s / wall_s);
    println!("  acknowledged produces per wall second: {:.0}", acked as f64 / wall_s);
    println!("  wall seconds per seed: {:.3}", wall_s / seeds as f64);
    println!("  seeds per minute per core: {:.1}", 60.0 * seeds as f64 / wall_s);
    println!("  checker and trace hashing: {:.2}% of the run", 100.0 * check_s / wall_s);
}
