//! Operator access (C10): the staff directory (a service machine with no zone) and a bastion
//! per zone; brokers accept the bastions' key from the bastions' addresses only.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use broker::client::ClientCredentials;
use broker::log::MemoryDisk;
use broker::log_store::shipper::SecurityEvents;
use broker::net::https_client::HttpsClient;
use broker::operators::bastion::{Bastion, BastionConfig};
use broker::operators::directory::{Caller, StaffDirectory};
use broker::operators::{BASTION_API_KEY, OPERATOR_PORT};
use madsim::runtime::Handle;

pub use super::security_addresses::{
    bastion_endpoint, bastion_sources, directory_endpoint, staff_token as token, ADMIN, BASTIONS, BASTION_SECRET,
    DIRECTORY,
};
use super::sites::Shared;
use super::Machine;
use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

pub struct OperatorSite {
    pub directory: Machine,
    pub bastions: Vec<Machine>,
}

/// Starts the directory (its disk returned for the world's table) and the bastions.
pub(super) fn start(shared: &Shared, brokers: &[Machine]) -> (OperatorSite, Vec<(Machine, MemoryDisk)>) {
    let handle = Handle::current();
    let seed = shared.seed;
    let bugs = shared.bugs;
    let ca_pem = shared.ca.ca_cert_pem();
    let (name, address) = DIRECTORY;
    let ip = IpAddr::V4(address);
    let disk = MemoryDisk::new();
    let material = shared
        .ca
        .issue(
            &[ip.to_string()],
            &[ip],
            Some(&mut crate::seeded::leaf_key(seeds::derive(seed, Stream::Operators, 100))),
        )
        .expect("seeded directory certificate");
    let principals: BTreeMap<String, (String, Caller)> = std::iter::once((ADMIN.to_string(), Caller::Admin))
        .chain(BASTIONS.iter().map(|(name, _, _)| (name.to_string(), Caller::Bastion)))
        .map(|(name, caller)| {
            let hash = broker::net::api::token_hash(&token(&name));
            (name, (hash, caller))
        })
        .collect();
    let dialer = shared.dialer(name);
    let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let init = {
        let (disk, ca_pem) = (disk.clone(), ca_pem.clone());
        move || {
            let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let crypto = seeded_crypto_provider(seeds::derive(seed, Stream::Operators, 1_000 + (life << 8)));
            let tls = broker::security::tls::client_config(&ca_pem, &crypto).expect("directory TLS");
            let (disk, principals, material, dialer) =
                (disk.clone(), principals.clone(), material.clone(), dialer.clone());
            // Inside the node: its shipper's task dials from it.
            async move {
                let events =
                    SecurityEvents::start(&super::security_addresses::link(name), &life.to_string(), tls, dialer);
                let directory = StaffDirectory::open(
                    Arc::new(disk),
                    principals,
                    events,
                    crate::seeded::generator(seeds::derive(seed, Stream::Operators, 2_000 + life)),
                    4,
                )
                .expect("a memory disk opens");
                let address = SocketAddr::new(ip, OPERATOR_PORT);
                let acceptor = broker::security::tls::acceptor(&material, &crypto).expect("directory TLS");
                broker::net::http::bind_https(address, acceptor, directory, "staff directory")
                    .await
                    .expect("a simulated directory binds");
                std::future::pending::<()>().await;
            }
        }
    };
    let node = handle.create_node().name(name).ip(ip).init(init).build();
    let directory = Machine { name: name.into(), ip, zone: None, id: node.id() };
    let broker_targets: Vec<(SocketAddr, String)> =
        brokers.iter().map(|b| (SocketAddr::new(b.ip, broker::node::BROKER_PORT), b.ip.to_string())).collect();
    let mut bastions = Vec::new();
    for (index, &(name, zone, address)) in BASTIONS.iter().enumerate() {
        let ip = IpAddr::V4(address);
        let material = shared
            .ca
            .issue(
                &[ip.to_string()],
                &[ip],
                Some(&mut crate::seeded::leaf_key(seeds::derive(seed, Stream::Operators, 200 + index as u64))),
            )
            .expect("seeded bastion certificate");
        let dialer = shared.dialer(name);
        let (ca_pem, broker_targets) = (ca_pem.clone(), broker_targets.clone());
        let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let init = move || {
            let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let stream = 3_000 + ((life << 8) | index as u64);
            let crypto = seeded_crypto_provider(seeds::derive(seed, Stream::Operators, stream));
            let tls = broker::security::tls::client_config(&ca_pem, &crypto).expect("bastion TLS");
            let (dialer, broker_targets, material) = (dialer.clone(), broker_targets.clone(), material.clone());
            // Inside the node: its shipper's task dials from it.
            async move {
                let events = SecurityEvents::start(
                    &super::security_addresses::link(name),
                    &life.to_string(),
                    tls.clone(),
                    dialer.clone(),
                );
                let directory = HttpsClient::new(directory_endpoint(), tls.clone(), dialer.clone(), name, &token(name));
                let config = BastionConfig {
                    name: name.into(),
                    directory,
                    brokers: broker_targets,
                    credentials: ClientCredentials {
                        tls,
                        api_key: BASTION_API_KEY.into(),
                        secret: BASTION_SECRET.into(),
                    },
                    dialer,
                    events,
                    bugs,
                };
                let session_ids = crate::seeded::generator(seeds::derive(seed, Stream::Operators, 4_000 + stream));
                let bastion = Bastion::new(config, session_ids);
                let address = SocketAddr::new(ip, OPERATOR_PORT);
                let acceptor = broker::security::tls::acceptor(&material, &crypto).expect("bastion TLS");
                broker::net::http::bind_https(address, acceptor, bastion.clone(), "bastion")
                    .await
                    .expect("a simulated bastion binds");
                bastion.revalidate_forever().await;
            }
        };
        let node = handle.create_node().name(name).ip(ip).init(init).build();
        bastions.push(Machine { name: name.into(), ip, zone: Some(super::CHOSEN_SITE.zones[zone]), id: node.id() });
    }
    let started = vec![(directory.clone(), disk)];
    (OperatorSite { directory, bastions }, started)
}
