//! Reading a service disk as someone holding the regions' keys would (the harness's privilege):
//! sealed segments opened, and every key's material listed, for checks that must find record
//! data where it must not be (C07) or key material where it must never be (C08).

use std::collections::BTreeMap;

use broker::kms::server::KeyService;

/// What someone holding the region's keys would read on a disk: every sealed segment opened
/// (frames that do not open are left out), every other file as it is. For checks that look
/// for record data where it must not be (another region's disks, C07).
pub fn open_sealed(files: Vec<(String, Vec<u8>)>, services: &[&KeyService]) -> Vec<(String, Vec<u8>)> {
    use broker::encryption::{envelope::frames, RootKey, SegmentKey, SegmentKeyFile, KEY_BYTES};
    let key_files: BTreeMap<String, SegmentKeyFile> = files
        .iter()
        .filter_map(|(name, bytes)| Some((name.strip_suffix(".key")?.to_string(), SegmentKeyFile::parse(bytes).ok()?)))
        .collect();
    files
        .into_iter()
        .map(|(name, bytes)| {
            let Some(key_file) = name.strip_suffix(".log").and_then(|stem| key_files.get(stem)) else {
                return (name, bytes);
            };
            let context = broker::kms::keyring::context(key_file.root_id);
            let root = services
                .iter()
                .find_map(|service| service.with_store(|store| store.peek_unwrap(&key_file.root, &context)));
            let Some(material) = root.and_then(|m| <[u8; KEY_BYTES]>::try_from(m.as_slice()).ok()) else {
                return (name, bytes);
            };
            let key = SegmentKey::derive(&RootKey::new(key_file.root_id, material), &key_file.salt, &name);
            let plaintext = frames(&bytes).filter_map(|frame| key.open(&frame).ok()).flatten().collect();
            (name, plaintext)
        })
        .collect()
}

/// Every key's material a service holds, and every root key wrapped on `disks` that it can
/// unwrap: (what, material). None of it may ever be on a disk outside the key service.
pub fn key_material(
    disks: &[crate::checkers::at_rest::DiskImage],
    services: &[&KeyService],
) -> Vec<(String, [u8; 32])> {
    use broker::encryption::SegmentKeyFile;
    let mut materials: Vec<(String, [u8; 32])> = services
        .iter()
        .flat_map(|service| service.with_store(|store| store.all_material()))
        .map(|(key, version, material)| (format!("master key {key} v{version}"), material))
        .collect();
    let mut roots = BTreeMap::new();
    for (_, bytes) in disks.iter().flat_map(|(_, files)| files) {
        if let Ok(key_file) = SegmentKeyFile::parse(bytes) {
            roots.entry(key_file.root_id).or_insert(key_file.root);
        }
    }
    for (id, wrapped) in roots {
        let context = broker::kms::keyring::context(id);
        let material =
            services.iter().find_map(|service| service.with_store(|store| store.peek_unwrap(&wrapped, &context)));
        if let Some(material) = material.and_then(|m| <[u8; 32]>::try_from(m.as_slice()).ok()) {
            materials.push((format!("root key {id:016x}"), material));
        }
    }
    materials
}
