//! A region's key service (C08, C09): a frontend machine per zone, all serving one key store
//! (the provider's regional backend: a zone outage takes a frontend down, never the keys).
//! Brokers reach it over TLS through the fabric like any service, so cuts, outages and latency
//! apply to it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use broker::kms::client::KmsLinkConfig;
use broker::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig, KMS_PORT};
use broker::log::MemoryDisk;
use broker::net::https_client::HttpsEndpoint;
use madsim::runtime::Handle;

use super::sites::{Shared, Site};
use super::Machine;
use crate::seeded_tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

/// The brokers' token at the key service (their principal names their cluster).
const BROKER_TOKEN: &str = "kms-broker-token";

pub fn broker_principal(cluster_id: &str) -> String {
    format!("service:broker/{cluster_id}")
}

/// A region's key service: its frontends and the store behind them.
pub struct KeyServiceSite {
    pub machines: Vec<Machine>,
    pub service: Arc<KeyService>,
}

/// Starts `site`'s key service for the broker cluster `cluster_id`.
pub(super) fn start(shared: &Shared, site: &'static Site, cluster_id: &str) -> KeyServiceSite {
    let handle = Handle::current();
    let seed = shared.seed;
    let principals = BTreeMap::from([(broker_principal(cluster_id), token_hash(BROKER_TOKEN))]);
    let store = seeds::derive(seed, Stream::Kms, site.seed_base);
    let service = KeyService::open(site.region, principals, store, Arc::new(MemoryDisk::new()))
        .expect("an empty memory disk holds no key records");
    let mut machines = Vec::new();
    for &(name, zone, address) in site.kms_servers {
        let ip = IpAddr::V4(address);
        let material = shared
            .ca
            .issue(&[ip.to_string()], &[ip], Some(seeds::derive(seed, Stream::Kms, 100 + site.seed_base + zone as u64)))
            .expect("seeded key-service certificate");
        let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = service.clone();
        let init = move || {
            let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = KmsServerConfig {
                listen_ip: ip,
                tls: material.clone(),
                crypto: seeded_crypto_provider(seeds::derive(seed, Stream::Kms, 1_000 + ((life << 8) | zone as u64))),
            };
            let service = service.clone();
            async move {
                KmsServer::start(config, service.clone()).await.expect("a simulated key-service frontend binds");
                // Scheduled deletions run in the store; the first zone's frontend carries them out.
                if zone == 0 {
                    tokio::spawn(service.delete_due_keys_forever());
                }
                std::future::pending::<()>().await;
            }
        };
        let node = handle.create_node().name(name).ip(ip).init(init).build();
        machines.push(Machine { name: name.into(), ip, zone: Some(site.zones[zone]), id: node.id() });
    }
    KeyServiceSite { machines, service }
}

/// How broker `zone_index` of `site` reaches the key service: its own zone's frontend first.
pub(super) fn link(site: &Site, zone_index: usize, cluster_id: &str) -> KmsLinkConfig {
    let mut servers: Vec<_> = site.kms_servers.to_vec();
    servers.sort_by_key(|(_, zone, _)| (*zone != zone_index, *zone));
    KmsLinkConfig {
        endpoints: servers
            .into_iter()
            .map(|(_, _, address)| HttpsEndpoint {
                address: SocketAddr::new(IpAddr::V4(address), KMS_PORT),
                server_name: address.to_string(),
            })
            .collect(),
        principal: broker_principal(cluster_id),
        token: BROKER_TOKEN.into(),
    }
}

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
