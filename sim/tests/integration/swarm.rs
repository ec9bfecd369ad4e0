//! A green nightly proves only what its faults explore: the swarms' nightly seeds must draw
//! every fault kind (three times at least) and fault lengths just under and just over every
//! timeout of the service (three of each).

use sim::faults::{expand, service_timeouts_s};
use sim::scenario::FaultKind;

/// Every fault the nightly seeds of the catalog's generated schedules draw.
fn drawn() -> Vec<sim::scenario::Fault> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut faults = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let loaded = sim::scenario::load(&path).unwrap();
        let scenario = &loaded.scenario;
        if scenario.generate.is_none() {
            continue;
        }
        for seed in scenario.nightly_seeds.clone() {
            let mut schedule = expand(scenario, seed);
            schedule.retain(|fault| !scenario.faults.iter().any(|spec| sim::scenario::Fault::from(spec) == *fault));
            faults.extend(schedule);
        }
    }
    faults
}

#[test]
fn the_nightly_swarms_draw_every_fault_kind_and_lengths_around_every_timeout() {
    let faults = drawn();
    for kind in FaultKind::ALL {
        let drawn = faults.iter().filter(|f| f.kind == kind).count();
        assert!(drawn >= 3, "the nightly swarms draw {} {drawn} times", kind.name());
    }
    let lengths: Vec<f64> = faults.iter().map(|f| (f.end_ms - f.start_ms) as f64 / 1000.0).collect();
    for (timeout, seconds) in service_timeouts_s() {
        // Just under and just over (the straddle factors are 0.9 and 1.1, jittered by 3 %).
        let under = lengths.iter().filter(|l| (0.85 * seconds..seconds).contains(*l)).count();
        let over = lengths.iter().filter(|l| **l > seconds && **l <= 1.15 * seconds).count();
        assert!(under >= 3 && over >= 3, "{timeout} ({seconds} s): {under} faults just under it, {over} just over");
    }
}
