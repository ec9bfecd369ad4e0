//! The service's sites (C07): a region's broker cluster (three brokers, one per zone, with
//! their own Raft quorum) and its DNS servers. The customer's region always runs; scenarios
//! with a `[region]` section also run a second region, which must never receive anything of
//! the customer's clusters.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use broker::client::ClientCredentials;
use broker::control_plane::link::ControlPlaneLinkConfig;
use broker::kms::client::KmsLinkConfig;
use broker::kms::server::KMS_PORT;
use broker::log::{MemoryDisk, MetaProperties};
use broker::net::https_client::HttpsEndpoint;
use broker::network::dns::DnsZone;
use broker::node::{Node, NodeConfig, BROKER_PORT};
use broker::planted_bugs::PlantedBugs;
use broker::quorum::Voter;
use broker::replication::ReplicationConfig;
use broker::security::sasl::CredentialStore;
use broker::security::tls::{client_config, CertificateAuthority};
use madsim::runtime::Handle;

use super::control_plane::{self, CONTROL_PLANE_IP};
use super::{sim_dialer, Knobs, Machine, Transport, INTER_BROKER_API_KEY, INTER_BROKER_SECRET};
use crate::checkers::connections::ConnectionLog;
use crate::checkers::wire::WireHasher;
use crate::scenario::{SERVICE_RANGES, ZONES};
use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

/// The region every cluster of the harness's organization is created in.
pub const CHOSEN_REGION: &str = "region-1";
/// Another region of the service, run only by scenarios with a `[region]` section.
pub const OTHER_REGION: &str = "region-2";

/// Where a region's service machines are and how they are named.
pub struct Site {
    pub region: &'static str,
    pub physical_cluster_id: &'static str,
    /// The broker cluster's DNS zone: `bootstrap.<zone>`, `b<id>.<zone>`.
    pub dns_zone: &'static str,
    pub zones: [&'static str; 3],
    /// Broker machine names: `<prefix>broker-<id>`.
    pub prefix: &'static str,
    /// Seed stream indexes of this site start here (0 for the customer's region, so that its
    /// bytes do not depend on whether another region runs).
    pub seed_base: u64,
    /// The second octet of its brokers' addresses (10.<octet>.<zone>.1).
    pub broker_octet: u8,
    /// The last octet base of its brokers' public addresses (203.0.113.<base + id>).
    pub public_base: u8,
    /// (name, zone index, address) of its DNS servers.
    pub dns_servers: &'static [(&'static str, usize, Ipv4Addr)],
    /// (name, zone index, address) of its key service's frontends.
    pub kms_servers: &'static [(&'static str, usize, Ipv4Addr)],
    /// The service's own ranges here (its brokers admit them whatever a cluster's networking).
    pub service_ranges: &'static [&'static str],
}

pub const CHOSEN_SITE: Site = Site {
    region: CHOSEN_REGION,
    physical_cluster_id: control_plane::PHYSICAL_CLUSTER_ID,
    dns_zone: "pkc-sim.region-1.faultline.cloud",
    zones: ZONES,
    prefix: "",
    seed_base: 0,
    broker_octet: 1,
    public_base: 0,
    dns_servers: &[("dns-1", 0, Ipv4Addr::new(10, 3, 0, 53)), ("dns-2", 1, Ipv4Addr::new(10, 3, 1, 53))],
    kms_servers: &[
        ("kms-1", 0, Ipv4Addr::new(10, 3, 1, 44)),
        ("kms-2", 1, Ipv4Addr::new(10, 3, 2, 44)),
        ("kms-3", 2, Ipv4Addr::new(10, 3, 3, 44)),
    ],
    service_ranges: &SERVICE_RANGES,
};

pub const OTHER_SITE: Site = Site {
    region: OTHER_REGION,
    physical_cluster_id: "pkc-sim-2",
    dns_zone: "pkc-sim-2.region-2.faultline.cloud",
    zones: ["region-2-zone-a", "region-2-zone-b", "region-2-zone-c"],
    prefix: "region-2-",
    seed_base: 10,
    broker_octet: 5,
    public_base: 10,
    dns_servers: &[("region-2-dns-1", 0, Ipv4Addr::new(10, 6, 0, 53))],
    kms_servers: &[
        ("region-2-kms-1", 0, Ipv4Addr::new(10, 6, 1, 44)),
        ("region-2-kms-2", 1, Ipv4Addr::new(10, 6, 2, 44)),
        ("region-2-kms-3", 2, Ipv4Addr::new(10, 6, 3, 44)),
    ],
    // Its brokers, the (global) control plane, its DNS.
    service_ranges: &["10.5.0.0/16", "10.2.0.0/16", "10.6.0.0/16"],
};

