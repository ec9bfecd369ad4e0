//! Networks and peerings (C05): the control plane's side of `super::super::network`.

use super::{check_name, invalid, not_found, Caller, ClusterRequest, ControlPlane, ControlPlaneError, Result};
use crate::control_plane::audit::AuditResult;
use crate::control_plane::model::Networking;
use crate::control_plane::network::{
    connected_ranges, route_conflict, Cidr, ConnectionType, Network, NetworkView, Peering, PrivateLinkAccess,
    PublicEndpoint, TransitGatewayAttachment, NETWORK_PREFIX_LENGTHS,
};
use crate::planted_bugs::PlantedBug;

/// A new network's specification.
#[derive(Debug, Clone)]
pub struct NetworkRequest {
    pub display_name: String,
    pub environment_id: String,
    pub cidr: Cidr,
    pub connection_types: Vec<ConnectionType>,
}

impl ControlPlane {
    pub fn create_network(&mut self, caller: &Caller, request: NetworkRequest, now_ms: u64) -> Result<Network> {
        self.require_admin(caller)?;
        check_name("display_name", &request.display_name)?;
        if !self.records.environments.contains_key(&request.environment_id) {
            return Err(not_found("environment", &request.environment_id));
        }
        if !NETWORK_PREFIX_LENGTHS.contains(&request.cidr.prefix_len()) {
            return Err(invalid(
                "cidr",
                format!("{} is a /{}; a network is a /16 to a /27", request.cidr, request.cidr.prefix_len()),
            ));
        }
        let mut connection_types = request.connection_types;
        connection_types.sort();
        connection_types.dedup();
        if connection_types.is_empty() {
            return Err(invalid("connection_types", "at least one of PUBLIC, PEERING, PRIVATE_LINK, TRANSIT_GATEWAY"));
        }
        let network = Network {
            id: self.new_id("n"),
            environment_id: request.environment_id,
            display_name: request.display_name,
            cidr: request.cidr,
            connection_types,
            created_at_ms: now_ms,
        };
        self.records.networks.insert(network.id.clone(), network.clone());
        self.audit(caller.principal(), &network.id, "networking.network.created", AuditResult::Success, now_ms);
        Ok(network)
    }

    pub fn list_networks(&self, caller: &Caller) -> Result<Vec<&Network>> {
        self.require_cloud(caller)?;
        Ok(self.records.networks.values().collect())
    }

    pub fn network(&self, caller: &Caller, id: &str) -> Result<&Network> {
        self.require_cloud(caller)?;
        self.records.networks.get(id).ok_or_else(|| not_found("network", id))
    }

    pub fn delete_network(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if !self.records.networks.contains_key(id) {
            return Err(not_found("network", id));
        }
        let connections = self
            .records
            .peerings
            .values()
            .filter(|p| p.network_id == id)
            .map(|p| format!("peering {}", p.id))
            .chain(
                self.records
                    .transit_gateway_attachments
                    .values()
                    .filter(|a| a.network_id == id)
                    .map(|a| format!("transit gateway attachment {}", a.id)),
            )
            .chain(
                self.records
                    .private_link_accesses
                    .values()
                    .filter(|a| a.network_id == id)
                    .map(|a| format!("PrivateLink access {}", a.id)),
            );
        if let Some(connection) = connections.into_iter().next() {
            return Err(ControlPlaneError::Conflict(format!("network {id} still has {connection}")));
        }
        if let Some(cluster) = self.records.clusters.values().find(|c| c.network_id.as_deref() == Some(id)) {
            return Err(ControlPlaneError::Conflict(format!("network {id} still has cluster {}", cluster.id)));
        }
        self.records.networks.remove(id);
        self.audit(caller.principal(), id, "networking.network.deleted", AuditResult::Success, now_ms);
        Ok(())
    }

    /// Connects a customer VPC by its routes: refused when a route overlaps the network's CIDR,
    /// a range already connected to it, or another route of the request.
    pub fn create_peering(
        &mut self,
        caller: &Caller,
        network_id: &str,
        display_name: &str,
        customer_routes: Vec<Cidr>,
        now_ms: u64,
    ) -> Result<Peering> {
        self.require_admin(caller)?;
        check_name("display_name", display_name)?;
        let network = self.network_offering(network_id, ConnectionType::Peering, "PEERING")?;
        self.check_customer_routes(network, &customer_routes)?;
        let peering = Peering {
            id: self.new_id("peer"),
            network_id: network_id.to_string(),
            display_name: display_name.to_string(),
            customer_routes,
            created_at_ms: now_ms,
        };
        self.records.peerings.insert(peering.id.clone(), peering.clone());
        self.audit(caller.principal(), &peering.id, "networking.peering.created", AuditResult::Success, now_ms);
        // Brokers and the DNS service learn the new range by their next pull.
        self.mutated_data_plane();
        Ok(peering)
    }

