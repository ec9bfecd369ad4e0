//! Crafted histories, run against SQLite and against a real PostgreSQL server (started here
//! from Debian's package, which `ci/test.sh` installs when it is missing).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn seed(scenario: &str, seed: u64, violation: Option<&str>) -> SeedRecord {
    SeedRecord {
        scenario: scenario.into(),
        scenario_hash: "hash-1".into(),
        seed,
        violation: violation.map(String::from),
        capsule: violation.map(|_| format!("capsules/{scenario}-seed-{seed}.json")),
        trace_hash: format!("trace-{seed}"),
    }
}

fn run(id: &str, commit: &str, started: i64, seeds: Vec<SeedRecord>, claims: &[(&str, ClaimVerdict)]) -> RunRecord {
    RunRecord {
        run_id: id.into(),
        catalog: "nightly".into(),
        commit: commit.into(),
        machine: "test".into(),
        started_unix_s: started,
        seeds,
        claims: claims.iter().map(|(c, v)| (c.to_string(), *v)).collect(),
    }
}

const LOST: &str = "lost_acked_writes: 1 acknowledged write lost: orders-2 offset 1417 at 52.3 s";

/// Every behaviour of the history, against one store.
fn crafted_histories(location: &str) {
    let mut history = History::open(location).unwrap();
    use ClaimVerdict::*;
    // Monday: one lost write. Tuesday: the same bug on a hundred other seeds, plus a new one.
    history
        .record(&run(
            "mon",
            "c1",
            100,
            vec![seed("zone-loss", 1, None), seed("zone-loss", 2, Some(LOST))],
            &[("C20", Violated)],
        ))
        .unwrap();
    let mut tuesday: Vec<SeedRecord> = (1..=100)
        .map(|s| {
            seed(
                "zone-loss",
                s,
                Some(&format!(
                    "lost_acked_writes: 1 acknowledged write lost: orders-{} offset {} at {}.5 s",
                    s % 6,
                    s * 13,
                    s
                )),
            )
        })
        .collect();
    tuesday.push(seed("rolling-restart", 4, Some("converged: not converged within 120 s")));
    tuesday.push(seed("rolling-restart", 5, None));
    // Shards of one run arrive separately.
    let (first, second) = tuesday.split_at(50);
    history.record(&run("tue", "c2", 200, first.to_vec(), &[("C20", Holds), ("C27", Holds)])).unwrap();
    history.record(&run("tue", "c2", 200, second.to_vec(), &[("C20", Violated)])).unwrap();

    let runs = history.runs_up_to("tue").unwrap();
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["mon", "tue"]);
    assert_eq!(runs[1].seeds.len(), 102, "both shards' seeds");
    assert_eq!(runs[1].claims, vec![("C20".to_string(), Violated), ("C27".to_string(), Holds)], "violated beats holds");
    let findings = analyze(&runs);
    assert_eq!(findings.previous_run.as_deref(), Some("mon"));
    assert_eq!(findings.new_failures, vec!["rolling-restart: converged: not converged within # s".to_string()]);
    assert_eq!(findings.groups.len(), 2, "a hundred seeds of one bug are one finding: {:?}", findings.groups);
    assert_eq!(findings.groups[0].seeds.len(), 100);
    assert_eq!(
        findings.groups[0].signature,
        "zone-loss: lost_acked_writes: # acknowledged write lost: orders-# offset # at # s"
    );
    assert_eq!(findings.groups[0].capsule.as_deref(), Some("capsules/zone-loss-seed-1.json"));
    assert!(findings.nondeterministic.is_empty(), "different commits: {:?}", findings.nondeterministic);
    assert_eq!(findings.claim_trends["C20"], vec![Violated, Violated]);
    assert_eq!(findings.claim_trends["C27"], vec![NotTested, Holds], "no verdict on Monday is not tested");
    assert_eq!(findings.scenario_trends["zone-loss"], vec![(1, 2), (100, 100)]);
    assert_eq!(findings.scenario_trends["rolling-restart"], vec![(0, 0), (1, 2)]);

    // Wednesday reruns Tuesday's commit: seed 5 of rolling-restart now fails, seed 4 passes.
    let mut wednesday = tuesday.clone();
    wednesday[100].violation = None;
    wednesday[101].violation = Some("duplicates: 1 value read twice".into());
    wednesday[101].trace_hash = "trace-5-other".into();
    history.record(&run("wed", "c2", 300, wednesday, &[("C20", Violated)])).unwrap();
    let findings = analyze(&history.runs_up_to("wed").unwrap());
    let flaky: Vec<(&str, u64)> = findings.nondeterministic.iter().map(|n| (n.scenario.as_str(), n.seed)).collect();
    assert_eq!(flaky, vec![("rolling-restart", 4), ("rolling-restart", 5)], "same commit, same seed, other outcome");
    assert_eq!(findings.nondeterministic[1].outcomes.len(), 2);
    assert_eq!(findings.new_failures, vec!["rolling-restart: duplicates: # value read twice".to_string()]);

    // A working tree with changes proves nothing about determinism; another catalog is not compared.
    history.record(&run("thu", "c2-dirty", 400, vec![seed("rolling-restart", 5, None)], &[])).unwrap();
    history.record(&run("fri", "c2-dirty", 500, vec![seed("rolling-restart", 5, Some("phantom"))], &[])).unwrap();
    assert!(analyze(&history.runs_up_to("fri").unwrap()).nondeterministic.is_empty());
    let mut other = run("sweep", "c2", 600, vec![seed("rolling-restart", 5, None)], &[]);
    other.catalog = "sweep rolling-restart".into();
    history.record(&other).unwrap();
    assert_eq!(history.runs_up_to("sweep").unwrap().len(), 1);

    // Reopening keeps everything.
    drop(history);
    assert_eq!(History::open(location).unwrap().runs_up_to("wed").unwrap().len(), 3);
}

