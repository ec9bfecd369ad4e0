//! The `[network]` section (C05, C06): the organization's cluster becomes a Dedicated cluster
//! with private networking in a cluster network of the given range, and the customer's VPC
//! (client machines, 10.9.0.0/16) is peered with it through the control plane. With
//! `PRIVATE_LINK`, a second VPC (10.11.0.0/16, no internet route) reaches it through an
//! interface endpoint and its own DNS override; with `TRANSIT_GATEWAY`, a third (10.12.0.0/16)
//! through the customer's transit gateway. Without the section the cluster is Standard with
//! public endpoints, reached over the internet.

use broker::control_plane::network::{Cidr, ConnectionType};
use serde::{Deserialize, Serialize};

use super::ScenarioError;

/// The service's own ranges: brokers (10.1/16), the control plane (10.2/16) and the service's
/// other machines (10.3/16: DNS, PrivateLink load balancers). Customers never get these.
pub const SERVICE_RANGES: [&str; 3] = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"];

/// The customer VPC's range: the client machines' addresses.
pub const CUSTOMER_VPC: &str = "10.9.0.0/16";
/// The customer's VPC that reaches the cluster over PrivateLink.
pub const PRIVATE_LINK_VPC: &str = "10.11.0.0/16";
/// The customer's VPC attached to its transit gateway.
pub const TRANSIT_GATEWAY_VPC: &str = "10.12.0.0/16";

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
    /// The next this many are in the PrivateLink VPC (needs `PRIVATE_LINK`).
    #[serde(default)]
    pub private_link_clients: u32,
    /// The next this many are in the transit gateway's VPC (needs `TRANSIT_GATEWAY`).
    #[serde(default)]
    pub transit_gateway_clients: u32,
}

impl NetworkSpec {
    pub(super) fn validate(&self, file: &str, workers: u32) -> Result<(), ScenarioError> {
        let service: Vec<Cidr> = SERVICE_RANGES.iter().map(|r| r.parse().expect("a literal range")).collect();
        for vpc in [CUSTOMER_VPC, PRIVATE_LINK_VPC, TRANSIT_GATEWAY_VPC] {
            let range: Cidr = vpc.parse().expect("a literal range");
            if self.cidr.overlaps(&range) {
                return Err(ScenarioError::invalid(
                    file,
                    "network.cidr",
                    format!("a range that does not overlap the customer VPC {vpc}"),
                ));
            }
        }
        if let Some(range) = service.iter().find(|range| range.overlaps(&self.cidr)) {
            return Err(ScenarioError::invalid(
                file,
                "network.cidr",
                format!("a range that does not overlap the service's own {range}"),
            ));
        }
        // The harness's own machines (the operator, the drain) sit in the peered VPC.
        if !self.connection_types.contains(&ConnectionType::Peering) {
            return Err(ScenarioError::invalid(
                file,
                "network.connection_types",
                "PEERING, and any of PUBLIC, PRIVATE_LINK, TRANSIT_GATEWAY",
            ));
        }
        for (key, count, needs, name) in [
            ("private_link_clients", self.private_link_clients, ConnectionType::PrivateLink, "PRIVATE_LINK"),
            (
                "transit_gateway_clients",
                self.transit_gateway_clients,
                ConnectionType::TransitGateway,
                "TRANSIT_GATEWAY",
            ),
        ] {
            if count > 0 && !self.connection_types.contains(&needs) {
                return Err(ScenarioError::invalid(
                    file,
                    format!("network.{key}"),
                    format!("0 unless connection_types has {name}"),
                ));
            }
        }
        if self.internet_clients + self.private_link_clients + self.transit_gateway_clients > workers {
            return Err(ScenarioError::invalid(
                file,
                "network.internet_clients",
                format!(
                    "internet, PrivateLink and transit gateway clients together at most the workload's {workers} producers and consumers"
                ),
            ));
        }
        Ok(())
    }
}