impl Site {
    pub fn broker_ip(&self, index: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, self.broker_octet, index as u8 + 1, 1))
    }

    /// The broker cluster's id (its storage's, and its principal's at the key service).
    pub fn cluster_id(&self, seed: u64) -> String {
        if self.seed_base == 0 {
            format!("sim-{seed:016x}")
        } else {
            format!("sim-{seed:016x}-{}", self.region)
        }
    }

    pub fn broker_name(&self, id: i32) -> String {
        format!("{}broker-{id}", self.prefix)
    }

    /// Broker `id`'s public endpoint as deployed (TEST-NET-3).
    pub fn public_address(&self, id: i32) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, self.public_base + id as u8)
    }

    /// What the control plane hands customers as `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("{}:{BROKER_PORT}", broker::network::dns::bootstrap_name(self.dns_zone))
    }

    /// How broker `zone_index` reaches the key service: its own zone's frontend first.
    /// The principal this site's brokers use at its key service (what a customer's key must grant).
    pub fn key_principal(&self, seed: u64) -> String {
        broker_principal(&self.cluster_id(seed))
    }

    fn kms_link(&self, zone_index: usize, cluster_id: &str) -> KmsLinkConfig {
        let mut servers: Vec<_> = self.kms_servers.to_vec();
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

    fn control_plane_link(&self) -> ControlPlaneLinkConfig {
        ControlPlaneLinkConfig {
            endpoint: HttpsEndpoint { address: control_plane::address(), server_name: CONTROL_PLANE_IP.to_string() },
            physical_cluster_id: self.physical_cluster_id.into(),
        }
    }
}

/// The brokers' token at the key service (their principal names their cluster).
pub(super) const BROKER_TOKEN: &str = "kms-broker-token";

pub(super) use broker::kms::broker_principal;

/// A region's key service: its frontends and the store behind them.
pub struct KeyServiceSite {
    pub machines: Vec<Machine>,
    pub service: Arc<broker::kms::server::KeyService>,
}

/// A region's running service machines, and a customer machine of that region.
pub struct Region {
    pub site: &'static Site,
    pub brokers: Vec<Machine>,
    pub dns: Vec<Machine>,
    pub kms: KeyServiceSite,
    /// A host of a customer of this region, on the internet there.
    pub client: Machine,
}

/// Segments roll often in the simulation (Kafka's are 1 GiB): a run sees many data keys, rolls
/// under load and across rotations.
const SIMULATED_SEGMENTS: broker::log::SegmentPolicy =
    broker::log::SegmentPolicy { segment_bytes: 64 * 1024, segment_age: std::time::Duration::from_secs(60) };

/// The other region's customer host.
pub const OTHER_REGION_CLIENT: (&str, Ipv4Addr) = ("region-2-client", Ipv4Addr::new(198, 51, 100, 20));

/// What every service machine of the world shares.
pub(super) struct Shared<'a> {
    pub seed: u64,
    pub ca: &'a CertificateAuthority,
    pub transport: Transport,
    pub wire: WireHasher,
    pub connections: ConnectionLog,
    pub nodes: Arc<Mutex<BTreeMap<String, Arc<Node>>>>,
    pub credentials_text: String,
    pub bugs: PlantedBugs,
    pub impairs_links: bool,
    pub tap: super::disk_tap::DiskTap,
    /// Brokers of the chosen site ship their security events to the log store (C12).
    pub log_store: bool,
}

impl Shared<'_> {
    pub(super) fn dialer(&self, name: &str) -> broker::net::Dialer {
        sim_dialer(name.into(), self.transport.clone(), self.wire.clone(), self.connections.clone(), self.impairs_links)
    }
}

