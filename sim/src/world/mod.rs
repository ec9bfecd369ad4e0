//! The simulated world: the customer's region (three zones with one broker node each, the
//! service's DNS servers in zones a and b; with a `[region]` section also a second region with
//! its own, `sites`), the control plane, and a customer VPC whose client machines reach
//! the cluster over its public endpoints or, with a `[network]` section, over a peering with
//! the cluster network (`fabric`: route tables decide which connects are possible). Links are
//! named by the machines they join, and the world layer makes partitions behave like real ones:
//! a connect across a cut or without a route hangs until the caller's timeout (madsim alone
//! would refuse it at once), and data on an established connection is held (madsim's clog)
//! until the link heals or the route returns.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use broker::client::ClientCredentials;
use broker::control_plane::server::{ControlPlaneServer, ControlPlaneServerConfig, RECORDS_FILE};
use broker::log::MemoryDisk;
use broker::net::https_client::{HttpsClient, HttpsEndpoint};
use broker::net::{BoxedTransport, Dialer};
use broker::node::{Node, BROKER_PORT};
use broker::planted_bugs::PlantedBugs;
use broker::security::sasl::{CredentialStore, Role};
use broker::security::tls::{client_config, CertificateAuthority};

use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};
use madsim::runtime::Handle;
use madsim::task::NodeId;

use crate::checkers::connections::ConnectionLog;
use crate::checkers::wire::{WireHasher, WiretapStream};

const INTER_BROKER_API_KEY: &str = "inter-broker";
pub const INTER_BROKER_SECRET: &str = "inter-broker-secret";
/// The service operator's key (from the credentials file): the physical cluster's raw view,
/// in which the harness creates topics and judges convergence.
const OPERATOR_API_KEY: &str = "operator";
const OPERATOR_SECRET: &str = "operator-secret";

/// Service settings drawn from the seed (FoundationDB's BUGGIFY on configuration): values
/// the service must be correct under, not just the defaults. Printed with the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    /// 1 (a decision's records commit one Raft entry at a time) or the real-mode 256.
    pub raft_entries_per_append_max: usize,
}

impl Knobs {
    pub fn from_seed(seed: u64) -> Knobs {
        use rand_chacha::rand_core::RngCore;
        let mut random = seeds::rng(seed, Stream::Knobs, 0);
        Knobs { raft_entries_per_append_max: if random.next_u32().is_multiple_of(2) { 1 } else { 256 } }
    }
}

impl std::fmt::Display for Knobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raft_entries_per_append_max={}", self.raft_entries_per_append_max)
    }
}

/// A simulated machine.
#[derive(Debug, Clone)]
pub struct Machine {
    pub name: String,
    pub ip: IpAddr,
    pub zone: Option<&'static str>,
    pub id: NodeId,
}

/// Which directed links are cut (by machine name), counting overlapping faults: a link heals
/// when the last fault that cut it ends.
pub mod disk_tap;
mod fabric;
mod kms;
mod links;
pub mod log_store;
mod network;
pub mod operators;
pub mod sealed;
pub mod security_addresses;
pub mod security_ops;
mod sites;

pub mod control_plane;

use control_plane::{Organization, BCRYPT_COST, CONTROL_PLANE_IP, CONTROL_PLANE_NAME};
pub use disk_tap::KeyFileWrite;
pub use links::Impairment;
use links::LinkTable;

use crate::checkers::dns::ResolutionLog;
use crate::scenario::NetworkSpec;
use crate::workload::client::ClusterEndpoints;
use broker::control_plane::network::ConnectionType;
pub use fabric::{Fabric, Home, Hop, Path, Route};
use network::{
    build_fabric, private_link_endpoint, Placement, OUTSIDER, PRIVATE_LINK_NLB, PRIVATE_LINK_NLB_IP,
    PRIVATE_LINK_PORT_BASE,
};
pub use network::{PRIVATE_LINK_NETWORK, PRIVATE_LINK_PROBE};
pub use sites::{Region, Site, CHOSEN_REGION, CHOSEN_SITE, OTHER_REGION, OTHER_SITE};

/// The customer's broker cluster's DNS zone (C06): `bootstrap.<zone>`, `b<id>.<zone>`.
pub const DNS_ZONE: &str = CHOSEN_SITE.dns_zone;
/// The brokers' public endpoints: 203.0.113.<id> (TEST-NET-3).
fn public_address(broker_id: i32) -> Ipv4Addr {
    CHOSEN_SITE.public_address(broker_id)
}

/// The parts of the service a scenario may leave out.
#[derive(Debug, Clone, Default)]
pub struct Optional {
    /// Another region (C07).
    pub other_region: bool,
    /// The customer brings its own key (C09).
    pub byok: bool,
    /// The security log store and its host (C12).
    pub log_store: bool,
    /// The staff directory and the bastions (C10).
    pub operators: bool,
    /// Detection, the incident desk at the control plane, and the outside parties (C23).
    pub breach: Option<security_ops::DeskPlan>,
}