    /// The overlap rules for routes a new connection brings (peering or transit gateway).
    fn check_customer_routes(&self, network: &Network, customer_routes: &[Cidr]) -> Result<()> {
        if customer_routes.is_empty() {
            return Err(invalid("customer.routes", "at least one range"));
        }
        // Planted: the overlap rules are skipped (C05).
        if self.config.bugs.is_on(PlantedBug::CidrOverlapAccepted) {
            return Ok(());
        }
        let connected = connected_ranges(
            &network.id,
            self.records.peerings.values(),
            self.records.transit_gateway_attachments.values(),
        );
        match route_conflict(network, connected.iter(), customer_routes) {
            Some(conflict) => Err(ControlPlaneError::Conflict(conflict)),
            None => Ok(()),
        }
    }

    /// The network `network_id` offering `connection_type`, or why not.
    fn network_offering(&self, network_id: &str, connection_type: ConnectionType, name: &str) -> Result<&Network> {
        let network = self.records.networks.get(network_id).ok_or_else(|| not_found("network", network_id))?;
        if !network.connection_types.contains(&connection_type) {
            return Err(invalid("network", format!("network {network_id} does not offer {name}")));
        }
        Ok(network)
    }

    /// Joins the network to the customer's transit gateway, routing `customer_routes` (the
    /// ranges behind the gateway) to it: the same overlap rules as peering.
    pub fn create_transit_gateway_attachment(
        &mut self,
        caller: &Caller,
        network_id: &str,
        display_name: &str,
        transit_gateway_id: &str,
        customer_routes: Vec<Cidr>,
        now_ms: u64,
    ) -> Result<TransitGatewayAttachment> {
        self.require_admin(caller)?;
        check_name("display_name", display_name)?;
        check_name("transit_gateway.id", transit_gateway_id)?;
        let network = self.network_offering(network_id, ConnectionType::TransitGateway, "TRANSIT_GATEWAY")?;
        self.check_customer_routes(network, &customer_routes)?;
        let attachment = TransitGatewayAttachment {
            id: self.new_id("tgwa"),
            network_id: network_id.to_string(),
            display_name: display_name.to_string(),
            transit_gateway_id: transit_gateway_id.to_string(),
            customer_routes,
            created_at_ms: now_ms,
        };
        self.records.transit_gateway_attachments.insert(attachment.id.clone(), attachment.clone());
        self.audit(
            caller.principal(),
            &attachment.id,
            "networking.tgw_attachment.created",
            AuditResult::Success,
            now_ms,
        );
        self.mutated_data_plane();
        Ok(attachment)
    }

    pub fn list_transit_gateway_attachments(&self, caller: &Caller) -> Result<Vec<&TransitGatewayAttachment>> {
        self.require_cloud(caller)?;
        Ok(self.records.transit_gateway_attachments.values().collect())
    }

    pub fn transit_gateway_attachment(&self, caller: &Caller, id: &str) -> Result<&TransitGatewayAttachment> {
        self.require_cloud(caller)?;
        self.records.transit_gateway_attachments.get(id).ok_or_else(|| not_found("transit gateway attachment", id))
    }

    pub fn delete_transit_gateway_attachment(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if self.records.transit_gateway_attachments.remove(id).is_none() {
            return Err(not_found("transit gateway attachment", id));
        }
        self.audit(caller.principal(), id, "networking.tgw_attachment.deleted", AuditResult::Success, now_ms);
        self.mutated_data_plane();
        Ok(())
    }

    /// Lets the customer's VPC create PrivateLink endpoints to the network: no CIDR, no route.
    pub fn create_private_link_access(
        &mut self,
        caller: &Caller,
        network_id: &str,
        display_name: &str,
        customer_vpc: &str,
        now_ms: u64,
    ) -> Result<PrivateLinkAccess> {
        self.require_admin(caller)?;
        check_name("display_name", display_name)?;
        check_name("customer.vpc", customer_vpc)?;
        self.network_offering(network_id, ConnectionType::PrivateLink, "PRIVATE_LINK")?;
        let access = PrivateLinkAccess {
            id: self.new_id("pla"),
            network_id: network_id.to_string(),
            display_name: display_name.to_string(),
            customer_vpc: customer_vpc.to_string(),
            created_at_ms: now_ms,
        };
        self.records.private_link_accesses.insert(access.id.clone(), access.clone());
        self.audit(
            caller.principal(),
            &access.id,
            "networking.private_link_access.created",
            AuditResult::Success,
            now_ms,
        );
        Ok(access)
    }

