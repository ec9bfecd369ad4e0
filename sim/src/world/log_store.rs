//! The security log store (C12): a replica per zone (`broker::log_store`), each with its own
//! disk (a zone loss takes it), and the security-operations host, a service machine with no
//! zone where the harness's log source and its tamperer run.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use broker::log::MemoryDisk;
use broker::log_store::chain::{Signer, TrustedKeys};
use broker::log_store::server::{self, LogStore, LogStoreConfig, LogStoreServerConfig, Principal};
use broker::log_store::Role;
use broker::net::https_client::HttpsEndpoint;
use madsim::runtime::Handle;

use super::security_addresses::replica_endpoint;
pub use super::security_addresses::{link, token, CUSTODIAN, OPS_HOST, REPLICAS, SOURCE, TAMPERER};
use super::sites::Shared;
use super::Machine;
use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

/// Principals and their roles: the replicas, the brokers, the harness's source and agent, the
/// other components that ship (`shippers`: the control plane, key-service frontends, staff).
fn principals(shippers: &[String]) -> Vec<(String, Role)> {
    let mut principals: Vec<(String, Role)> =
        REPLICAS.iter().map(|(name, _, _)| (name.to_string(), Role::Replica)).collect();
    principals.extend((1..=3).map(|id| (format!("broker-{id}"), Role::Source)));
    principals.extend([(SOURCE.to_string(), Role::Source), (TAMPERER.to_string(), Role::Source)]);
    principals.extend(shippers.iter().map(|name| (name.clone(), Role::Source)));
    principals.push((CUSTODIAN.to_string(), Role::Custodian));
    principals.push((super::security_addresses::DETECTION_PRINCIPAL.to_string(), Role::Reader));
    principals
}

fn signer(seed: u64, index: usize) -> Signer {
    let mut key = [0u8; 32];
    for (chunk, part) in key.chunks_mut(8).enumerate() {
        part.copy_from_slice(&seeds::derive(seed, Stream::LogStore, (index * 4 + chunk) as u64).to_le_bytes());
    }
    Signer::from_seed(REPLICAS[index].0, &key)
}

/// Every replica's checkpoint key: what a verifier trusts.
pub fn trusted(seed: u64) -> TrustedKeys {
    (0..REPLICAS.len()).map(|index| (REPLICAS[index].0.to_string(), signer(seed, index).public_key())).collect()
}

pub struct LogStoreSite {
    pub replicas: Vec<Machine>,
    pub ops: Machine,
    /// Each replica's current process (for a harness that asks it to verify itself).
    pub stores: Arc<std::sync::Mutex<BTreeMap<String, Arc<LogStore>>>>,
}

/// Starts the replicas (each with a disk, returned for the world's disk table) and the ops host.
pub(super) fn start(shared: &Shared, shippers: &[String]) -> (LogStoreSite, Vec<(Machine, MemoryDisk)>) {
    let handle = Handle::current();
    let seed = shared.seed;
    let bugs = shared.bugs;
    let table: BTreeMap<String, Principal> = principals(shippers)
        .into_iter()
        .map(|(name, role)| {
            let token_hash = broker::net::api::token_hash(&token(&name));
            (name, Principal { token_hash, role })
        })
        .collect();
    let replicas: Vec<(String, HttpsEndpoint)> =
        REPLICAS.iter().enumerate().map(|(index, (name, _, _))| (name.to_string(), replica_endpoint(index))).collect();
    let stores = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let mut started = Vec::new();
    for (index, &(name, zone, address)) in REPLICAS.iter().enumerate() {
        let ip = IpAddr::V4(address);
        let disk = MemoryDisk::new();
        let material = shared
            .ca
            .issue(
                &[ip.to_string()],
                &[ip],
                Some(&mut crate::seeded::leaf_key(seeds::derive(seed, Stream::LogStore, 100 + index as u64))),
            )
            .expect("seeded log-store certificate");
        let dialer = shared.dialer(name);
        let ca_pem = shared.ca.ca_cert_pem();
        let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (table, replicas, stores) = (table.clone(), replicas.clone(), stores.clone());
        let init = {
            let disk = disk.clone();
            move || {
                let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let stream = 1_000 + ((life << 8) | index as u64);
                let crypto = seeded_crypto_provider(seeds::derive(seed, Stream::LogStore, stream));
                let tls = broker::security::tls::client_config(&ca_pem, &crypto).expect("log-store client TLS");
                let config = LogStoreConfig {
                    name: name.into(),
                    life: life.to_string(),
                    principals: table.clone(),
                    trusted: trusted(seed),
                    bugs,
                };
                let server_config = LogStoreServerConfig { listen_ip: ip, tls: material.clone(), crypto };
                let (peers, alarm) = server::peer_links(name, &token(name), &replicas, tls, dialer.clone());
                let (disk, stores) = (disk.clone(), stores.clone());
                async move {
                    let store = LogStore::open(config, signer(seed, index), Arc::new(disk));
                    stores.lock().unwrap().insert(name.to_string(), store.clone());
                    server::start(server_config, store.clone()).await.expect("a simulated log-store replica binds");
                    store.maintain_forever(peers, alarm).await;
                }
            }
        };
        let node = handle.create_node().name(name).ip(ip).init(init).build();
        started
            .push((Machine { name: name.into(), ip, zone: Some(super::CHOSEN_SITE.zones[zone]), id: node.id() }, disk));
    }
    let (name, address) = OPS_HOST;
    let ip = IpAddr::V4(address);
    let node = handle.create_node().name(name).ip(ip).build();
    let ops = Machine { name: name.into(), ip, zone: None, id: node.id() };
    let site = LogStoreSite { replicas: started.iter().map(|(m, _)| m.clone()).collect(), ops, stores };
    (site, started)
}
