//! Encryption at rest (C08) with real processes: what kcat produces is consumed in clear, and
//! no file under any node's data directory holds it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cluster::{run_ok, Cluster};

/// Files under `root` that contain `needle` (grep -r, as a person would look).
fn files_containing(root: &Path, needle: &str) -> Vec<String> {
    let output = Command::new("grep").args(["-r", "-l", "-F", needle]).arg(root).output().expect("grep runs");
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_string).collect()
}

#[test]
fn a_produced_canary_is_consumed_in_clear_and_found_on_no_disk() {
    let mut cluster = Cluster::start();
    cluster.create_topic("sealed", 3);
    let canaries: Vec<String> = (0..200).map(|i| format!("canary-{:08x}-{i:03}", std::process::id())).collect();
    let mut producer = cluster
        .kcat()
        .args(["-P", "-t", "sealed", "-K", ":", "-X", "acks=all"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = canaries.iter().enumerate().map(|(i, value)| format!("key-{i}:{value}")).collect();
    producer.stdin.take().unwrap().write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
    let produced = producer.wait_with_output().unwrap();
    assert!(produced.status.success(), "kcat -P: {}", String::from_utf8_lossy(&produced.stderr));

    let consumed = run_ok(cluster.kcat().args(["-C", "-t", "sealed", "-e", "-q", "-f", "%s\n"]));
    let mut seen: Vec<String> = String::from_utf8_lossy(&consumed.stdout).lines().map(str::to_string).collect();
    seen.sort();
    let mut expected = canaries.clone();
    expected.sort();
    assert_eq!(seen, expected, "every canary consumed in clear");

    // The prefix every canary shares, searched for over every node's directory (segments, key
    // files, the metadata log, committed offsets) while the cluster runs, and after kill -9
    // and a restart that reads them back.
    let prefix = format!("canary-{:08x}", std::process::id());
    for id in 1..=3 {
        let found = files_containing(&cluster.dir.join(format!("node-{id}")), &prefix);
        assert!(found.is_empty(), "node {id}'s directory holds a canary in clear: {found:?}");
    }
    assert!(files_containing(&cluster.dir.join("kms"), &prefix).is_empty(), "nor the key service's");
    cluster.kill(1);
    cluster.start_node(1);
    cluster.wait_until_ready();
    let again = run_ok(cluster.kcat().args(["-C", "-t", "sealed", "-e", "-q", "-f", "%s\n"]));
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().count(), canaries.len(), "{}", cluster.logs());
    let found = files_containing(&cluster.dir, &prefix);
    assert!(found.is_empty(), "no file of the cluster, logs included, holds a canary: {found:?}");
}
