use std::collections::BTreeMap;

use crate::model::*;
use crate::{claims, compress_seeds, html, json, junit, markdown, merge};

fn pct(count: u64, p50: f64, p90: f64, p99: f64, p999: f64, max: f64) -> Percentiles {
    Percentiles { count, p50, p90, p99, p999, max }
}

fn passing_scenario() -> ScenarioSummary {
    ScenarioSummary {
        name: "broker-restart".into(),
        scenario_hash: "3f9a1c".into(),
        seeds: vec![1, 2, 3, 5],
        simulated_hours: 4.0,
        wall_seconds: 12.5,
        passed: true,
        faults: BTreeMap::from([("broker-kill".into(), 8), ("net-delay".into(), 20)]),
        expectations: vec![
            ExpectationResult {
                name: "acked_lost".into(),
                expected: "= 0".into(),
                observed: "0".into(),
                passed: true,
                worst_seed: None,
            },
            ExpectationResult {
                name: "produce_availability_after".into(),
                expected: ">= 0.99".into(),
                observed: "0.998".into(),
                passed: true,
                worst_seed: Some(3),
            },
        ],
        claims: BTreeMap::from([("C1".into(), ClaimVerdict::Holds), ("C20".into(), ClaimVerdict::NotTested)]),
        latency_ms: LatencySummary { produce: Some(pct(4000, 1.25, 3.5, 9.0, 20.0, 31.5)), fetch: None },
        availability: Availability {
            produce: PhaseRatios { before: Some(1.0), during: Some(0.95), after: Some(0.998) },
            fetch: PhaseRatios { before: Some(1.0), during: None, after: Some(1.0) },
        },
        partition_reads: vec![],
        failures: vec![],
        planted_bugs: vec![],
        breach_notices: vec![],
        uptime: vec![
            SeedUptime {
                seed: 1,
                produce: PhaseRatios { before: Some(1.0), during: Some(0.9), after: Some(1.0) },
                fetch: PhaseRatios { before: Some(1.0), during: Some(0.95), after: Some(1.0) },
            },
            SeedUptime {
                seed: 2,
                produce: PhaseRatios { before: Some(1.0), during: Some(0.8), after: Some(0.99) },
                fetch: PhaseRatios { before: Some(1.0), during: None, after: Some(1.0) },
            },
        ],
        recoveries: vec![
            Recovery { seed: 1, kind: "broker-kill".into(), seconds: 4.5 },
            Recovery { seed: 2, kind: "broker-kill".into(), seconds: 0.0 },
        ],
        timeline: Some(Timeline {
            seed: 1,
            bucket_s: 5.0,
            points: vec![
                LatencyPoint {
                    t_s: 0.0,
                    produce_p50: Some(2.0),
                    produce_p99: Some(9.0),
                    fetch_p50: None,
                    fetch_p99: None,
                },
                LatencyPoint {
                    t_s: 5.0,
                    produce_p50: Some(40.0),
                    produce_p99: Some(900.0),
                    fetch_p50: Some(3.0),
                    fetch_p99: Some(12.0),
                },
            ],
            faults: vec![FaultWindow { kind: "broker-kill".into(), start_s: 4.0, end_s: 8.0 }],
        }),
        sla_months: vec![
            sla_month(1, "Standard", 99.95, 0.99999),
            sla_month(2, "Standard", 99.95, 0.9993),
            sla_month(3, "Basic", 99.5, 0.998),
        ],
    }
}

fn sla_month(seed: u64, cluster_type: &str, sla_percent: f64, availability: f64) -> SlaMonth {
    let downtime_s = (1.0 - availability) * 30.0 * 86_400.0;
    SlaMonth {
        seed,
        cluster_type: cluster_type.into(),
        sla_percent,
        days: 30.0,
        availability,
        downtime_s,
        down_minutes: (downtime_s / 60.0).ceil() as u64,
        faults: 2,
        episodes: 3,
        simulated_s: 3600.0,
        simulate: "episodes".into(),
    }
}

