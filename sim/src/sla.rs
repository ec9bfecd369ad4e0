//! SLA months (C03): a month's faults drawn from the scenario's rates, cut into episodes, and the
//! month's availability from the episodes' down intervals.
//!
//! Why episodes: a quiet simulated hour of the three-zone cluster under light load costs about
//! 6 s of wall time here (its timers, heartbeats and long polls run whether or not anything
//! happens), so a month in full takes over an hour per seed. Faults are rare (about one or two
//! a month at the published rates), so the month is run as its faults: each one (or a cluster
//! of overlapping ones) runs in full on a fresh cluster, `lead_in_s` of steady state before and
//! `settle_s` after, and the time between episodes is counted as up. One quiet stretch per
//! month, drawn from the seed, is simulated too and must show no downtime; `simulate = "full"`
//! runs the same month as one simulation, and the integration tests compare the two.

use rand_chacha::rand_core::RngCore;

use crate::scenario::{Fault, FaultKind, Group, RateTarget, SlaMonthSpec};
use crate::seeds::{self, Stream};

/// One simulation of a month: month time `from_ms` is its t = 0; it measures availability
/// from `measure_from_ms` to `measure_to_ms` (month time).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub from_ms: u64,
    pub measure_from_ms: u64,
    pub measure_to_ms: u64,
    /// Its faults, in month time (none for the quiet sample).
    pub faults: Vec<Fault>,
}

impl Episode {
    /// Simulated seconds the episode runs for.
    pub fn duration_s(&self, spec: &SlaMonthSpec) -> u64 {
        (self.measure_to_ms - self.from_ms).div_ceil(1000).max(spec.lead_in_s + 1)
    }

    /// Its faults in episode time.
    pub fn schedule(&self) -> Vec<Fault> {
        self.faults
            .iter()
            .map(|f| Fault { start_ms: f.start_ms - self.from_ms, end_ms: f.end_ms - self.from_ms, ..f.clone() })
            .collect()
    }
}

/// The month's faults: for each rate a Poisson process over the month (exponential gaps),
/// lengths log-uniform in the rate's range, targets uniform. None starts in the first
/// `lead_in_s` (an episode needs its steady state before the fault).
pub fn month_faults(spec: &SlaMonthSpec, seed: u64) -> Vec<Fault> {
    let mut rng = seeds::rng(seed, Stream::SlaMonth, 0);
    let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let month_ms = spec.month_ms() as f64;
    let lead_in_ms = spec.lead_in_s as f64 * 1000.0;
    let mut faults = Vec::new();
    for rate in spec.faults.iter().filter(|r| r.per_month > 0.0) {
        let mean_gap_ms = month_ms / rate.per_month;
        let mut at_ms = lead_in_ms;
        loop {
            at_ms += -mean_gap_ms * (1.0 - uniform()).ln();
            if at_ms >= month_ms - 1000.0 {
                break;
            }
            let [shortest, longest] = rate.duration_s;
            let length_ms = shortest * (longest / shortest).powf(uniform()) * 1000.0;
            let end_ms = (at_ms + length_ms).min(month_ms - 1.0);
            let amount = rate.amount.map(|[low, high]| {
                let value = low + uniform() * (high - low);
                if rate.kind == FaultKind::Loss {
                    (value * 100.0).round() / 100.0
                } else {
                    value.round()
                }
            });
            let zone = (uniform() * 3.0) as usize % 3;
            let broker = 1 + (uniform() * 3.0) as u8 % 3;
            let partition = matches!(rate.kind, FaultKind::Partition | FaultKind::OneWayPartition);
            let targets: Vec<Option<Group>> = match rate.target {
                RateTarget::Broker => vec![Some(Group::Broker(broker))],
                RateTarget::Zone => vec![Some(Group::Zone(zone))],
                RateTarget::ClusterZone => (0..3).map(|z| Some(Group::Zone(z))).collect(),
                RateTarget::Peering => vec![Some(Group::Peering)],
                RateTarget::None => vec![None],
            };
            // A peering link is cut from the cluster; anything else from everything else.
            let peer = match rate.target {
                RateTarget::Peering => Group::Cluster,
                _ => Group::Rest,
            };
            for target in targets {
                faults.push(Fault {
                    kind: rate.kind.clone(),
                    target,
                    peer: partition.then(|| peer.clone()),
                    start_ms: at_ms as u64,
                    end_ms: end_ms as u64,
                    amount,
                });
            }
        }
    }
    faults.sort_by(|a, b| (a.start_ms, a.end_ms, a.kind.name()).cmp(&(b.start_ms, b.end_ms, b.kind.name())));
    faults
}

