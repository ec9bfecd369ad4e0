//! The harness's one integration-test binary. Scenario validation runs in both builds; the
//! simulation tests need `--cfg madsim` (`cargo sim-test -p sim`).

mod capsules;
mod scenario_errors;

#[cfg(madsim)]
mod docs;
#[cfg(madsim)]
mod evidence;
#[cfg(madsim)]
mod planted_bugs;
#[cfg(madsim)]
mod report;
#[cfg(madsim)]
mod simulation;
#[cfg(madsim)]
mod sla;
#[cfg(madsim)]
mod swarm;

#[cfg(madsim)]
pub fn use_faultline_worker() {
    // Each seed runs in a fresh `faultline seed-worker` process.
    std::env::set_var("FAULTLINE_WORKER", env!("CARGO_BIN_EXE_faultline"));
}

pub fn scenario(name: &str) -> sim::scenario::LoadedScenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    sim::scenario::load(&path).unwrap()
}
