//! The region boundary (C07): nothing of a cluster is placed or sent outside the region the
//! customer chose. Three independent looks, after the run:
//!
//! - **disks**: every file on every service machine's disk is searched for the record canary
//!   of each region's customers; a canary on a disk of another region is a violation. A canary
//!   found on a disk of its own region is the positive control: it shows the search can see
//!   record data at all (encryption at rest would blind it, and the count would say so);
//! - **metadata**: a broker's metadata image (its quorum's log and snapshots) holding a topic of
//!   a logical cluster of another region;
//! - **links**: a connection between machines of different regions (the customer's machines
//!   sit in its region's VPCs; the global control plane and internet hosts are in none).

use std::collections::BTreeSet;

/// A record canary: the bytes every record of one region's customers carries.
#[derive(Debug, Clone)]
pub struct RegionCanary {
    pub label: String,
    pub region: String,
    pub bytes: Vec<u8>,
}

/// One service machine's disk, as found after the run.
#[derive(Debug, Clone)]
pub struct RegionDisk {
    pub machine: String,
    pub region: String,
    /// (file, bytes)
    pub files: Vec<(String, Vec<u8>)>,
}

/// A topic in a broker's metadata image, with the region of the logical cluster it belongs to.
#[derive(Debug, Clone)]
pub struct HostedTopic {
    pub machine: String,
    pub machine_region: String,
    pub topic: String,
    pub cluster_region: String,
}

/// A connection: (initiator, its region, target, its region, first dial in ms).
pub type RegionLink = (String, Option<String>, String, Option<String>, u64);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Boundary {
    /// (at ms, what) for every crossing found (disks and metadata are judged at the end).
    pub violations: Vec<(u64, String)>,
    pub files_scanned: usize,
    /// Labels of canaries found on a disk of their own region.
    pub found_at_home: BTreeSet<String>,
}

pub fn boundary_violations(
    disks: &[RegionDisk],
    canaries: &[RegionCanary],
    topics: &[HostedTopic],
    links: &[RegionLink],
    end_ms: u64,
) -> Boundary {
    let mut boundary = Boundary::default();
    for disk in disks {
        for (file, bytes) in &disk.files {
            boundary.files_scanned += 1;
            for canary in canaries {
                if memchr::memmem::find(bytes, &canary.bytes).is_none() {
                    continue;
                }
                if canary.region == disk.region {
                    boundary.found_at_home.insert(canary.label.clone());
                } else {
                    boundary.violations.push((
                        end_ms,
                        format!(
                            "{} ({}) holds {} (the data of {} customers) in {file}",
                            disk.machine, disk.region, canary.label, canary.region
                        ),
                    ));
                }
            }
        }
    }
    for topic in topics.iter().filter(|t| t.machine_region != t.cluster_region) {
        boundary.violations.push((
            end_ms,
            format!(
                "{} ({}) has topic {} of a {} cluster in its metadata",
                topic.machine, topic.machine_region, topic.topic, topic.cluster_region
            ),
        ));
    }
    for (initiator, from, target, to, at_ms) in links {
        if let (Some(from), Some(to)) = (from, to) {
            if from != to {
                boundary.violations.push((
                    *at_ms,
                    format!("{initiator} ({from}) connected to {target} ({to}) at {:.3}s", *at_ms as f64 / 1000.0),
                ));
            }
        }
    }
    boundary.violations.sort();
    boundary
}

