//! Encryption at rest (C08): nothing of the customers' data, and no key, in clear on any disk.
//!
//! - Record data: every write to a service machine's disk is searched for the run's canary as
//!   it happens (the disk tap), so a plaintext copy that a crash, a truncation or a zone loss
//!   later erased is still caught.
//! - Keys: every master key's material (from the key service's store) and every root key the
//!   disks refer to (unwrapped by the harness) is searched for in every disk as it ends.
//! - Nonces: no (segment key, counter) seals two different frames (the tap remembers them).
//!
//! A run that sealed no frame has not tested any of it.

use std::collections::{BTreeMap, BTreeSet};

/// (machine, its files as (name, bytes)).
pub type DiskImage = (String, Vec<(String, Vec<u8>)>);

/// Where any of `materials` (what, 32 bytes) lies on the disks, in clear or encoded (base64 as
/// the service's JSON files write bytes, or hex): one line per find.
pub fn key_material_on_disks(disks: &[DiskImage], materials: &[(String, [u8; 32])]) -> Vec<String> {
    if materials.is_empty() {
        return Vec::new();
    }
    let search = super::encodings::Search::new(materials.iter().map(|(_, m)| m.as_slice()));
    let mut found = Vec::new();
    for (machine, files) in disks {
        for (file, bytes) in files {
            for (index, how, position) in search.finds(bytes) {
                found.push(format!("{machine}'s disk holds {} {how} ({file} at byte {position})", materials[index].0));
            }
        }
    }
    found
}

/// Whose data a segment's key file protects: the logical cluster in its directory's name
/// (`lkc-…_topic-p/…`), or the service's own (its metadata log, its internal topics).
fn owner(file: &str) -> Option<&str> {
    let (cluster, _) = file.split_once('_')?;
    (cluster.starts_with("lkc-") && !cluster.contains('/')).then_some(cluster)
}

/// C08's key hierarchy: every logical cluster's data is sealed under a master key of its own.
/// From the segment key files on the disks: a master key that seals the data of a logical
/// cluster and also the service's own data, or two clusters' data unless the customer gave
/// both that key (`customer_keys`: one customer may use one key for several clusters).
/// Returns (one line per shared key, the tenant key files judged).
pub fn shared_master_keys(disks: &[DiskImage], customer_keys: &BTreeSet<String>) -> (Vec<String>, u64) {
    use broker::encryption::SegmentKeyFile;
    // Master key -> the owners of what it seals ("the service" for its own data).
    let mut sealed: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut judged = 0;
    for (_, files) in disks {
        for (file, bytes) in files.iter().filter(|(file, _)| file.ends_with(".key")) {
            let Ok(key_file) = SegmentKeyFile::parse(bytes) else { continue };
            let owner = owner(file).unwrap_or("the service");
            judged += u64::from(owner != "the service");
            sealed.entry(key_file.root.master_key_id).or_default().insert(owner);
        }
    }
    let mut shared = Vec::new();
    for (master, owners) in &sealed {
        let tenants: Vec<&str> = owners.iter().copied().filter(|o| *o != "the service").collect();
        if tenants.is_empty() {
            continue;
        }
        if owners.contains("the service") {
            shared.push(format!("master key {master} seals the data of {} and the service's own", tenants.join(", ")));
        } else if tenants.len() > 1 && !customer_keys.contains(master) {
            shared.push(format!("master key {master} seals the data of {}", tenants.join(" and ")));
        }
    }
    (shared, judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_anywhere_in_a_file_is_found_and_nothing_else() {
        let key = [7u8; 32];
        let mut bytes = vec![1u8; 100];
        bytes[40..72].copy_from_slice(&key);
        let at_the_end = [vec![0u8; 3], key.to_vec()].concat();
        let disks = vec![(
            "broker-1".to_string(),
            vec![("t-0/0.log".to_string(), bytes), ("t-0/1.log".to_string(), at_the_end)],
        )];
        let found = key_material_on_disks(&disks, &[("root key 1".into(), key)]);
        assert_eq!(
            found,
            vec![
                "broker-1's disk holds root key 1 in clear (t-0/0.log at byte 40)".to_string(),
                "broker-1's disk holds root key 1 in clear (t-0/1.log at byte 3)".to_string(),
            ]
        );
        assert!(key_material_on_disks(&disks, &[("other".into(), [8u8; 32])]).is_empty());
        // Written into JSON as the service writes bytes.
        use base64::Engine;
        let json = format!(r#"{{"root_id":1,"material":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode(key));
        let disks = vec![("broker-2".to_string(), vec![("t-0/root-cache.json".to_string(), json.into_bytes())])];
        assert_eq!(
            key_material_on_disks(&disks, &[("root key 1".into(), key)]),
            vec!["broker-2's disk holds root key 1 base64 (t-0/root-cache.json at byte 25)".to_string()]
        );
    }

    fn key_file(master: &str) -> Vec<u8> {
        broker::encryption::SegmentKeyFile {
            root_id: 1,
            root: broker::encryption::WrappedKey {
                master_key_id: master.into(),
                version: 1,
                nonce: vec![0; 12],
                ciphertext: vec![1; 48],
            },
            salt: vec![2; 16],
            created_ms: None,
        }
        .to_bytes()
    }

    #[test]
    fn a_master_key_sealing_two_tenants_or_a_tenant_and_the_service_is_shared() {
        let disk = |files: &[(&str, &str)]| {
            vec![(
                "broker-1".to_string(),
                files.iter().map(|(file, master)| (file.to_string(), key_file(master))).collect::<Vec<_>>(),
            )]
        };
        let none = BTreeSet::new();
        let own = disk(&[
            ("lkc-a_orders-0/00000000000000000000.key", "alias/a"),
            ("lkc-a_orders-1/00000000000000000000.key", "alias/a"),
            ("lkc-b_orders-0/00000000000000000000.key", "alias/b"),
            ("metadata/00000000000000000000.key", "alias/cluster"),
        ]);
        assert_eq!(shared_master_keys(&own, &none), (vec![], 3));
        let with_service = disk(&[
            ("lkc-a_orders-0/00000000000000000000.key", "alias/cluster"),
            ("metadata/00000000000000000000.key", "alias/cluster"),
        ]);
        assert_eq!(
            shared_master_keys(&with_service, &none).0,
            vec!["master key alias/cluster seals the data of lkc-a and the service's own".to_string()]
        );
        let two = disk(&[
            ("lkc-a_orders-0/00000000000000000000.key", "arn:k"),
            ("lkc-b_orders-0/00000000000000000000.key", "arn:k"),
        ]);
        assert_eq!(shared_master_keys(&two, &none).0, vec!["master key arn:k seals the data of lkc-a and lkc-b"]);
        // The customer gave both clusters its key.
        assert!(shared_master_keys(&two, &["arn:k".to_string()].into()).0.is_empty());
    }
}