fn failing_scenario() -> ScenarioSummary {
    ScenarioSummary {
        name: "two-zone-outage".into(),
        scenario_hash: "a07e44".into(),
        seeds: vec![10, 11],
        simulated_hours: 2.5,
        wall_seconds: 8.0,
        passed: false,
        faults: BTreeMap::from([("zone-outage".into(), 2)]),
        expectations: vec![
            ExpectationResult {
                name: "acked_lost".into(),
                expected: "= 0".into(),
                observed: "3".into(),
                passed: false,
                worst_seed: Some(11),
            },
            ExpectationResult {
                name: "fetch_availability_during".into(),
                expected: ">= 0.99".into(),
                observed: "1.0".into(),
                passed: true,
                worst_seed: None,
            },
        ],
        claims: BTreeMap::from([("C20".into(), ClaimVerdict::Violated)]),
        latency_ms: LatencySummary {
            produce: Some(pct(900, 2.0, 5.0, 40.0, 80.0, 120.0)),
            fetch: Some(pct(1500, 0.5, 1.0, 2.0, 4.0, 6.0)),
        },
        availability: Availability {
            produce: PhaseRatios { before: Some(1.0), during: Some(0.5), after: Some(1.0) },
            fetch: PhaseRatios { before: Some(1.0), during: Some(1.0), after: None },
        },
        partition_reads: vec![
            PartitionReadEvidence {
                topic: "orders".into(),
                partition: 0,
                readable_during_outage: true,
                evidence: "fetched offsets 0..=41 from zone-b replica".into(),
                successful_fetches: 40,
                failed_fetches: 2,
            },
            PartitionReadEvidence {
                topic: "orders".into(),
                partition: 1,
                readable_during_outage: false,
                evidence: "NOT_LEADER_OR_FOLLOWER for 42 s | no ISR in zone-b".into(),
                successful_fetches: 0,
                failed_fetches: 84,
            },
        ],
        failures: vec![Failure {
            seed: 11,
            capsule: "runs/nightly/capsules/two-zone-outage-11.json".into(),
            violation: "acked record <orders/1@17> lost & not refetchable".into(),
            replay: "cargo faultline replay runs/nightly/capsules/two-zone-outage-11.json".into(),
        }],
        planted_bugs: vec!["skip-fsync".into()],
        breach_notices: vec![],
        ..Default::default()
    }
}

fn fixture() -> Summary {
    Summary {
        faultline_version: "0.1.0".into(),
        command: "nightly".into(),
        scenarios: vec![passing_scenario(), failing_scenario()],
        run: Some(RunInfo {
            run_id: "nightly-1796000000-ci-1".into(),
            started_unix_s: 1_796_000_000,
            commit: "0123abcd".into(),
            machine: "ci-runner, 2 logical CPUs, linux 6.1".into(),
            wall_seconds: 431.0,
            disk: Some(DiskUse { seeds: 583, outcome_bytes: 40_100_000, traces_kept: 25, trace_bytes: 9_800_000 }),
        }),
        missing_scenarios: vec![],
    }
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(markdown::render(&fixture()));
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(junit::render(&fixture()));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(json::render(&fixture()));
}

#[test]
fn markdown_all_passed_verdict() {
    let s = Summary { scenarios: vec![passing_scenario()], ..fixture() };
    let md = markdown::render(&s);
    assert!(md.contains("All 1 scenario passed"), "{md}");
    let md = markdown::render(&fixture());
    assert!(md.contains("1 of 2 scenarios failed"), "{md}");
}

#[test]
fn json_round_trip() {
    let s = fixture();
    let text = json::render(&s);
    assert!(text.ends_with("}\n"));
    assert_eq!(json::parse(&text).unwrap(), s);
    // Rendering is stable.
    assert_eq!(json::render(&json::parse(&text).unwrap()), text);
}

#[test]
fn json_has_required_keys_and_claim_strings() {
    let mut s = fixture();
    s.scenarios[0].claims.insert("C7".into(), ClaimVerdict::Violated);
    let v: serde_json::Value = serde_json::from_str(&json::render(&s)).unwrap();
    let scenarios = v["scenarios"].as_array().expect("scenarios array");
    assert_eq!(scenarios.len(), 2);
    for sc in scenarios {
        for key in
            ["name", "seeds", "simulated_hours", "passed", "faults", "expectations", "claims", "latency_ms", "failures"]
        {
            assert!(sc.get(key).is_some(), "missing key {key}");
        }
        assert!(sc["seeds"].as_array().unwrap().iter().all(|x| x.is_u64()));
        assert!(sc["simulated_hours"].is_f64());
        assert!(sc["passed"].is_boolean());
        for e in sc["expectations"].as_array().unwrap() {
            for key in ["name", "expected", "observed", "passed"] {
                assert!(e.get(key).is_some(), "missing expectation key {key}");
            }
        }
    }
    let s0 = &scenarios[0];
    assert_eq!(s0["seeds"], serde_json::json!([1, 2, 3, 5]));
    assert_eq!(s0["faults"], serde_json::json!({"broker-kill": 8, "net-delay": 20}));
    assert_eq!(s0["claims"]["C1"], "holds");
    assert_eq!(s0["claims"]["C7"], "violated");
    assert_eq!(s0["claims"]["C20"], "not-tested");
    assert_eq!(s0["latency_ms"]["fetch"], serde_json::Value::Null);
    assert_eq!(s0["latency_ms"]["produce"]["p999"], 20.0);
    let f = &scenarios[1]["failures"][0];
    for key in ["seed", "capsule", "violation"] {
        assert!(f.get(key).is_some(), "missing failure key {key}");
    }
    assert_eq!(f["seed"], 11);
    assert_eq!(serde_json::to_value(ClaimVerdict::NotTested).unwrap(), "not-tested");
    assert_eq!(serde_json::from_str::<ClaimVerdict>("\"not-tested\"").unwrap(), ClaimVerdict::NotTested);
}

