//! The simulated world: one region, three zones with one broker node each, and a customer VPC
//! whose client nodes reach the cluster over a peering link. Links are named by the groups
//! they join, and the world layer makes partitions behave like real ones: a connect across a
//! cut hangs until the caller's timeout (madsim alone would refuse it at once), and data on an
//! established connection is held (madsim's clog) until the link heals.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use broker::client::ClientCredentials;
use broker::control_plane::client::{ControlPlaneClient, ControlPlaneEndpoint};
use broker::control_plane::link::ControlPlaneLinkConfig;
use broker::control_plane::server::{ControlPlaneServer, ControlPlaneServerConfig, RECORDS_FILE};
use broker::log::{MemoryDisk, MetaProperties};
use broker::net::{BoxedTransport, Dialer};
use broker::node::{Node, NodeConfig, BROKER_PORT};
use broker::planted_bugs::PlantedBugs;
use broker::quorum::Voter;
use broker::replication::ReplicationConfig;
use broker::security::sasl::{CredentialStore, Role};
use broker::security::tls::{client_config, CertificateAuthority};

use crate::seeded_tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};
use madsim::runtime::Handle;
use madsim::task::NodeId;

use crate::checkers::connections::ConnectionLog;
use crate::checkers::wire::{WireHasher, WiretapStream};
use crate::scenario::ZONES;

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
mod links;

pub mod control_plane;

use control_plane::{Organization, BCRYPT_COST, CONTROL_PLANE_IP, CONTROL_PLANE_NAME};
pub use links::Impairment;
use links::LinkTable;

pub struct World {
    pub brokers: Vec<Machine>,
    pub clients: Vec<Machine>,
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

/// The service's own ranges: brokers (10.1/16), the control plane (10.2/16) and the service's
/// other machines (10.3/16: DNS, PrivateLink load balancers). Customers never get these.
pub const SERVICE_RANGES: [&str; 3] = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"];

fn broker_ip(index: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, index as u8 + 1, 1))
}