pub struct World {
    pub brokers: Vec<Machine>,
    pub clients: Vec<Machine>,
    /// The service's DNS servers (C06).
    pub dns: Vec<Machine>,
    /// The customer region's key service (C08, C09).
    pub key_service: sites::KeyServiceSite,
    /// Every write to a service machine's disk, searched as it happens (C08).
    pub disk_tap: disk_tap::DiskTap,
    /// Another region's broker cluster and DNS, with a `[region]` section (C07).
    pub other_region: Option<Region>,
    /// The security log store and the security-operations host, with a `[log_store]` section (C12).
    pub log_store: Option<log_store::LogStoreSite>,
    /// The staff directory and the bastions, with an `[operators]` section (C10).
    pub operators: Option<operators::OperatorSite>,
    /// Detection and the outside parties of security operations, with a `[breach]` section (C23).
    pub security_ops: Option<security_ops::SecurityOpsSite>,
    /// The PrivateLink load balancer, when the network offers PrivateLink.
    pub nlb: Option<Machine>,
    /// A machine in the PrivateLink VPC without the customer's DNS override.
    pub privatelink_probe: Option<Machine>,
    /// A host on the internet, when the cluster has no public endpoints.
    pub outsider: Option<Machine>,
    /// Routes and addresses (C05): who can connect to what, by which path.
    pub fabric: Arc<Mutex<Fabric>>,
    /// Every name resolution a client made (C06).
    pub resolutions: ResolutionLog,
    /// The `[network]` the cluster lives in, if private.
    pub network: Option<NetworkSpec>,
    /// (dialing machine, address) of every connection the fabric carried: what a route change
    /// may stall.
    flows: Arc<Mutex<BTreeSet<(String, IpAddr)>>>,
    /// Machine pairs cut because their route is gone.
    stalled: Mutex<BTreeSet<(String, String)>>,
    /// The planted bugs (the service's route programming honours them).
    bugs: PlantedBugs,
    /// Overlapping peering-deleted and dns-change faults.
    peering_deletions: Mutex<u32>,
    public_endpoint_moves: Mutex<u32>,
    /// The records the routes were last programmed from (their data-plane version).
    programmed_version: std::sync::atomic::AtomicU64,
    pub control_plane: Machine,
    /// The organization the harness bootstrapped, with the secrets it was shown once.
    pub organization: Organization,
    /// The control plane's current process, once it listens.
    pub control_plane_server: Arc<Mutex<Option<Arc<ControlPlaneServer>>>>,
    /// Who dialed whom (C14).
    pub connections: ConnectionLog,
    /// The control plane's backup storage, in another zone than the control plane (C21).
    pub control_plane_backup: MemoryDisk,
    pub disks: BTreeMap<String, MemoryDisk>,
    pub nodes: Arc<Mutex<BTreeMap<String, Arc<Node>>>>,
    links: Arc<Mutex<LinkTable>>,
    pub wire: WireHasher,
    /// Overlapping faults on one machine: it restarts (or resumes) when the last one ends.
    down: Mutex<BTreeMap<String, u32>>,
    paused: Mutex<BTreeMap<String, u32>>,
    pub ca_pem: String,
    pub seed: u64,
    impairs_links: bool,
    /// Numbers impairments so overlapping ones are counted apart.
    next_impairment: std::sync::atomic::AtomicU64,
    by_ip: BTreeMap<IpAddr, String>,
}

