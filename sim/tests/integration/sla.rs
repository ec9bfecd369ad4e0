//! SLA months (C03): the episodes a month is cut into must give what simulating the whole
//! month gives, and a month must replay.

use sim::runner::{run_seed, RunOutcome, RunRequest};
use sim::scenario::LoadedScenario;

const VALIDATION: &str = include_str!("../fixtures/sla/sla-validation.toml");

fn validation(simulate: &str) -> LoadedScenario {
    let text = VALIDATION.replace("days = 0.25", &format!("days = 0.25\nsimulate = \"{simulate}\""));
    LoadedScenario::from_text(std::path::Path::new("sla-validation.toml"), "sla-validation.toml", text).unwrap()
}

fn month(scenario: &LoadedScenario, seed: u64) -> RunOutcome {
    run_seed(&RunRequest { scenario: scenario.clone(), seed, bugs: Vec::new(), schedule: None, duration_s: None })
}

#[test]
fn episodes_measure_what_the_full_simulation_measures_on_one_month_and_quiet_time_is_up() {
    episodes_agree_with_the_full_simulation(1..=1);
}

#[test]
#[ignore = "full tier: three six-hour months simulated in full (about two minutes)"]
fn episodes_measure_what_the_full_simulation_measures_and_quiet_time_is_up() {
    episodes_agree_with_the_full_simulation(1..=3);
}

/// Each seed's month simulated as episodes and in full: the same faults, every moment down inside
/// an episode window, about the same downtime; and over all the seeds within a fifth.
fn episodes_agree_with_the_full_simulation(seeds: std::ops::RangeInclusive<u64>) {
    crate::use_faultline_worker();
    let (episodic, full) = (validation("episodes"), validation("full"));
    let spec = episodic.scenario.sla_month.clone().unwrap();
    let (mut total_episodes, mut total_full) = (0.0, 0.0);
    for seed in seeds {
        let (e, f) = (month(&episodic, seed), month(&full, seed));
        assert!(e.passed() && f.passed(), "seed {seed}: {:?} / {:?}", e.violation, f.violation);
        assert_eq!(e.schedule, f.schedule, "both simulate the month's one draw");
        let (e_sla, f_sla) = (e.sla.clone().unwrap(), f.sla.clone().unwrap());
        eprintln!(
            "seed {seed}: {} faults; down {:.1} s in {} minutes as {} episodes ({:.0} simulated s), {:.1} s in {} minutes in full ({:.0} s)",
            e.schedule.len(),
            e_sla.downtime_s,
            e_sla.down_minutes,
            e_sla.episodes,
            e_sla.simulated_s,
            f_sla.downtime_s,
            f_sla.down_minutes,
            f_sla.simulated_s
        );
        assert!(!e.schedule.is_empty() && f_sla.episodes == 1 && e_sla.simulated_s < f_sla.simulated_s / 2.0);
        // What the episodes take for granted, in the full run: every moment it was down lies
        // inside some fault's episode window (lead-in, faults, settling).
        let windows = sim::sla::episodes(&spec, &e.schedule, seed);
        for (start, end) in &f.down_ms {
            assert!(
                windows.iter().any(|w| !w.faults.is_empty() && w.from_ms <= *start && *end <= w.measure_to_ms),
                "seed {seed}: the full month was down {start}..{end} ms outside every fault's window"
            );
        }
        assert!(f_sla.downtime_s > 0.0, "seed {seed}: faults that cost nothing validate nothing");
        // The same faults on a different simulation (elections draw their timeouts): the same
        // minutes down, give or take, and the same seconds within a quarter.
        assert!(e_sla.down_minutes.abs_diff(f_sla.down_minutes) <= 2, "seed {seed}");
        let (a, b) = (e_sla.downtime_s, f_sla.downtime_s);
        assert!((a - b).abs() <= 0.25 * a.max(b) + 5.0, "seed {seed}: {a:.1} s as episodes, {b:.1} s in full");
        total_episodes += a;
        total_full += b;
    }
    let off = (total_episodes - total_full).abs() / total_full;
    eprintln!(
        "downtime over the seeds: {total_episodes:.1} s as episodes, {total_full:.1} s in full ({:.0} %)",
        off * 100.0
    );
    assert!(off <= 0.2, "{total_episodes:.1} s vs {total_full:.1} s");
}

#[test]
fn an_sla_month_replays_and_reports_its_availability() {
    crate::use_faultline_worker();
    let scenario = crate::scenario("sla-month-standard");
    let (first, second) = (month(&scenario, 2), month(&scenario, 2));
    assert_eq!(first.trace_hash, second.trace_hash, "same seed, same month");
    let sla = first.sla.clone().unwrap();
    assert_eq!((sla.cluster_type.as_str(), sla.sla_percent, sla.days), ("Standard", 99.95, 30.0));
    // Seed 2 draws faults that cost seconds: measured, and far inside the SLA.
    assert!(sla.faults >= 1 && sla.episodes >= 2, "{sla:?}");
    assert!(sla.downtime_s > 0.0 && sla.availability < 1.0 && sla.meets_sla(), "{sla:?}");
    let month_s = 30.0 * 86_400.0;
    assert!((sla.availability - (1.0 - sla.downtime_s / month_s)).abs() < 1e-12);
    assert!(first.simulated_ms as f64 / 1000.0 == sla.simulated_s && sla.simulated_s < month_s / 50.0);
}
