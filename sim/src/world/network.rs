//! The world's networks (C05, C06): where each machine sits, the route tables the service and
//! the customer program (from the control plane's records), and the faults on them (routes
//! withdrawn, peerings deleted, gateways detached, public endpoints moved). Connections whose
//! route goes away stall; those whose route returns resume.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use broker::control_plane::network::{private_address, Cidr, ClusterRoute};
use broker::control_plane::server::RECORDS_FILE;
use broker::net::https_client::HttpsClient;
use broker::node::BROKER_PORT;
use broker::planted_bugs::PlantedBugs;
use madsim::runtime::Handle;

use super::control_plane::{self, CONTROL_PLANE_IP, CONTROL_PLANE_NAME};
use super::fabric::{self, Fabric, Home, Hop, Route};
use super::{public_address, Machine, World, DNS_ZONE, INTER_BROKER_API_KEY, INTER_BROKER_SECRET};
use crate::scenario::{NetworkSpec, CUSTOMER_VPC, PRIVATE_LINK_VPC, TRANSIT_GATEWAY_VPC};

impl World {
    /// Programs the route tables again if the control plane's records changed (the service
    /// programs its cloud account as its records say; the customer's automation follows a new
    /// peering). Established connections over a route that went away stall.
    pub fn sync_routes(&self) {
        // A control plane whose storage is lost (and not yet restored) changes nothing.
        let Ok(Some(bytes)) = broker::log::Disk::read(&self.disks[CONTROL_PLANE_NAME], RECORDS_FILE) else { return };
        let Ok(records) = serde_json::from_slice::<broker::control_plane::state::Records>(&bytes) else { return };
        let seen = self.programmed_version.swap(records.data_plane_version, std::sync::atomic::Ordering::Relaxed);
        if seen == records.data_plane_version {
            return;
        }
        program_routes(&mut self.fabric.lock().unwrap(), &records, self.bugs);
        self.reroute();
    }

    /// The peering that connects the customer VPC, if there is one now.
    pub fn customer_peering(&self) -> Option<broker::control_plane::network::Peering> {
        let customer: Cidr = CUSTOMER_VPC.parse().expect("a literal range");
        self.control_plane_records()
            .peerings
            .into_values()
            .find(|p| p.customer_routes.iter().any(|r| r.overlaps(&customer)))
    }

    /// A peering-deleted fault: the customer deletes its peering through the control plane's
    /// API (retried until it is gone), from the first client machine.
    pub fn delete_customer_peering(self: &Arc<Self>) {
        // Overlapping deletions are counted: the first deletes, the last one's end peers again.
        if !counted_start(&self.peering_deletions) {
            return;
        }
        let Some(peering) = self.customer_peering() else { return };
        let cloud = self.cloud_client(&self.clients[0], 700);
        let target = format!("/networking/v1/peerings/{}", peering.id);
        self.call_until(cloud, "DELETE", target, None, &[204, 404]);
    }

    /// The end of a peering-deleted fault: the customer peers its VPC again (a new peering).
    pub fn recreate_customer_peering(self: &Arc<Self>) {
        if !counted_end(&self.peering_deletions) {
            return;
        }
        let Some(network) = self.control_plane_records().networks.into_values().next() else { return };
        let cloud = self.cloud_client(&self.clients[0], 701);
        let body = serde_json::json!({
            "spec": {
                "display_name": "customer-vpc",
                "network": { "id": network.id },
                "customer": { "routes": [CUSTOMER_VPC] },
            }
        });
        // Until 201: a 409 means the deletion has not happened yet (an overlapping range is still
        // connected).
        let body = serde_json::to_vec(&body).expect("json serializes");
        self.call_until(cloud, "POST", "/networking/v1/peerings".into(), Some(body), &[201]);
    }