/// Faults whose windows (lead-in before, settling after) touch run as one episode; then one
/// quiet sample of `quiet_sample_s`, placed by the seed where no episode is (none if the
/// month has no such room).
pub fn episodes(spec: &SlaMonthSpec, faults: &[Fault], seed: u64) -> Vec<Episode> {
    let lead_in_ms = spec.lead_in_s * 1000;
    let settle_ms = spec.settle_s * 1000;
    let month_ms = spec.month_ms();
    let mut episodes: Vec<Episode> = Vec::new();
    for fault in faults {
        let from_ms = fault.start_ms.saturating_sub(lead_in_ms);
        match episodes.last_mut() {
            Some(last) if from_ms <= last.measure_to_ms => {
                last.measure_to_ms = last.measure_to_ms.max(fault.end_ms + settle_ms).min(month_ms);
                last.faults.push(fault.clone());
            }
            _ => episodes.push(Episode {
                from_ms,
                measure_from_ms: fault.start_ms,
                measure_to_ms: (fault.end_ms + settle_ms).min(month_ms),
                faults: vec![fault.clone()],
            }),
        }
    }
    let quiet_ms = spec.quiet_sample_s * 1000;
    let mut rng = seeds::rng(seed, Stream::SlaMonth, u32::MAX as u64);
    for _ in 0..100 {
        let room = month_ms.saturating_sub(quiet_ms + lead_in_ms);
        if room == 0 {
            break;
        }
        let from_ms = rng.next_u64() % room;
        let sample = Episode {
            from_ms,
            measure_from_ms: from_ms + lead_in_ms,
            measure_to_ms: from_ms + lead_in_ms + quiet_ms,
            faults: Vec::new(),
        };
        if episodes.iter().all(|e| sample.measure_to_ms <= e.from_ms || e.measure_to_ms <= sample.from_ms) {
            episodes.push(sample);
            break;
        }
    }
    episodes
}

/// An episode's down intervals (episode time) as month time, inside what it measures.
pub fn month_downtime(episode: &Episode, down_ms: &[(u64, u64)]) -> Vec<(u64, u64)> {
    down_ms
        .iter()
        .map(|(start, end)| {
            ((start + episode.from_ms).max(episode.measure_from_ms), (end + episode.from_ms).min(episode.measure_to_ms))
        })
        .filter(|(start, end)| start < end)
        .collect()
}

/// Minutes of the month in which any downtime fell.
pub fn down_minutes(down: &[(u64, u64)]) -> u64 {
    let mut minutes = std::collections::BTreeSet::new();
    for (start, end) in down {
        minutes.extend(start / 60_000..=(end - 1) / 60_000);
    }
    minutes.len() as u64
}

