//! What a broker pulls from the control plane (C14): the clusters it hosts, the hashes of their
//! API keys and their ACLs, under one version number that grows with every change.

use serde::{Deserialize, Serialize};

use super::model::{ClusterLimits, ClusterType, Networking};
use super::network::{NetworkView, PublicEndpoint};
use crate::security::acl::AclBinding;
use crate::security::secrets::SecretHash;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPlaneSnapshot {
    /// The control plane's data-plane version; a broker keeps the highest it has seen.
    pub version: u64,
    pub physical_cluster_id: String,
    pub clusters: Vec<HostedCluster>,
    pub api_keys: Vec<KeyGrant>,
    pub acls: Vec<ClusterAcl>,
    /// Where the public endpoints are, if moved (empty: where the deployment put them).
    #[serde(default)]
    pub public_endpoints: Vec<PublicEndpoint>,
    /// Clusters deleted from this broker cluster (C13): their data is shredded.
    #[serde(default)]
    pub deleted_clusters: Vec<DeletedCluster>,
}

/// A logical cluster the customer deleted: its data is unavailable at once and its brokers
/// destroy its data keys and logs; the tombstone stays so that a broker down at the time
/// shreds too when it returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedCluster {
    pub id: String,
    pub physical_cluster_id: String,
    pub deleted_at_ms: u64,
    /// The customer's master key, if it had one (theirs to delete, not ours).
    pub encryption_key: Option<String>,
}

/// A logical cluster placed on this broker cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostedCluster {
    pub id: String,
    pub cluster_type: ClusterType,
    pub limits: Option<ClusterLimits>,
    #[serde(default = "public")]
    pub networking: Networking,
    /// The network of a privately networked cluster.
    #[serde(default)]
    pub network: Option<NetworkView>,
    /// The customer's master key for the cluster's data (C09); `None`: the service's key.
    #[serde(default)]
    pub encryption_key: Option<String>,
}

fn public() -> Networking {
    Networking::Public
}

/// A data-plane API key: SASL username `id`, acting as `principal` in `cluster_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyGrant {
    pub id: String,
    pub secret_hash: SecretHash,
    /// `User:sa-…` or `User:u-…`, the name ACLs use.
    pub principal: String,
    pub cluster_id: String,
    /// Owned by an organization admin: every operation on the cluster.
    pub super_user: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterAcl {
    pub cluster_id: String,
    pub binding: AclBinding,
}
