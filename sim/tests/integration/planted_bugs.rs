//! A checker that cannot fail proves nothing: each planted bug must be caught within 200
//! seeds of its catalog scenario by the safety check it was planted for (a seed that only
//! fails to converge does not count), the same seed must pass without the bug, the capsule
//! must replay to the same violation at the same simulated time, and shrink must not grow it.
//! Each test names the seed and the check, so a change in what catches a bug is seen.

use sim::capsule::Capsule;
use sim::runner::run_seed;
use sim::selftest::{hunt, PLANTED_BUGS};

const SEEDS_MAX: u64 = 200;

/// Hunts `bug` on its scenario; asserts it is caught at `seed` by `check`, replays, returns the capsule.
fn caught_by(bug: &'static str, seed: u64, check: &str) -> Capsule {
    crate::use_faultline_worker();
    let planted = PLANTED_BUGS.iter().find(|p| p.bug == bug).expect("every planted bug is in the selftest table");
    let scenario = crate::scenario(planted.scenario);
    let catch = hunt(planted, &scenario, 1, SEEDS_MAX, 1);
    let outcome = catch.outcome.clone().unwrap_or_else(|| {
        panic!(
            "planted bug {bug} was not caught by {:?} in {SEEDS_MAX} seeds of {}: {:?}",
            planted.checks, planted.scenario, catch.wrong_check
        )
    });
    let violation = outcome.violation.clone().expect("a catch has a violation");
    eprintln!("{bug}: caught by {} seed {} ({}): {violation}", planted.scenario, outcome.seed, violation.expectation);
    assert_eq!((outcome.seed, violation.expectation.as_str()), (seed, check), "{bug}: {violation}");
    assert!(
        catch.passed(),
        "seed {seed} of {} fails without {bug} too, or another check failed first",
        planted.scenario
    );
    let capsule = Capsule::from_outcome(&scenario, &outcome).expect("a failing run makes a capsule");
    let replayed = run_seed(&capsule.request().unwrap());
    assert_eq!(replayed.violation, outcome.violation, "replay of seed {seed} differs");
    assert_eq!(replayed.trace_hash, outcome.trace_hash);
    capsule
}

#[test]
fn prefixed_acl_matches_any_is_caught_by_the_authorization_check() {
    // The ACL-limited application writes to `payroll`, which its `orders-` prefix does not cover.
    caught_by("prefixed-acl-matches-any", 1, "unauthorized_successes");
}

#[test]
fn a_stale_credential_cache_is_caught_by_the_revocation_bound() {
    // The deleted key keeps working on its open connection and on new ones.
    caught_by("stale-credential-cache", 1, "revocation_violations");
}

#[test]
fn a_control_plane_that_dials_brokers_is_caught_by_the_connection_direction_check() {
    caught_by("control-plane-dials-broker", 1, "control_plane_dials");
}

#[test]
fn a_dropped_audit_event_is_caught_by_the_audit_completeness_check() {
    let capsule = caught_by("audit-event-dropped", 1, "audit_violations");
    assert!(capsule.violation.detail.contains("events missing"), "{}", capsule.violation.detail);
}

#[test]
fn a_restore_that_skips_the_backup_is_caught_by_the_restore_check() {
    caught_by("restore-skips-backup", 1, "restore_losses");
}

#[test]
fn a_secret_in_a_log_line_is_caught_by_the_secret_exposure_check() {
    let capsule = caught_by("secret-in-log", 1, "secret_exposures");
    // The finding names where the secret was, never the secret.
    assert!(capsule.violation.detail.contains("found in log line"), "{}", capsule.violation.detail);
}

#[test]
fn a_listener_beside_443_is_caught_by_the_port_probe() {
    let capsule = caught_by("admin-listener-open", 1, "unexpected_listeners");
    assert!(
        capsule.violation.detail.contains("control-plane accepts connections on port 8080"),
        "{}",
        capsule.violation.detail
    );
}

#[test]
fn a_listing_of_every_tenant_is_caught_by_the_tenant_prober() {
    let capsule = caught_by("metadata-lists-all-tenants", 1, "tenant_leaks");
    assert!(capsule.violation.detail.contains("not a topic of its own cluster"), "{}", capsule.violation.detail);
}