    /// The harness's call to the control plane from the first client machine, retried every
    /// second until it answers one of `done`.
    fn call_until(
        &self,
        client: HttpsClient,
        method: &'static str,
        target: String,
        body: Option<Vec<u8>>,
        done: &'static [u16],
    ) {
        let node = Handle::current().get_node(self.clients[0].id).expect("client node");
        node.spawn(async move {
            loop {
                if let Ok((status, _)) = client.call(method, &target, body.clone()).await {
                    if done.contains(&status) {
                        return;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }

    /// A dns-change fault: the service's tooling moves the brokers' public endpoints (`moved`:
    /// to 203.0.113.10<id>; otherwise back) through the control plane, retried until done. The
    /// old addresses stop answering when the route tables follow the records.
    pub fn move_public_endpoints(self: &Arc<Self>, moved: bool) {
        // Overlapping changes are counted: the first moves, the last one's end moves back.
        let (first, last) = if moved {
            (counted_start(&self.public_endpoint_moves), false)
        } else {
            (false, counted_end(&self.public_endpoint_moves))
        };
        if !(first || last) {
            return;
        }
        let (endpoint, tls) = self.control_plane_endpoint(70_100 + moved as u64);
        let client =
            HttpsClient::new(endpoint, tls, self.dialer(&self.clients[0]), INTER_BROKER_API_KEY, INTER_BROKER_SECRET);
        let endpoints: Vec<serde_json::Value> = (1..=self.brokers.len() as i32)
            .map(|id| {
                let address = if moved { Ipv4Addr::new(203, 0, 113, 100 + id as u8) } else { public_address(id) };
                serde_json::json!({ "broker_id": id, "address": address })
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({ "endpoints": endpoints })).expect("json serializes");
        let target = format!("/internal/v1/physical-clusters/{}/public-endpoints", control_plane::PHYSICAL_CLUSTER_ID);
        self.call_until(client, "PUT", target, Some(body), &[204]);
    }

    /// Detaches the cluster network from the customer's transit gateway.
    pub fn detach_transit_gateway(&self) {
        self.fabric.lock().unwrap().detach(control_plane::TRANSIT_GATEWAY_ID, fabric::CLUSTER_NETWORK);
        self.reroute();
    }

    pub fn reattach_transit_gateway(&self) {
        self.fabric.lock().unwrap().reattach(control_plane::TRANSIT_GATEWAY_ID, fabric::CLUSTER_NETWORK);
        self.reroute();
    }

    /// Each broker's id, public endpoint and name (what an outsider could try).
    pub fn public_endpoints(&self) -> Vec<(i32, SocketAddr, String)> {
        (1..=self.brokers.len() as i32)
            .map(|id| {
                let address = SocketAddr::new(IpAddr::V4(public_address(id)), BROKER_PORT);
                (id, address, broker::network::dns::broker_name(DNS_ZONE, id))
            })
            .collect()
    }

    /// The DNS servers' machine names.
    pub fn dns_servers(&self) -> Vec<String> {
        self.dns.iter().map(|m| m.name.clone()).collect()
    }

    /// The customer VPC's routes toward the brokers' addresses (private with a peering, the
    /// internet route otherwise).
    fn customer_routes_to_cluster(&self) -> Vec<Cidr> {
        let fabric = self.fabric.lock().unwrap();
        let targets: Vec<IpAddr> = fabric.private.keys().chain(fabric.public.keys()).copied().collect();
        fabric.networks[CUSTOMER_NETWORK]
            .routes
            .iter()
            .filter(|route| targets.iter().any(|t| route.destination.contains(*t)))
            .filter(|route| self.network.is_none() || route.hop != Hop::InternetGateway)
            .map(|route| route.destination)
            .collect()
    }

    /// A route-withdrawn fault: the customer's route to the cluster is gone; established
    /// connections over it stall, new ones hang.
    pub fn withdraw_customer_route(&self) {
        for destination in self.customer_routes_to_cluster() {
            self.fabric.lock().unwrap().withdraw(CUSTOMER_NETWORK, destination);
        }
        self.reroute();
    }

    pub fn restore_customer_route(&self) {
        for destination in self.customer_routes_to_cluster() {
            self.fabric.lock().unwrap().restore(CUSTOMER_NETWORK, destination);
        }
        self.reroute();
    }

    /// Stalls every machine pair with a flow the fabric no longer carries, and releases those
    /// whose flows are carried again.
    fn reroute(&self) {
        let flows: Vec<(String, IpAddr)> = self.flows.lock().unwrap().iter().cloned().collect();
        let mut unroutable = BTreeSet::new();
        {
            let fabric = self.fabric.lock().unwrap();
            for (source, target) in flows {
                if fabric.route(&source, target).is_err() {
                    let machine = fabric.machine_at(target);
                    // An address that no machine answers any more (a public endpoint moved) is
                    // drained, not cut: its open connections go on, new ones find nothing.
                    if let Some(machine) = machine {
                        unroutable.insert((source.clone(), machine.clone()));
                    }
                }
            }
        }
        let mut stalled = self.stalled.lock().unwrap();
        for (a, b) in unroutable.difference(&stalled.clone()) {
            self.cut(std::slice::from_ref(a), std::slice::from_ref(b));
            self.cut(std::slice::from_ref(b), std::slice::from_ref(a));
        }
        for (a, b) in stalled.difference(&unroutable) {
            self.heal(std::slice::from_ref(a), std::slice::from_ref(b));
            self.heal(std::slice::from_ref(b), std::slice::from_ref(a));
        }
        *stalled = unroutable;
    }
}

/// Counts a fault in; true for the first of overlapping ones.
pub(super) fn counted_start(count: &Mutex<u32>) -> bool {
    let mut count = count.lock().unwrap();
    *count += 1;
    *count == 1
}

/// Counts a fault out; true when the last of overlapping ones ends.
pub(super) fn counted_end(count: &Mutex<u32>) -> bool {
    let mut count = count.lock().unwrap();
    *count = count.saturating_sub(1);
    *count == 0
}

/// The customer's networks in the fabric.
pub(super) const CUSTOMER_NETWORK: &str = "customer";
pub const PRIVATE_LINK_NETWORK: &str = "privatelink";
pub(super) const TRANSIT_GATEWAY_NETWORK: &str = "transit";
/// The PrivateLink load balancer (service side) and its listeners' first port.
pub(super) const PRIVATE_LINK_NLB: &str = "privatelink-nlb";
pub(super) const PRIVATE_LINK_NLB_IP: Ipv4Addr = Ipv4Addr::new(10, 3, 2, 1);
pub(super) const PRIVATE_LINK_PORT_BASE: u16 = 19_000;
pub const PRIVATE_LINK_PROBE: &str = "privatelink-probe";
pub(super) const OUTSIDER: &str = "outsider";

/// Broker `id`'s interface endpoint address in the PrivateLink VPC.
pub(super) fn private_link_endpoint(id: i32) -> Ipv4Addr {
    Ipv4Addr::new(10, 11, 0, 200 + id as u8)
}

/// Which network each workload machine is on: the first are internet hosts, then PrivateLink
/// VPC machines, then transit gateway VPC machines, the rest in the peered customer VPC.
#[derive(Debug, Clone, Default)]
pub(super) struct Placement {
    internet: usize,
    private_link: usize,
    transit_gateway: usize,
}

impl Placement {
    pub(super) fn of(network: Option<&NetworkSpec>) -> Placement {
        network.map_or_else(Placement::default, |n| Placement {
            internet: n.internet_clients as usize,
            private_link: n.private_link_clients as usize,
            transit_gateway: n.transit_gateway_clients as usize,
        })
    }

    pub(super) fn home(&self, index: usize) -> Home {
        if index < self.internet {
            Home::Internet
        } else if index < self.internet + self.private_link {
            Home::Network(PRIVATE_LINK_NETWORK.into())
        } else if index < self.internet + self.private_link + self.transit_gateway {
            Home::Network(TRANSIT_GATEWAY_NETWORK.into())
        } else {
            Home::Network(CUSTOMER_NETWORK.into())
        }
    }

    pub(super) fn address(&self, index: usize) -> IpAddr {
        let host = index as u8 + 1;
        IpAddr::V4(match self.home(index) {
            // TEST-NET-2 for hosts on the internet.
            Home::Internet => Ipv4Addr::new(198, 51, 100, host),
            Home::Network(name) if name == PRIVATE_LINK_NETWORK => Ipv4Addr::new(10, 11, 0, host),
            Home::Network(name) if name == TRANSIT_GATEWAY_NETWORK => Ipv4Addr::new(10, 12, 0, host),
            _ => Ipv4Addr::new(10, 9, 0, host),
        })
    }
}

/// The customer network a range belongs to.
fn customer_network_of(range: &Cidr) -> Option<&'static str> {
    [
        (CUSTOMER_VPC, CUSTOMER_NETWORK),
        (PRIVATE_LINK_VPC, PRIVATE_LINK_NETWORK),
        (TRANSIT_GATEWAY_VPC, TRANSIT_GATEWAY_NETWORK),
    ]
    .into_iter()
    .find(|(vpc, _)| vpc.parse::<Cidr>().expect("a literal range").overlaps(range))
    .map(|(_, name)| name)
}

/// The fabric at the start: service machines; the customer's VPCs with their own route tables
/// (the peered VPC routes the cluster's range over the peering and has an internet route; the
/// PrivateLink VPC is isolated but for its endpoints; the transit VPC routes the cluster's range
/// to the gateway); internet hosts; the brokers' public and private addresses; and the cluster
/// network's route table as the service programs it (`cluster_routes`, from the control
/// plane's records, planted bugs included).
#[allow(clippy::too_many_arguments)]
pub(super) fn build_fabric<'a>(
    brokers: &[Machine],
    dns: &[Machine],
    nlb: Option<&Machine>,
    clients: &[Machine],
    extras: impl Iterator<Item = &'a Machine>,
    other_region: Option<&super::Region>,
    placement: &Placement,
    records: &broker::control_plane::state::Records,
    bugs: PlantedBugs,
) -> Fabric {
    let mut fabric = Fabric::default();
    for machine in brokers.iter().chain(dns).chain(nlb) {
        fabric.homes.insert(machine.name.clone(), Home::Service);
        fabric.machines.insert(machine.ip, machine.name.clone());
    }
    fabric.homes.insert(CONTROL_PLANE_NAME.into(), Home::Service);
    fabric.machines.insert(CONTROL_PLANE_IP, CONTROL_PLANE_NAME.into());
    // The control plane's API is on the internet.
    fabric.public.insert(CONTROL_PLANE_IP, CONTROL_PLANE_NAME.into());
    for (index, machine) in clients.iter().enumerate() {
        fabric.homes.insert(machine.name.clone(), placement.home(index));
        fabric.machines.insert(machine.ip, machine.name.clone());
    }
    for extra in extras {
        let home = if extra.name == OUTSIDER { Home::Internet } else { Home::Network(PRIVATE_LINK_NETWORK.into()) };
        fabric.homes.insert(extra.name.clone(), home);
        fabric.machines.insert(extra.ip, extra.name.clone());
    }
    // Another region: its service machines, its brokers' public endpoints, its customer's host.
    if let Some(region) = other_region {
        for machine in region.brokers.iter().chain(&region.dns) {
            fabric.homes.insert(machine.name.clone(), Home::Service);
            fabric.machines.insert(machine.ip, machine.name.clone());
        }
        for (index, broker) in region.brokers.iter().enumerate() {
            fabric.public.insert(IpAddr::V4(region.site.public_address(index as i32 + 1)), broker.name.clone());
        }
        fabric.homes.insert(region.client.name.clone(), Home::Internet);
        fabric.machines.insert(region.client.ip, region.client.name.clone());
    }
    let range = |text: &str| -> Cidr { text.parse().expect("a literal range") };
    fabric.networks.insert(CUSTOMER_NETWORK.into(), fabric::Network { cidr: range(CUSTOMER_VPC), routes: vec![] });
    // Isolated: no internet route, nothing but its endpoints.
    fabric
        .networks
        .insert(PRIVATE_LINK_NETWORK.into(), fabric::Network { cidr: range(PRIVATE_LINK_VPC), routes: vec![] });
    fabric
        .networks
        .insert(TRANSIT_GATEWAY_NETWORK.into(), fabric::Network { cidr: range(TRANSIT_GATEWAY_VPC), routes: vec![] });
    if let Some(network) = records.networks.values().next() {
        for (index, broker) in brokers.iter().enumerate() {
            if let Some(address) = private_address(&network.cidr, index as i32 + 1) {
                fabric.private.insert(IpAddr::V4(address), broker.name.clone());
            }
        }
        if let (Some(nlb), Some(access)) = (nlb, records.private_link_accesses.values().next()) {
            for id in 1..=brokers.len() as i32 {
                fabric.endpoints.insert(
                    IpAddr::V4(private_link_endpoint(id)),
                    fabric::Endpoint {
                        vpc: PRIVATE_LINK_NETWORK.into(),
                        machine: nlb.name.clone(),
                        port: PRIVATE_LINK_PORT_BASE + id as u16,
                        access: access.id.clone(),
                    },
                );
            }
        }
    }
    program_routes(&mut fabric, records, bugs);
    fabric
}

/// Route tables from the control plane's records: the cluster network's as the service programs
/// it (`cluster_routes`, planted bugs included), and the customer's side of each connection (its
/// automation points the cluster's range at the current peering or its gateway). Called at
/// build and whenever the records change; withdrawn routes and detachments are kept apart.
fn program_routes(fabric: &mut Fabric, records: &broker::control_plane::state::Records, bugs: PlantedBugs) {
    // The brokers' public endpoints: where the control plane last moved them, else as deployed.
    fabric.public.retain(|_, machine| !machine.starts_with("broker-"));
    match records.public_endpoints.get(control_plane::PHYSICAL_CLUSTER_ID) {
        Some(moved) if !moved.is_empty() => {
            for endpoint in moved {
                fabric.public.insert(IpAddr::V4(endpoint.address), format!("broker-{}", endpoint.broker_id));
            }
        }
        _ => {
            for id in 1..=3 {
                fabric.public.insert(IpAddr::V4(public_address(id)), format!("broker-{id}"));
            }
        }
    }
    let internet = Route { destination: "0.0.0.0/0".parse().expect("a literal range"), hop: Hop::InternetGateway };
    let mut customer_routes = vec![internet.clone()];
    let mut transit_routes = vec![internet];
    fabric.transit_gateways.clear();
    if let Some(network) = records.networks.values().next() {
        let programmed = broker::control_plane::network::cluster_routes(
            &network.id,
            records.peerings.values(),
            records.transit_gateway_attachments.values(),
            records.private_link_accesses.values(),
            bugs,
        );
        let mut cluster_routes = Vec::new();
        for route in programmed {
            match route {
                ClusterRoute::Peering { destination, peering_id } => {
                    let Some(to) = customer_network_of(&destination) else { continue };
                    cluster_routes
                        .push(Route { destination, hop: Hop::Peering { id: peering_id.clone(), to: to.into() } });
                    if to == CUSTOMER_NETWORK {
                        // The customer routes the cluster's range back over the same peering.
                        let hop = Hop::Peering { id: peering_id, to: fabric::CLUSTER_NETWORK.into() };
                        customer_routes.push(Route { destination: network.cidr, hop });
                    }
                }
                ClusterRoute::TransitGateway { destination, transit_gateway_id } => {
                    cluster_routes.push(Route { destination, hop: Hop::TransitGateway(transit_gateway_id.clone()) });
                    fabric
                        .transit_gateways
                        .entry(transit_gateway_id.clone())
                        .or_insert_with(|| vec![TRANSIT_GATEWAY_NETWORK.to_string()])
                        .push(fabric::CLUSTER_NETWORK.into());
                    transit_routes
                        .push(Route { destination: network.cidr, hop: Hop::TransitGateway(transit_gateway_id) });
                }
                ClusterRoute::PrivateLink { customer_vpc, access_id } => {
                    if customer_vpc == control_plane::PRIVATE_LINK_VPC_ID {
                        let hop = Hop::PrivateLink { access: access_id, to: PRIVATE_LINK_NETWORK.into() };
                        let destination = PRIVATE_LINK_VPC.parse().expect("a literal range");
                        cluster_routes.push(Route { destination, hop });
                    }
                }
            }
        }
        fabric
            .networks
            .insert(fabric::CLUSTER_NETWORK.into(), fabric::Network { cidr: network.cidr, routes: cluster_routes });
    }
    if let Some(customer) = fabric.networks.get_mut(CUSTOMER_NETWORK) {
        customer.routes = customer_routes;
    }
    if let Some(transit) = fabric.networks.get_mut(TRANSIT_GATEWAY_NETWORK) {
        transit.routes = transit_routes;
    }
}