#[test]
fn seed_range_compression() {
    let table: &[(&[u64], &str)] = &[
        (&[], ""),
        (&[7], "7"),
        (&[1, 2], "1, 2"),
        (&[1, 2, 3], "1..=3"),
        (&[1, 2, 3, 5], "1..=3, 5"),
        (&[5, 3, 1, 2, 2], "1..=3, 5"),
        (&[1, 3, 5], "1, 3, 5"),
        (&[0, 1, 2, 3, 10, 11, 20, 21, 22], "0..=3, 10, 11, 20..=22"),
        (&[u64::MAX - 2, u64::MAX - 1, u64::MAX], "18446744073709551613..=18446744073709551615"),
    ];
    for (seeds, want) in table {
        assert_eq!(compress_seeds(seeds), *want, "seeds {seeds:?}");
    }
}

fn shard(seeds: Vec<u64>, hours: f64, passed: bool, c20: ClaimVerdict) -> Summary {
    let mut s = failing_scenario();
    s.seeds = seeds;
    s.simulated_hours = hours;
    s.wall_seconds = hours * 2.0;
    s.passed = passed;
    s.claims = BTreeMap::from([("C20".into(), c20), ("C1".into(), ClaimVerdict::NotTested)]);
    s.failures.clear();
    for e in &mut s.expectations {
        e.passed = true;
        e.observed = "0".into();
        e.worst_seed = None;
    }
    for r in &mut s.partition_reads {
        r.readable_during_outage = true;
    }
    Summary {
        faultline_version: "0.1.0".into(),
        command: "nightly".into(),
        scenarios: vec![s],
        run: None,
        missing_scenarios: vec![],
    }
}

#[test]
fn merge_two_shards() {
    let mut a = shard(vec![4, 1, 2], 1.5, true, ClaimVerdict::Holds);
    let mut b = shard(vec![3, 2, 9], 2.0, false, ClaimVerdict::Violated);
    {
        let sb = &mut b.scenarios[0];
        sb.expectations[0].passed = false;
        sb.expectations[0].observed = "3".into();
        sb.expectations[0].worst_seed = Some(9);
        sb.faults.insert("net-delay".into(), 5);
        sb.failures = vec![
            Failure { seed: 9, capsule: "c9".into(), violation: "v9".into(), replay: "r9".into() },
            Failure { seed: 3, capsule: "c3".into(), violation: "v3".into(), replay: "r3".into() },
        ];
        sb.latency_ms.produce = Some(pct(100, 3.0, 4.0, 10.0, 90.0, 100.0));
        sb.latency_ms.fetch = None;
        sb.availability.produce.during = Some(0.25);
        sb.availability.fetch.after = Some(0.9);
        sb.partition_reads[0].readable_during_outage = false;
        sb.partition_reads[0].evidence = "shard b: unreadable".into();
        sb.planted_bugs = vec!["skip-fsync".into(), "drop-ack".into()];
    }
    let mut c = Summary::default();
    c.scenarios.push(passing_scenario());
    // Disk use adds up over the shards that measured it.
    let disk = |seeds, traces_kept| DiskUse { seeds, outcome_bytes: 1000 * seeds, traces_kept, trace_bytes: 500 };
    a.run = Some(RunInfo { disk: Some(disk(3, 1)), ..RunInfo::default() });
    b.run = Some(RunInfo { disk: Some(disk(3, 2)), ..RunInfo::default() });

    let m = merge::merge(&[a.clone(), b, c]);
    assert_eq!(
        m.run.and_then(|run| run.disk),
        Some(DiskUse { seeds: 6, outcome_bytes: 6000, traces_kept: 3, trace_bytes: 1000 })
    );
    assert_eq!(m.faultline_version, "0.1.0");
    assert_eq!(m.command, "nightly");
    assert_eq!(m.scenarios.len(), 2);
    assert_eq!(m.scenarios[1], passing_scenario());

    let s = &m.scenarios[0];
    assert_eq!(s.name, "two-zone-outage");
    assert_eq!(s.seeds, vec![1, 2, 3, 4, 9]);
    assert_eq!(s.simulated_hours, 3.5);
    assert_eq!(s.wall_seconds, 7.0);
    assert!(!s.passed);
    assert_eq!(s.faults["zone-outage"], 4);
    assert_eq!(s.faults["net-delay"], 5);
    assert_eq!(s.claims["C20"], ClaimVerdict::Violated);
    assert_eq!(s.claims["C1"], ClaimVerdict::NotTested);

    assert_eq!(s.expectations.len(), 2);
    assert!(!s.expectations[0].passed);
    assert_eq!(s.expectations[0].observed, "3");
    assert_eq!(s.expectations[0].worst_seed, Some(9));
    assert!(s.expectations[1].passed);

    let seeds: Vec<u64> = s.failures.iter().map(|f| f.seed).collect();
    assert_eq!(seeds, vec![3, 9]);

    let p = s.latency_ms.produce.as_ref().unwrap();
    assert_eq!(p, &pct(1000, 3.0, 5.0, 40.0, 90.0, 120.0));
    assert_eq!(s.latency_ms.fetch, a.scenarios[0].latency_ms.fetch);

    assert_eq!(s.availability.produce, PhaseRatios { before: Some(1.0), during: Some(0.25), after: Some(1.0) });
    assert_eq!(s.availability.fetch, PhaseRatios { before: Some(1.0), during: Some(1.0), after: Some(0.9) });

    assert!(!s.partition_reads[0].readable_during_outage);
    assert_eq!(s.partition_reads[0].evidence, "shard b: unreadable");
    assert!(s.partition_reads[1].readable_during_outage);
    assert_eq!(s.planted_bugs, vec!["skip-fsync".to_string(), "drop-ack".to_string()]);
}