/// Runs an SLA month: each episode (or the whole month, `simulate = "full"`) through `run`,
/// one seed worker each, and folds their outcomes into the month's.
#[cfg(madsim)]
pub fn run_month(
    request: &crate::outcome::RunRequest,
    run: impl Fn(&crate::outcome::RunRequest) -> crate::outcome::RunOutcome,
) -> crate::outcome::RunOutcome {
    use crate::scenario::Simulate;
    #[allow(clippy::disallowed_methods, reason = "the month's wall time, for the report")]
    let started = std::time::Instant::now();
    let scenario = &request.scenario.scenario;
    let spec = scenario.sla_month.as_ref().expect("an SLA month");
    let faults = request.schedule.clone().unwrap_or_else(|| month_faults(spec, request.seed));
    let month_ms = spec.month_ms();
    let plan = match spec.simulate {
        Simulate::Episodes => episodes(spec, &faults, request.seed),
        Simulate::Full => vec![Episode {
            from_ms: 0,
            measure_from_ms: spec.lead_in_s * 1000,
            measure_to_ms: month_ms,
            faults: faults.clone(),
        }],
    };
    let mut outcomes = Vec::new();
    for (index, episode) in plan.iter().enumerate() {
        let mut derived = request.scenario.clone();
        let month = derived.scenario.sla_month.as_mut().expect("an SLA month");
        month.episode = Some(index as u32);
        derived.scenario.duration_s = episode.duration_s(spec);
        let outcome = run(&crate::outcome::RunRequest {
            scenario: derived,
            seed: seeds::derive(request.seed, Stream::SlaMonth, 1 + index as u64),
            bugs: request.bugs.clone(),
            schedule: Some(episode.schedule()),
            duration_s: None,
        });
        outcomes.push(outcome);
    }
    let mut outcome = fold(request, spec, faults, &plan, outcomes);
    outcome.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    outcome
}