impl World {
    /// Builds the region: three broker nodes (started) and `client_count` client machines.
    /// `impairs_links`: the schedule has latency or loss faults, so every connection runs
    /// through a relay that can delay it (about a quarter of a seed's wall time otherwise saved).
    pub fn build(
        seed: u64,
        client_count: usize,
        network: Option<&NetworkSpec>,
        bugs: PlantedBugs,
        impairs_links: bool,
        optional: Optional,
    ) -> World {
        let Optional { other_region, byok, log_store, operators, breach } = optional;
        let handle = Handle::current();
        let certificates = seeds::derive(seed, Stream::Certificates, 0);
        let ca = CertificateAuthority::generate_ed25519(&mut crate::seeded::certificate_authority_key(certificates))
            .expect("seeded CA");
        let mut credentials = CredentialStore::default();
        let salt = |n: u64| -> [u8; 16] {
            let mut s = [0u8; 16];
            s[..8].copy_from_slice(&seeds::derive(seed, Stream::Certificates, 1_000 + n).to_le_bytes());
            s
        };
        credentials
            .add(INTER_BROKER_API_KEY, INTER_BROKER_SECRET, Role::Broker, BCRYPT_COST, Some(salt(2)))
            .expect("bcrypt");
        credentials.add(OPERATOR_API_KEY, OPERATOR_SECRET, Role::Client, BCRYPT_COST, Some(salt(3))).expect("bcrypt");
        if operators {
            // The bastions' key at the brokers (C10): a service key, admitted from bastions only.
            credentials
                .add(
                    broker::operators::BASTION_API_KEY,
                    security_addresses::BASTION_SECRET,
                    Role::Client,
                    BCRYPT_COST,
                    Some(salt(4)),
                )
                .expect("bcrypt");
        }
        let credentials_text = credentials.render();
        let broker_ips: Vec<IpAddr> = (0..3).map(|index| CHOSEN_SITE.broker_ip(index)).collect();
        let regions: &[&Site] = if other_region { &[&CHOSEN_SITE, &OTHER_SITE] } else { &[&CHOSEN_SITE] };
        let plane_config = control_plane::config(seed, regions, credentials.broker_keys(), bugs);
        let key_store = kms::open_store(seed, &CHOSEN_SITE, bugs);
        let customer = kms::Console(&key_store);
        let (records, organization) = control_plane::bootstrap(
            seed,
            plane_config.clone(),
            network,
            byok.then_some(&customer as &dyn control_plane::CustomerKeys),
            broker::net::http::wall_clock_ms(),
        );
        let control_plane_disk = MemoryDisk::new();
        broker::log::Disk::replace_durably(
            &control_plane_disk,
            RECORDS_FILE,
            &serde_json::to_vec(&records).expect("records serialize"),
        )
        .expect("a memory disk takes the records");
        let control_plane_backup = MemoryDisk::new();
        broker::control_plane::backup::write_continuous(
            &control_plane_backup,
            &serde_json::to_vec(&records).expect("records serialize"),
        )
        .expect("a memory disk takes the backup");
        let links = Arc::new(Mutex::new(LinkTable::default()));
        let fabric = Arc::new(Mutex::new(Fabric::default()));
        let flows = Arc::new(Mutex::new(BTreeSet::new()));
        let connections = ConnectionLog::default();
        // What only ever travels inside TLS: seeing one on a link is a C02 violation.
        let wire = WireHasher::new(vec![
            ("the workload's SASL secret", organization.workload_key.1.as_bytes().to_vec()),
            ("the harness's cloud API secret", organization.cloud_key.1.as_bytes().to_vec()),
            ("the inter-broker SASL secret", INTER_BROKER_SECRET.as_bytes().to_vec()),
            ("the operator's SASL secret", OPERATOR_SECRET.as_bytes().to_vec()),
            ("record data (the run's canary)", crate::workload::canary(seed).to_vec()),
        ]);
        let nodes = Arc::new(Mutex::new(BTreeMap::new()));
        let disk_tap = disk_tap::DiskTap::new(crate::workload::canary(seed));
        let mut by_ip = BTreeMap::new();
        let mut disks = BTreeMap::new();
        let shared = sites::Shared {
            seed,
            ca: &ca,
            transport: Transport { links: links.clone(), fabric: fabric.clone(), flows: flows.clone() },
            wire: wire.clone(),
            connections: connections.clone(),
            nodes: nodes.clone(),
            credentials_text: credentials_text.clone(),
            bugs,
            impairs_links,
            tap: disk_tap.clone(),
            log_store,
        };
        fn place(
            by_ip: &mut BTreeMap<IpAddr, String>,
            disks: &mut BTreeMap<String, MemoryDisk>,
            started: Vec<(Machine, MemoryDisk)>,
        ) -> Vec<Machine> {
            let mut machines = Vec::new();
            for (machine, disk) in started {
                by_ip.insert(machine.ip, machine.name.clone());
                disks.insert(machine.name.clone(), disk);
                machines.push(machine);
            }
            machines
        }
        let brokers = place(&mut by_ip, &mut disks, sites::start_brokers(&shared, &CHOSEN_SITE));
        let control_plane_server = Arc::new(Mutex::new(None));
        let control_plane = {
            let material = ca
                .issue(
                    &[CONTROL_PLANE_IP.to_string()],
                    &[CONTROL_PLANE_IP],
                    Some(&mut crate::seeded::leaf_key(seeds::derive(seed, Stream::Certificates, 200))),
                )
                .expect("seeded control-plane certificate");
            let dialer = sim_dialer(
                CONTROL_PLANE_NAME.into(),
                Transport { links: links.clone(), fabric: fabric.clone(), flows: flows.clone() },
                wire.clone(),
                connections.clone(),
                impairs_links,
            );
            let broker_addresses: Vec<SocketAddr> =
                broker_ips.iter().map(|ip| SocketAddr::new(*ip, BROKER_PORT)).collect();
            let (disk, slot, backup) =
                (control_plane_disk.clone(), control_plane_server.clone(), control_plane_backup.clone());
            let desk_plan = breach.clone();
            let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let init = move || {
                let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let config = ControlPlaneServerConfig {
                    listen_ip: CONTROL_PLANE_IP,
                    tls: material.clone(),
                    crypto: seeded_crypto_provider(seeds::derive(seed, Stream::ControlPlane, 100 + life)),
                    plane: plane_config.clone(),
                    random: crate::seeded::generator(seeds::derive(seed, Stream::ControlPlane, 200 + life)),
                    dialer: dialer.clone(),
                    broker_addresses: broker_addresses.clone(),
                    bugs,
                    backup_disk: Arc::new(backup.clone()),
                    log_store: log_store.then(|| broker::log_store::shipper::ShippingConfig {
                        link: security_addresses::link(CONTROL_PLANE_NAME),
                        dialer: dialer.clone(),
                        life: life.to_string(),
                    }),
                    desk: None,
                };
                let (disk, slot) = (disk.clone(), slot.clone());
                let (desk_plan, desk_dialer) = (desk_plan.clone(), dialer.clone());
                let desk_tls = desk_plan.as_ref().map(|_| {
                    let crypto = seeded_crypto_provider(seeds::derive(seed, Stream::SecurityOps, 100 + life));
                    broker::security::tls::client_config(&material.ca_cert_pem, &crypto).expect("desk TLS")
                });
                async move {
                    let mut config = config;
                    // Inside the node: the desk's tasks dial from it.
                    config.desk = desk_plan.as_ref().zip(desk_tls).map(|(plan, tls)| {
                        security_ops::desk(plan, tls, desk_dialer, Arc::new(disk.clone()), life, bugs)
                    });
                    let server =
                        ControlPlaneServer::start(config, Arc::new(disk)).await.expect("the control plane starts");
                    *slot.lock().unwrap() = Some(server);
                    std::future::pending::<()>().await;
                }
            };
            let node = handle.create_node().name(CONTROL_PLANE_NAME).ip(CONTROL_PLANE_IP).init(init).build();
            by_ip.insert(CONTROL_PLANE_IP, CONTROL_PLANE_NAME.to_string());
            disks.insert(CONTROL_PLANE_NAME.to_string(), control_plane_disk.clone());
            Machine { name: CONTROL_PLANE_NAME.into(), ip: CONTROL_PLANE_IP, zone: None, id: node.id() }
        };
        let dns = place(&mut by_ip, &mut disks, sites::start_dns(&shared, &CHOSEN_SITE));
        let key_service = kms::start(&shared, &CHOSEN_SITE, key_store);
        for machine in &key_service.machines {
            by_ip.insert(machine.ip, machine.name.clone());
        }
        // Another region of the service, for the region boundary (C07): built after the
        // customer's so that the machines of runs without it are numbered as before.
        let other_region = other_region.then(|| {
            let (name, address) = sites::OTHER_REGION_CLIENT;
            let ip = IpAddr::V4(address);
            let brokers = place(&mut by_ip, &mut disks, sites::start_brokers(&shared, &OTHER_SITE));
            let dns = place(&mut by_ip, &mut disks, sites::start_dns(&shared, &OTHER_SITE));
            let store = kms::open_store(seed, &OTHER_SITE, bugs);
            let kms = kms::start(&shared, &OTHER_SITE, store);
            for machine in &kms.machines {
                by_ip.insert(machine.ip, machine.name.clone());
            }
            by_ip.insert(ip, name.to_string());
            let node = handle.create_node().name(name).ip(ip).build();
            let client = Machine { name: name.into(), ip, zone: None, id: node.id() };
            sites::Region { site: &OTHER_SITE, brokers, dns, kms, client }
        });
        let private_link = network.is_some_and(|n| n.connection_types.contains(&ConnectionType::PrivateLink));
        // The PrivateLink endpoint service's load balancer: one listener per broker.
        let nlb = private_link.then(|| {
            let ip = IpAddr::V4(PRIVATE_LINK_NLB_IP);
            by_ip.insert(ip, PRIVATE_LINK_NLB.to_string());
            let transport = Transport { links: links.clone(), fabric: fabric.clone(), flows: flows.clone() };
            let dialer =
                sim_dialer(PRIVATE_LINK_NLB.into(), transport, wire.clone(), connections.clone(), impairs_links);
            let brokers: Vec<IpAddr> = brokers.iter().map(|b| b.ip).collect();
            let init = move || {
                let (dialer, brokers) = (dialer.clone(), brokers.clone());
                async move {
                    let counters = Arc::new(broker::network::privatelink::RelayCounters::default());
                    for (index, broker) in brokers.iter().enumerate() {
                        let listen = SocketAddr::new(ip, PRIVATE_LINK_PORT_BASE + index as u16 + 1);
                        let target = SocketAddr::new(*broker, BROKER_PORT);
                        broker::network::privatelink::start_relay(listen, target, dialer.clone(), counters.clone())
                            .await
                            .expect("a simulated load balancer binds");
                    }
                    std::future::pending::<()>().await;
                }
            };
            let node = handle.create_node().name(PRIVATE_LINK_NLB).ip(ip).init(init).build();
            Machine { name: PRIVATE_LINK_NLB.into(), ip, zone: None, id: node.id() }
        });
        let placement = Placement::of(network);
        let mut clients = Vec::new();
        for index in 0..client_count {
            let name = format!("client-{}", index + 1);
            let ip = placement.address(index);
            by_ip.insert(ip, name.clone());
            let node = handle.create_node().name(&name).ip(ip).build();
            clients.push(Machine { name, ip, zone: None, id: node.id() });
        }
        // A host on the internet probing a cluster without public endpoints (C05).
        let public = network.is_none_or(|n| n.connection_types.contains(&ConnectionType::Public));
        let outsider = (!public).then(|| {
            let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 250));
            by_ip.insert(ip, OUTSIDER.to_string());
            let node = handle.create_node().name(OUTSIDER).ip(ip).build();
            Machine { name: OUTSIDER.into(), ip, zone: None, id: node.id() }
        });
        // A PrivateLink client without the DNS override: it must never reach a broker (C06).
        let privatelink_probe = private_link.then(|| {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 11, 0, 250));
            by_ip.insert(ip, PRIVATE_LINK_PROBE.to_string());
            let node = handle.create_node().name(PRIVATE_LINK_PROBE).ip(ip).build();
            Machine { name: PRIVATE_LINK_PROBE.into(), ip, zone: None, id: node.id() }
        });
        // Built last, so that the machines of runs without it are numbered as before.
        let log_store = log_store.then(|| {
            // Every other component that ships: the control plane, the key service, the staff.
            let shippers: Vec<String> =
                [CONTROL_PLANE_NAME, security_addresses::DIRECTORY.0, security_addresses::DESK_SOURCE]
                    .into_iter()
                    .chain(security_addresses::BASTIONS.iter().map(|b| b.0))
                    .chain(CHOSEN_SITE.kms_servers.iter().map(|k| k.0))
                    .map(String::from)
                    .collect();
            let (site, replicas) = log_store::start(&shared, &shippers);
            place(&mut by_ip, &mut disks, replicas);
            by_ip.insert(site.ops.ip, site.ops.name.clone());
            site
        });
        let operators = operators.then(|| {
            let (site, directory) = operators::start(&shared, &brokers);
            place(&mut by_ip, &mut disks, directory);
            for bastion in &site.bastions {
                by_ip.insert(bastion.ip, bastion.name.clone());
            }
            site
        });
        let security_ops = breach.is_some().then(|| {
            let site = security_ops::start(&shared);
            for machine in [&site.detection, &site.pager, &site.inbox, &site.attacker] {
                by_ip.insert(machine.ip, machine.name.clone());
            }
            site
        });
        *fabric.lock().unwrap() = build_fabric(
            &brokers,
            &dns,
            nlb.as_ref(),
            &clients,
            privatelink_probe.as_ref().into_iter().chain(outsider.as_ref()),
            other_region.as_ref(),
            &placement,
            &records,
            bugs,
        );
        {
            // The key services' frontends: service machines, reached by brokers only.
            let mut fabric = fabric.lock().unwrap();
            let frontends = key_service.machines.iter().chain(other_region.iter().flat_map(|r| &r.kms.machines));
            let security = log_store
                .iter()
                .flat_map(|l| l.replicas.iter().chain([&l.ops]))
                .chain(operators.iter().flat_map(|o| o.bastions.iter().chain([&o.directory])));
            for machine in frontends.chain(security) {
                fabric.homes.insert(machine.name.clone(), Home::Service);
                fabric.machines.insert(machine.ip, machine.name.clone());
            }
            if let Some(site) = &security_ops {
                fabric.homes.insert(site.detection.name.clone(), Home::Service);
                fabric.machines.insert(site.detection.ip, site.detection.name.clone());
                // Services on the internet: anything with an internet route reaches them.
                for machine in [&site.pager, &site.inbox] {
                    fabric.homes.insert(machine.name.clone(), Home::Internet);
                    fabric.public.insert(machine.ip, machine.name.clone());
                    fabric.machines.insert(machine.ip, machine.name.clone());
                }
                fabric.homes.insert(site.attacker.name.clone(), Home::Internet);
                fabric.machines.insert(site.attacker.ip, site.attacker.name.clone());
            }
        }
        World {
            brokers,
            clients,
            dns,
            key_service,
            disk_tap,
            other_region,
            log_store,
            operators,
            security_ops,
            nlb,
            privatelink_probe,
            outsider,
            fabric,
            resolutions: ResolutionLog::default(),
            network: network.cloned(),
            flows,
            stalled: Mutex::default(),
            bugs,
            peering_deletions: Mutex::default(),
            public_endpoint_moves: Mutex::default(),
            programmed_version: std::sync::atomic::AtomicU64::new(records.data_plane_version),
            control_plane,
            organization,
            control_plane_server,
            connections,
            control_plane_backup,
            disks,
            nodes,
            links,
            wire,
            down: Mutex::default(),
            paused: Mutex::default(),
            ca_pem: ca.ca_cert_pem(),
            seed,
            impairs_links,
            next_impairment: std::sync::atomic::AtomicU64::new(0),
            by_ip,
        }
    }

    /// How a client on `machine` finds the customer's brokers: their names, resolved by the
    /// service's DNS with a resolver of its own (`index` seeds its query ids).
    pub fn endpoints(&self, machine: &Machine, index: u64) -> ClusterEndpoints {
        self.endpoints_in(machine, index, &CHOSEN_SITE)
    }

    /// The site whose broker cluster `bootstrap` (as the control plane hands it out, maybe with
    /// a `SASL_SSL://` scheme) names.
    pub fn site_of_bootstrap(&self, bootstrap: &str) -> Option<&'static Site> {
        let host = bootstrap.trim_start_matches("SASL_SSL://").split(':').next().unwrap_or("");
        let sites = std::iter::once(&CHOSEN_SITE).chain(self.other_region.as_ref().map(|r| r.site));
        sites.into_iter().find(|site| host == broker::network::dns::bootstrap_name(site.dns_zone))
    }

    /// The same for the broker cluster of `site`, through that site's DNS servers.
    pub fn endpoints_in(&self, machine: &Machine, index: u64, site: &'static Site) -> ClusterEndpoints {
        let dns = match &self.other_region {
            Some(other) if std::ptr::eq(other.site, site) => &other.dns,
            _ => &self.dns,
        };
        let servers = dns.iter().map(|d| SocketAddr::new(d.ip, broker::network::dns::DNS_PORT)).collect();
        let first_id = seeds::derive(self.seed, Stream::ClientTls, 80_000 + index) as u16;
        // The customer's private zone in its PrivateLink VPC: the cluster's names point at the
        // interface endpoint (without it the service's public answers lead nowhere from there).
        let in_private_link =
            self.fabric.lock().unwrap().homes.get(&machine.name) == Some(&Home::Network(PRIVATE_LINK_NETWORK.into()));
        let overrides = if in_private_link && machine.name != PRIVATE_LINK_PROBE {
            let brokers = 1..=self.brokers.len() as i32;
            let mut names: BTreeMap<String, Vec<Ipv4Addr>> = brokers
                .clone()
                .map(|id| (broker::network::dns::broker_name(DNS_ZONE, id), vec![private_link_endpoint(id)]))
                .collect();
            names.insert(broker::network::dns::bootstrap_name(DNS_ZONE), brokers.map(private_link_endpoint).collect());
            names
        } else {
            BTreeMap::new()
        };
        ClusterEndpoints {
            zone: site.dns_zone.into(),
            brokers: self.brokers.len() as i32,
            resolver: Arc::new(broker::network::resolver::Resolver::new(servers, overrides, first_id)),
            machine: machine.name.clone(),
            source: machine.ip,
            resolutions: self.resolutions.clone(),
        }
    }

    /// Credentials and a dialer for the client machine `client`.
    pub fn client_identity(&self, client: &Machine, index: u64) -> (Dialer, ClientCredentials) {
        let credentials = ClientCredentials {
            tls: client_config(
                &self.ca_pem,
                &seeded_crypto_provider(seeds::derive(self.seed, Stream::ClientTls, index)),
            )
            .expect("client TLS config"),
            api_key: self.organization.workload_key.0.clone(),
            secret: self.organization.workload_key.1.clone(),
        };
        (self.dialer(client), credentials)
    }

    /// The dialer of `machine`: through the fabric, the cuts and the wire tap.
    pub fn dialer_of(&self, machine: &Machine) -> Dialer {
        self.dialer(machine)
    }

    /// TLS for the security-operations host's calls to the log store (`index`: which caller).
    pub fn log_store_tls(&self, index: u64) -> Arc<rustls::ClientConfig> {
        client_config(&self.ca_pem, &seeded_crypto_provider(seeds::derive(self.seed, Stream::LogStore, 50_000 + index)))
            .expect("log-store client TLS")
    }

    /// The log-store replicas' images as the run ends, each with its verification (C12).
    pub fn log_store_images(&self) -> Vec<crate::checkers::log_store::ReplicaImage> {
        let trusted = log_store::trusted(self.seed);
        log_store::REPLICAS
            .iter()
            .map(|(name, _, _)| {
                let disk = &self.disks[*name];
                let verified = broker::log_store::chain::verify(disk, &trusted).map(|_| ());
                let entries = broker::log_store::chain::entries(disk).unwrap_or_default();
                crate::checkers::log_store::ReplicaImage { name: name.to_string(), entries, verified }
            })
            .collect()
    }

    fn dialer(&self, machine: &Machine) -> Dialer {
        sim_dialer(
            machine.name.clone(),
            Transport { links: self.links.clone(), fabric: self.fabric.clone(), flows: self.flows.clone() },
            self.wire.clone(),
            self.connections.clone(),
            self.impairs_links,
        )
    }

    /// The service operator on a client machine (raw topic names; see `OPERATOR_API_KEY`).
    pub fn operator_identity(&self, client: &Machine, index: u64) -> (Dialer, ClientCredentials) {
        self.client_with_key(client, index, &(OPERATOR_API_KEY.to_string(), OPERATOR_SECRET.to_string()))
    }

    /// The same client with another key (an adversary's, or a key the harness created).
    pub fn client_with_key(&self, client: &Machine, index: u64, key: &(String, String)) -> (Dialer, ClientCredentials) {
        let (dialer, mut credentials) = self.client_identity(client, index);
        credentials.api_key = key.0.clone();
        credentials.secret = key.1.clone();
        (dialer, credentials)
    }

    /// The harness's REST client on `client`, as the organization admin (its cloud key).
    pub fn cloud_client(&self, client: &Machine, index: u64) -> HttpsClient {
        let (endpoint, tls) = self.control_plane_endpoint(50_000 + index);
        let (id, secret) = &self.organization.cloud_key;
        HttpsClient::new(endpoint, tls, self.dialer(client), id, secret)
    }

    /// The control plane's API and a client TLS configuration drawn from stream index `tls`.
    fn control_plane_endpoint(&self, tls: u64) -> (HttpsEndpoint, Arc<rustls::ClientConfig>) {
        let config =
            client_config(&self.ca_pem, &seeded_crypto_provider(seeds::derive(self.seed, Stream::ClientTls, tls)))
                .expect("client TLS config");
        (HttpsEndpoint { address: control_plane::address(), server_name: CONTROL_PLANE_IP.to_string() }, config)
    }

    /// A REST client that sends `authorization` (a session's `Bearer` header) or nothing.
    pub fn session_client(&self, client: &Machine, index: u64, authorization: Option<String>) -> HttpsClient {
        let (endpoint, tls) = self.control_plane_endpoint(60_000 + index);
        HttpsClient::with_authorization(endpoint, tls, self.dialer(client), authorization)
    }

    /// The control plane's records as its disk holds them (what survives it).
    /// The incidents the desk at the control plane recorded (C23).
    pub fn incidents(&self) -> Vec<broker::incidents::Incident> {
        broker::incidents::desk::stored_incidents(&self.disks[CONTROL_PLANE_NAME]).expect("the desk's records parse")
    }

    pub fn control_plane_records(&self) -> broker::control_plane::state::Records {
        let bytes = broker::log::Disk::read(&self.disks[CONTROL_PLANE_NAME], RECORDS_FILE)
            .expect("a memory disk reads")
            .expect("the control plane's records were written at bootstrap");
        serde_json::from_slice(&bytes).expect("records the control plane wrote parse")
    }

    /// Does `action` to the cluster's master key, as its owner: the customer for its own key, the
    /// service (the brokers' principal) for the key it keeps. Returns the key's current version.
    pub fn act_on_master_key(&self, action: crate::scenario::KeyAction) -> Result<u32, String> {
        use crate::scenario::KeyAction;
        let organization = &self.organization;
        let (principal, token) = if organization.byok {
            (kms::CUSTOMER_PRINCIPAL.to_string(), kms::CUSTOMER_TOKEN)
        } else {
            (sites::broker_principal(&CHOSEN_SITE.cluster_id(self.seed)), sites::BROKER_TOKEN)
        };
        let key = organization.master_key.clone();
        let grantee = sites::broker_principal(&CHOSEN_SITE.cluster_id(self.seed));
        let (call_name, body) = match action {
            KeyAction::Rotate => ("RotateKey", serde_json::json!({ "key_id": key })),
            KeyAction::Disable => ("DisableKey", serde_json::json!({ "key_id": key })),
            KeyAction::Enable => ("EnableKey", serde_json::json!({ "key_id": key })),
            KeyAction::RevokeGrant => ("RevokeGrant", serde_json::json!({ "key_id": key, "grantee": grantee })),
            KeyAction::Grant => ("CreateGrant", serde_json::json!({ "key_id": key, "grantee": grantee })),
            KeyAction::ScheduleDeletion => {
                ("ScheduleKeyDeletion", serde_json::json!({ "key_id": key, "wait_days": 7 }))
            }
            KeyAction::CancelDeletion => ("CancelKeyDeletion", serde_json::json!({ "key_id": key })),
        };
        let answer = kms::call(&self.key_service.service, &principal, token, call_name, body)?;
        Ok(answer["current_version"].as_u64().unwrap_or_default() as u32)
    }

    /// Every region's key service.
    /// Every master key any region's key service holds -> that service's region (C07).
    pub fn key_regions(&self) -> BTreeMap<String, String> {
        let own = (CHOSEN_REGION, self.key_service.service.as_ref());
        let others = self.other_region.iter().map(|r| (r.site.region, r.kms.service.as_ref()));
        std::iter::once(own)
            .chain(others)
            .flat_map(|(region, service)| {
                service
                    .with_store(|store| store.all_material())
                    .into_iter()
                    .map(move |(key, _, _)| (key, region.to_string()))
            })
            .collect()
    }

    pub fn key_services(&self) -> Vec<&broker::kms::server::KeyService> {
        std::iter::once(&self.key_service)
            .chain(self.other_region.iter().map(|r| &r.kms))
            .map(|k| k.service.as_ref())
            .collect()
    }

    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.all_machines().find(|m| m.name == name)
    }

    pub fn all_machines(&self) -> impl Iterator<Item = &Machine> {
        self.brokers
            .iter()
            .chain(&self.dns)
            .chain(&self.nlb)
            .chain(&self.clients)
            .chain(&self.privatelink_probe)
            .chain(&self.outsider)
            .chain(std::iter::once(&self.control_plane))
            .chain(&self.key_service.machines)
            .chain(self.log_store.iter().flat_map(|l| l.replicas.iter().chain([&l.ops])))
            .chain(self.operators.iter().flat_map(|o| o.bastions.iter().chain([&o.directory])))
            .chain(self.security_ops.iter().flat_map(|s| [&s.detection, &s.pager, &s.inbox, &s.attacker]))
            .chain(
                self.other_region
                    .iter()
                    .flat_map(|r| r.brokers.iter().chain(&r.dns).chain(&r.kms.machines).chain([&r.client])),
            )
    }

    /// The region a machine is in (C07): the customer's for its brokers, DNS, load balancer and
    /// VPCs; region-2's for its service machines and its customer's host; none for the control
    /// plane (global) and the outsider on the internet.
    pub fn region_of(&self, name: &str) -> Option<&'static str> {
        if let Some(other) = self.other_region.as_ref() {
            if other
                .brokers
                .iter()
                .chain(&other.dns)
                .chain(&other.kms.machines)
                .chain([&other.client])
                .any(|m| m.name == name)
            {
                return Some(other.site.region);
            }
        }
        let global = name == self.control_plane.name || self.outsider.as_ref().is_some_and(|o| o.name == name);
        (!global && self.machine(name).is_some()).then_some(CHOSEN_REGION)
    }

    /// Cuts traffic from every machine in `sources` to every machine in `targets`.
    pub fn cut(&self, sources: &[String], targets: &[String]) {
        let net = madsim::net::NetSim::current();
        let mut links = self.links.lock().unwrap();
        for source in sources {
            for target in targets.iter().filter(|t| *t != source) {
                let count = links.cut.entry((source.clone(), target.clone())).or_insert(0);
                *count += 1;
                if *count == 1 {
                    net.clog_link(self.machine(source).unwrap().id, self.machine(target).unwrap().id);
                }
            }
        }
    }

    /// Impairs every link between `sources` and `targets`, both ways; returns the impairment's
    /// number for `restore`. Needs a world built with `impairs_links`.
    pub fn impair(&self, sources: &[String], targets: &[String], impairment: Impairment) -> u64 {
        assert!(self.impairs_links, "a world that impairs links is built for schedules with latency or loss faults");
        let id = self.next_impairment.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut links = self.links.lock().unwrap();
        for source in sources {
            for target in targets.iter().filter(|t| *t != source) {
                links.impair(id, source, target, impairment);
                links.impair(id, target, source, impairment);
            }
        }
        id
    }

    pub fn restore(&self, id: u64, sources: &[String], targets: &[String]) {
        let mut links = self.links.lock().unwrap();
        for source in sources {
            for target in targets.iter().filter(|t| *t != source) {
                links.restore(id, source, target);
                links.restore(id, target, source);
            }
        }
    }

    pub fn heal(&self, sources: &[String], targets: &[String]) {
        let net = madsim::net::NetSim::current();
        let mut links = self.links.lock().unwrap();
        for source in sources {
            for target in targets.iter().filter(|t| *t != source) {
                let key = (source.clone(), target.clone());
                let Some(count) = links.cut.get_mut(&key) else { continue };
                *count -= 1;
                if *count == 0 {
                    links.cut.remove(&key);
                    net.unclog_link(self.machine(source).unwrap().id, self.machine(target).unwrap().id);
                }
            }
        }
    }

    /// Kills a machine's process (once per overlapping fault; the first one kills).
    pub fn take_down(&self, name: &str) {
        let mut down = self.down.lock().unwrap();
        let count = down.entry(name.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 {
            madsim::runtime::Handle::current().kill(self.machine(name).unwrap().id);
            self.forget_node(name);
        }
    }

    /// Restarts it when the last fault that took it down ends.
    pub fn bring_up(&self, name: &str) {
        let mut down = self.down.lock().unwrap();
        let Some(count) = down.get_mut(name) else { return };
        *count -= 1;
        if *count == 0 {
            down.remove(name);
            // A restart clears a pause: the new process was never paused.
            self.paused.lock().unwrap().remove(name);
            madsim::runtime::Handle::current().restart(self.machine(name).unwrap().id);
        }
    }

    pub fn pause(&self, name: &str) {
        let mut paused = self.paused.lock().unwrap();
        let count = paused.entry(name.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 && !self.down.lock().unwrap().contains_key(name) {
            madsim::runtime::Handle::current().pause(self.machine(name).unwrap().id);
        }
    }

    pub fn resume(&self, name: &str) {
        let mut paused = self.paused.lock().unwrap();
        let Some(count) = paused.get_mut(name) else { return };
        *count -= 1;
        if *count == 0 {
            paused.remove(name);
            if !self.down.lock().unwrap().contains_key(name) {
                madsim::runtime::Handle::current().resume(self.machine(name).unwrap().id);
            }
        }
    }

    /// The live node objects (for reading controller and partition state from the outside).
    pub fn live_node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.lock().unwrap().get(name).cloned()
    }

    pub fn forget_node(&self, name: &str) {
        self.nodes.lock().unwrap().remove(name);
    }

    pub fn name_of(&self, ip: IpAddr) -> Option<&String> {
        self.by_ip.get(&ip)
    }
}

