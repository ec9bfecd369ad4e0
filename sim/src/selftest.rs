//! `faultline selftest`: a checker that cannot fail proves nothing. Each planted bug runs on
//! its demonstration scenario over a range of seeds; it counts as caught only when the check it
//! was planted for fails (a lost write must not be "caught" by a timeout), and the first seed
//! that catches it must pass without the bug. The detection rate (seeds caught by the right
//! check over seeds run) is a figure to raise: a bug caught once in 200 seeds is one a nightly
//! run would miss.

use std::sync::Mutex;

use crate::runner::{run_seed, RunOutcome, RunRequest};
use crate::scenario::LoadedScenario;

/// A planted bug, the catalog scenario that demonstrates it, and the checks it was planted for
/// (expectation names, or `invariants` for the service's own fail-stop assertions).
pub struct PlantedBugCheck {
    pub bug: &'static str,
    pub scenario: &'static str,
    pub checks: &'static [&'static str],
}

/// Every planted bug; a new one joins here (a test keeps this table and `PlantedBug::ALL` equal).
pub const PLANTED_BUGS: [PlantedBugCheck; 49] = [
    PlantedBugCheck {
        bug: "unclean-leader-election",
        scenario: "out-of-sync-replica-failover",
        checks: &["lost_acked_writes", "inconsistent_offsets", "duplicates", "divergent_replicas"],
    },
    PlantedBugCheck {
        bug: "ack-before-replication",
        scenario: "slow-replication-leader-crash",
        checks: &["lost_acked_writes", "inconsistent_offsets", "duplicates", "divergent_replicas"],
    },
    PlantedBugCheck { bug: "skip-truncation", scenario: "random-faults", checks: &["divergent_replicas"] },
    PlantedBugCheck {
        bug: "high-watermark-regression",
        scenario: "random-faults",
        checks: &["high_watermark_regressions"],
    },
    PlantedBugCheck {
        bug: "restarted-broker-keeps-leadership",
        scenario: "zone-loss-short",
        checks: &["invariants", "lost_acked_writes", "inconsistent_offsets"],
    },
    PlantedBugCheck {
        bug: "non-atomic-metadata-batches",
        scenario: "zone-loss-short",
        checks: &["invariants", "lost_acked_writes", "inconsistent_offsets", "divergent_replicas"],
    },
    PlantedBugCheck { bug: "plaintext-inter-broker", scenario: "single-zone-outage", checks: &["plaintext_leaks"] },
    PlantedBugCheck {
        bug: "unclean-leader-election-enabled",
        scenario: "unclean-election-window",
        checks: &["lost_acked_writes", "inconsistent_offsets", "duplicates", "divergent_replicas"],
    },
    PlantedBugCheck {
        bug: "prefixed-acl-matches-any",
        scenario: "acl-limited-application",
        checks: &["unauthorized_successes"],
    },
    PlantedBugCheck {
        bug: "stale-credential-cache",
        scenario: "leaked-key-revoked",
        checks: &["revocation_violations"],
    },
    PlantedBugCheck {
        bug: "control-plane-dials-broker",
        scenario: "leaked-key-revoked",
        checks: &["control_plane_dials"],
    },
    PlantedBugCheck { bug: "audit-event-dropped", scenario: "leaked-key-revoked", checks: &["audit_violations"] },
    PlantedBugCheck { bug: "restore-skips-backup", scenario: "control-plane-restore", checks: &["restore_losses"] },
    PlantedBugCheck { bug: "secret-in-log", scenario: "leaked-key-revoked", checks: &["secret_exposures"] },
    PlantedBugCheck { bug: "admin-listener-open", scenario: "ports-and-listeners", checks: &["unexpected_listeners"] },
    PlantedBugCheck { bug: "metadata-lists-all-tenants", scenario: "tenant-probe", checks: &["tenant_leaks"] },
    PlantedBugCheck { bug: "throttle-without-mute", scenario: "tenant-quota", checks: &["quota_violations"] },
    PlantedBugCheck {
        bug: "second-schema-registry-allowed",
        scenario: "cluster-provisioning",
        checks: &["provisioning_violations"],
    },
    PlantedBugCheck { bug: "sso-replay-accepted", scenario: "user-sign-in", checks: &["sign_in_violations"] },
    PlantedBugCheck {
        bug: "cidr-overlap-accepted",
        scenario: "cluster-provisioning",
        checks: &["provisioning_violations"],
    },
    PlantedBugCheck { bug: "dns-ignores-source-network", scenario: "dns-outage", checks: &["dns_violations"] },
    PlantedBugCheck {
        bug: "privatelink-allows-reverse",
        scenario: "privatelink-reverse-probe",
        checks: &["privatelink_reverse_connects"],
    },
    PlantedBugCheck {
        bug: "private-cluster-accepts-public",
        scenario: "peering-link-partition",
        checks: &["endpoint_admissions"],
    },
    PlantedBugCheck { bug: "replica-placed-cross-region", scenario: "region-outage", checks: &["region_violations"] },
    PlantedBugCheck { bug: "plaintext-segment", scenario: "single-zone-outage", checks: &["at_rest_violations"] },
    PlantedBugCheck { bug: "nonce-reuse", scenario: "out-of-sync-replica-failover", checks: &["nonce_reuses"] },
    PlantedBugCheck {
        bug: "rotation-drops-old-version",
        scenario: "key-rotation-under-zone-outage",
        checks: &["unreadable_segments"],
    },
    PlantedBugCheck {
        bug: "stale-data-key-after-revoke",
        scenario: "byok-revoke-mid-run",
        checks: &["served_past_key_bound"],
    },
    PlantedBugCheck {
        bug: "rewrap-skips-key-files",
        scenario: "key-rotation-under-zone-outage",
        checks: &["stale_key_versions"],
    },
    PlantedBugCheck {
        bug: "deleted-cluster-still-readable",
        scenario: "cluster-delete-and-shred",
        checks: &["deleted_cluster_decryptable", "deleted_cluster_files"],
    },
    PlantedBugCheck {
        bug: "protected-field-in-clear",
        scenario: "client-field-encryption",
        checks: &["protected_fields_in_clear"],
    },
    PlantedBugCheck { bug: "retention-clock-restarts", scenario: "topic-retention", checks: &["overdue_segments"] },
    PlantedBugCheck { bug: "key-service-cross-region", scenario: "region-outage", checks: &["region_violations"] },
    PlantedBugCheck {
        bug: "log-entry-rewritable",
        scenario: "log-store-zone-loss",
        checks: &["log_tampering_performed", "log_entries_altered"],
    },
    PlantedBugCheck {
        bug: "retention-purges-early",
        scenario: "retention-year",
        checks: &["log_entries_purged_early"],
    },
    PlantedBugCheck {
        bug: "bastion-skips-mfa",
        scenario: "insider-without-mfa",
        checks: &["operator_access_violations"],
    },
    PlantedBugCheck {
        bug: "operator-access-survives-offboarding",
        scenario: "insider-without-mfa",
        checks: &["operator_access_violations"],
    },
    PlantedBugCheck {
        bug: "late-breach-notice",
        scenario: "breach-before-holiday-weekend",
        checks: &["breach_notices_late"],
    },
    PlantedBugCheck {
        bug: "detection-ignores-new-networks",
        scenario: "leaked-key-breach",
        checks: &["breaches_undetected"],
    },
    PlantedBugCheck {
        bug: "ack-before-sync",
        scenario: "all-zones-power-loss",
        checks: &["lost_acked_writes", "inconsistent_offsets", "duplicates", "divergent_replicas"],
    },
    PlantedBugCheck {
        bug: "metadata-before-sasl",
        scenario: "ports-and-listeners",
        checks: &["unauthenticated_answers"],
    },
    PlantedBugCheck {
        bug: "produce-stalls-in-maintenance",
        scenario: "sla-month-standard",
        checks: &["sla_quiet_sample"],
    },
    PlantedBugCheck {
        bug: "rename-without-directory-sync",
        scenario: "all-zones-power-loss",
        checks: &["lost_acked_writes", "inconsistent_offsets", "duplicates", "divergent_replicas", "invariants"],
    },
    PlantedBugCheck {
        bug: "bastion-refuses-everyone",
        scenario: "insider-without-mfa",
        checks: &["operator_access_violations"],
    },
    PlantedBugCheck {
        bug: "acl-denies-everything",
        scenario: "acl-limited-application",
        checks: &["authorized_denials"],
    },
    PlantedBugCheck { bug: "dns-answers-another-broker", scenario: "dns-change", checks: &["dns_violations"] },
    PlantedBugCheck { bug: "retention-deletes-early", scenario: "topic-retention", checks: &["early_deletions"] },
    PlantedBugCheck { bug: "tenants-share-a-master-key", scenario: "tenant-probe", checks: &["shared_master_keys"] },
    PlantedBugCheck { bug: "root-key-in-json", scenario: "single-zone-outage", checks: &["at_rest_violations"] },
];

