//! kill -9 right after a topic creation and a key rotation: every file the brokers had made
//! (segments and their key files, high-watermark checkpoints, `meta.properties`, the metadata
//! log) is there on restart with the content it had, and every acknowledged record reads back.
//!
//! A kill -9 keeps the page cache, so this cannot show the directory syncs themselves (only a
//! power cut could): the simulated disk's model of directory entries shows them (`log/disk.rs`,
//! planted bug `rename-without-directory-sync`, caught on all-zones-power-loss). What this
//! shows is that the syncs changed nothing a real restart depends on.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cluster::Cluster;
use crate::encryption::{consume_all, key_service, key_versions, tenant_key};

/// Every file under `root` with its bytes.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn every_file_and_acknowledged_record_survives_kill_9_right_after_a_topic_creation_and_a_key_rotation() {
    let mut cluster = Cluster::start();
    cluster.create_topic("fresh", 3);
    let values: Vec<String> = (0..90).map(|i| format!("durable-{i:03}")).collect();
    let produced = cluster.kcat_produce("fresh", &["acks=all"], &values);
    assert!(produced.status.success(), "kcat -P: {}", String::from_utf8_lossy(&produced.stderr));
    let rotated = key_service(&cluster, "RotateKey", &tenant_key(&cluster));
    assert!(rotated.contains(r#""current_version":2"#), "{rotated}");
    // The brokers rewrite their key files under the new version at their next renewal.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !key_versions(&cluster, 1, "fresh").iter().all(|(_, version)| *version == 2) {
        assert!(std::time::Instant::now() < deadline, "{:?}", key_versions(&cluster, 1, "fresh"));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // At once: no shutdown path runs on any broker.
    let before: Vec<BTreeMap<String, Vec<u8>>> =
        (1..=3).map(|id| files_under(&cluster.dir.join(format!("node-{id}")))).collect();
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.start_node(id);
    }
    cluster.wait_until_ready();

    for (index, files) in before.iter().enumerate() {
        let after = files_under(&cluster.dir.join(format!("node-{}", index + 1)));
        for (name, bytes) in files {
            let now = after.get(name).unwrap_or_else(|| panic!("node {}: {name} is gone after kill -9", index + 1));
            // Logs only grow (the metadata log, segments); a file replaced whole is as it was
            // unless the restart replaced it again.
            assert!(now.starts_with(bytes) || !name.ends_with(".log"), "node {}: {name} lost bytes", index + 1);
        }
        assert!(files.keys().any(|name| name.ends_with("meta.properties")), "{:?}", files.keys());
        assert!(files.keys().any(|name| name.contains("_fresh-") && name.ends_with(".key")), "{:?}", files.keys());
    }
    let mut consumed = consume_all(&cluster, "fresh");
    consumed.sort();
    assert_eq!(consumed, values, "{}", cluster.logs());
}
