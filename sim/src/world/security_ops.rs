//! Security operations (C23): the detection pipeline's machine, the incident desk (a part of
//! the control plane, built here for its process), and the outside parties: the paging
//! provider, the customer's security contact's inbox, and the attacker's host.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use broker::detection::pipeline::{self, PipelineConfig};
use broker::incidents::calendar::Calendar;
use broker::incidents::desk::{Caller, Desk, DeskConfig, NoticeChannel};
use broker::log_store::shipper::SecurityEvents;
use broker::net::https_client::{HttpsClient, HttpsEndpoint};
use broker::net::Dialer;
use broker::planted_bugs::PlantedBugs;
use broker::security::tls::TlsMaterial;
use madsim::runtime::Handle;

pub use super::security_addresses::{
    desk_token, inbox_endpoint, pager_endpoint, ATTACKER, CONTACT, DESK_SOURCE, DETECTION, DETECTION_PRINCIPAL,
    HTTPS_PORT, INBOX, PAGER,
};
use super::security_addresses::{link, replica_endpoint, token, REPLICAS};
use super::sites::Shared;
use super::Machine;
use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

/// What the desk is told by the scenario.
#[derive(Debug, Clone)]
pub struct DeskPlan {
    pub rota: Vec<String>,
    pub calendar: Calendar,
}

pub struct SecurityOpsSite {
    pub detection: Machine,
    pub pager: Machine,
    pub inbox: Machine,
    pub attacker: Machine,
    /// The pager's and the inbox's certificates (the harness serves them).
    pub pager_tls: TlsMaterial,
    pub inbox_tls: TlsMaterial,
}

fn control_plane_endpoint() -> HttpsEndpoint {
    let address = super::control_plane::address();
    HttpsEndpoint { address, server_name: address.ip().to_string() }
}

/// The desk of one life of the control plane (inside its node: its shipper dials from there).
pub fn desk(
    plan: &DeskPlan,
    tls: Arc<rustls::ClientConfig>,
    dialer: Dialer,
    disk: Arc<dyn broker::log::Disk>,
    life: u64,
    bugs: PlantedBugs,
) -> Arc<Desk> {
    let principals: BTreeMap<String, (String, Caller)> = [(DETECTION_PRINCIPAL.to_string(), Caller::Detection)]
        .into_iter()
        .chain(plan.rota.iter().map(|person| (person.clone(), Caller::Responder)))
        .chain([(CONTACT.to_string(), Caller::Contact)])
        .map(|(name, caller)| {
            let hash = broker::net::api::token_hash(&desk_token(&name));
            (name, (hash, caller))
        })
        .collect();
    let config = DeskConfig {
        principals,
        rota: plan.rota.clone(),
        calendar: plan.calendar.clone(),
        pager: Some(HttpsClient::with_authorization(pager_endpoint(), tls.clone(), dialer.clone(), None)),
        contact: NoticeChannel::Https {
            to: CONTACT.into(),
            inbox: HttpsClient::with_authorization(inbox_endpoint(), tls.clone(), dialer.clone(), None),
        },
        events: SecurityEvents::start(&link(DESK_SOURCE), &life.to_string(), tls, dialer),
        bugs,
    };
    let desk = Desk::open(config, disk).expect("the desk's records read back");
    tokio::spawn(desk.clone().run_forever());
    desk
}

/// Starts the detection pipeline's machine and makes the outside parties' hosts.
pub(super) fn start(shared: &Shared) -> SecurityOpsSite {
    let handle = Handle::current();
    let (seed, bugs) = (shared.seed, shared.bugs);
    let ca_pem = shared.ca.ca_cert_pem();
    let (name, address) = DETECTION;
    let ip = IpAddr::V4(address);
    let dialer = shared.dialer(name);
    let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let init = move || {
        let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let crypto = seeded_crypto_provider(seeds::derive(seed, Stream::SecurityOps, life));
        let tls = broker::security::tls::client_config(&ca_pem, &crypto).expect("detection TLS");
        let client = |endpoint: HttpsEndpoint, token: &str| {
            HttpsClient::new(endpoint, tls.clone(), dialer.clone(), DETECTION_PRINCIPAL, token)
        };
        let replicas = REPLICAS
            .iter()
            .enumerate()
            .map(|(index, (replica, _, _))| {
                (replica.to_string(), client(replica_endpoint(index), &token(DETECTION_PRINCIPAL)))
            })
            .collect();
        let desk = client(control_plane_endpoint(), &desk_token(DETECTION_PRINCIPAL));
        pipeline::run_forever(PipelineConfig { replicas, desk, bugs })
    };
    let node = handle.create_node().name(name).ip(ip).init(init).build();
    let detection = Machine { name: name.into(), ip, zone: None, id: node.id() };
    let plain = |(name, address): (&str, std::net::Ipv4Addr)| {
        let ip = IpAddr::V4(address);
        let node = handle.create_node().name(name).ip(ip).build();
        Machine { name: name.into(), ip, zone: None, id: node.id() }
    };
    let issue = |address: std::net::Ipv4Addr, n: u64| {
        let ip = IpAddr::V4(address);
        shared
            .ca
            .issue(
                &[ip.to_string()],
                &[ip],
                Some(&mut crate::seeded::leaf_key(seeds::derive(seed, Stream::SecurityOps, 1_000 + n))),
            )
            .expect("seeded certificate")
    };
    SecurityOpsSite {
        detection,
        pager: plain(PAGER),
        inbox: plain(INBOX),
        attacker: plain(ATTACKER),
        pager_tls: issue(PAGER.1, 0),
        inbox_tls: issue(INBOX.1, 1),
    }
}

/// Where the harness's servers listen.
pub fn listen_address(machine: &Machine) -> SocketAddr {
    SocketAddr::new(machine.ip, HTTPS_PORT)
}