/// What one planted bug's sweep found.
#[derive(Debug, Clone)]
pub struct Catch {
    pub bug: &'static str,
    /// The first seed a planted-for check failed.
    pub outcome: Option<RunOutcome>,
    /// The first failing seed's check, if it was another one (a liveness expectation, say).
    pub wrong_check: Option<(u64, String)>,
    pub seeds_run: u64,
    /// Seeds whose run failed a planted-for check.
    pub caught: u64,
    /// The first catch passes without the bug.
    pub clean_passes: bool,
}

impl Catch {
    pub fn detection_rate(&self) -> f64 {
        self.caught as f64 / self.seeds_run.max(1) as f64
    }

    /// Caught, by the check it was planted for, first, and not a flake of the scenario.
    pub fn passed(&self) -> bool {
        self.outcome.is_some() && self.wrong_check.is_none() && self.clean_passes
    }
}

/// Whether `outcome` failed one of `checks`: the first violation, or any failed expectation.
fn caught_by(outcome: &RunOutcome, checks: &[&str]) -> bool {
    outcome.violation.as_ref().is_some_and(|v| checks.contains(&v.expectation.as_str()))
        || outcome.expectations.iter().any(|e| !e.passed && checks.contains(&e.name.name()))
}

fn request(scenario: &LoadedScenario, seed: u64, bugs: Vec<String>) -> RunRequest {
    RunRequest { scenario: scenario.clone(), seed, bugs, schedule: None, duration_s: None }
}

