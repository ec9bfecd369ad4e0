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

#[test]
fn check_determinism_passes_on_a_sample_of_every_catalog_scenario() {
    // The nightly workflow runs --check-determinism on 100 seeds of each scenario; CI runs
    // the first two seeds of every scenario (each run twice, in fresh processes).
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let out = std::env::temp_dir().join(format!("faultline-determinism-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["nightly", "--check-determinism-sample", "2", "--scenarios"])
        .arg(&scenarios)
        .arg("--out")
        .arg(&out)
        .env("FAULTLINE_NIGHTLY_SEEDS_MAX", "2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("determinism check failed"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{}\n{stderr}", String::from_utf8_lossy(&output.stdout));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let catalog = std::fs::read_dir(&scenarios)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"))
        .count();
    assert_eq!(summary["scenarios"].as_array().unwrap().len(), catalog, "every catalog scenario ran");
    std::fs::remove_dir_all(out).ok();
}
