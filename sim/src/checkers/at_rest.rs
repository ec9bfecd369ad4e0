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

use rustc_hash::FxHashMap;

/// (machine, its files as (name, bytes)).
pub type DiskImage = (String, Vec<(String, Vec<u8>)>);

/// Where any of `materials` (what, 32 bytes) lies in clear on the disks: one line per find.
pub fn key_material_on_disks(disks: &[DiskImage], materials: &[(String, [u8; 32])]) -> Vec<String> {
    // Index by the first eight bytes; one pass over every byte of every file.
    let mut by_prefix: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    for (index, (_, material)) in materials.iter().enumerate() {
        by_prefix.entry(u64::from_le_bytes(material[..8].try_into().expect("8 bytes"))).or_default().push(index);
    }
    let mut found = Vec::new();
    for (machine, files) in disks {
        for (file, bytes) in files {
            for (position, window) in bytes.windows(32).enumerate() {
                let prefix = u64::from_le_bytes(window[..8].try_into().expect("8 bytes"));
                let Some(candidates) = by_prefix.get(&prefix) else { continue };
                for &index in candidates {
                    if window == materials[index].1 {
                        found.push(format!(
                            "{machine}'s disk holds {} in clear ({file} at byte {position})",
                            materials[index].0
                        ));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_anywhere_in_a_file_is_found_and_nothing_else() {
        let key = [7u8; 32];
        let mut bytes = vec![1u8; 100];
        bytes[40..72].copy_from_slice(&key);
        let disks = vec![("broker-1".to_string(), vec![("t-0/0.log".to_string(), bytes)])];
        let found = key_material_on_disks(&disks, &[("root key 1".into(), key)]);
        assert_eq!(found, vec!["broker-1's disk holds root key 1 in clear (t-0/0.log at byte 40)".to_string()]);
        assert!(key_material_on_disks(&disks, &[("other".into(), [8u8; 32])]).is_empty());
    }
}