/// Runs `requests` on `jobs` worker processes at a time, in seed order.
fn run_parallel(requests: Vec<RunRequest>, jobs: usize) -> Vec<RunOutcome> {
    let queue = Mutex::new(requests.into_iter().enumerate().rev().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some((index, request)) = queue.lock().unwrap().pop() {
                    let outcome = run_seed(&request);
                    results.lock().unwrap().push((index, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

/// Sweeps seeds `1..=seeds` of the bug's scenario (and on, up to `seeds_max`, until it is
/// caught), counting every seed a planted-for check fails.
pub fn hunt(check: &PlantedBugCheck, scenario: &LoadedScenario, seeds: u64, seeds_max: u64, jobs: usize) -> Catch {
    let bugs = vec![check.bug.to_string()];
    let mut catch =
        Catch { bug: check.bug, outcome: None, wrong_check: None, seeds_run: 0, caught: 0, clean_passes: false };
    let mut next = 1;
    let mut batch = seeds.max(1);
    while next <= seeds_max && (catch.outcome.is_none() || next <= seeds) {
        let last = (next + batch - 1).min(seeds_max);
        let requests = (next..=last).map(|seed| request(scenario, seed, bugs.clone())).collect();
        for outcome in run_parallel(requests, jobs) {
            catch.seeds_run += 1;
            let right = caught_by(&outcome, check.checks);
            catch.caught += u64::from(right);
            if catch.outcome.is_none() && catch.wrong_check.is_none() {
                match (&outcome.violation, right) {
                    (Some(_), true) => catch.outcome = Some(outcome),
                    (Some(violation), false) => catch.wrong_check = Some((outcome.seed, violation.expectation.clone())),
                    (None, _) => {}
                }
            }
        }
        next = last + 1;
        batch = jobs.max(1) as u64 * 4;
    }
    if let Some(outcome) = &catch.outcome {
        catch.clean_passes = run_seed(&request(scenario, outcome.seed, Vec::new())).violation.is_none();
    }
    catch
}
