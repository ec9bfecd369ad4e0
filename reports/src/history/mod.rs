//! The run history: every nightly and sweep records each seed's outcome and each claim's
//! verdict, in SQLite (a file under the run directory, the default) or in PostgreSQL
//! (`--history postgres://...`, which CI shards and several machines share). From it a report
//! shows trends per claim and scenario, failures that are new since the previous run of the
//! same catalog, seeds whose outcome changed at one commit (a determinism bug), and failures
//! grouped by signature so that a hundred seeds of one bug read as one finding.
//!
//! Both stores run the same SQL; the analysis ([`analyze`]) is pure, over the rows read back.

mod postgres;
mod sqlite;

pub use postgres::redacted;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::ClaimVerdict;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("SQLite history {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("PostgreSQL history {url}: {source}")]
    Postgres { url: String, source: ::postgres::Error },
    #[error("history row: {0}")]
    Row(String),
}

/// One run as the history keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// Shards of one run share it (`FAULTLINE_RUN_ID`); otherwise one per command.
    pub run_id: String,
    /// What makes two runs comparable: the command and the scenarios it ran.
    pub catalog: String,
    pub commit: String,
    pub machine: String,
    /// Seconds since the Unix epoch at the start; orders the runs of a catalog.
    pub started_unix_s: i64,
    pub seeds: Vec<SeedRecord>,
    pub claims: Vec<(String, ClaimVerdict)>,
}

/// One seed's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRecord {
    pub scenario: String,
    pub scenario_hash: String,
    pub seed: u64,
    /// The first violation; `None` when every expectation held.
    pub violation: Option<String>,
    pub capsule: Option<String>,
    pub trace_hash: String,
}

impl SeedRecord {
    pub fn passed(&self) -> bool {
        self.violation.is_none()
    }

    /// The violation with its numbers replaced by `#`: seeds that fail the same way, at other
    /// offsets, times or partitions, share it.
    pub fn signature(&self) -> Option<String> {
        let violation = self.violation.as_ref()?;
        let mut signature = String::with_capacity(violation.len());
        let mut in_number = false;
        for c in violation.chars() {
            if c.is_ascii_digit() {
                if !in_number {
                    signature.push('#');
                }
                in_number = true;
            } else {
                in_number = c == '.' && in_number;
                if !in_number {
                    signature.push(c);
                }
            }
        }
        Some(format!("{}: {signature}", self.scenario))
    }
}

/// A backend: SQLite or PostgreSQL, the same statements.
trait Store {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<(), HistoryError>;
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, HistoryError>;
    fn batch(&mut self, sql: &str) -> Result<(), HistoryError>;
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Text(String),
    Null,
}

impl Value {
    fn text(&self) -> Result<String, HistoryError> {
        match self {
            Value::Text(text) => Ok(text.clone()),
            other => Err(HistoryError::Row(format!("expected text, found {other:?}"))),
        }
    }

    fn optional_text(&self) -> Result<Option<String>, HistoryError> {
        match self {
            Value::Null => Ok(None),
            other => other.text().map(Some),
        }
    }

    fn int(&self) -> Result<i64, HistoryError> {
        match self {
            Value::Int(n) => Ok(*n),
            other => Err(HistoryError::Row(format!("expected an integer, found {other:?}"))),
        }
    }
}

fn optional(text: &Option<String>) -> Value {
    text.as_ref().map_or(Value::Null, |t| Value::Text(t.clone()))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    catalog TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    machine TEXT NOT NULL,
    started_unix_s BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS seeds (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    scenario TEXT NOT NULL,
    scenario_hash TEXT NOT NULL,
    seed BIGINT NOT NULL,
    violation TEXT,
    capsule TEXT,
    trace_hash TEXT NOT NULL,
    PRIMARY KEY (run_id, scenario, seed)
);
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    claim TEXT NOT NULL,
    verdict TEXT NOT NULL,
    PRIMARY KEY (run_id, claim)
);
CREATE INDEX IF NOT EXISTS runs_by_catalog ON runs (catalog, started_unix_s);
";

/// How many earlier runs of a catalog the trends and the determinism check look at.
pub const RUNS_COMPARED: usize = 30;

/// An open history.
pub struct History {
    store: Box<dyn Store>,
}

impl History {
    /// `postgres://...` or `postgresql://...` opens PostgreSQL; anything else is a SQLite file
    /// (created with its tables when missing).
    pub fn open(location: &str) -> Result<History, HistoryError> {
        let mut store: Box<dyn Store> = if location.starts_with("postgres://") || location.starts_with("postgresql://")
        {
            Box::new(postgres::Postgres::connect(location)?)
        } else {
            Box::new(sqlite::Sqlite::open(location)?)
        };
        store.batch(SCHEMA)?;
        Ok(History { store })
    }