#[test]
#[ignore = "full tier: the greedy client's hunt takes about two minutes"]
fn a_throttle_that_does_not_mute_is_caught_by_the_greedy_client() {
    let capsule = caught_by("throttle-without-mute", 1, "quota_violations");
    assert!(capsule.violation.detail.contains("over its share of the limit"), "{}", capsule.violation.detail);
}

#[test]
fn a_second_schema_registry_is_caught_by_the_provisioning_check() {
    let capsule = caught_by("second-schema-registry-allowed", 1, "provisioning_violations");
    assert!(capsule.violation.detail.contains("SchemaRegistry { nth: 2 }"), "{}", capsule.violation.detail);
}

#[test]
fn a_replayed_assertion_is_caught_by_the_sign_in_check() {
    let capsule = caught_by("sso-replay-accepted", 1, "sign_in_violations");
    assert!(capsule.violation.detail.contains("ReplayedAssertion was answered 201"), "{}", capsule.violation.detail);
}

#[test]
fn an_overlapping_peering_is_caught_by_the_provisioning_check() {
    let capsule = caught_by("cidr-overlap-accepted", 1, "provisioning_violations");
    assert!(capsule.violation.detail.contains("Peering { route: Inside }"), "{}", capsule.violation.detail);
}

#[test]
fn a_dns_service_that_ignores_the_source_network_is_caught_by_the_dns_check() {
    let capsule = caught_by("dns-ignores-source-network", 1, "dns_violations");
    // A peered client (customer VPC) was handed a public address.
    assert!(
        capsule.violation.detail.contains("(10.9.0.") && capsule.violation.detail.contains("[203.0.113."),
        "{}",
        capsule.violation.detail
    );
}

#[test]
fn a_two_way_privatelink_is_caught_by_the_direction_check() {
    let capsule = caught_by("privatelink-allows-reverse", 1, "privatelink_reverse_connects");
    assert!(capsule.violation.detail.contains("(service side) opened"), "{}", capsule.violation.detail);
}

#[test]
fn brokers_without_an_endpoint_policy_are_caught_by_the_outsider() {
    let capsule = caught_by("private-cluster-accepts-public", 1, "endpoint_admissions");
    assert!(capsule.violation.detail.contains("completed a TLS handshake"), "{}", capsule.violation.detail);
}

#[test]
fn a_cluster_placed_in_another_region_is_caught_by_the_region_boundary() {
    // The request made while region-1 is down lands on region-2's brokers: the customer's
    // client dials them, and their disks and metadata hold the cluster (C07).
    let capsule = caught_by("replica-placed-cross-region", 1, "region_violations");
    assert!(
        capsule.violation.detail.contains("connected to region-2-broker-1 (region-2)"),
        "{}",
        capsule.violation.detail
    );
}

#[test]
fn ack_before_replication_is_caught_by_inconsistent_offsets() {
    caught_by("ack-before-replication", 1, "inconsistent_offsets");
}

#[test]
fn ack_before_sync_is_caught_by_inconsistent_offsets() {
    // Every zone loses power while the disks are slow to sync: acknowledged records that were
    // only in page caches are gone on every replica, and their offsets are reused.
    caught_by("ack-before-sync", 1, "inconsistent_offsets");
}

#[test]
fn unclean_leader_election_is_caught_by_the_history_checker() {
    // Seed 5 has been caught by inconsistent_offsets and by duplicates as the world changed
    // around it (the same two values at different offsets, seen first one way or the other;
    // inconsistent_offsets since the clients resolve broker names through DNS, duplicates
    // since brokers unwrap their keys from the key service at start, inconsistent_offsets
    // again since appends are synced by a group commit).
    caught_by("unclean-leader-election", 5, "inconsistent_offsets");
}

#[test]
fn skip_truncation_is_caught_by_divergent_replicas() {
    // Before the replica check it was caught only by liveness (the cluster did not converge).
    // Seed 1 until the key service joined the world; seed 4 since; seed 2 since random-faults
    // draws every fault kind.
    caught_by("skip-truncation", 2, "divergent_replicas");
}

