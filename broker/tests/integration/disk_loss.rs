//! Issue 6 in real mode: a node whose data directory is deleted while it is down, restarted
//! within five seconds, during a kafka-python acks=all produce run. Before KIP-841 broker
//! epochs and KIP-853 storage identity, 706 of 6,000 acknowledged records went missing here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

#[test]
fn a_node_back_with_an_empty_data_directory_loses_and_duplicates_nothing_and_catches_up() {
    let mut cluster = Cluster::start();
    cluster.create_topic("diskloss", 6);
    let producer = cluster.start_producer("diskloss", 20);
    std::thread::sleep(Duration::from_secs(6));
    // kill -9, the whole data directory gone (a re-imaged node), back 3 s later.
    cluster.kill(3);
    std::fs::remove_dir_all(cluster.dir.join("node-3")).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    cluster.start_node(3);
    let acked = cluster.finish_producer(producer);
    assert!(acked.len() > 1_000, "too few acknowledged writes to mean anything: {}", acked.len());

    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for value in cluster.consume_all("diskloss") {
        *copies.entry(value).or_default() += 1;
    }
    let lost: Vec<&String> = acked.iter().filter(|v| !copies.contains_key(*v)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, first {:?}\n{}",
        lost.len(),
        acked.len(),
        lost.first(),
        cluster.logs()
    );
    let duplicated: Vec<(&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "{} values read more than once, first {:?}", duplicated.len(), duplicated.first());

    // The node re-replicates: back in every ISR of the topic.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let listing = String::from_utf8_lossy(&cluster.kcat().args(["-L", "-t", "diskloss"]).output().unwrap().stdout)
            .to_string();
        let partitions: Vec<&str> = listing.lines().filter(|l| l.contains("partition ")).collect();
        if partitions.len() == 6
            && partitions.iter().all(|l| {
                l.split("isrs:").nth(1).is_some_and(|isr| isr.split(',').filter(|b| b.trim() == "3").count() == 1)
            })
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 did not rejoin every ISR within 60 s:\n{listing}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(cluster.dir.join("node-3.log")).unwrap();
    assert!(log.contains("storage is empty: formatted a new directory"), "node 3 knew its storage was new:\n{log}");
}