/// Formats and starts a site's three brokers (a quorum of their own); returns each machine
/// with its disk.
pub(super) fn start_brokers(shared: &Shared, site: &'static Site) -> Vec<(Machine, MemoryDisk)> {
    let handle = Handle::current();
    let seed = shared.seed;
    let voters: Vec<Voter> = (0..3)
        .map(|i| Voter {
            id: i as i32 + 1,
            host: site.broker_ip(i).to_string(),
            address: SocketAddr::new(site.broker_ip(i), BROKER_PORT),
        })
        .collect();
    // Storage formatted with the cluster (KIP-853's initial controllers), directory ids from the seed.
    let cluster_id = site.cluster_id(seed);
    let storage: Vec<MemoryDisk> = (0..3).map(|_| MemoryDisk::with_bugs(shared.bugs)).collect();
    let formatted: Vec<(i32, u64, &dyn broker::log::Disk)> = storage
        .iter()
        .enumerate()
        .map(|(index, disk)| {
            let directory = seeds::derive(seed, Stream::Storage, site.seed_base + index as u64);
            (index as i32 + 1, directory, disk as &dyn broker::log::Disk)
        })
        .collect();
    MetaProperties::format_cluster(&cluster_id, &formatted).expect("empty simulated disks format");
    let mut brokers = Vec::new();
    for (index, zone) in site.zones.iter().enumerate() {
        let broker_id = index as i32 + 1;
        let name = site.broker_name(broker_id);
        let ip = site.broker_ip(index);
        let disk = storage[index].clone();
        // Clients verify the name they resolved: the broker's and the bootstrap name.
        let names = [
            ip.to_string(),
            broker::network::dns::broker_name(site.dns_zone, broker_id),
            broker::network::dns::bootstrap_name(site.dns_zone),
        ];
        let material = shared
            .ca
            .issue(
                &names,
                &[ip],
                Some(&mut crate::seeded::leaf_key(seeds::derive(
                    seed,
                    Stream::Certificates,
                    100 + site.seed_base + index as u64,
                ))),
            )
            .expect("seeded node certificate");
        let (voters, nodes, credentials_text, cluster_id) =
            (voters.clone(), shared.nodes.clone(), shared.credentials_text.clone(), cluster_id.clone());
        let (dialer, bugs) = (shared.dialer(&name), shared.bugs);
        let log_store = shared.log_store && site.region == super::CHOSEN_SITE.region;
        // Planted: another region's brokers take the chosen region's key service.
        let kms_site = if bugs.is_on(broker::planted_bugs::PlantedBug::KeyServiceCrossRegion) {
            &super::CHOSEN_SITE
        } else {
            site
        };
        let kms = kms_site.kms_link(index, &cluster_id);
        let tapped: Arc<dyn broker::log::Disk> =
            Arc::new(super::disk_tap::TappedDisk::new(disk.clone(), &name, shared.tap.clone()));
        let init = {
            let name = name.clone();
            // Each restart is a new process with fresh randomness: a restarted server that
            // drew the same TLS session ids as its previous life would accept tickets it
            // never issued (seen: IncorrectBinder handshakes after a zone outage).
            let incarnations = Arc::new(std::sync::atomic::AtomicU64::new(0));
            move || {
                let incarnation = incarnations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Stream index: node in the low byte, life above it.
                let life = (incarnation << 8) | (site.seed_base + index as u64);
                let config = NodeConfig {
                    cluster_id: cluster_id.clone(),
                    broker_id,
                    zone: zone.to_string(),
                    host: ip.to_string(),
                    listen_ip: ip,
                    voters: voters.clone(),
                    tls: material.clone(),
                    crypto: seeded_crypto_provider(seeds::derive(seed, Stream::NodeTls, life)),
                    credentials: CredentialStore::parse(&credentials_text).expect("rendered credentials parse"),
                    inter_broker_api_key: INTER_BROKER_API_KEY.into(),
                    inter_broker_secret: INTER_BROKER_SECRET.into(),
                    replication: ReplicationConfig::default(),
                    default_partitions: 3,
                    default_replication_factor: 3,
                    bugs,
                    raft_entries_per_append_max: Knobs::from_seed(seed).raft_entries_per_append_max,
                    entropy: crate::seeded::node_entropy(seeds::derive(seed, Stream::NodeProcess, life)),
                    dialer: dialer.clone(),
                    control_plane: Some(site.control_plane_link()),
                    service_ranges: site.service_ranges.iter().map(|r| r.parse().expect("a literal range")).collect(),
                    kms: kms.clone(),
                    segment_policy: SIMULATED_SEGMENTS,
                    log_store: log_store.then(|| super::security_addresses::link(&format!("broker-{broker_id}"))),
                    // The bastions' key exists only in worlds with bastions.
                    bastion_sources: super::security_addresses::bastion_sources(),
                    capture_requests: None,
                };
                let (disk, nodes, name) = (tapped.clone(), nodes.clone(), name.clone());
                async move {
                    let node = broker::runtime::start(config, disk).await.expect("a simulated node starts");
                    nodes.lock().unwrap().insert(name, node);
                    std::future::pending::<()>().await;
                }
            }
        };
        let node = handle.create_node().name(&name).ip(ip).init(init).build();
        brokers.push((Machine { name, ip, zone: Some(zone), id: node.id() }, storage[index].clone()));
    }
    brokers
}

