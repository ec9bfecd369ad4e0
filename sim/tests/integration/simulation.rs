//! The broker cluster under madsim: three zones, produce and consume over TLS and SASL, and
//! the same seed gives the same bytes on every link while another seed does not.

use sim::runner::{run_seed, RunRequest};

fn run(seed: u64) -> sim::runner::RunOutcome {
    crate::use_faultline_worker();
    run_seed(&RunRequest {
        scenario: crate::scenario("single-zone-outage"),
        seed,
        bugs: Vec::new(),
        schedule: None,
        duration_s: None,
    })
}

#[test]
fn a_three_zone_cluster_produces_and_consumes_over_tls_and_replays_byte_for_byte() {
    let first = run(7);
    assert!(first.passed(), "{:?}", first.violation);
    assert!(first.report.acked_writes > 1_000, "acknowledged {}", first.report.acked_writes);
    assert!(first.report.polled_records >= first.report.acked_writes, "consumers read {}", first.report.polled_records);
    assert!(first.wire_bytes > 1_000_000, "wire bytes {}", first.wire_bytes);
    // The trace crosses from the worker as it was hashed there (it travels outside the JSON).
    let trace_sha256 = ring::digest::digest(&ring::digest::SHA256, first.trace.as_bytes());
    let hex: String = trace_sha256.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, first.trace_hash, "the parent's trace is not the one the worker hashed");
    assert!(first.trace.lines().count() > 1_000, "trace of {} lines", first.trace.lines().count());
    let again = run(7);
    assert_eq!(first.trace_hash, again.trace_hash, "same seed, different trace");
    assert_eq!(first.wire_hash, again.wire_hash, "same seed, different bytes on the wire");
    let other = run(8);
    assert_ne!(first.wire_hash, other.wire_hash, "two seeds gave the same wire bytes");
    assert_ne!(first.trace_hash, other.trace_hash);
}

#[test]
fn the_cli_prints_the_seed_schedule_and_trace_hash_and_two_processes_agree() {
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let out = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", "rolling-restart", "--seed", "3", "--scenarios"])
            .arg(&scenarios)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let (first, second) = (run(), run());
    let stdout = String::from_utf8_lossy(&first.stdout).to_string();
    assert_eq!(first.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&first.stderr));
    assert!(stdout.starts_with("scenario: rolling-restart  seed: 3"), "{stdout}");
    assert!(stdout.contains("kill-node broker-2"), "the expanded schedule comes first: {stdout}");
    let hash = |text: &str| text.lines().find(|l| l.starts_with("trace-hash: ")).map(str::to_string);
    assert!(hash(&stdout).is_some());
    assert_eq!(hash(&stdout), hash(&String::from_utf8_lossy(&second.stdout)));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let scenario = &summary["scenarios"][0];
    assert_eq!(scenario["name"], "rolling-restart");
    assert_eq!(scenario["passed"], true);
    assert_eq!(scenario["claims"]["C20"], "holds");
    assert_eq!(scenario["faults"]["kill-node"], 3);
    assert!(scenario["expectations"].as_array().unwrap().iter().all(|e| e["passed"] == true));
    std::fs::remove_dir_all(out).ok();
}

