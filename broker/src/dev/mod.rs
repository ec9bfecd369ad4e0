//! The real-mode dev cluster: three nodes on 127.0.0.1-3 port 9092, one per zone, and the
//! control plane on 127.0.0.1:443 and the DNS service on 127.0.0.1:8053, with a dev CA, an inter-broker key, an organization and an
//! application API key written to `DIR`.

mod control_plane;
mod directory;
#[cfg(test)]
mod fresh_secrets;
mod incidents;
mod kms;
mod log_store;
mod operators;

pub use control_plane::{sso_assertion, start as start_control_plane};
pub use directory::{dev_nodes, DevError};
use directory::{random_secret, read, write_private, BCRYPT_COST, COMPLETE_MARKER, INTER_BROKER_API_KEY};
pub use incidents::start_detection;
pub use kms::start as start_kms;
pub use log_store::{start as start_log_store, verify as verify_log_store, ReplicaVerdict};
pub use operators::start as start_operators;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::log::{FileDisk, MetaProperties};
use crate::net::tcp_dialer;
use crate::node::{Node, NodeConfig, BROKER_PORT};
use crate::planted_bugs::PlantedBugs;
use crate::quorum::Voter;
use crate::replication::ReplicationConfig;
use crate::security::sasl::{CredentialStore, Role};
use crate::security::tls::{os_crypto_provider, CertificateAuthority};

/// The OS's generator. `broker dev` is real mode, whose secrets come from the OS; the ban on it
/// (ci/clippy-madsim) keeps simulated code from drawing from the OS anywhere else.
#[allow(clippy::disallowed_methods, reason = "real mode's own command: it runs on tokio only")]
fn os() -> crate::entropy::Generator {
    crate::entropy::os()
}

/// A node's generators, from the OS (see [`os`]).
#[allow(clippy::disallowed_methods, reason = "real mode's own command: it runs on tokio only")]
fn entropy() -> crate::entropy::Entropy {
    crate::entropy::Entropy::os()
}

const OPERATOR_API_KEY: &str = "operator";

/// Creates the CA, the keys, the organization and `client.properties` unless `dir` already has
/// them. Returns true if it created them.
pub fn init(dir: &Path) -> Result<bool, DevError> {
    std::fs::create_dir_all(dir).map_err(|source| DevError::File { path: dir.into(), source })?;
    if dir.join(COMPLETE_MARKER).exists() {
        upgrade(dir)?;
        return Ok(false);
    }
    let ca = CertificateAuthority::generate()?;
    let (ca_cert, ca_key) = ca.to_pem();
    std::fs::write(dir.join("ca.pem"), &ca_cert)
        .map_err(|source| DevError::File { path: dir.join("ca.pem"), source })?;
    write_private(&dir.join("ca.key"), &ca_key)?;
    // Format every node's storage with the cluster's initial voters (KIP-853).
    let cluster_id = random_secret()[..22].to_string();
    let storage: Vec<(i32, u64, FileDisk)> = dev_nodes()
        .into_iter()
        .map(|(id, _, _)| {
            let data = dir.join(format!("node-{id}"));
            let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data, source })?;
            Ok((id, u64::from_str_radix(&random_secret()[..16], 16).expect("hex"), disk))
        })
        .collect::<Result<_, DevError>>()?;
    let nodes: Vec<(i32, u64, &dyn crate::log::Disk)> =
        storage.iter().map(|(id, directory, disk)| (*id, *directory, disk as &dyn crate::log::Disk)).collect();
    MetaProperties::format_cluster(&cluster_id, &nodes)?;
    std::fs::write(dir.join("cluster.id"), &cluster_id)
        .map_err(|source| DevError::File { path: dir.join("cluster.id"), source })?;
    let inter_broker_secret = random_secret();
    let mut credentials = CredentialStore::default();
    credentials.add(INTER_BROKER_API_KEY, &inter_broker_secret, Role::Broker, BCRYPT_COST, None)?;
    // The operator's key: the physical cluster as the service sees it (every tenant's topics
    // under their internal names), not a customer's view.
    let operator_secret = random_secret();
    credentials.add(OPERATOR_API_KEY, &operator_secret, Role::Client, BCRYPT_COST, None)?;
    operators::init(dir, &mut credentials)?;
    write_private(&dir.join("inter-broker.secret"), &inter_broker_secret)?;
    write_private(&dir.join("credentials"), &credentials.render())?;
    let ca_path =
        dir.join("ca.pem").canonicalize().map_err(|source| DevError::File { path: dir.join("ca.pem"), source })?;
    write_private(
        &dir.join("operator.properties"),
        &control_plane::client_properties(OPERATOR_API_KEY, &operator_secret, &ca_path),
    )?;
    kms::init(dir)?;
    log_store::init(dir)?;
    incidents::init(dir)?;
    control_plane::bootstrap(dir, &ca_path)?;
    Ok(true)
}

