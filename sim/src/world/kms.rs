//! A region's key service (C08, C09): a frontend machine per zone, all serving one key store
//! (the provider's regional backend: a zone outage takes a frontend down, never the keys).
//! Brokers reach it over TLS through the fabric like any service, so cuts, outages and latency
//! apply to it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use broker::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig};
use broker::log::MemoryDisk;
use madsim::runtime::Handle;

use super::sites::{broker_principal, KeyServiceSite, Shared, Site, BROKER_TOKEN};
use super::Machine;
use crate::seeded_tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

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