impl World {
    /// Builds the region: three broker nodes (started) and `client_count` client machines.
    /// `impairs_links`: the schedule has latency or loss faults, so every connection runs
    /// through a relay that can delay it (about a quarter of a seed's wall time otherwise saved).
    pub fn build(seed: u64, client_count: usize, bugs: PlantedBugs, impairs_links: bool) -> World {
        let handle = Handle::current();
        let certificates = seeds::derive(seed, Stream::Certificates, 0);
        let ca = CertificateAuthority::generate_seeded(certificates).expect("seeded CA");
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
        let credentials_text = credentials.render();
        let broker_ips: Vec<IpAddr> = (0..3).map(broker_ip).collect();
        let plane_config = control_plane::config(seed, &broker_ips, credentials.broker_keys(), bugs);
        let (records, organization) =
            control_plane::bootstrap(seed, plane_config.clone(), broker::net::http::wall_clock_ms());
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
        let voters: Vec<Voter> = (0..3)
            .map(|i| Voter {
                id: i as i32 + 1,
                host: broker_ip(i).to_string(),
                address: SocketAddr::new(broker_ip(i), BROKER_PORT),
            })
            .collect();
        let mut by_ip = BTreeMap::new();
        let mut brokers = Vec::new();
        let mut disks = BTreeMap::new();
        // Storage formatted with the cluster (KIP-853's initial controllers), directory ids from the seed.
        let cluster_id = format!("sim-{seed:016x}");
        let storage: Vec<MemoryDisk> = (0..3).map(|_| MemoryDisk::new()).collect();
        let formatted: Vec<(i32, u64, &dyn broker::log::Disk)> = storage
            .iter()
            .enumerate()
            .map(|(index, disk)| {
                (index as i32 + 1, seeds::derive(seed, Stream::Storage, index as u64), disk as &dyn broker::log::Disk)
            })
            .collect();
        MetaProperties::format_cluster(&cluster_id, &formatted).expect("empty simulated disks format");
        for (index, zone) in ZONES.iter().enumerate() {
            let name = format!("broker-{}", index + 1);
            let ip = broker_ip(index);
            by_ip.insert(ip, name.clone());
            let disk = storage[index].clone();
            disks.insert(name.clone(), disk.clone());
            let material = ca
                .issue(&[ip.to_string()], &[ip], Some(seeds::derive(seed, Stream::Certificates, 100 + index as u64)))
                .expect("seeded node certificate");
            let init = {
                let (name, voters, links, wire, nodes, credentials_text, cluster_id, connections) = (
                    name.clone(),
                    voters.clone(),
                    links.clone(),
                    wire.clone(),
                    nodes.clone(),
                    credentials_text.clone(),
                    cluster_id.clone(),
                    connections.clone(),
                );
                // Each restart is a new process with fresh randomness: a restarted server that
                // drew the same TLS session ids as its previous life would accept tickets it
                // never issued (seen: IncorrectBinder handshakes after a zone outage).
                let incarnations = Arc::new(std::sync::atomic::AtomicU64::new(0));
                move || {
                    let incarnation = incarnations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Stream index: node in the low byte, life above it.
                    let life = (incarnation << 8) | index as u64;
                    let config = NodeConfig {
                        cluster_id: cluster_id.clone(),
                        broker_id: index as i32 + 1,
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
                        seed: seeds::derive(seed, Stream::NodeProcess, life),
                        dialer: sim_dialer(
                            name.clone(),
                            links.clone(),
                            wire.clone(),
                            connections.clone(),
                            impairs_links,
                        ),
                        control_plane: Some(ControlPlaneLinkConfig {
                            endpoint: ControlPlaneEndpoint {
                                address: control_plane::address(),
                                server_name: CONTROL_PLANE_IP.to_string(),
                            },
                            physical_cluster_id: control_plane::PHYSICAL_CLUSTER_ID.into(),
                        }),
                        service_ranges: SERVICE_RANGES.iter().map(|r| r.parse().expect("a literal range")).collect(),
                    };
                    let (disk, nodes, name) = (disk.clone(), nodes.clone(), name.clone());
                    async move {
                        let node =
                            broker::runtime::start(config, Arc::new(disk)).await.expect("a simulated node starts");
                        nodes.lock().unwrap().insert(name, node);
                        std::future::pending::<()>().await;
                    }
                }
            };
            let handle_node = handle.create_node().name(&name).ip(ip).init(init).build();
            brokers.push(Machine { name, ip, zone: Some(zone), id: handle_node.id() });
        }
        let control_plane_server = Arc::new(Mutex::new(None));
        let control_plane = {
            let material = ca
                .issue(
                    &[CONTROL_PLANE_IP.to_string()],
                    &[CONTROL_PLANE_IP],
                    Some(seeds::derive(seed, Stream::Certificates, 200)),
                )
                .expect("seeded control-plane certificate");
            let dialer =
                sim_dialer(CONTROL_PLANE_NAME.into(), links.clone(), wire.clone(), connections.clone(), impairs_links);
            let broker_addresses: Vec<SocketAddr> =
                broker_ips.iter().map(|ip| SocketAddr::new(*ip, BROKER_PORT)).collect();
            let (disk, slot, backup) =
                (control_plane_disk.clone(), control_plane_server.clone(), control_plane_backup.clone());
            let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let init = move || {
                let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let config = ControlPlaneServerConfig {
                    listen_ip: CONTROL_PLANE_IP,
                    tls: material.clone(),
                    crypto: seeded_crypto_provider(seeds::derive(seed, Stream::ControlPlane, 100 + life)),
                    plane: plane_config.clone(),
                    seed: seeds::derive(seed, Stream::ControlPlane, 200 + life),
                    dialer: dialer.clone(),
                    broker_addresses: broker_addresses.clone(),
                    bugs,
                    backup_disk: Arc::new(backup.clone()),
                };
                let (disk, slot) = (disk.clone(), slot.clone());
                async move {
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
        let mut clients = Vec::new();
        for index in 0..client_count {
            let name = format!("client-{}", index + 1);
            let ip = IpAddr::V4(Ipv4Addr::new(10, 9, 0, index as u8 + 1));
            by_ip.insert(ip, name.clone());
            let node = handle.create_node().name(&name).ip(ip).build();
            clients.push(Machine { name, ip, zone: None, id: node.id() });
        }
        World {
            brokers,
            clients,
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

    pub fn bootstrap(&self) -> Vec<(SocketAddr, String)> {
        self.brokers.iter().map(|b| (SocketAddr::new(b.ip, BROKER_PORT), b.ip.to_string())).collect()
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

    fn dialer(&self, machine: &Machine) -> Dialer {
        sim_dialer(
            machine.name.clone(),
            self.links.clone(),
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
    pub fn cloud_client(&self, client: &Machine, index: u64) -> ControlPlaneClient {
        let tls = client_config(
            &self.ca_pem,
            &seeded_crypto_provider(seeds::derive(self.seed, Stream::ClientTls, 50_000 + index)),
        )
        .expect("client TLS config");
        let endpoint =
            ControlPlaneEndpoint { address: control_plane::address(), server_name: CONTROL_PLANE_IP.to_string() };
        let (id, secret) = &self.organization.cloud_key;
        ControlPlaneClient::new(endpoint, tls, self.dialer(client), id, secret)
    }

    /// A REST client that sends `authorization` (a session's `Bearer` header) or nothing.
    pub fn session_client(&self, client: &Machine, index: u64, authorization: Option<String>) -> ControlPlaneClient {
        let tls = client_config(
            &self.ca_pem,
            &seeded_crypto_provider(seeds::derive(self.seed, Stream::ClientTls, 60_000 + index)),
        )
        .expect("client TLS config");
        let endpoint =
            ControlPlaneEndpoint { address: control_plane::address(), server_name: CONTROL_PLANE_IP.to_string() };
        ControlPlaneClient::with_authorization(endpoint, tls, self.dialer(client), authorization)
    }

    /// The control plane's records as its disk holds them (what survives it).
    pub fn control_plane_records(&self) -> broker::control_plane::state::Records {
        let bytes = broker::log::Disk::read(&self.disks[CONTROL_PLANE_NAME], RECORDS_FILE)
            .expect("a memory disk reads")
            .expect("the control plane's records were written at bootstrap");
        serde_json::from_slice(&bytes).expect("records the control plane wrote parse")
    }

    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.all_machines().find(|m| m.name == name)
    }

    pub fn all_machines(&self) -> impl Iterator<Item = &Machine> {
        self.brokers.iter().chain(&self.clients).chain(std::iter::once(&self.control_plane))
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

/// A dialer for machine `source`: connects across a cut hang (the caller times out), and every
/// byte of every connection feeds the wire hash.
fn sim_dialer(
    source: String,
    links: Arc<Mutex<LinkTable>>,
    wire: WireHasher,
    connections: ConnectionLog,
    impairs_links: bool,
) -> Dialer {
    let mut ip_names: BTreeMap<IpAddr, String> = (0..3).map(|i| (broker_ip(i), format!("broker-{}", i + 1))).collect();
    ip_names.insert(CONTROL_PLANE_IP, CONTROL_PLANE_NAME.to_string());
    Arc::new(move |target: SocketAddr| {
        let target_name = ip_names.get(&target.ip()).cloned().unwrap_or_else(|| target.ip().to_string());
        connections.record(&source, &target_name, target.port());
        let cut = {
            let links = links.lock().unwrap();
            // TCP needs both directions for a handshake.
            links.is_cut(&source, &target_name) || links.is_cut(&target_name, &source)
        };
        let wire = wire.clone();
        let label = format!("{source}->{target_name}");
        let (links, source) = (links.clone(), source.clone());
        Box::pin(async move {
            if cut {
                std::future::pending::<()>().await;
            }
            let stream = tokio::net::TcpStream::connect(target).await?;
            let tapped = WiretapStream::new(stream, wire, label);
            if !impairs_links {
                return Ok(Box::new(tapped) as BoxedTransport);
            }
            // The application's end of a relay that applies the link's latency and loss.
            let (app, relay_end) = tokio::io::duplex(256 * 1024);
            links::relay(relay_end, tapped, links, (source, target_name));
            Ok(Box::new(app) as BoxedTransport)
        })
    })
}
