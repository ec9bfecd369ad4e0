//! The dev cluster's directory: where its nodes live, its files (secrets written owner-only),
//! the OS randomness real processes need, and what can go wrong with them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::log::MetaPropertiesError;

/// bcrypt cost for API secrets in real mode (about 50 ms per verification, once per key).
pub(super) const BCRYPT_COST: u32 = 10;
pub(super) const INTER_BROKER_API_KEY: &str = "inter-broker";
/// Written last by `init`: its presence marks a complete directory.
pub(super) const COMPLETE_MARKER: &str = "client.properties";

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
    /// The key service could not start.
    #[error("key service: {0}")]
    KeyService(String),
    /// The log store could not start, or its secrets are unreadable.
    #[error("log store: {0}")]
    LogStore(String),
    /// The incident desk or detection could not start, or their secrets are unreadable.
    #[error("security operations: {0}")]
    Incidents(String),
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

pub(super) fn read(path: &Path) -> Result<String, DevError> {
    std::fs::read_to_string(path).map_err(|source| DevError::File { path: path.into(), source })
}

pub(super) fn write_private(path: &Path, contents: &str) -> Result<(), DevError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| DevError::File { path: path.into(), source })?;
    file.write_all(contents.as_bytes()).map_err(|source| DevError::File { path: path.into(), source })
}

pub(super) fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut super::os(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id a process life signs its security events with: published, so a draw of its own.
pub(super) fn life_id() -> String {
    format!("{:016x}", rand_core::RngCore::next_u64(&mut super::os()))
}