#[test]
fn merge_claim_precedence() {
    use ClaimVerdict::*;
    let table = [
        (NotTested, NotTested, NotTested),
        (NotTested, Holds, Holds),
        (Holds, NotTested, Holds),
        (Holds, Violated, Violated),
        (Violated, Holds, Violated),
        (NotTested, Violated, Violated),
        (Violated, NotTested, Violated),
    ];
    for (a, b, want) in table {
        let m = merge::merge(&[shard(vec![1], 1.0, true, a), shard(vec![2], 1.0, true, b)]);
        assert_eq!(m.scenarios[0].claims["C20"], want, "{a:?} + {b:?}");
    }
}

#[test]
fn merge_single_and_empty() {
    assert_eq!(merge::merge(&[]), Summary::default());
    let f = fixture();
    assert_eq!(merge::merge(std::slice::from_ref(&f)), f);
}

#[test]
fn junit_escapes_everything() {
    let mut s = fixture();
    s.scenarios[1].name = "a<b>&\"c'".into();
    s.scenarios[1].expectations[0].name = "x\u{1}y\nz".into();
    let xml = junit::render(&s);
    assert!(xml.contains("name=\"a&lt;b&gt;&amp;&quot;c&apos;\""), "{xml}");
    assert!(xml.contains("name=\"x\u{FFFD}y&#10;z\""), "{xml}");
    assert!(!xml.contains('\u{1}'));
    assert_eq!(junit::escape_text("a\nb\tc\r"), "a\nb\tc&#13;");
}

#[test]
fn junit_failed_scenario_without_failing_expectation_is_red() {
    let mut s = passing_scenario();
    s.passed = false;
    s.failures.push(Failure {
        seed: 2,
        capsule: "cap.json".into(),
        violation: "invariant broken".into(),
        replay: "cargo faultline replay cap.json".into(),
    });
    let xml = junit::render(&Summary { scenarios: vec![s], ..fixture() });
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<testcase name=\"scenario\""), "{xml}");
    assert!(xml.contains("cargo faultline replay cap.json"), "{xml}");
}

#[test]
fn markdown_replay_fence_survives_backticks() {
    let mut s = failing_scenario();
    s.failures[0].replay = "echo ```".into();
    let md = markdown::render(&Summary { scenarios: vec![s], ..fixture() });
    assert!(md.contains("````sh\necho ```\n````\n"), "{md}");
}

