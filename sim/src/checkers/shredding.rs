//! Secure deletion (C13): a deleted cluster's data is unavailable at once, and nothing of it
//! can be decrypted with what the service still holds. Two kinds of evidence: what the deleted
//! tenant's own clients were still allowed after the deletion (their attempts), and what is
//! left of the cluster on every service disk as the run ends (its partition directories, and
//! among them key files whose data key still unwraps at the key service).

use super::access::{revocation_violations, Attempt, ClusterDeletion, Revocation};
use super::at_rest::DiskImage;

/// Successes of a deleted tenant's clients later than `bound_ms` after the deletion was
/// acknowledged (at_ms, what), and how many deletions were checked (an attempt after the bound).
pub fn served_after_delete(
    attempts: &[Attempt],
    deletions: &[ClusterDeletion],
    bound_ms: u64,
) -> (Vec<(u64, String)>, usize) {
    let mut violations = Vec::new();
    let mut checked = 0;
    for deletion in deletions {
        // A deleted cluster is a revocation of every key its accounts held.
        let revocations: Vec<Revocation> = deletion
            .service_accounts
            .iter()
            .map(|account| Revocation {
                service_account: account.clone(),
                requested_ms: deletion.requested_ms,
                acknowledged_ms: deletion.acknowledged_ms,
            })
            .collect();
        let (late, tested, _) = revocation_violations(attempts, &revocations, bound_ms);
        checked += usize::from(tested > 0);
        violations.extend(late.into_iter().map(|(at_ms, what)| {
            (at_ms, format!("cluster {} ({}) was deleted, yet {what}", deletion.cluster_id, deletion.tenant))
        }));
    }
    (violations, checked)
}

/// What is left of the deleted clusters on the disks: every file in one of their partition
/// directories (`<cluster id>_<topic>-<partition>/`), and the key files among them whose root
/// still unwraps (`unwraps`: the key service still holds the material).
pub fn leftovers(
    disks: &[DiskImage],
    deletions: &[ClusterDeletion],
    unwraps: impl Fn(&broker::encryption::SegmentKeyFile) -> bool,
) -> Leftovers {
    let mut left = Leftovers::default();
    for deletion in deletions.iter().filter(|d| d.acknowledged_ms.is_some()) {
        let prefix = format!("{}_", deletion.cluster_id);
        for (machine, files) in disks {
            let mine: Vec<&(String, Vec<u8>)> = files.iter().filter(|(name, _)| name.starts_with(&prefix)).collect();
            if mine.is_empty() {
                continue;
            }
            left.files += mine.len() as u64;
            left.lines.push(format!(
                "{machine}: {} file(s) of deleted cluster {} at the end, {} the first",
                mine.len(),
                deletion.cluster_id,
                mine[0].0
            ));
            for (file, bytes) in mine.into_iter().filter(|(name, _)| name.ends_with(".key")) {
                if broker::encryption::SegmentKeyFile::parse(bytes).is_ok_and(|key_file| unwraps(&key_file)) {
                    left.decryptable += 1;
                    if left.decryptable == 1 {
                        left.lines.push(format!(
                            "{machine}: {file} of deleted cluster {} still unwraps at the key service: its segment can be decrypted",
                            deletion.cluster_id
                        ));
                    }
                }
            }
        }
    }
    left
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Leftovers {
    pub files: u64,
    pub decryptable: u64,
    pub lines: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::access::Outcome;
    use broker::security::acl::Operation;

    fn deletion() -> ClusterDeletion {
        ClusterDeletion {
            tenant: "acme".into(),
            cluster_id: "lkc-9".into(),
            service_accounts: vec!["acme-app".into()],
            requested_ms: 1_000,
            acknowledged_ms: Some(1_200),
        }
    }

    fn attempt(at_ms: u64, outcome: Outcome) -> Attempt {
        Attempt {
            at_ms,
            service_account: "acme-app".into(),
            operation: Operation::Read,
            topic: "ledger".into(),
            outcome,
        }
    }

    #[test]
    fn a_read_after_the_bound_is_a_violation_and_none_after_it_is_not_tested() {
        let refused = vec![attempt(1_100, Outcome::Allowed), attempt(9_000, Outcome::AuthenticationFailed)];
        assert_eq!(served_after_delete(&refused, &[deletion()], 5_000), (vec![], 1));
        let mut served = refused.clone();
        served.push(attempt(12_000, Outcome::Allowed));
        let (violations, checked) = served_after_delete(&served, &[deletion()], 5_000);
        assert_eq!((violations.len(), checked), (1, 1));
        assert!(violations[0].1.contains("lkc-9"), "{}", violations[0].1);
        assert_eq!(served_after_delete(&refused[..1], &[deletion()], 5_000), (vec![], 0));
    }

    #[test]
    fn files_of_the_deleted_cluster_are_left_and_only_unwrapping_key_files_are_decryptable() {
        use broker::encryption::{SegmentKeyFile, WrappedKey};
        let key_file = |version| {
            let root = WrappedKey { master_key_id: "k".into(), version, nonce: vec![0; 12], ciphertext: vec![7; 48] };
            SegmentKeyFile { root_id: 1, root, salt: vec![0; 16], created_ms: None }.to_bytes()
        };
        let disks: Vec<DiskImage> = vec![(
            "broker-1".into(),
            vec![
                ("lkc-9_ledger-0/00000000000000000000.log".into(), vec![1, 2, 3]),
                ("lkc-9_ledger-0/00000000000000000000.key".into(), key_file(1)),
                ("lkc-9_ledger-0/00000000000000000100.key".into(), key_file(2)),
                ("lkc-90_other-0/00000000000000000000.log".into(), vec![4]),
                ("lkc-1_orders-0/00000000000000000000.log".into(), vec![5]),
            ],
        )];
        // Only version 1's material is still held.
        let left = leftovers(&disks, &[deletion()], |file| file.root.version == 1);
        assert_eq!((left.files, left.decryptable), (3, 1), "{:?}", left.lines);
        assert!(left.lines[0].contains("broker-1") && left.lines[1].contains("still unwraps"), "{:?}", left.lines);
        assert_eq!(leftovers(&disks, &[deletion()], |_| false).decryptable, 0);
        let clean: Vec<DiskImage> = vec![("broker-1".into(), vec![("lkc-1_orders-0/0.log".into(), vec![5])])];
        assert_eq!(leftovers(&clean, &[deletion()], |_| true), Leftovers::default());
    }
}
