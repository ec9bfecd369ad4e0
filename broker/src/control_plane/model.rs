//! The resource model (C03, C04): an organization holds environments, an environment holds
//! clusters and at most one schema registry. A cluster's type fixes what it may be: the
//! paper's matrix is checked here, once, when a cluster is provisioned.

use serde::{Deserialize, Serialize};

/// Basic, Standard or Dedicated (C04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClusterType {
    Basic,
    Standard,
    Dedicated,
}

/// How many zones a cluster's replicas span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Availability {
    SingleZone,
    MultiZone,
}

/// How clients reach a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Networking {
    /// Public endpoints (TLS and API keys still required).
    Public,
    /// VPC peering, PrivateLink or a transit gateway.
    Private,
}

/// Whether a cluster shares its brokers with other tenants (C28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tenancy {
    MultiTenant,
    SingleTenant,
}

/// The limits of a multi-tenant cluster, enforced by the brokers as per-tenant quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterLimits {
    /// Produce and fetch bytes per second, each (the paper: "stream up to 100 MBps").
    pub stream_bytes_per_second_max: u64,
    /// Bytes stored across the cluster's partitions (the paper: "store up to 5 TB").
    pub storage_bytes_max: u64,
}

const MEGABYTE: u64 = 1_000_000;
const TERABYTE: u64 = 1_000_000_000_000;

impl ClusterType {
    /// The monthly uptime the SLA promises, in percent.
    pub fn sla_target_percent(self) -> f64 {
        match self {
            ClusterType::Basic => 99.5,
            ClusterType::Standard | ClusterType::Dedicated => 99.95,
        }
    }

    pub fn tenancy(self) -> Tenancy {
        match self {
            ClusterType::Basic | ClusterType::Standard => Tenancy::MultiTenant,
            ClusterType::Dedicated => Tenancy::SingleTenant,
        }
    }

    /// Basic and Standard carry the paper's limits; Dedicated is bounded by its own brokers.
    pub fn limits(self) -> Option<ClusterLimits> {
        match self {
            ClusterType::Basic | ClusterType::Standard => {
                Some(ClusterLimits { stream_bytes_per_second_max: 100 * MEGABYTE, storage_bytes_max: 5 * TERABYTE })
            }
            ClusterType::Dedicated => None,
        }
    }

    /// The paper's matrix: Basic is single zone and public; Standard is single or multi zone
    /// and public; Dedicated may be either and may use private networking.
    pub fn allows(self, availability: Availability, networking: Networking) -> Result<(), MatrixViolation> {
        match (self, availability, networking) {
            (ClusterType::Basic, Availability::MultiZone, _) => Err(MatrixViolation::MultiZoneBasic),
            (ClusterType::Basic | ClusterType::Standard, _, Networking::Private) => {
                Err(MatrixViolation::PrivateNetworkingNotDedicated(self))
            }
            _ => Ok(()),
        }
    }
}

/// A cluster specification the matrix refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MatrixViolation {
    /// Basic clusters run in one zone.
    #[error("Basic clusters are single-zone; MULTI_ZONE needs a Standard or Dedicated cluster")]
    MultiZoneBasic,
    /// Private networking (peering, PrivateLink, transit gateway) is for Dedicated clusters.
    #[error("{0:?} clusters use public endpoints; private networking needs a Dedicated cluster")]
    PrivateNetworkingNotDedicated(ClusterType),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub id: String,
    pub display_name: String,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// `lkc-…`: the logical cluster, which clients see.
    pub id: String,
    pub display_name: String,
    pub environment_id: String,
    pub cluster_type: ClusterType,
    pub availability: Availability,
    pub networking: Networking,
    /// The cluster network a privately networked cluster lives in (its brokers take addresses
    /// from the network's CIDR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// The region the customer chose (C07): everything of the cluster stays in it.
    pub region: String,
    /// `pkc-…`: the broker cluster that hosts it (shared unless Dedicated), in `region`.
    pub physical_cluster_id: String,
    pub created_at_ms: u64,
    /// The customer's own master key (bring your own key, Dedicated only, C09); `None`: a
    /// key the service manages for the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<String>,
}

impl Cluster {
    pub fn sla_target_percent(&self) -> f64 {
        self.cluster_type.sla_target_percent()
    }
}

/// A schema registry: it exists here only to enforce one per environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaRegistry {
    pub id: String,
    pub environment_id: String,
    pub created_at_ms: u64,
}

/// A broker cluster the control plane can place logical clusters on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhysicalCluster {
    pub id: String,
    /// The region its brokers, disks and DNS run in (C07).
    pub region: String,
    /// How many zones its brokers span (a MULTI_ZONE cluster needs at least 2).
    pub zone_count: usize,
    /// What clients put in `bootstrap.servers`.
    pub bootstrap: String,
    /// The principal its brokers use at the key service: what a customer's key must grant
    /// before a cluster is placed here under it (C09).
    pub key_principal: String,
}

/// Topics of the service that every tenant reaches under their own name (ACLs still apply).
pub(crate) const SERVICE_TOPICS: [&str; 1] = [super::audit::AUDIT_TOPIC];

/// The name a topic of logical cluster `cluster_id` has on its physical cluster (C28): tenants
/// share brokers, not names.
pub fn internal_topic_name(cluster_id: &str, name: &str) -> String {
    if SERVICE_TOPICS.contains(&name) {
        name.to_string()
    } else {
        format!("{cluster_id}_{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_matrix() {
        use Availability::*;
        use ClusterType::*;
        use Networking::*;
        // (type, availability, networking, allowed)
        let table = [
            (Basic, SingleZone, Public, true),
            (Basic, MultiZone, Public, false),
            (Basic, SingleZone, Private, false),
            (Standard, SingleZone, Public, true),
            (Standard, MultiZone, Public, true),
            (Standard, MultiZone, Private, false),
            (Dedicated, SingleZone, Private, true),
            (Dedicated, MultiZone, Private, true),
            (Dedicated, MultiZone, Public, true),
        ];
        for (kind, availability, networking, allowed) in table {
            assert_eq!(
                kind.allows(availability, networking).is_ok(),
                allowed,
                "{kind:?} {availability:?} {networking:?}"
            );
        }
        assert_eq!(Basic.sla_target_percent(), 99.5);
        assert_eq!(Standard.sla_target_percent(), 99.95);
        assert_eq!(Dedicated.sla_target_percent(), 99.95);
        assert_eq!(Dedicated.tenancy(), Tenancy::SingleTenant);
        assert_eq!(Basic.limits().unwrap().stream_bytes_per_second_max, 100_000_000);
        assert_eq!(Standard.limits().unwrap().storage_bytes_max, 5_000_000_000_000);
        assert_eq!(Dedicated.limits(), None);
    }
}