    pub fn list_private_link_accesses(&self, caller: &Caller) -> Result<Vec<&PrivateLinkAccess>> {
        self.require_cloud(caller)?;
        Ok(self.records.private_link_accesses.values().collect())
    }

    pub fn private_link_access(&self, caller: &Caller, id: &str) -> Result<&PrivateLinkAccess> {
        self.require_cloud(caller)?;
        self.records.private_link_accesses.get(id).ok_or_else(|| not_found("PrivateLink access", id))
    }

    pub fn delete_private_link_access(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if self.records.private_link_accesses.remove(id).is_none() {
            return Err(not_found("PrivateLink access", id));
        }
        self.audit(caller.principal(), id, "networking.private_link_access.deleted", AuditResult::Success, now_ms);
        Ok(())
    }

    /// The service's tooling moves a broker cluster's public endpoints (a load balancer
    /// replaced): the DNS service answers the new addresses from its next pull (C06).
    pub fn move_public_endpoints(
        &mut self,
        caller: &Caller,
        physical_cluster_id: &str,
        mut endpoints: Vec<PublicEndpoint>,
        now_ms: u64,
    ) -> Result<()> {
        if !matches!(caller, Caller::Broker { .. }) {
            return Err(ControlPlaneError::Forbidden);
        }
        if self.physical_cluster(physical_cluster_id).is_none() {
            return Err(not_found("physical cluster", physical_cluster_id));
        }
        endpoints.sort();
        let ids: std::collections::BTreeSet<i32> = endpoints.iter().map(|e| e.broker_id).collect();
        let addresses: std::collections::BTreeSet<_> = endpoints.iter().map(|e| e.address).collect();
        if endpoints.is_empty() || ids.len() != endpoints.len() || addresses.len() != endpoints.len() {
            return Err(invalid("endpoints", "one address per broker, none shared"));
        }
        self.records.public_endpoints.insert(physical_cluster_id.to_string(), endpoints);
        self.audit(
            caller.principal(),
            physical_cluster_id,
            "networking.public_endpoints.moved",
            AuditResult::Success,
            now_ms,
        );
        self.mutated_data_plane();
        Ok(())
    }

    pub fn list_peerings(&self, caller: &Caller) -> Result<Vec<&Peering>> {
        self.require_cloud(caller)?;
        Ok(self.records.peerings.values().collect())
    }

    pub fn peering(&self, caller: &Caller, id: &str) -> Result<&Peering> {
        self.require_cloud(caller)?;
        self.records.peerings.get(id).ok_or_else(|| not_found("peering", id))
    }

    pub fn delete_peering(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if self.records.peerings.remove(id).is_none() {
            return Err(not_found("peering", id));
        }
        self.audit(caller.principal(), id, "networking.peering.deleted", AuditResult::Success, now_ms);
        self.mutated_data_plane();
        Ok(())
    }

    /// Private networking needs a network of the cluster's environment that offers a private
    /// connection type; public networking takes none.
    pub(super) fn check_cluster_network(&self, request: &ClusterRequest) -> Result<()> {
        match (request.networking, &request.network_id) {
            (Networking::Public, None) => Ok(()),
            (Networking::Public, Some(_)) => {
                Err(invalid("network", "a PUBLIC cluster has no network; give PRIVATE networking to use one"))
            }
            (Networking::Private, None) => Err(invalid("network", "PRIVATE networking needs a network id")),
            (Networking::Private, Some(id)) => {
                let network = self.records.networks.get(id).ok_or_else(|| not_found("network", id))?;
                if network.environment_id != request.environment_id {
                    return Err(invalid(
                        "network",
                        format!("network {id} belongs to environment {}", network.environment_id),
                    ));
                }
                if !network.connection_types.iter().any(|t| *t != ConnectionType::Public) {
                    return Err(invalid("network", format!("network {id} offers no private connection type")));
                }
                Ok(())
            }
        }
    }

    /// What the data plane enforces for a network: its range, its connection types and every
    /// customer range connected to it.
    pub(super) fn network_view(&self, id: &str) -> Option<NetworkView> {
        let network = self.records.networks.get(id)?;
        let connected =
            connected_ranges(id, self.records.peerings.values(), self.records.transit_gateway_attachments.values());
        Some(NetworkView {
            id: network.id.clone(),
            cidr: network.cidr,
            connection_types: network.connection_types.clone(),
            connected,
        })
    }
}