#[test]
fn markdown_escapes_free_text() {
    let mut s = failing_scenario();
    s.failures[0].violation = "a <b> & c | d *e* `f`\nnext line".into();
    s.name = "x|y".into();
    let md = markdown::render(&Summary { scenarios: vec![s], ..fixture() });
    assert!(md.contains("**Seed 11**: a &lt;b&gt; &amp; c \\| d \\*e\\* \\`f\\` next line\n"), "{md}");
    assert!(md.contains("| x\\|y |"), "{md}");
}

#[test]
fn notice_times_are_summarised_with_undelivered_notices_counted_late() {
    let notice = |hours: Option<f64>| crate::BreachNotice { seed: 1, hours, ..Default::default() };
    let notices = [notice(Some(2.0)), notice(Some(80.0)), notice(None), notice(Some(1.0))];
    let d = crate::NoticeDistribution::of(notices.iter(), 72.0);
    assert_eq!((d.notices, d.undelivered, d.min, d.median, d.max), (4, 1, Some(1.0), Some(2.0), Some(80.0)));
    assert_eq!(d.p99, Some(80.0));
    assert_eq!(d.within_deadline, Some(0.5));
    let mut s = passing_scenario();
    s.breach_notices = notices.to_vec();
    let summary = Summary {
        faultline_version: "t".into(),
        command: "nightly".into(),
        scenarios: vec![s],
        run: None,
        missing_scenarios: vec![],
    };
    let markdown = crate::markdown::render(&summary);
    assert!(markdown.contains("## C23 notification times, all scenarios"), "{markdown}");
    assert!(markdown.contains("| 4 | 1 | 1.00 | 2.00 | 80.00 | 80.00 | 50.0% |"), "{markdown}");
    assert!(markdown.contains("never arrived"), "{markdown}");
}

#[test]
fn the_html_report_has_a_row_for_every_claim_and_a_chart_for_every_measure() {
    let html = html::render(&fixture(), &claims::catalog(), None);
    for claim in claims::catalog() {
        assert!(html.contains(&format!("data-claim=\"{}\"", claim.id)), "no row for {}", claim.id);
    }
    // C1 is named by a scenario but not in the catalog: still shown.
    assert!(html.contains("data-claim=\"C1\""));
    assert!(html.contains("cargo faultline replay runs/nightly/capsules/two-zone-outage-11.json"));
    for chart in ["sla", "uptime", "latency-broker-restart", "recovery-broker-kill", "partition-reads"] {
        let start = html.find(&format!("data-chart=\"{chart}\"")).unwrap_or_else(|| panic!("no {chart} chart"));
        assert!(html[start..].starts_with(&format!("data-chart=\"{chart}\"><svg")), "{chart} is not an inline SVG");
    }
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        html.contains("1 of 2 scenarios failed. Claims violated: C20 (two-zone-outage)."),
        "the headline names violated claims"
    );
    assert!(!html.contains("chart failed"));
    // Per cluster type: Basic first; one of two Standard months missed 99.95 %.
    let basic = html.find("data-cluster-type=\"Basic\"").expect("a Basic row");
    let standard = html.find("data-cluster-type=\"Standard\"").expect("a Standard row");
    assert!(basic < standard);
    assert!(html[standard..].contains("<td>1 of 2</td><td>9-91 %</td>"), "{}", &html[standard..standard + 300]);
}

#[test]
fn wilson_intervals_match_the_textbook() {
    let round = |(lo, hi): (f64, f64)| ((lo * 10_000.0).round() / 10_000.0, (hi * 10_000.0).round() / 10_000.0);
    assert_eq!(wilson(0, 10, 1.96).map(round), Some((0.0, 0.2775)));
    assert_eq!(wilson(10, 10, 1.96).map(round), Some((0.7225, 1.0)));
    assert_eq!(wilson(5, 10, 1.96).map(round), Some((0.2366, 0.7634)));
    assert_eq!(wilson(0, 0, 1.96), None);
}

#[test]
fn the_html_report_of_an_empty_run_says_nothing_ran_and_every_claim_is_untested() {
    let html = html::render(&Summary { run: None, scenarios: vec![], ..fixture() }, &claims::catalog(), None);
    assert!(html.contains("No scenario ran"));
    assert!(html.contains("not recorded by this run"));
    assert_eq!(html.matches("class=\"claim not-tested\"").count(), claims::catalog().len());
    assert!(html.contains("data-missing-chart=\"uptime\""));
    assert!(html.contains("data-missing-chart=\"notices\""));
    assert!(html.contains("data-missing-chart=\"sla\""));
}

#[test]
fn html_escapes_what_it_shows() {
    assert_eq!(html::escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
}
