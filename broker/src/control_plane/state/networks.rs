//! Networks and peerings (C05): the control plane's side of `super::super::network`.

use super::{check_name, invalid, not_found, Caller, ClusterRequest, ControlPlane, ControlPlaneError, Result};
use crate::control_plane::audit::AuditResult;
use crate::control_plane::model::Networking;
use crate::control_plane::network::{
    route_conflict, Cidr, ConnectedRange, ConnectionType, Network, NetworkView, Peering, NETWORK_PREFIX_LENGTHS,
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
        if let Some(peering) = self.records.peerings.values().find(|p| p.network_id == id) {
            return Err(ControlPlaneError::Conflict(format!("network {id} still has peering {}", peering.id)));
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
        let network = self.records.networks.get(network_id).ok_or_else(|| not_found("network", network_id))?;
        if !network.connection_types.contains(&ConnectionType::Peering) {
            return Err(invalid("network", format!("network {network_id} does not offer PEERING")));
        }
        if customer_routes.is_empty() {
            return Err(invalid("customer.routes", "at least one range"));
        }
        // Planted: the overlap rules are skipped (C05).
        if !self.config.bugs.is_on(PlantedBug::CidrOverlapAccepted) {
            if let Some(conflict) = route_conflict(network, self.records.peerings.values(), &customer_routes) {
                return Err(ControlPlaneError::Conflict(conflict));
            }
        }
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
        let connected = self
            .records
            .peerings
            .values()
            .filter(|p| p.network_id == id)
            .flat_map(|p| {
                p.customer_routes.iter().map(|cidr| ConnectedRange {
                    cidr: *cidr,
                    via: ConnectionType::Peering,
                    connection_id: p.id.clone(),
                })
            })
            .collect();
        Some(NetworkView {
            id: network.id.clone(),
            cidr: network.cidr,
            connection_types: network.connection_types.clone(),
            connected,
        })
    }
}