/// The month's outcome: safety and liveness as its episodes found them (the first violation,
/// in month time), availability over the month.
#[cfg(madsim)]
fn fold(
    request: &crate::outcome::RunRequest,
    spec: &SlaMonthSpec,
    faults: Vec<Fault>,
    plan: &[Episode],
    outcomes: Vec<crate::outcome::RunOutcome>,
) -> crate::outcome::RunOutcome {
    use crate::outcome::{ExpectationOutcome, FirstViolation};
    let month_ms = spec.month_ms();
    let down = crate::checkers::availability::merged(
        plan.iter().zip(&outcomes).flat_map(|(e, o)| month_downtime(e, &o.down_ms)).collect(),
    );
    let downtime_ms: u64 = down.iter().map(|(s, e)| e - s).sum();
    let mut violation = plan.iter().zip(&outcomes).enumerate().find_map(|(index, (episode, outcome))| {
        let v = outcome.violation.as_ref()?;
        Some(FirstViolation {
            expectation: v.expectation.clone(),
            kind: v.kind.clone(),
            detail: format!(
                "episode {index} (simulation seed {}, from month time {:.0} s): {}",
                outcome.seed,
                episode.from_ms as f64 / 1000.0,
                v.detail
            ),
            at_ms: episode.from_ms + v.at_ms,
        })
    });
    // Quiet time is counted as up: the sampled stretch must bear that out.
    if violation.is_none() {
        violation = plan.iter().zip(&outcomes).find_map(|(episode, outcome)| {
            let (start, end) = *month_downtime(episode, &outcome.down_ms).first().filter(|_| episode.faults.is_empty())?;
            Some(FirstViolation {
                expectation: "sla_quiet_sample".into(),
                kind: "downtime-without-fault".into(),
                detail: format!(
                    "the quiet stretch simulated from month time {:.0} s (simulation seed {}) was down {:.1} s with no fault injected: quiet time cannot be counted as up",
                    episode.from_ms as f64 / 1000.0,
                    outcome.seed,
                    (end - start) as f64 / 1000.0
                ),
                at_ms: start,
            })
        });
    }
    // Per expectation: held in every episode; the observation of the first episode that broke
    // it, else the largest.
    let mut expectations: Vec<ExpectationOutcome> = Vec::new();
    for e in outcomes.iter().flat_map(|o| &o.expectations) {
        match expectations.iter_mut().find(|x| x.name == e.name) {
            Some(x) if x.passed && !e.passed => *x = e.clone(),
            Some(x) if x.passed => {
                x.observed = match (x.observed, e.observed) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                }
            }
            Some(_) => {}
            None => expectations.push(e.clone()),
        }
    }
    let worst = outcomes
        .iter()
        .enumerate()
        .max_by_key(|(i, o)| (o.violation.is_some(), o.down_ms.iter().map(|(s, e)| e - s).sum::<u64>(), *i));
    let mut report = worst.map(|(_, o)| o.report.clone()).unwrap_or_else(crate::outcome::empty_report);
    report.violations = outcomes.iter().flat_map(|o| o.report.violations.iter().cloned()).collect();
    report.counts = Default::default();
    for (kind, n) in outcomes.iter().flat_map(|o| &o.report.counts) {
        *report.counts.entry(*kind).or_default() += n;
    }
    report.acked_writes = outcomes.iter().map(|o| o.report.acked_writes).sum();
    report.failed_writes = outcomes.iter().map(|o| o.report.failed_writes).sum();
    report.indeterminate_writes = outcomes.iter().map(|o| o.report.indeterminate_writes).sum();
    report.polled_records = outcomes.iter().map(|o| o.report.polled_records).sum();
    let mut errors = std::collections::BTreeMap::new();
    for (error, n) in outcomes.iter().flat_map(|o| &o.errors) {
        *errors.entry(error.clone()).or_default() += n;
    }
    let hash = |f: fn(&crate::outcome::RunOutcome) -> &str| {
        let joined: Vec<&str> = outcomes.iter().map(f).collect();
        crate::scenario::hex(ring::digest::digest(&ring::digest::SHA256, joined.join("\n").as_bytes()).as_ref())
    };
    let simulated_ms = outcomes.iter().map(|o| o.simulated_ms).sum::<u64>();
    let sla = reports::SlaMonth {
        seed: request.seed,
        cluster_type: format!("{:?}", spec.cluster_type),
        sla_percent: spec.sla_percent(),
        days: spec.days,
        availability: 1.0 - downtime_ms as f64 / month_ms as f64,
        downtime_s: downtime_ms as f64 / 1000.0,
        down_minutes: down_minutes(&down),
        faults: faults.len() as u32,
        episodes: plan.len() as u32,
        simulated_s: simulated_ms as f64 / 1000.0,
        simulate: format!("{:?}", spec.simulate).to_lowercase(),
    };
    crate::outcome::RunOutcome {
        scenario: request.scenario.scenario.name.clone(),
        seed: request.seed,
        bugs: request.bugs.clone(),
        schedule: faults,
        duration_s: month_ms / 1000,
        trace_hash: hash(|o| &o.trace_hash),
        wire_hash: hash(|o| &o.wire_hash),
        wire_bytes: outcomes.iter().map(|o| o.wire_bytes).sum(),
        trace: plan
            .iter()
            .zip(&outcomes)
            .enumerate()
            .map(|(i, (e, o))| {
                format!("# episode {i}: month time {} ms, simulation seed {}\n{}", e.from_ms, o.seed, o.trace)
            })
            .collect::<Vec<_>>()
            .join("\n"),
        report,
        expectations,
        converged_after_ms: outcomes.iter().filter_map(|o| o.converged_after_ms).max(),
        violation,
        simulated_ms,
        partition_reads: Vec::new(),
        breach_notices: Vec::new(),
        recoveries: outcomes
            .iter()
            .flat_map(|o| o.recoveries.iter().map(|r| reports::Recovery { seed: request.seed, ..r.clone() }))
            .collect(),
        timeline: None,
        // In month time: what the full simulation's validation compares with the episodes.
        down_ms: down,
        sla: Some(sla),
        history_ops: outcomes.iter().map(|o| o.history_ops).sum(),
        errors,
        wall_ms: 0.0,
        check_wall_ms: outcomes.iter().map(|o| o.check_wall_ms).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{FaultRate, Simulate};
    use broker::control_plane::model::ClusterType;

    fn spec(rates: Vec<FaultRate>) -> SlaMonthSpec {
        SlaMonthSpec {
            cluster_type: ClusterType::Standard,
            days: 30.0,
            simulate: Simulate::Episodes,
            lead_in_s: 30,
            settle_s: 180,
            quiet_sample_s: 600,
            faults: rates,
            episode: None,
        }
    }

    fn rate(kind: FaultKind, target: RateTarget, per_month: f64) -> FaultRate {
        FaultRate { kind, target, per_month, duration_s: [10.0, 1000.0], amount: None }
    }

    #[test]
    fn draws_follow_the_rates() {
        let spec = spec(vec![rate(FaultKind::KillNode, RateTarget::Broker, 2.0)]);
        let total: usize = (0..2000).map(|seed| month_faults(&spec, seed).len()).sum();
        // A Poisson mean of 2 over 2000 months: 4000, within a few standard deviations (63).
        assert!((3750..=4250).contains(&total), "{total} events over 2000 months at 2 a month");
        let faults = month_faults(&spec, 7);
        assert_eq!(faults, month_faults(&spec, 7), "same seed, same month");
        for f in &faults {
            let length_s = (f.end_ms - f.start_ms) as f64 / 1000.0;
            assert!((10.0..=1000.0).contains(&length_s) && f.start_ms >= 30_000, "{f}");
        }
    }

    #[test]
    fn a_single_zone_clusters_zone_is_every_broker() {
        let spec = spec(vec![rate(FaultKind::ZoneOutage, RateTarget::ClusterZone, 3.0)]);
        let faults = month_faults(&spec, 3);
        assert!(!faults.is_empty() && faults.len().is_multiple_of(3));
        for three in faults.chunks(3) {
            assert!(three.iter().all(|f| f.start_ms == three[0].start_ms && f.end_ms == three[0].end_ms));
        }
    }

    #[test]
    fn overlapping_windows_share_an_episode_and_the_quiet_sample_avoids_them() {
        let spec = spec(vec![rate(FaultKind::KillNode, RateTarget::Broker, 1.0)]);
        let fault = |start_s: u64, end_s: u64| Fault {
            kind: FaultKind::KillNode,
            target: Some(Group::Broker(1)),
            peer: None,
            start_ms: start_s * 1000,
            end_ms: end_s * 1000,
            amount: None,
        };
        // The second starts 200 s after the first ends: within settling (180) + lead-in (30).
        let faults = [fault(1000, 1100), fault(1300, 1400), fault(100_000, 100_010)];
        let episodes = episodes(&spec, &faults, 1);
        assert_eq!(episodes.len(), 3, "{episodes:?}");
        assert_eq!(episodes[0].faults.len(), 2);
        assert_eq!((episodes[0].from_ms, episodes[0].measure_to_ms), (970_000, 1_580_000));
        assert_eq!(episodes[0].schedule()[1].start_ms, 330_000);
        let quiet = &episodes[2];
        assert!(quiet.faults.is_empty() && quiet.measure_to_ms - quiet.measure_from_ms == 600_000);
        assert!(episodes[..2].iter().all(|e| quiet.measure_to_ms <= e.from_ms || e.measure_to_ms <= quiet.from_ms));
    }

    #[test]
    fn downtime_is_clipped_to_what_an_episode_measures() {
        let episode = Episode { from_ms: 10_000, measure_from_ms: 40_000, measure_to_ms: 100_000, faults: Vec::new() };
        // Boot trouble before the lead-in ends is not the month's; past the end is cut.
        let down = month_downtime(&episode, &[(0, 5_000), (25_000, 35_000), (80_000, 120_000)]);
        assert_eq!(down, vec![(40_000, 45_000), (90_000, 100_000)]);
        assert_eq!(down_minutes(&[(59_000, 61_000), (61_000, 62_000), (600_000, 600_001)]), 3);
    }
}
