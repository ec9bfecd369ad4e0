//! Malformed scenario files fail with messages that name the file, the key and what was
//! expected (snapshots), and every catalog file is valid.

fn base() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/single-zone-outage.toml"),
    )
    .unwrap()
}

fn error_of(text: &str) -> String {
    match sim::scenario::parse("scenarios/broken.toml", text) {
        Ok(_) => panic!("accepted a broken scenario:\n{text}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn every_catalog_scenario_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let loaded = sim::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!loaded.scenario.claims.is_empty(), "{} names no claim", path.display());
            assert_eq!(format!("{}.toml", loaded.scenario.name), path.file_name().unwrap().to_string_lossy());
            names.push(loaded.scenario.name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "acl-limited-application",
            "all-zones-power-loss",
            "breach-before-holiday-weekend",
            "byok-revoke-during-key-service-partition",
            "byok-revoke-during-kms-outage",
            "byok-revoke-mid-run",
            "client-field-encryption",
            "cluster-delete-and-shred",
            "cluster-provisioning",
            "control-plane-outage",
            "control-plane-restore",
            "controller-zone-partition",
            "detection-pipeline-outage-during-breach",
            "dns-change",
            "dns-outage",
            "flapping-broker",
            "insider-without-mfa",
            "key-rotation-under-zone-outage",
            "kms-outage",
            "leader-isolation",
            "leaked-key-breach",
            "leaked-key-revoked",
            "log-store-zone-loss",
            "out-of-sync-replica-failover",
            "peering-deleted",
            "peering-link-partition",
            "peering-route-withdrawn",
            "ports-and-listeners",
            "privatelink-reverse-probe",
            "random-faults",
            "random-network-faults",
            "region-outage",
            "reimage-during-partition",
            "retention-year",
            "rolling-restart",
            "rotation-storm",
            "single-zone-outage",
            "sla-month-basic",
            "sla-month-dedicated",
            "sla-month-standard",
            "slow-replication-leader-crash",
            "tenant-probe",
            "tenant-quota",
            "topic-retention",
            "transit-gateway-detach",
            "two-zone-outage",
            "unclean-election-window",
            "user-sign-in",
            "zone-loss",
            "zone-loss-short"
        ]
    );
}

#[test]
fn control_plane_client_naming_an_account_that_does_not_exist() {
    let section = "\n[[control_plane.service_accounts]]\nname = \"app\"\n\n[[control_plane.clients]]\nkind = \"key-user\"\nservice_account = \"ghost\"\ntopics = [\"orders\"]\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn region_expectation_without_a_second_region() {
    // Appended to the base's last table, [expectations].
    insta::assert_snapshot!(error_of(&format!("{}region_violations = 0\n", base())));
}

#[test]
fn tenant_in_a_region_the_world_does_not_run() {
    let section = "\n[[control_plane.tenants]]\nname = \"abroad\"\ncluster_type = \"Basic\"\ntopics = [\"x\"]\nregion = \"region-2\"\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn region_outage_with_a_target() {
    let fault = "\n[[faults]]\nkind = \"region-outage\"\ntarget = \"zone-a\"\nstart_s = 10\nend_s = 20\n";
    insta::assert_snapshot!(error_of(&format!("{}{fault}", base())));
}

#[test]
fn network_overlapping_the_customer_vpc() {
    let section = "\n[network]\ncidr = \"10.9.128.0/17\"\nconnection_types = [\"PEERING\"]\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn network_without_the_peering_the_harness_needs() {
    let section = "\n[network]\ncidr = \"172.16.0.0/16\"\nconnection_types = [\"PRIVATE_LINK\"]\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn network_clients_behind_a_connection_type_it_does_not_offer() {
    let section =
        "\n[network]\ncidr = \"172.16.0.0/16\"\nconnection_types = [\"PEERING\"]\ntransit_gateway_clients = 1\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn route_withdrawn_without_the_customer_network() {
    let fault = "\n[[faults]]\nkind = \"route-withdrawn\"\ntarget = \"zone-a\"\nstart_s = 10\nend_s = 20\n";
    insta::assert_snapshot!(error_of(&format!("{}{fault}", base())));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(error_of(&base().replace("duration_s = 150", "duration_s = 150\nduration_minutes = 3")));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(error_of(&base().replace("duration_s = 150", "duration_s = \"long\"")));
}

#[test]
fn out_of_range_value() {
    insta::assert_snapshot!(error_of(&base().replace("producers = 2", "producers = 0")));
}

#[test]
fn fault_naming_a_group_that_does_not_exist() {
    insta::assert_snapshot!(error_of(&base().replace("target = \"zone-b\"", "target = \"zone-d\"")));
}

#[test]
fn fault_ending_after_the_run() {
    insta::assert_snapshot!(error_of(&base().replace("end_s = 90", "end_s = 900")));
}

#[test]
fn unknown_fault_kind() {
    insta::assert_snapshot!(error_of(&base().replace("kind = \"zone-outage\"", "kind = \"meteor\"")));
}

#[test]
fn unknown_expectation() {
    insta::assert_snapshot!(error_of(&base().replace("lost_acked_writes = 0", "lost_writes = 0")));
}

#[test]
fn malformed_comparison() {
    insta::assert_snapshot!(error_of(&base().replace("\">= 0.99\"", "\"about 0.99\"")));
}

#[test]
fn bad_seed_range() {
    let text = base()
        .lines()
        .map(|l| if l.starts_with("nightly_seeds") { "nightly_seeds = \"9..1\"" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!(error_of(&text));
}

#[test]
fn toml_syntax_error() {
    insta::assert_snapshot!(error_of(&base().replace("[workload]", "[workload")));
}

#[cfg(madsim)]
#[test]
fn the_cli_exits_2_naming_file_and_key_and_runs_nothing() {
    let path = std::env::temp_dir().join(format!("faultline-broken-{}.toml", std::process::id()));
    std::fs::write(&path, base().replace("producers = 2", "producers = 0")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run"])
        .arg(&path)
        .args(["--seed", "1", "--out"])
        .arg(std::env::temp_dir().join("faultline-broken-out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&path.display().to_string())
            && stderr.contains("workload.producers")
            && stderr.contains("1 to 16"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).is_empty(),
        "nothing may run: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let unknown_bug = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "single-zone-outage", "--seed", "1", "--bug", "no-such-bug", "--scenarios"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
        .output()
        .unwrap();
    assert_eq!(unknown_bug.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown_bug.stderr).contains("unknown planted bug"));
    std::fs::remove_file(path).ok();
}

#[test]
fn key_bound_expectation_without_a_revocation_or_an_outage() {
    // Nothing would ever make the key unusable: a 0 would be "not tested".
    insta::assert_snapshot!(error_of(&format!("{}served_past_key_bound = 0\n", base())));
}

#[test]
fn shredding_expectation_without_a_cluster_deletion() {
    // No cluster is deleted: a 0 would be "not tested".
    insta::assert_snapshot!(error_of(&format!("{}deleted_cluster_files = 0\n", base())));
}

#[test]
fn retention_expectation_without_a_topic_with_retention() {
    insta::assert_snapshot!(error_of(&format!("{}overdue_segments = 0\n", base())));
}

#[test]
fn retention_the_service_would_refuse() {
    let text = base().replacen("partitions = 3", "partitions = 3\nretention_ms = 1000", 1);
    insta::assert_snapshot!(error_of(&text));
}

#[test]
fn retention_on_a_topic_the_workload_reads() {
    // The history checker would count every record retention took as lost.
    let text = base().replacen("partitions = 3", "partitions = 3\nretention_ms = 60000", 1);
    insta::assert_snapshot!(error_of(&text));
}

#[test]
fn protected_field_expectation_without_protected_fields() {
    insta::assert_snapshot!(error_of(&format!("{}protected_fields_in_clear = 0\n", base())));
}

#[test]
fn deleting_a_cluster_named_by_a_service_account() {
    let section = "\n[[control_plane.service_accounts]]\nname = \"app\"\n\n[[control_plane.actions]]\nat_s = 10\naction = \"delete-cluster\"\nservice_account = \"app\"\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

#[test]
fn disabling_a_key_the_customer_does_not_own() {
    let section = "\n[[keys.actions]]\nat_s = 10\naction = \"disable\"\n";
    insta::assert_snapshot!(error_of(&format!("{}{section}", base())));
}

const BREACH: &str = "\n[breach]\nkind = \"leaked-key\"\nstart_s = 10\nreads = 5\ncalendar = { start = \"START\" }\noncall = { rota = [\"ana\"], ack_s = { median = 60, p90 = 120 }, ack_off_hours_s = { median = 60, p90 = 120 }, investigate_s = { median = 60, p90 = 120 } }\ncontact_ack_s = { median = 60, p90 = 120 }\n";

#[test]
fn breach_without_a_log_store() {
    let breach = BREACH.replace("START", "2027-05-14T15:00[Europe/Berlin]");
    insta::assert_snapshot!(error_of(&format!("{}{breach}", base())));
}

#[test]
fn breach_calendar_in_a_time_zone_that_does_not_exist() {
    let breach = BREACH.replace("START", "2027-05-14T15:00[Mars/Olympus]");
    insta::assert_snapshot!(error_of(&format!("{}\n[log_store]\nsource_interval_s = 60\n{breach}", base())));
}

fn sla_base() -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sla-month-basic.toml"))
        .unwrap()
}

#[test]
fn sla_month_fault_on_a_target_its_kind_cannot_take() {
    let rate =
        "\n[[sla_month.faults]]\nkind = \"kill-node\"\ntarget = \"zone\"\nper_month = 1\nduration_s = [10, 20]\n";
    insta::assert_snapshot!(error_of(&format!("{}{rate}", sla_base())));
}

#[test]
fn sla_month_with_fixed_faults_too() {
    // A month draws its own faults; fixed ones would have no place in its episodes.
    insta::assert_snapshot!(error_of(&format!(
        "{}{}",
        sla_base(),
        "\n[[faults]]\nkind = \"kill-node\"\ntarget = \"broker-1\"\nstart_s = 10\nend_s = 20\n"
    )));
}

#[test]
fn sla_month_duration_range_upside_down() {
    let rate = "\n[[sla_month.faults]]\nkind = \"pause\"\ntarget = \"broker\"\nper_month = 1\nduration_s = [30, 10]\n";
    insta::assert_snapshot!(error_of(&format!("{}{rate}", sla_base())));
}
