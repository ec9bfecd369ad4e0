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
    // One pass over every byte: a 64 Ki-bit filter on the first two bytes of each key (it fits
    // in the L1 cache and rejects nearly every position), then the first eight, then all 32.
    let mut first_two = vec![0u64; 1 << 10];
    let mut by_prefix: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
    for (index, (_, material)) in materials.iter().enumerate() {
        let two = u16::from_le_bytes([material[0], material[1]]) as usize;
        first_two[two / 64] |= 1 << (two % 64);
        by_prefix.entry(u64::from_le_bytes(material[..8].try_into().expect("8 bytes"))).or_default().push(index);
    }
    let mut found = Vec::new();
    for (machine, files) in disks {
        for (file, bytes) in files {
            for position in 0..bytes.len().saturating_sub(31) {
                let two = u16::from_le_bytes([bytes[position], bytes[position + 1]]) as usize;
                if first_two[two / 64] & (1 << (two % 64)) == 0 {
                    continue;
                }
                let window = &bytes[position..position + 32];
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
    }
}
