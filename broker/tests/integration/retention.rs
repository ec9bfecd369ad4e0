//! Per-topic retention (C13) with real processes: kafka-python's admin client sets it, the
//! service refuses to keep data forever, and kcat sees old records go while newer ones stay.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{client_script, python, run_ok, Cluster};

fn produce(cluster: &Cluster, topic: &str, values: &[String]) {
    use std::io::Write;
    let mut producer =
        cluster.kcat().args(["-P", "-t", topic, "-X", "acks=all"]).stdin(std::process::Stdio::piped()).spawn().unwrap();
    producer.stdin.take().unwrap().write_all((values.join("\n") + "\n").as_bytes()).unwrap();
    assert!(producer.wait().unwrap().success());
}

/// (offset, value) of everything kcat reads from the start of partition 0.
fn read(cluster: &Cluster, topic: &str) -> Vec<(i64, String)> {
    let output =
        run_ok(cluster.kcat().args(["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n"]));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once(' ').map(|(offset, value)| (offset.parse().unwrap(), value.to_string())))
        .collect()
}

#[test]
#[ignore = "full tier: waits out a 60 s retention (about 80 s); the simulation pins retention in the fast tier"]
fn a_topic_keeps_records_for_its_retention_and_the_service_refuses_to_keep_them_forever() {
    let cluster = Cluster::start();
    let create = |name: &str, configs: &[&str]| {
        Command::new(python())
            .arg(client_script("admin.py"))
            .arg(cluster.properties())
            .args([name, "1", "3"])
            .args(configs)
            .output()
            .unwrap()
    };
    let forever = create("forever", &["retention.ms=-1"]);
    let stderr = String::from_utf8_lossy(&forever.stderr);
    assert_eq!(forever.status.code(), Some(2), "retention.ms=-1 is refused: {stderr}");
    assert!(stderr.contains("InvalidConfig"), "{stderr}");
    assert!(create("compacted", &["cleanup.policy=compact"]).status.code() == Some(2), "an unknown setting is refused");
    assert!(create("brief", &["retention.ms=60000"]).status.success());

    let first: Vec<String> = (0..20).map(|i| format!("first-{i:02}")).collect();
    let second: Vec<String> = (0..20).map(|i| format!("second-{i:02}")).collect();
    produce(&cluster, "brief", &first);
    let written = Instant::now();
    // A segment rolls after a tenth of the retention (6 s): the second values begin another.
    std::thread::sleep(Duration::from_secs(30));
    produce(&cluster, "brief", &second);
    assert_eq!(read(&cluster, "brief").len(), 40);

    // The first segment goes 60 s (+ its 6 s roll age, + one 5 s pass) after it was written;
    // the second is then still young.
    let deadline = written + Duration::from_secs(60 + 6 + 5 + 5);
    let kept = loop {
        let kept = read(&cluster, "brief");
        if kept.len() == 20 {
            break kept;
        }
        assert!(Instant::now() < deadline, "the first values outlived their retention: {kept:?}\n{}", cluster.logs());
        std::thread::sleep(Duration::from_secs(1));
    };
    let gone_after = written.elapsed();
    assert!(gone_after >= Duration::from_secs(60), "gone before its retention: {gone_after:?}");
    assert_eq!(kept, (20..40).zip(second).collect::<Vec<_>>(), "the second values, at their offsets");
    for node in 1..=3 {
        let directory = std::fs::read_dir(cluster.dir.join(format!("node-{node}")))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_brief-0")))
            .expect("the partition's directory");
        let segments: Vec<String> = std::fs::read_dir(&directory)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".log"))
            .collect();
        assert!(
            !segments.contains(&"00000000000000000000.log".to_string()),
            "node {node} still has the first segment: {segments:?}"
        );
    }
    eprintln!("the first values went {gone_after:?} after they were written (retention 60 s)");
}