#[test]
fn sqlite_history() {
    let dir = std::env::temp_dir().join(format!("faultline-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.sqlite");
    let _ = std::fs::remove_file(&path);
    crafted_histories(path.to_str().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn postgresql_history() {
    let server = PostgresServer::start();
    crafted_histories(&server.url);
}

#[test]
fn a_signature_keeps_the_words_and_drops_the_numbers() {
    let s = seed("zone-loss", 1, Some("reorder: orders-3 offset 12 before 11 at 0.25 s."));
    assert_eq!(s.signature().unwrap(), "zone-loss: reorder: orders-# offset # before # at # s.");
    assert_eq!(seed("zone-loss", 1, None).signature(), None);
}

#[test]
fn an_empty_history_has_no_findings() {
    assert_eq!(analyze(&[]), Findings::default());
}

/// A throwaway PostgreSQL cluster: initdb in a temporary directory, trust authentication on
/// 127.0.0.1 only, stopped and removed on drop. As root it runs as the `postgres` user.
struct PostgresServer {
    dir: PathBuf,
    bin: PathBuf,
    url: String,
}

impl PostgresServer {
    fn start() -> PostgresServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(|v| v.ok().map(|v| v.path().join("bin"))).max())
            .filter(|bin| bin.join("initdb").exists())
            .expect("PostgreSQL is installed (ci/test.sh installs Debian's postgresql package)");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("faultline-postgres-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = is_root();
        if root {
            run_ok(Command::new("chown").arg("postgres").arg(&dir));
        }
        let as_owner = |program: &Path| {
            let mut command = if root { Command::new("runuser") } else { Command::new(program) };
            if root {
                command.args(["-u", "postgres", "--"]).arg(program);
            }
            command
        };
        let data = dir.join("data");
        run_ok(as_owner(&bin.join("initdb")).args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"]).arg(&data));
        run_ok(
            as_owner(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.display()))
                .arg("-l")
                .arg(dir.join("server.log"))
                .args(["-w", "start"]),
        );
        PostgresServer { url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), dir, bin }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if is_root() { Command::new("runuser") } else { Command::new(&pg_ctl) };
        if is_root() {
            command.args(["-u", "postgres", "--"]).arg(&pg_ctl);
        }
        let _ = command.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the tests run as root (then initdb must run as `postgres`).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

fn run_ok(command: &mut Command) {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