#[test]
fn high_watermark_regression_is_caught_by_the_leader_sampler_and_shrinks() {
    // Seed 1 until appends were synced by a group commit (and random-faults drew slow disks);
    // seed 2 since.
    let capsule = caught_by("high-watermark-regression", 2, "high_watermark_regressions");
    let dir = std::env::temp_dir().join(format!("faultline-shrink-{}", std::process::id()));
    let path = dir.join("capsule.json");
    capsule.write(&path).unwrap();
    let shrunk_path = dir.join("shrunk.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("shrink")
        .arg(&path)
        .arg("--out")
        .arg(&shrunk_path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "shrink wrote a capsule: {}", String::from_utf8_lossy(&output.stderr));
    let shrunk = Capsule::load(&shrunk_path).unwrap();
    assert_eq!(shrunk.violation.kind, capsule.violation.kind);
    assert!(
        shrunk.schedule.len() < capsule.schedule.len() || shrunk.duration_s < capsule.duration_s,
        "shrink removed nothing: {} faults, {} s",
        shrunk.schedule.len(),
        shrunk.duration_s
    );
    let faultline = |verb: &str, path: &std::path::Path| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline")).arg(verb).arg(path).output().unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
    };
    // Replay's exit codes: 0 reproduced (violation, trace and wire hash), 1 not, 2 bad input.
    let (code, stdout) = faultline("replay", &shrunk_path);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("reproduced:"), "{stdout}");
    let mut without_bug = shrunk.clone();
    without_bug.bugs.clear();
    let fixed_path = dir.join("fixed.json");
    without_bug.write(&fixed_path).unwrap();
    let (code, stdout) = faultline("replay", &fixed_path);
    assert_eq!(code, Some(1), "the bug is gone, so the violation is: {stdout}");
    assert!(stdout.contains("not reproduced"), "{stdout}");
    let mut tampered = shrunk.clone();
    tampered.trace_hash = "0".repeat(64);
    let tampered_path = dir.join("tampered.json");
    tampered.write(&tampered_path).unwrap();
    let (code, stdout) = faultline("replay", &tampered_path);
    assert_eq!(code, Some(1), "same violation, another trace: {stdout}");
    // Shrink refuses a capsule that no longer fails.
    let (code, stdout) = faultline("shrink", &fixed_path);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("no longer fails"), "{stdout}");
    std::fs::write(dir.join("garbage.json"), "{ not json").unwrap();
    assert_eq!(faultline("replay", &dir.join("garbage.json")).0, Some(2));
    assert_eq!(faultline("replay", &dir.join("missing.json")).0, Some(2));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn restarted_broker_keeps_leadership_is_caught_by_the_truncation_invariant() {
    // Issue 6: a node back with an empty disk before it is fenced. Without KIP-841 broker
    // epochs it keeps its leaderships and a follower is told to truncate acknowledged records.
    let capsule = caught_by("restarted-broker-keeps-leadership", 1, "invariants");
    assert!(capsule.violation.detail.contains("below our high watermark"), "{}", capsule.violation.detail);
}

#[test]
fn non_atomic_metadata_batches_are_caught_below_the_high_watermark() {
    // Found in real mode first: a wiped node saw its registration before the fencing of its
    // old leadership. The knob raft_entries_per_append_max=1 (drawn per seed) lets the
    // simulation commit a decision entry by entry and find it too. It has been caught by the
    // truncation invariant (seeds 3 and 1) and by the replica check (seed 1 while the world had
    // no DNS; seed 3 since a node just back answers Metadata only once caught up); both see the
    // same divergence below the high watermark (seed 1 again since the group commit).
    let capsule = caught_by("non-atomic-metadata-batches", 1, "divergent_replicas");
    assert!(capsule.violation.detail.contains("below their common high watermark"), "{}", capsule.violation.detail);
}

#[test]
fn metadata_before_sasl_is_caught_by_the_authentication_probe() {
    let capsule = caught_by("metadata-before-sasl", 1, "unauthenticated_answers");
    assert!(capsule.violation.detail.contains("before SASL authentication"), "{}", capsule.violation.detail);
}

#[test]
fn a_rename_without_a_directory_sync_is_caught_by_lost_acked_writes() {
    // Every byte was synced, but no create or rename was made durable: after the first power
    // loss each broker's disk is empty, and the survey at the end of the faults finds every
    // acknowledged write on no disk (the liveness check alone saw only "topics missing").
    let capsule = caught_by("rename-without-directory-sync", 1, "lost_acked_writes");
    assert!(capsule.violation.detail.contains("is on no broker's disk"), "{}", capsule.violation.detail);
}