/// Adds what a directory made by an earlier version lacks (the log store's and the staff's
/// secrets, the bastion's key). Only `init` writes the directory, before any process starts:
/// processes started together must read the same secrets.
fn upgrade(dir: &Path) -> Result<(), DevError> {
    log_store::init(dir)?;
    incidents::init(dir)?;
    operators::upgrade(dir)
}

/// The configuration of dev node `id` from an initialised `dir`.
pub(crate) fn node_config(dir: &Path, id: i32) -> Result<NodeConfig, DevError> {
    if !dir.join(COMPLETE_MARKER).exists() {
        return Err(DevError::NotInitialised(dir.display().to_string()));
    }
    let nodes = dev_nodes();
    let (_, zone, ip) = nodes.iter().find(|(n, _, _)| *n == id).cloned().ok_or(DevError::UnknownNode(id))?;
    let ca = CertificateAuthority::from_pem(&read(&dir.join("ca.pem"))?, &read(&dir.join("ca.key"))?)?;
    let tls = ca.issue(&["localhost".to_string()], &[ip], None)?;
    let credentials = CredentialStore::parse(&read(&dir.join("credentials"))?)?;
    let voters = nodes
        .iter()
        .map(|(n, _, address)| Voter {
            id: *n,
            host: address.to_string(),
            address: SocketAddr::new(*address, BROKER_PORT),
        })
        .collect();
    let cluster_id = read(&dir.join("cluster.id"))?.trim().to_string();
    Ok(NodeConfig {
        kms: kms::link_config(dir, &cluster_id)?,
        segment_policy: crate::log::SegmentPolicy::default(),
        log_store: Some(log_store::link_config(dir, &format!("broker-{id}"))?),
        bastion_sources: vec![operators::BASTION_SOURCE.parse().expect("a literal range")],
        capture_requests: None,
        cluster_id,
        broker_id: id,
        zone,
        host: ip.to_string(),
        listen_ip: ip,
        voters,
        tls,
        crypto: os_crypto_provider(),
        credentials,
        inter_broker_api_key: INTER_BROKER_API_KEY.into(),
        inter_broker_secret: read(&dir.join("inter-broker.secret"))?.trim().to_string(),
        replication: ReplicationConfig::default(),
        default_partitions: 6,
        default_replication_factor: 3,
        bugs: PlantedBugs::none(),
        raft_entries_per_append_max: 256,
        entropy: entropy(),
        dialer: tcp_dialer(),
        control_plane: Some(control_plane::link_config()),
        // Every dev process is on loopback: the service's own range.
        service_ranges: vec!["127.0.0.0/8".parse().expect("a literal range")],
    })
}

/// The dev cluster's DNS service (C06): `bootstrap.DEV_DNS_ZONE` and `b<id>.DEV_DNS_ZONE`,
/// answered on 127.0.0.1:DEV_DNS_PORT (53 needs privileges a developer may not have).
pub const DEV_DNS_PORT: u16 = 8053;
pub const DEV_DNS_ZONE: &str = "pkc-dev.dev.faultline.cloud";

/// Starts the dev DNS service, with its last snapshot in `dir/dns`.
pub async fn start_dns(dir: &Path) -> Result<crate::network::service::DnsService, DevError> {
    use crate::network::dns::DnsZone;
    use crate::network::service::{self, DnsServiceConfig};
    let node = node_config(dir, 1)?;
    let public_addresses = dev_nodes()
        .into_iter()
        .filter_map(|(id, _, ip)| match ip {
            IpAddr::V4(v4) => Some((id, v4)),
            IpAddr::V6(_) => None,
        })
        .collect();
    let config = DnsServiceConfig {
        listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEV_DNS_PORT),
        zone: DnsZone { zone: DEV_DNS_ZONE.into(), public_addresses, bugs: PlantedBugs::none() },
        control_plane: control_plane::link_config(),
        credentials: crate::client::ClientCredentials {
            tls: crate::security::tls::client_config(&node.tls.ca_cert_pem, &node.crypto)?,
            api_key: node.inter_broker_api_key.clone(),
            secret: node.inter_broker_secret.clone(),
        },
        dialer: tcp_dialer(),
    };
    let data = dir.join("dns");
    let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
    service::start(config, Arc::new(disk), "crn://faultline/dns=dev".into())
        .await
        .map_err(|source| DevError::File { path: PathBuf::from(format!("udp://127.0.0.1:{DEV_DNS_PORT}")), source })
}

/// Starts dev node `id` with its data in `dir/node-<id>`; with `capture`, each connection's
/// requests are written there (`net::capture`).
pub async fn start_node(dir: &Path, id: i32, capture: Option<&Path>) -> Result<Arc<Node>, DevError> {
    let config =
        NodeConfig { capture_requests: capture.map(|c| c.join(format!("node-{id}"))), ..node_config(dir, id)? };
    let data = dir.join(format!("node-{id}"));
    let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
    tracing::info!(broker = id, data = %data.display(), "node data directory");
    Ok(crate::runtime::start(config, Arc::new(disk)).await?)
}