/// Runs `nightly --check-determinism-sample` over `scenarios` (each checked seed twice, in fresh
/// processes) and asserts that every scenario ran and none differed.
fn determinism_holds(scenarios: &std::path::Path, seeds: usize) {
    let out = std::env::temp_dir().join(format!("faultline-determinism-{}-{seeds}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["nightly", "--check-determinism-sample", &seeds.to_string(), "--scenarios"])
        .arg(scenarios)
        .arg("--out")
        .arg(&out)
        .env("FAULTLINE_NIGHTLY_SEEDS_MAX", seeds.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("determinism check failed"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{}\n{stderr}", String::from_utf8_lossy(&output.stdout));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let catalog = std::fs::read_dir(scenarios)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count();
    assert_eq!(summary["scenarios"].as_array().unwrap().len(), catalog, "every scenario ran");
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn check_determinism_passes_on_a_sample_of_scenarios() {
    // The fast tier's sample: one seed each of scenarios that between them drive every fault
    // kind (random-faults' swarm), power loss over the disk model, keys and shredding, the
    // operators' path and an SLA month's episodes. The full tier runs the whole catalog.
    let catalog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let sample = std::env::temp_dir().join(format!("faultline-determinism-sample-{}", std::process::id()));
    std::fs::create_dir_all(&sample).unwrap();
    for name in [
        "random-faults",
        "all-zones-power-loss",
        "cluster-delete-and-shred",
        "insider-without-mfa",
        "sla-month-standard",
    ] {
        let file = format!("{name}.toml");
        std::fs::copy(catalog.join(&file), sample.join(&file)).unwrap();
    }
    determinism_holds(&sample, 1);
    std::fs::remove_dir_all(sample).ok();
}

#[test]
#[ignore = "full tier: every catalog scenario (the fast tier checks a sample)"]
fn check_determinism_passes_on_two_seeds_of_every_catalog_scenario() {
    // The nightly workflow runs --check-determinism on 100 seeds of each scenario; the full
    // tier the first two seeds of every scenario.
    determinism_holds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"), 2);
}

#[test]
fn a_sweep_keeps_the_first_seeds_trace_compressed_and_every_outcome_and_says_what_it_kept() {
    // breach-before-holiday-weekend's nightly seeds are 1..4; without --seeds the sweep runs them.
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let sweep = |keep: bool| {
        let out = std::env::temp_dir().join(format!("faultline-traces-{}-{keep}", std::process::id()));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.args(["sweep", "breach-before-holiday-weekend", "--scenarios"]).arg(&scenarios).arg("--out").arg(&out);
        if keep {
            command.arg("--keep-traces");
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let mut files: Vec<String> = std::fs::read_dir(out.join("outcomes"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        std::fs::remove_dir_all(&out).ok();
        (files, summary["run"]["disk"].clone(), stdout)
    };
    let (files, disk, stdout) = sweep(false);
    assert_eq!(
        files,
        [
            "breach-before-holiday-weekend-seed-1.json",
            "breach-before-holiday-weekend-seed-1.trace.zst",
            "breach-before-holiday-weekend-seed-2.json",
            "breach-before-holiday-weekend-seed-3.json"
        ],
        "a passing seed after the first keeps its outcome only"
    );
    assert_eq!((disk["seeds"].as_u64(), disk["traces_kept"].as_u64()), (Some(3), Some(1)), "{disk}");
    assert!(disk["trace_bytes"].as_u64().unwrap() > 0 && disk["outcome_bytes"].as_u64().unwrap() > 0, "{disk}");
    assert!(stdout.contains("disk: ") && stdout.contains("1 traces (zstd)"), "{stdout}");
    let (files, disk, _) = sweep(true);
    assert_eq!(files.iter().filter(|f| f.ends_with(".trace.zst")).count(), 3, "{files:?}");
    assert_eq!(disk["traces_kept"].as_u64(), Some(3), "{disk}");
}

#[test]
fn a_capsule_from_a_run_that_kept_no_trace_replays_to_the_same_hashes_and_regenerates_the_trace() {
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let out = std::env::temp_dir().join(format!("faultline-trace-out-{}", std::process::id()));
    let faultline = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.arg("--scenarios").arg(&scenarios);
        command
    };
    let sweep = faultline()
        .args(["sweep", "slow-replication-leader-crash", "--seeds", "1..3", "--bug", "ack-before-replication", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(sweep.status.code(), Some(1), "{}", String::from_utf8_lossy(&sweep.stdout));
    for entry in std::fs::read_dir(out.join("outcomes")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".trace.zst") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let capsule_path = out.join("capsules/slow-replication-leader-crash-seed-2.json");
    let capsule: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&capsule_path).unwrap()).unwrap();
    let trace_file = out.join("seed-2.trace.zst");
    let replay = faultline().arg("replay").arg(&capsule_path).arg("--trace-out").arg(&trace_file).output().unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    // Exit 0 is the same violation at the same time with the same trace and wire hashes.
    assert_eq!(replay.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "wire-hash: {} (capsule: {})",
            capsule["wire_hash"].as_str().unwrap(),
            capsule["wire_hash"].as_str().unwrap()
        )),
        "{stdout}"
    );
    let trace = zstd::decode_all(std::fs::File::open(&trace_file).unwrap()).unwrap();
    let sha256: String =
        ring::digest::digest(&ring::digest::SHA256, &trace).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha256, capsule["trace_hash"].as_str().unwrap(), "the regenerated trace is the one the capsule hashed");
    std::fs::remove_dir_all(out).ok();
}
