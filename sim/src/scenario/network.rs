//! The `[network]` section (C05, C06): the organization's cluster becomes a Dedicated cluster
//! with private networking in a cluster network of the given range, and the customer's VPC
//! (every client machine, 10.9.0.0/16) is peered with it through the control plane. Without
//! the section the cluster is Standard with public endpoints, reached over the internet.

use broker::control_plane::network::{Cidr, ConnectionType};
use serde::{Deserialize, Serialize};

use super::ScenarioError;

/// The customer VPC's range: the client machines' addresses.
pub const CUSTOMER_VPC: &str = "10.9.0.0/16";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// The cluster network's range, chosen by the customer: brokers take private addresses in it.
    pub cidr: Cidr,
    /// `PEERING` (required: the customer VPC is peered), and `PUBLIC` for public endpoints too.
    pub connection_types: Vec<ConnectionType>,
    /// The first this many workload machines are hosts on the internet instead of the VPC
    /// (public clients: they get public addresses, if the network offers them).
    #[serde(default)]
    pub internet_clients: u32,
}

impl NetworkSpec {
    pub(super) fn validate(&self, file: &str, workers: u32) -> Result<(), ScenarioError> {
        let customer: Cidr = CUSTOMER_VPC.parse().expect("a literal range");
        let service: Vec<Cidr> =
            crate::world::SERVICE_RANGES.iter().map(|r| r.parse().expect("a literal range")).collect();
        if self.cidr.overlaps(&customer) {
            return Err(ScenarioError::invalid(
                file,
                "network.cidr",
                format!("a range that does not overlap the customer VPC {CUSTOMER_VPC}"),
            ));
        }
        if let Some(range) = service.iter().find(|range| range.overlaps(&self.cidr)) {
            return Err(ScenarioError::invalid(
                file,
                "network.cidr",
                format!("a range that does not overlap the service's own {range}"),
            ));
        }
        if !self.connection_types.contains(&ConnectionType::Peering)
            || self.connection_types.iter().any(|t| !matches!(t, ConnectionType::Peering | ConnectionType::Public))
        {
            return Err(ScenarioError::invalid(
                file,
                "network.connection_types",
                "[\"PEERING\"] or [\"PEERING\", \"PUBLIC\"] (PrivateLink and transit gateways are not in the world yet)",
            ));
        }
        if self.internet_clients > workers {
            return Err(ScenarioError::invalid(
                file,
                "network.internet_clients",
                format!("at most the workload's {workers} producers and consumers"),
            ));
        }
        Ok(())
    }
}
