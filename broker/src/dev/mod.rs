//! The real-mode dev cluster: three nodes on 127.0.0.1-3 port 9092, one per zone, and the
//! control plane on 127.0.0.1:443, with a dev CA, an inter-broker key, an organization and an
//! application API key written to `DIR`.

mod control_plane;

pub use control_plane::{sso_assertion, start as start_control_plane};

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::log::{FileDisk, MetaProperties, MetaPropertiesError};
use crate::net::tcp_dialer;
use crate::node::{Node, NodeConfig, BROKER_PORT};
use crate::planted_bugs::PlantedBugs;
use crate::quorum::Voter;
use crate::replication::ReplicationConfig;
use crate::security::sasl::{CredentialStore, Role};
use crate::security::tls::{os_crypto_provider, CertificateAuthority};

/// bcrypt cost for API secrets in real mode (about 50 ms per verification, once per key).
const BCRYPT_COST: u32 = 10;
const INTER_BROKER_API_KEY: &str = "inter-broker";
/// Written last by `init`: its presence marks a complete directory.
const COMPLETE_MARKER: &str = "client.properties";

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file in the cluster directory could not be read or written.
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    /// `DIR` was never initialised (run `broker dev` or `broker init` first).
    #[error("{0} is not an initialised cluster directory (run `broker init --dir {0}`)")]
    NotInitialised(String),
    /// A node id outside 1..=3.
    #[error("unknown node id {0}: the dev cluster has nodes 1, 2 and 3")]
    UnknownNode(i32),
    /// A node's storage could not be formatted.
    #[error("storage: {0}")]
    Storage(#[from] MetaPropertiesError),
    /// Certificate or TLS setup failed.
    #[error("TLS: {0}")]
    Tls(#[from] crate::security::tls::TlsError),
    /// Credentials could not be hashed or parsed.
    #[error("credentials: {0}")]
    Credentials(#[from] crate::security::sasl::CredentialError),
    /// The node failed to start.
    #[error("node: {0}")]
    Node(#[from] crate::node::NodeError),
    /// The operating system's random source failed.
    #[error("the OS random source failed")]
    Random,
    /// Bootstrapping the organization failed.
    #[error("control plane: {0}")]
    ControlPlane(#[from] crate::control_plane::state::ControlPlaneError),
    /// The control plane failed to start.
    #[error("{0}")]
    ControlPlaneServer(#[from] crate::control_plane::server::ControlPlaneServerError),
}

/// (broker id, zone, address) of the dev cluster's nodes.
pub fn dev_nodes() -> Vec<(i32, String, IpAddr)> {
    (1..=3)
        .map(|id| {
            (id, format!("zone-{}", (b'a' + id as u8 - 1) as char), IpAddr::V4(Ipv4Addr::new(127, 0, 0, id as u8)))
        })
        .collect()
}

fn read(path: &Path) -> Result<String, DevError> {
    std::fs::read_to_string(path).map_err(|source| DevError::File { path: path.into(), source })
}

fn write_private(path: &Path, contents: &str) -> Result<(), DevError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| DevError::File { path: path.into(), source })?;
    file.write_all(contents.as_bytes()).map_err(|source| DevError::File { path: path.into(), source })
}

#[allow(clippy::disallowed_methods, reason = "real-mode secrets must be unpredictable")]
pub(crate) fn random_secret() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::disallowed_methods, reason = "a real process's seeds must be unpredictable")]
pub(crate) fn random_seed() -> u64 {
    use ring::rand::SecureRandom;
    let mut seed = [0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut seed).expect("the OS random source works");
    u64::from_le_bytes(seed)
}

/// Creates the CA, the keys, the organization and `client.properties` unless `dir` already has
/// them. Returns true if it created them.
pub fn init(dir: &Path) -> Result<bool, DevError> {
    std::fs::create_dir_all(dir).map_err(|source| DevError::File { path: dir.into(), source })?;
    if dir.join(COMPLETE_MARKER).exists() {
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
    write_private(&dir.join("inter-broker.secret"), &inter_broker_secret)?;
    write_private(&dir.join("credentials"), &credentials.render())?;
    let ca_path =
        dir.join("ca.pem").canonicalize().map_err(|source| DevError::File { path: dir.join("ca.pem"), source })?;
    control_plane::bootstrap(dir, &ca_path)?;
    Ok(true)
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
    Ok(NodeConfig {
        cluster_id: read(&dir.join("cluster.id"))?.trim().to_string(),
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
        seed: random_seed(),
        dialer: tcp_dialer(),
        control_plane: Some(control_plane::link_config()),
    })
}

/// Starts dev node `id` with its data in `dir/node-<id>`.
pub async fn start_node(dir: &Path, id: i32) -> Result<Arc<Node>, DevError> {
    let config = node_config(dir, id)?;
    let data = dir.join(format!("node-{id}"));
    let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
    tracing::info!(broker = id, data = %data.display(), "node data directory");
    Ok(crate::runtime::start(config, Arc::new(disk)).await?)
}