#[test]
fn a_bastion_that_refuses_everyone_is_caught_by_the_operator_access_check() {
    // C10's other side: alice's valid password and fresh code must open a session.
    let capsule = caught_by("bastion-refuses-everyone", 1, "operator_access_violations");
    assert!(capsule.violation.detail.contains("opened no session"), "{}", capsule.violation.detail);
}

#[test]
fn an_authorizer_that_denies_everything_is_caught_by_the_authorized_denials_check() {
    // C17's other side: the application's writes to orders- topics must be allowed.
    let capsule = caught_by("acl-denies-everything", 1, "authorized_denials");
    assert!(capsule.violation.detail.contains("its ACLs allow it"), "{}", capsule.violation.detail);
}

#[test]
fn a_broker_name_that_answers_another_broker_is_caught_by_the_dns_check() {
    // C06's other side: the addresses may be in the right network and still lead elsewhere.
    let capsule = caught_by("dns-answers-another-broker", 1, "dns_violations");
    assert!(capsule.violation.detail.contains("'s) for b"), "{}", capsule.violation.detail);
}

#[test]
fn retention_that_dates_a_segment_by_its_first_record_is_caught_by_the_early_deletions_check() {
    // C13's other side: the retention client reads the log start past a record it was
    // acknowledged less than 60 s before; the disk side (overdue_segments) sees nothing late.
    let capsule = caught_by("retention-deletes-early", 1, "early_deletions");
    assert!(capsule.violation.detail.contains("was below the log start"), "{}", capsule.violation.detail);
}

#[test]
fn tenants_sealed_under_the_clusters_key_are_caught_by_the_shared_master_keys_check() {
    // C08: both customers' segments, and the service's own, under one master key.
    let capsule = caught_by("tenants-share-a-master-key", 1, "shared_master_keys");
    assert!(capsule.violation.detail.contains("and the service's own"), "{}", capsule.violation.detail);
}

#[test]
fn a_root_key_written_into_json_as_base64_is_caught_by_the_at_rest_check() {
    // C08: a search for the key's raw bytes alone would have missed it.
    let capsule = caught_by("root-key-in-json", 1, "at_rest_violations");
    assert!(capsule.violation.detail.contains("base64 ("), "{}", capsule.violation.detail);
}

#[test]
fn every_planted_bug_has_a_scenario_in_the_selftest_table() {
    let table: Vec<&str> = PLANTED_BUGS.iter().map(|p| p.bug).collect();
    let names: Vec<&str> = broker::planted_bugs::PlantedBug::ALL.iter().map(|bug| bug.name()).collect();
    assert_eq!(table, names);
}

#[test]
fn plaintext_inter_broker_is_caught_by_the_wire_tap_finding_record_data_in_clear() {
    // C02 covers record data: every value carries the run's canary, and a follower fetching
    // over a plaintext listener puts it on the zones' links.
    let capsule = caught_by("plaintext-inter-broker", 1, "plaintext_leaks");
    assert!(
        capsule.violation.detail.contains("record data (the run's canary) in clear x"),
        "{}",
        capsule.violation.detail
    );
    assert!(!capsule.violation.detail.contains(sim::world::INTER_BROKER_SECRET), "the report must not repeat a secret");
}