/// Every file on a disk with its bytes, as the disk holds them now (unsynced bytes included).
pub fn files_of(disk: &MemoryDisk) -> Vec<(String, Vec<u8>)> {
    broker::log::Disk::list(disk, "")
        .expect("a memory disk lists")
        .into_iter()
        .map(|file| {
            let bytes = broker::log::Disk::read(disk, &file).ok().flatten().unwrap_or_default();
            (file, bytes)
        })
        .collect()
}

/// What a dialer consults: cut links, the routes, and where carried flows are recorded.
#[derive(Clone)]
struct Transport {
    links: Arc<Mutex<LinkTable>>,
    fabric: Arc<Mutex<Fabric>>,
    flows: Arc<Mutex<BTreeSet<(String, IpAddr)>>>,
}

/// A dialer for machine `source`: the fabric decides where an address leads and by which path
/// (no route: the connect hangs, the caller times out); a cut link hangs too; every byte of
/// every connection feeds the wire hash.
fn sim_dialer(
    source: String,
    transport: Transport,
    wire: WireHasher,
    connections: ConnectionLog,
    impairs_links: bool,
) -> Dialer {
    Arc::new(move |target: SocketAddr| {
        let routed = transport.fabric.lock().unwrap().route(&source, target.ip());
        let (machine, path, port) = match routed {
            Ok(routed) => (routed.machine, routed.path.to_string(), routed.port.unwrap_or(target.port())),
            Err(fabric::Unreachable(why)) => {
                tracing::debug!(%source, %target, %why, "no route: the connect hangs");
                // Named by the machine whose own address it is, else by the address (an endpoint's
                // address stays an address in its VPC: the PrivateLink check judges it so).
                let named = transport.fabric.lock().unwrap().machines.get(&target.ip()).cloned();
                (named.unwrap_or_else(|| target.ip().to_string()), "unroutable".to_string(), target.port())
            }
        };
        connections.record(&source, &machine, target.port(), &path);
        let routable = path != "unroutable";
        let cut = {
            let links = transport.links.lock().unwrap();
            // TCP needs both directions for a handshake.
            links.is_cut(&source, &machine) || links.is_cut(&machine, &source)
        };
        let real_target = transport
            .fabric
            .lock()
            .unwrap()
            .machines
            .iter()
            .find(|(_, name)| **name == machine)
            .map(|(ip, _)| SocketAddr::new(*ip, port));
        if routable {
            transport.flows.lock().unwrap().insert((source.clone(), target.ip()));
        }
        let wire = wire.clone();
        let label = format!("{source}->{machine}");
        let (links, source) = (transport.links.clone(), source.clone());
        Box::pin(async move {
            let Some(real_target) = real_target.filter(|_| routable && !cut) else {
                std::future::pending::<()>().await;
                unreachable!("a connect without a route never completes")
            };
            let stream = tokio::net::TcpStream::connect(real_target).await?;
            let tapped = WiretapStream::new(stream, wire, label);
            if !impairs_links {
                return Ok(Box::new(tapped) as BoxedTransport);
            }
            // The application's end of a relay that applies the link's latency and loss.
            let (app, relay_end) = tokio::io::duplex(256 * 1024);
            links::relay(relay_end, tapped, links, (source, machine));
            Ok(Box::new(app) as BoxedTransport)
        })
    })
}