/// Starts a site's DNS servers (C06): each pulls the broker cluster's snapshot like a broker.
pub(super) fn start_dns(shared: &Shared, site: &'static Site) -> Vec<(Machine, MemoryDisk)> {
    let handle = Handle::current();
    let seed = shared.seed;
    let mut servers = Vec::new();
    for &(name, zone, address) in site.dns_servers {
        let ip = IpAddr::V4(address);
        let disk = MemoryDisk::new();
        let zone_spec = DnsZone {
            zone: site.dns_zone.into(),
            public_addresses: (1..=3).map(|id| (id, site.public_address(id))).collect(),
            bugs: shared.bugs,
        };
        let dialer = shared.dialer(name);
        let tls = client_config(
            &shared.ca.ca_cert_pem(),
            &seeded_crypto_provider(seeds::derive(seed, Stream::ClientTls, 70_000 + site.seed_base + zone as u64)),
        )
        .expect("DNS service TLS config");
        let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let init = {
            let disk = disk.clone();
            move || {
                let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let config = broker::network::service::DnsServiceConfig {
                    listen: SocketAddr::new(ip, broker::network::dns::DNS_PORT),
                    zone: zone_spec.clone(),
                    control_plane: site.control_plane_link(),
                    credentials: ClientCredentials {
                        tls: tls.clone(),
                        api_key: INTER_BROKER_API_KEY.into(),
                        secret: INTER_BROKER_SECRET.into(),
                    },
                    dialer: dialer.clone(),
                };
                let disk = disk.clone();
                async move {
                    broker::network::service::start(
                        config,
                        Arc::new(disk),
                        format!("crn://faultline/{name}/process={life}"),
                    )
                    .await
                    .expect("a simulated DNS server binds");
                    std::future::pending::<()>().await;
                }
            }
        };
        let node = handle.create_node().name(name).ip(ip).init(init).build();
        servers.push((Machine { name: name.into(), ip, zone: Some(site.zones[zone]), id: node.id() }, disk));
    }
    servers
}

impl super::World {
    /// What the region boundary (C07) is judged on, as the world holds it now: every service
    /// machine's disk with its region, the topics in every live broker's metadata image with
    /// the region of their logical cluster (from the control plane's records), and every
    /// connection with the regions of its ends (first dial, ms from `zero`).
    pub fn region_evidence(
        &self,
        zero: tokio::time::Instant,
    ) -> (
        Vec<crate::checkers::regions::RegionDisk>,
        Vec<crate::checkers::regions::HostedTopic>,
        Vec<crate::checkers::regions::RegionLink>,
    ) {
        use crate::checkers::regions::{HostedTopic, RegionDisk};
        let service = |name: &str| {
            self.brokers
                .iter()
                .chain(&self.dns)
                .chain(self.other_region.iter().flat_map(|r| r.brokers.iter().chain(&r.dns)))
                .any(|m| m.name == name)
        };
        let mut disks = Vec::new();
        // Read as the service could read them: sealed segments opened with the regions' keys.
        let key_services = self.key_services();
        for (machine, disk) in self.disks.iter().filter(|(name, _)| service(name)) {
            let Some(region) = self.region_of(machine) else { continue };
            let files = super::sealed::open_sealed(super::files_of(disk), &key_services);
            disks.push(RegionDisk { machine: machine.clone(), region: region.into(), files });
        }
        let clusters = self.control_plane_records().clusters;
        let mut topics = Vec::new();
        let brokers = self.brokers.iter().chain(self.other_region.iter().flat_map(|r| &r.brokers));
        for broker in brokers {
            let (Some(node), Some(region)) = (self.live_node(&broker.name), self.region_of(&broker.name)) else {
                continue;
            };
            for topic in node.metadata().topics.keys() {
                // `<lkc-id>_<name>` (C28); service topics belong to no customer.
                let Some(cluster) = topic.split_once('_').and_then(|(id, _)| clusters.get(id)) else { continue };
                topics.push(HostedTopic {
                    machine: broker.name.clone(),
                    machine_region: region.into(),
                    topic: topic.clone(),
                    cluster_region: cluster.region.clone(),
                });
            }
        }
        let links = self
            .connections
            .links()
            .into_iter()
            .map(|(initiator, target, _, _, at, _)| {
                let (from, to) =
                    (self.region_of(&initiator).map(str::to_string), self.region_of(&target).map(str::to_string));
                (initiator, from, target, to, at.saturating_duration_since(zero).as_millis() as u64)
            })
            .collect();
        (disks, topics, links)
    }
}