/// Runs `faultline selftest` (on `bugs` only, when named) and checks its table: one line per
/// bug, caught by a safety check it was planted for, with a replay command.
fn selftest_prints_a_line_per_bug(bugs: &[&str]) {
    let out = std::env::temp_dir().join(format!("faultline-selftest-{}-{}", std::process::id(), bugs.len()));
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
    command.args(["selftest", "--seeds", "3", "--jobs", "1", "--scenarios"]).arg(&scenarios).arg("--out").arg(&out);
    for bug in bugs {
        command.args(["--bug", bug]);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let hunted: Vec<_> = PLANTED_BUGS.iter().filter(|p| bugs.is_empty() || bugs.contains(&p.bug)).collect();
    assert_eq!(stdout.lines().count(), 1 + hunted.len(), "a header and one line per bug hunted: {stdout}");
    for planted in hunted {
        let line = stdout.lines().find(|l| l.starts_with(planted.bug)).unwrap_or_else(|| panic!("{stdout}"));
        assert!(line.contains(" safety ") && line.contains("cargo faultline replay "), "{line}");
        assert!(planted.checks.iter().any(|check| line.contains(check)), "{line}");
    }
    std::fs::remove_dir_all(out).ok();
}

#[test]
fn the_selftest_command_prints_one_line_per_bug_named_with_its_check_and_detection_rate() {
    selftest_prints_a_line_per_bug(&["ack-before-replication", "secret-in-log", "retention-deletes-early"]);
}

#[test]
#[ignore = "full tier: every planted bug over three seeds (about ten minutes; the pins check each bug's seed and check)"]
fn the_selftest_command_prints_one_line_per_bug_with_its_check_and_detection_rate() {
    selftest_prints_a_line_per_bug(&[]);
}

#[test]
fn unclean_leader_election_enabled_is_caught_only_where_no_in_sync_replica_is_live() {
    // The realistic variant: an out-of-sync replica is elected only when no in-sync or eligible
    // replica is live. With three combined nodes that needs the controller quorum up while
    // every in-sync replica is down: random-faults found it once in 200 seeds (seed 63), and
    // the aimed scenario built from that schedule caught it at seed 19 (later 3, 18, 5 since
    // clients resolve broker names through DNS, and 13 since brokers unwrap their keys from the
    // key service, and 5 since the group commit, as the world's traffic changed).
    caught_by("unclean-leader-election-enabled", 5, "inconsistent_offsets");
}

#[test]
fn a_plaintext_staging_file_is_caught_by_the_disk_tap() {
    // The broker spills a batch in clear beside its sealed segment: the tap sees the run's
    // canary in the write, whatever happens to the file later (C08).
    let capsule = caught_by("plaintext-segment", 1, "at_rest_violations");
    assert!(capsule.violation.detail.contains("in clear to lkc-"), "{}", capsule.violation.detail);
    assert!(capsule.violation.detail.contains("/staging"), "{}", capsule.violation.detail);
}

#[test]
fn a_truncated_segment_written_again_is_caught_by_nonce_uniqueness() {
    // A follower truncated by KIP-101 keeps appending to the cut segment with its counter
    // rewound: the tap saw the old frame at that counter and sees a different one now (C08).
    let capsule = caught_by("nonce-reuse", 5, "nonce_reuses");
    assert!(
        capsule.violation.detail.contains("sealed two different frames with counter"),
        "{}",
        capsule.violation.detail
    );
}

#[test]
fn a_rotation_that_drops_the_old_version_is_caught_by_the_readability_check() {
    // The rotation in zone-b's outage replaces the material: every segment sealed before it is
    // unreadable at the end (and zone-b's broker cannot even start again).
    let capsule = caught_by("rotation-drops-old-version", 1, "unreadable_segments");
    assert!(capsule.violation.detail.contains("no longer unwraps"), "{}", capsule.violation.detail);
}

#[test]
fn a_data_key_kept_after_a_revocation_is_caught_by_the_revocation_bound() {
    // The customer disables its key at 40 s; the brokers keep serving with the roots they hold.
    let capsule = caught_by("stale-data-key-after-revoke", 1, "served_past_key_bound");
    assert!(capsule.violation.detail.contains("after the customer's `disable`"), "{}", capsule.violation.detail);
}

#[test]
fn a_rewrap_that_skips_the_key_files_is_caught_by_the_key_version_check() {
    // After three rotations the first segments' key files still wrap their roots under v1.
    let capsule = caught_by("rewrap-skips-key-files", 1, "stale_key_versions");
    assert!(capsule.violation.detail.contains("(at the end) was under"), "{}", capsule.violation.detail);
}

#[test]
fn brokers_that_ignore_a_deleted_clusters_tombstone_are_caught_by_the_shredding_check() {
    // acme's cluster is deleted at 120 s; its logs, key files and master key stay on the brokers.
    let capsule = caught_by("deleted-cluster-still-readable", 1, "deleted_cluster_decryptable");
    assert!(capsule.violation.detail.contains("still unwraps at the key service"), "{}", capsule.violation.detail);
}

#[test]
fn a_field_serializer_that_fails_open_is_caught_by_the_search_of_the_services_own_plaintext() {
    // The field goes in clear, and consumers still read it: only the search of the segments,
    // opened with the service's keys, sees it.
    let capsule = caught_by("protected-field-in-clear", 1, "protected_fields_in_clear");
    assert!(capsule.violation.detail.contains("holds a protected field in clear"), "{}", capsule.violation.detail);
}

#[test]
fn a_retention_clock_that_restarts_with_the_process_is_caught_by_the_segment_deadlines() {
    // broker-2 restarts at 110 s and takes its old segments for new ones: they outlive their
    // deadline by the time they had already lived.
    let capsule = caught_by("retention-clock-restarts", 1, "overdue_segments");
    assert!(capsule.violation.detail.contains("after its last write (retention 60 s"), "{}", capsule.violation.detail);
}

#[test]
fn brokers_given_another_regions_key_service_are_caught_by_the_key_residency_check() {
    // region-2's brokers seal under region-1's keys: their key files cross the boundary.
    let capsule = caught_by("key-service-cross-region", 1, "region_violations");
    assert!(capsule.violation.detail.contains("under another region's key"), "{}", capsule.violation.detail);
}

#[test]
fn a_log_store_that_lets_an_agent_rewrite_an_entry_is_caught_by_the_immutability_check() {
    // The stolen agent token's PUT is carried out (re-hashed and re-signed: the replica still
    // verifies itself); the answer shows it.
    let capsule = caught_by("log-entry-rewritable", 1, "log_tampering_performed");
    assert!(capsule.violation.detail.contains("for a non-custodian (answered 200)"), "{}", capsule.violation.detail);
}

#[test]
#[ignore = "full tier: a simulated year of the log store takes about two minutes"]
fn a_log_store_that_counts_months_of_thirty_days_is_caught_by_the_retention_check() {
    // A year and a month: events between 360 and 366 days old are gone from every replica.
    let capsule = caught_by("retention-purges-early", 1, "log_entries_purged_early");
    assert!(capsule.violation.detail.contains("a purge went past it"), "{}", capsule.violation.detail);
}

#[test]
fn a_bastion_that_skips_the_second_factor_is_caught_by_the_operator_path_check() {
    // bob replays the code he has just used: the bastion, asking only about his role, opens.
    let capsule = caught_by("bastion-skips-mfa", 1, "operator_access_violations");
    assert!(
        capsule.violation.detail.contains("without a valid password and fresh code"),
        "{}",
        capsule.violation.detail
    );
}

#[test]
fn a_bastion_that_never_rechecks_roles_is_caught_by_the_operator_path_check() {
    // bob is offboarded at 100 s and keeps acting on the session he had.
    let capsule = caught_by("operator-access-survives-offboarding", 1, "operator_access_violations");
    assert!(capsule.violation.detail.contains("after the role ended (bound 30 s)"), "{}", capsule.violation.detail);
}

#[test]
fn a_notice_held_for_business_hours_is_caught_by_the_notification_deadline_check() {
    // Confirmed on the Friday evening before Whit Monday; the office opens Tuesday 09:00.
    let capsule = caught_by("late-breach-notice", 1, "breach_notices_late");
    let detail = &capsule.violation.detail;
    assert!(
        detail.contains("the notice arrived Tue 2027-05-18 09:00 CEST") && detail.contains("(deadline 72 h)"),
        "{detail}"
    );
}

#[test]
fn a_detection_blind_to_new_networks_is_caught_by_the_detection_check() {
    // The leaked key reads quietly from the internet: only its new network could give it away.
    let capsule = caught_by("detection-ignores-new-networks", 1, "breaches_undetected");
    assert!(capsule.violation.detail.contains("no alert named it"), "{}", capsule.violation.detail);
}

#[test]
fn produce_stalls_in_maintenance_are_caught_by_the_sla_months_quiet_sample() {
    // Seed 1's month draws no fault: the stall shows in the quiet stretch the month simulates.
    let capsule = caught_by("produce-stalls-in-maintenance", 1, "sla_quiet_sample");
    assert!(capsule.violation.detail.contains("with no fault injected"), "{}", capsule.violation.detail);
}