    /// Records `run`; a shard of a run already recorded adds its seeds and claims to it (a
    /// claim's verdicts combine: violated beats holds beats not tested).
    pub fn record(&mut self, run: &RunRecord) -> Result<(), HistoryError> {
        self.store.batch("BEGIN")?;
        let recorded = self.record_rows(run);
        self.store.batch(if recorded.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
        recorded
    }

    fn record_rows(&mut self, run: &RunRecord) -> Result<(), HistoryError> {
        self.store.execute(
            "INSERT INTO runs (run_id, catalog, commit_id, machine, started_unix_s) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id) DO NOTHING",
            &[
                Value::Text(run.run_id.clone()),
                Value::Text(run.catalog.clone()),
                Value::Text(run.commit.clone()),
                Value::Text(run.machine.clone()),
                Value::Int(run.started_unix_s),
            ],
        )?;
        for seed in &run.seeds {
            self.store.execute(
                "INSERT INTO seeds (run_id, scenario, scenario_hash, seed, violation, capsule, trace_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, scenario, seed) DO UPDATE SET \
                 scenario_hash = excluded.scenario_hash, violation = excluded.violation, \
                 capsule = excluded.capsule, trace_hash = excluded.trace_hash",
                &[
                    Value::Text(run.run_id.clone()),
                    Value::Text(seed.scenario.clone()),
                    Value::Text(seed.scenario_hash.clone()),
                    Value::Int(seed.seed as i64),
                    optional(&seed.violation),
                    optional(&seed.capsule),
                    Value::Text(seed.trace_hash.clone()),
                ],
            )?;
        }
        for (claim, verdict) in &run.claims {
            let previous = self.store.query(
                "SELECT verdict FROM claims WHERE run_id = $1 AND claim = $2",
                &[Value::Text(run.run_id.clone()), Value::Text(claim.clone())],
            )?;
            let combined = match previous.first() {
                Some(row) => parse_verdict(&row[0].text()?)?.combine(*verdict),
                None => *verdict,
            };
            self.store.execute(
                "INSERT INTO claims (run_id, claim, verdict) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, claim) DO UPDATE SET verdict = excluded.verdict",
                &[Value::Text(run.run_id.clone()), Value::Text(claim.clone()), Value::Text(combined.as_str().into())],
            )?;
        }
        Ok(())
    }

    /// The runs of `run_id`'s catalog up to and including it, oldest first (at most
    /// [`RUNS_COMPARED`] + 1), read back in full.
    pub fn runs_up_to(&mut self, run_id: &str) -> Result<Vec<RunRecord>, HistoryError> {
        let rows = self.store.query(
            "SELECT r.run_id, r.catalog, r.commit_id, r.machine, r.started_unix_s FROM runs r \
             JOIN runs this ON this.run_id = $1 AND r.catalog = this.catalog \
             AND (r.started_unix_s < this.started_unix_s OR (r.started_unix_s = this.started_unix_s AND r.run_id <= this.run_id)) \
             ORDER BY r.started_unix_s DESC, r.run_id DESC LIMIT $2",
            &[Value::Text(run_id.to_string()), Value::Int(RUNS_COMPARED as i64 + 1)],
        )?;
        let mut runs = Vec::new();
        for row in rows.iter().rev() {
            let run_id = row[0].text()?;
            let seeds = self
                .store
                .query(
                    "SELECT scenario, scenario_hash, seed, violation, capsule, trace_hash FROM seeds WHERE run_id = $1 \
                     ORDER BY scenario, seed",
                    &[Value::Text(run_id.clone())],
                )?
                .iter()
                .map(|s| {
                    Ok(SeedRecord {
                        scenario: s[0].text()?,
                        scenario_hash: s[1].text()?,
                        seed: s[2].int()? as u64,
                        violation: s[3].optional_text()?,
                        capsule: s[4].optional_text()?,
                        trace_hash: s[5].text()?,
                    })
                })
                .collect::<Result<Vec<_>, HistoryError>>()?;
            let claims = self
                .store
                .query(
                    "SELECT claim, verdict FROM claims WHERE run_id = $1 ORDER BY claim",
                    &[Value::Text(run_id.clone())],
                )?
                .iter()
                .map(|c| Ok((c[0].text()?, parse_verdict(&c[1].text()?)?)))
                .collect::<Result<Vec<_>, HistoryError>>()?;
            runs.push(RunRecord {
                run_id,
                catalog: row[1].text()?,
                commit: row[2].text()?,
                machine: row[3].text()?,
                started_unix_s: row[4].int()?,
                seeds,
                claims,
            });
        }
        Ok(runs)
    }
}

fn parse_verdict(text: &str) -> Result<ClaimVerdict, HistoryError> {
    match text {
        "holds" => Ok(ClaimVerdict::Holds),
        "violated" => Ok(ClaimVerdict::Violated),
        "not-tested" => Ok(ClaimVerdict::NotTested),
        other => Err(HistoryError::Row(format!("unknown verdict {other:?}"))),
    }
}

/// What the history says about the last of `runs` (oldest first, one catalog).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Findings {
    pub run_id: String,
    /// The run it is compared with: the previous run of the same catalog.
    pub previous_run: Option<String>,
    /// Failure signatures of this run that the previous run did not fail with.
    pub new_failures: Vec<String>,
    /// This run's failures, grouped by signature, most seeds first.
    pub groups: Vec<FailureGroup>,
    /// Seeds run more than once at one commit, with one scenario file, whose outcomes differ:
    /// same seed, same bytes is broken (or the service reads something outside the simulation).
    pub nondeterministic: Vec<Nondeterminism>,
    /// Per claim, its verdict in each run compared (oldest first).
    pub claim_trends: BTreeMap<String, Vec<ClaimVerdict>>,
    /// Per scenario, (failing seeds, seeds) in each run compared (oldest first).
    pub scenario_trends: BTreeMap<String, Vec<(usize, usize)>>,
    pub runs_compared: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FailureGroup {
    pub signature: String,
    /// (scenario, seed) of every seed that failed this way.
    pub seeds: Vec<(String, u64)>,
    /// The capsule of its first seed.
    pub capsule: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Nondeterminism {
    pub scenario: String,
    pub seed: u64,
    pub commit: String,
    /// Each distinct outcome: "pass" or the violation, with its trace hash and run.
    pub outcomes: Vec<String>,
}

/// Compares the last of `runs` (oldest first) with the ones before it.
pub fn analyze(runs: &[RunRecord]) -> Findings {
    let Some(current) = runs.last() else { return Findings::default() };
    let previous = runs.len().checked_sub(2).map(|i| &runs[i]);
    let signatures =
        |run: &RunRecord| -> BTreeSet<String> { run.seeds.iter().filter_map(SeedRecord::signature).collect() };
    let before = previous.map(signatures).unwrap_or_default();
    let new_failures = signatures(current).into_iter().filter(|s| !before.contains(s)).collect();

    let mut groups: BTreeMap<String, FailureGroup> = BTreeMap::new();
    for seed in &current.seeds {
        if let Some(signature) = seed.signature() {
            let group = groups.entry(signature.clone()).or_insert(FailureGroup {
                signature,
                seeds: Vec::new(),
                capsule: seed.capsule.clone(),
            });
            group.seeds.push((seed.scenario.clone(), seed.seed));
        }
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.seeds.len().cmp(&a.seeds.len()).then_with(|| a.signature.cmp(&b.signature)));

    // Every seed of the current run, against the same seed at the same commit and scenario
    // file in any run compared.
    let mut nondeterministic = Vec::new();
    for seed in &current.seeds {
        let mut outcomes: BTreeMap<(Option<String>, String), String> = BTreeMap::new();
        for run in runs.iter().filter(|r| r.commit == current.commit && !r.commit.ends_with("-dirty")) {
            for other in run
                .seeds
                .iter()
                .filter(|o| o.scenario == seed.scenario && o.seed == seed.seed && o.scenario_hash == seed.scenario_hash)
            {
                outcomes
                    .entry((other.violation.clone(), other.trace_hash.clone()))
                    .or_insert_with(|| run.run_id.clone());
            }
        }
        if outcomes.len() > 1 {
            nondeterministic.push(Nondeterminism {
                scenario: seed.scenario.clone(),
                seed: seed.seed,
                commit: current.commit.clone(),
                outcomes: outcomes
                    .into_iter()
                    .map(|((violation, trace), run)| {
                        format!("{} (trace {trace}, run {run})", violation.as_deref().unwrap_or("pass"))
                    })
                    .collect(),
            });
        }
    }

    let mut claim_trends: BTreeMap<String, Vec<ClaimVerdict>> = BTreeMap::new();
    let mut scenario_trends: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for (claim, verdict) in &run.claims {
            let trend = claim_trends.entry(claim.clone()).or_default();
            trend.resize(i, ClaimVerdict::NotTested);
            trend.push(*verdict);
        }
        let mut per_scenario: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for seed in &run.seeds {
            let entry = per_scenario.entry(seed.scenario.as_str()).or_default();
            entry.0 += usize::from(!seed.passed());
            entry.1 += 1;
        }
        for (scenario, counts) in per_scenario {
            let trend = scenario_trends.entry(scenario.to_string()).or_default();
            trend.resize(i, (0, 0));
            trend.push(counts);
        }
    }
    for trend in claim_trends.values_mut() {
        trend.resize(runs.len(), ClaimVerdict::NotTested);
    }
    for trend in scenario_trends.values_mut() {
        trend.resize(runs.len(), (0, 0));
    }
    Findings {
        run_id: current.run_id.clone(),
        previous_run: previous.map(|r| r.run_id.clone()),
        new_failures,
        groups,
        nondeterministic,
        claim_trends,
        scenario_trends,
        runs_compared: runs.len(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