/// Key residency (C07's key half): every segment key file on a disk must wrap its root under a
/// master key of its own region's key service. `key_regions` maps each master key to the region
/// of the key service that holds it. Returns the crossings (at `end_ms`) and the regions whose
/// disks hold key files of their own region (the positive control: the search saw key files).
pub fn key_crossings(
    disks: &[RegionDisk],
    key_regions: &std::collections::BTreeMap<String, String>,
    end_ms: u64,
) -> (Vec<(u64, String)>, BTreeSet<String>) {
    let mut crossings = Vec::new();
    let mut at_home = BTreeSet::new();
    for disk in disks {
        let mut foreign = 0;
        let mut first = None;
        for (file, bytes) in disk.files.iter().filter(|(name, _)| name.ends_with(".key")) {
            let Ok(key_file) = broker::encryption::SegmentKeyFile::parse(bytes) else { continue };
            match key_regions.get(&key_file.root.master_key_id) {
                Some(region) if *region == disk.region => {
                    at_home.insert(disk.region.clone());
                }
                home => {
                    foreign += 1;
                    first.get_or_insert_with(|| {
                        let home = home.map_or("no region's key service".to_string(), |r| format!("{r}'s key service"));
                        format!("{file} wraps its root under {} of {home}", key_file.root.master_key_id)
                    });
                }
            }
        }
        if let Some(first) = first {
            crossings.push((
                end_ms,
                format!(
                    "{} ({}): {foreign} key file(s) under another region's key, {first}",
                    disk.machine, disk.region
                ),
            ));
        }
    }
    (crossings, at_home)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_under_another_regions_key_is_a_crossing_and_one_at_home_the_control() {
        use broker::encryption::{SegmentKeyFile, WrappedKey};
        let key_file = |master: &str| {
            let root =
                WrappedKey { master_key_id: master.into(), version: 1, nonce: vec![0; 12], ciphertext: vec![1; 48] };
            SegmentKeyFile { root_id: 1, root, salt: vec![0; 16], created_ms: None }.to_bytes()
        };
        let disk = |machine: &str, region: &str, master: &str| RegionDisk {
            machine: machine.into(),
            region: region.into(),
            files: vec![("t-0/0.key".into(), key_file(master)), ("t-0/0.log".into(), vec![9])],
        };
        let regions: std::collections::BTreeMap<String, String> =
            [("k1".to_string(), "region-1".to_string()), ("k2".to_string(), "region-2".to_string())].into();
        let (crossings, at_home) =
            key_crossings(&[disk("broker-1", "region-1", "k1"), disk("r2-broker-1", "region-2", "k2")], &regions, 5);
        assert!(crossings.is_empty(), "{crossings:?}");
        assert_eq!(at_home.len(), 2);
        let (crossings, _) = key_crossings(&[disk("r2-broker-1", "region-2", "k1")], &regions, 5);
        assert_eq!(crossings.len(), 1);
        assert!(crossings[0].1.contains("k1 of region-1's key service"), "{crossings:?}");
    }

    fn disk(machine: &str, region: &str, content: &[u8]) -> RegionDisk {
        RegionDisk { machine: machine.into(), region: region.into(), files: vec![("log".into(), content.to_vec())] }
    }

    #[test]
    fn a_canary_abroad_a_foreign_topic_and_a_cross_region_link_are_crossings() {
        let canaries = [
            RegionCanary { label: "r1 records".into(), region: "r1".into(), bytes: b"CANARY-ONE".to_vec() },
            RegionCanary { label: "r2 records".into(), region: "r2".into(), bytes: b"CANARY-TWO".to_vec() },
        ];
        let clean = [disk("a", "r1", b"..CANARY-ONE.."), disk("b", "r2", b"CANARY-TWO")];
        let at_home = boundary_violations(&clean, &canaries, &[], &[], 9);
        assert!(at_home.violations.is_empty());
        assert_eq!(at_home.found_at_home.len(), 2, "both canaries seen where they belong");
        assert_eq!(at_home.files_scanned, 2);

        let abroad = [disk("b", "r2", b"xxCANARY-ONExx")];
        let topic = HostedTopic {
            machine: "b".into(),
            machine_region: "r2".into(),
            topic: "lkc-1_orders".into(),
            cluster_region: "r1".into(),
        };
        let links = [
            ("client".to_string(), Some("r1".to_string()), "b".to_string(), Some("r2".to_string()), 1500),
            ("client".to_string(), Some("r1".to_string()), "control-plane".to_string(), None, 100),
            ("a".to_string(), Some("r1".to_string()), "a2".to_string(), Some("r1".to_string()), 100),
        ];
        let found = boundary_violations(&abroad, &canaries, &[topic], &links, 9);
        assert_eq!(found.violations.len(), 3, "{:?}", found.violations);
        assert!(found
            .violations
            .iter()
            .any(|(at, what)| *at == 1500 && what.contains("connected to b (r2) at 1.500s")));
        assert!(found.found_at_home.is_empty());
    }
}
