//! The cloud's network fabric (C05): address spaces with route tables, and the rules by which a
//! connection from a machine to an address is possible. madsim's network is flat (every node
//! reaches every other); the world's dialers ask the fabric first, and a connect it refuses
//! hangs as in a real cloud, where a packet with no route is dropped.
//!
//! - A network (the cluster network, a customer VPC) has a CIDR and routes: destination range
//!   -> next hop (a peering to another network, a transit gateway, the internet gateway).
//! - Peering is non-transitive: the hop delivers only to addresses inside the peer network,
//!   and the peer must route the reply back over the same peering (routes both ways).
//! - A transit gateway delivers to any attached network whose range holds the target, and that
//!   network must route the reply back to the same gateway: routing is transitive among its
//!   attachments.
//! - Public addresses (the brokers' public endpoints, the control plane's API) are reached by
//!   any network with a live route to the internet gateway; service machines have one.
//! - A PrivateLink endpoint is an address inside the customer's VPC that delivers to the
//!   service's load balancer (a port of a service machine): only machines of that VPC reach it,
//!   and nothing routes back into the VPC. A `PrivateLink` hop in a route table (which only a
//!   planted bug programs) delivers into the VPC without a return route, as the endpoint's
//!   connection tracking would.
//! - The most specific route wins; a withdrawn route is gone until restored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use broker::control_plane::network::Cidr;

/// Where a machine sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    /// The service's own machines (brokers, control plane, DNS): they reach each other
    /// directly, and customers through the cluster network's routes.
    Service,
    /// A network by name (a customer VPC).
    Network(String),
    /// A host on the public internet.
    Internet,
}

/// A route's next hop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hop {
    /// A peering connection to the named network.
    Peering {
        id: String,
        to: String,
    },
    TransitGateway(String),
    InternetGateway,
    /// Into the named customer VPC over PrivateLink access `access` (never correct).
    PrivateLink {
        access: String,
        to: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub destination: Cidr,
    pub hop: Hop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub cidr: Cidr,
    pub routes: Vec<Route>,
}

/// How a connection went.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// Between the service's own machines.
    Service,
    /// Inside one network.
    Local,
    /// Over the internet, to a public address.
    Public,
    Peering(String),
    TransitGateway(String),
    PrivateLink(String),
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Service => f.write_str("service"),
            Path::Local => f.write_str("local"),
            Path::Public => f.write_str("public"),
            Path::Peering(id) => write!(f, "peering {id}"),
            Path::TransitGateway(id) => write!(f, "transit-gateway {id}"),
            Path::PrivateLink(id) => write!(f, "private-link {id}"),
        }
    }
}

/// The cluster network: a network whose private addresses stand for service machines.
pub const CLUSTER_NETWORK: &str = "cluster";

#[derive(Debug, Clone, Default)]
pub struct Fabric {
    pub homes: BTreeMap<String, Home>,
    /// A machine's own address -> its name.
    pub machines: BTreeMap<IpAddr, String>,
    /// Public address -> the machine behind it.
    pub public: BTreeMap<IpAddr, String>,
    /// A private address in the cluster network -> the machine behind it.
    pub private: BTreeMap<IpAddr, String>,
    pub networks: BTreeMap<String, Network>,
    /// Transit gateway -> attached networks.
    pub transit_gateways: BTreeMap<String, Vec<String>>,
    /// PrivateLink endpoint address -> where it delivers.
    pub endpoints: BTreeMap<IpAddr, Endpoint>,
    /// Withdrawn routes, counted by (network, destination): a route is back when the last
    /// fault that withdrew it ends.
    withdrawn: BTreeMap<(String, Cidr), u32>,
    /// Networks detached from a transit gateway, counted by (gateway, network).
    detached: BTreeMap<(String, String), u32>,
}

/// An interface endpoint in a customer VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub vpc: String,
    /// The load balancer's machine and the port of this endpoint's listener.
    pub machine: String,
    pub port: u16,
    /// The PrivateLink access it belongs to.
    pub access: String,
}

/// Where a connection goes: the machine (and port, when the fabric rewrites it) and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub machine: String,
    pub path: Path,
    pub port: Option<u16>,
}

/// Why no connection is possible (what a traceroute would show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable(pub String);

impl Fabric {
    /// Where a connection from `source` to `target` goes, if the fabric carries it.
    pub fn route(&self, source: &str, target: IpAddr) -> Result<Routed, Unreachable> {
        let home = self.homes.get(source).ok_or_else(|| Unreachable(format!("{source} is on no network")))?;
        if let Some(endpoint) = self.endpoints.get(&target) {
            return match home {
                Home::Network(vpc) if *vpc == endpoint.vpc => Ok(Routed {
                    machine: endpoint.machine.clone(),
                    path: Path::PrivateLink(endpoint.access.clone()),
                    port: Some(endpoint.port),
                }),
                _ => Err(Unreachable(format!("{target} is a PrivateLink endpoint inside {}", endpoint.vpc))),
            };
        }
        self.route_to_machine(source, home, target).map(|(machine, path)| Routed { machine, path, port: None })
    }

    fn route_to_machine(&self, source: &str, home: &Home, target: IpAddr) -> Result<(String, Path), Unreachable> {
        if let Some(machine) = self.public.get(&target) {
            return match self.has_internet(home) {
                true => Ok((machine.clone(), Path::Public)),
                false => Err(Unreachable(format!("{source} has no route to the internet for {target}"))),
            };
        }
        let (machine, target_network) = if let Some(machine) = self.private.get(&target) {
            (machine.clone(), CLUSTER_NETWORK.to_string())
        } else if let Some(machine) = self.machines.get(&target) {
            match &self.homes[machine] {
                Home::Service if *home == Home::Service => return Ok((machine.clone(), Path::Service)),
                Home::Service => {
                    return Err(Unreachable(format!("{target} is a service-internal address, not routed to {source}")))
                }
                Home::Internet => {
                    return Err(Unreachable(format!("{target} is a host on the internet with no service")))
                }
                Home::Network(network) => (machine.clone(), network.clone()),
            }
        } else {
            return Err(Unreachable(format!("no machine answers at {target}")));
        };
        // The service's machines sit in the cluster network when they talk to customers.
        let source_network = match home {
            Home::Service => CLUSTER_NETWORK.to_string(),
            Home::Network(network) => network.clone(),
            Home::Internet => return Err(Unreachable(format!("{target} is private; {source} is on the internet"))),
        };
        if source_network == target_network {
            return Ok((machine, if *home == Home::Service { Path::Service } else { Path::Local }));
        }
        let source_ip = self.address_of(source).ok_or_else(|| Unreachable(format!("{source} has no address")))?;
        let (hop, arrives) = self
            .next_hop(&source_network, target)
            .ok_or_else(|| Unreachable(format!("{source_network} has no route to {target}")))?;
        if arrives != target_network {
            return Err(Unreachable(format!("{target} is not in {arrives}, where {hop:?} leads (not transitive)")));
        }
        if let Hop::PrivateLink { access, .. } = hop {
            // Connection tracking carries the replies: no route back is needed.
            return Ok((machine, Path::PrivateLink(access)));
        }
        // Routes both ways: the reply must come back by the same connection.
        match self.next_hop(&target_network, source_ip) {
            Some((back, reached)) if reached == source_network && same_connection(&hop, &back) => {}
            _ => {
                return Err(Unreachable(format!(
                    "{target_network} has no route back to {source_ip} over {hop:?}: connects hang"
                )))
            }
        }
        let path = match hop {
            Hop::Peering { id, .. } => Path::Peering(id),
            Hop::TransitGateway(id) => Path::TransitGateway(id),
            Hop::InternetGateway => Path::Public,
            Hop::PrivateLink { access, .. } => Path::PrivateLink(access),
        };
        Ok((machine, path))
    }

    /// The most specific live route of `network` to `target`, and the network it delivers to.
    fn next_hop(&self, network: &str, target: IpAddr) -> Option<(Hop, String)> {
        let routes = &self.networks.get(network)?.routes;
        let route = routes
            .iter()
            .filter(|r| {
                r.destination.contains(target) && !self.withdrawn.contains_key(&(network.to_string(), r.destination))
            })
            .max_by_key(|r| r.destination.prefix_len())?;
        let arrives = match &route.hop {
            Hop::Peering { to, .. } | Hop::PrivateLink { to, .. } => to.clone(),
            Hop::TransitGateway(gateway) => {
                let attached = self.transit_gateways.get(gateway)?;
                let detached = |n: &str| self.detached.contains_key(&(gateway.clone(), n.to_string()));
                if !attached.iter().any(|n| n == network) || detached(network) {
                    return None;
                }
                attached
                    .iter()
                    .filter(|n| n.as_str() != network && !detached(n))
                    .find(|n| self.networks.get(n.as_str()).is_some_and(|a| a.cidr.contains(target)))?
                    .clone()
            }
            Hop::InternetGateway => return None,
        };
        Some((route.hop.clone(), arrives))
    }

    fn has_internet(&self, home: &Home) -> bool {
        match home {
            Home::Service | Home::Internet => true,
            Home::Network(network) => {
                let Some(routes) = self.networks.get(network).map(|n| &n.routes) else { return false };
                routes.iter().any(|r| {
                    r.hop == Hop::InternetGateway && !self.withdrawn.contains_key(&(network.clone(), r.destination))
                })
            }
        }
    }

    /// The address replies go to: a service machine's private address in the cluster network
    /// (the interface that faces customers), else its own.
    fn address_of(&self, machine: &str) -> Option<IpAddr> {
        let named = |(ip, name): (&IpAddr, &String)| (name.as_str() == machine).then_some(*ip);
        self.private.iter().find_map(named).or_else(|| self.machines.iter().find_map(named))
    }

    /// The machine behind `address`, whatever kind of address it is (public, private, an
    /// endpoint's, its own), if any.
    pub fn machine_at(&self, address: IpAddr) -> Option<&String> {
        self.public
            .get(&address)
            .or(self.private.get(&address))
            .or(self.endpoints.get(&address).map(|e| &e.machine))
            .or(self.machines.get(&address))
    }

    /// Withdraws `network`'s routes to `destination` (counted).
    pub fn withdraw(&mut self, network: &str, destination: Cidr) {
        *self.withdrawn.entry((network.to_string(), destination)).or_insert(0) += 1;
    }

    /// Detaches `network` from `gateway` (counted).
    pub fn detach(&mut self, gateway: &str, network: &str) {
        *self.detached.entry((gateway.to_string(), network.to_string())).or_insert(0) += 1;
    }

    pub fn reattach(&mut self, gateway: &str, network: &str) {
        let key = (gateway.to_string(), network.to_string());
        if let Some(count) = self.detached.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.detached.remove(&key);
            }
        }
    }

    pub fn restore(&mut self, network: &str, destination: Cidr) {
        let key = (network.to_string(), destination);
        if let Some(count) = self.withdrawn.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.withdrawn.remove(&key);
            }
        }
    }
}

/// A reply must use the connection the request came over (a peering is one connection seen
/// from both ends; a transit gateway is one gateway).
fn same_connection(there: &Hop, back: &Hop) -> bool {
    match (there, back) {
        (Hop::Peering { id: a, .. }, Hop::Peering { id: b, .. }) => a == b,
        (Hop::TransitGateway(a), Hop::TransitGateway(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn peering(id: &str, to: &str) -> Hop {
        Hop::Peering { id: id.into(), to: to.into() }
    }

    fn route(destination: &str, hop: Hop) -> Route {
        Route { destination: cidr(destination), hop }
    }

    /// The cluster network 172.16/16 peered with `customer` (10.9/16), which is itself peered
    /// with `partner` (10.20/16); `tgw-vpc` (10.30/16) and the cluster are attached to tgw-1,
    /// and so is `spoke` (10.31/16), which has no route to the cluster.
    fn fabric() -> Fabric {
        let mut fabric = Fabric::default();
        for (name, home, address) in [
            ("broker-1", Home::Service, "10.1.1.1"),
            ("client", Home::Network("customer".into()), "10.9.0.1"),
            ("partner-host", Home::Network("partner".into()), "10.20.0.1"),
            ("tgw-host", Home::Network("tgw-vpc".into()), "10.30.0.1"),
            ("spoke-host", Home::Network("spoke".into()), "10.31.0.1"),
            ("laptop", Home::Internet, "198.51.100.1"),
            ("pl-host", Home::Network("pl-vpc".into()), "10.11.0.1"),
            ("nlb", Home::Service, "10.3.2.1"),
        ] {
            fabric.homes.insert(name.into(), home);
            fabric.machines.insert(ip(address), name.into());
        }
        fabric.private.insert(ip("172.16.0.11"), "broker-1".into());
        fabric.public.insert(ip("203.0.113.1"), "broker-1".into());
        fabric.networks.insert(
            CLUSTER_NETWORK.into(),
            Network {
                cidr: cidr("172.16.0.0/16"),
                routes: vec![
                    route("10.9.0.0/16", peering("peer-1", "customer")),
                    route("10.30.0.0/15", Hop::TransitGateway("tgw-1".into())),
                ],
            },
        );
        fabric.networks.insert(
            "customer".into(),
            Network {
                cidr: cidr("10.9.0.0/16"),
                routes: vec![
                    route("172.16.0.0/16", peering("peer-1", CLUSTER_NETWORK)),
                    route("10.20.0.0/16", peering("peer-2", "partner")),
                    route("0.0.0.0/0", Hop::InternetGateway),
                ],
            },
        );
        fabric.networks.insert(
            "partner".into(),
            Network {
                cidr: cidr("10.20.0.0/16"),
                // The partner points the cluster's range at its peering with the customer.
                routes: vec![
                    route("10.9.0.0/16", peering("peer-2", "customer")),
                    route("172.16.0.0/16", peering("peer-2", "customer")),
                ],
            },
        );
        fabric.networks.insert(
            "tgw-vpc".into(),
            Network {
                cidr: cidr("10.30.0.0/16"),
                routes: vec![route("172.16.0.0/16", Hop::TransitGateway("tgw-1".into()))],
            },
        );
        fabric.networks.insert(
            "spoke".into(),
            Network {
                cidr: cidr("10.31.0.0/16"),
                routes: vec![route("10.30.0.0/16", Hop::TransitGateway("tgw-1".into()))],
            },
        );
        fabric.transit_gateways.insert("tgw-1".into(), vec![CLUSTER_NETWORK.into(), "tgw-vpc".into(), "spoke".into()]);
        // An isolated VPC (no internet route) with a PrivateLink endpoint.
        fabric.networks.insert("pl-vpc".into(), Network { cidr: cidr("10.11.0.0/16"), routes: vec![] });
        fabric.endpoints.insert(
            ip("10.11.0.201"),
            Endpoint { vpc: "pl-vpc".into(), machine: "nlb".into(), port: 19001, access: "pla-1".into() },
        );
        fabric
    }

    #[test]
    fn routes_decide_who_reaches_what_and_by_which_path() {
        let fabric = fabric();
        let reach = |source: &str, target: &str| fabric.route(source, ip(target)).map(|r| (r.machine, r.path));
        let ok = |machine: &str, path: Path| Ok((machine.to_string(), path));
        // (source, target, outcome)
        // (source, target, the machine and path, or no route)
        type Case<'a> = (&'a str, &'a str, Result<(String, Path), ()>);
        let cases: Vec<Case> = vec![
            ("client", "172.16.0.11", ok("broker-1", Path::Peering("peer-1".into()))),
            ("client", "203.0.113.1", ok("broker-1", Path::Public)),
            ("laptop", "203.0.113.1", ok("broker-1", Path::Public)),
            ("laptop", "172.16.0.11", Err(())),
            // Service-internal addresses are not routed to customers.
            ("client", "10.1.1.1", Err(())),
            ("broker-1", "10.1.1.1", ok("broker-1", Path::Service)),
            // Peering carries both ways.
            ("broker-1", "10.9.0.1", ok("client", Path::Peering("peer-1".into()))),
            // Non-transitive: the partner's route through the customer's peering leads nowhere.
            ("partner-host", "172.16.0.11", Err(())),
            ("broker-1", "10.20.0.1", Err(())),
            // Transitive among a gateway's attachments.
            ("tgw-host", "172.16.0.11", ok("broker-1", Path::TransitGateway("tgw-1".into()))),
            ("broker-1", "10.30.0.1", ok("tgw-host", Path::TransitGateway("tgw-1".into()))),
            // Attached but not routed: the spoke has no route to the cluster, and the cluster's
            // 10.30/15 route covers the spoke but the spoke cannot answer: connects hang.
            ("spoke-host", "172.16.0.11", Err(())),
            ("broker-1", "10.31.0.1", Err(())),
            ("client", "10.9.0.1", ok("client", Path::Local)),
            ("client", "192.0.2.1", Err(())),
            // PrivateLink: in from its own VPC only, never back into it.
            ("pl-host", "10.11.0.201", ok("nlb", Path::PrivateLink("pla-1".into()))),
            ("client", "10.11.0.201", Err(())),
            ("broker-1", "10.11.0.201", Err(())),
            ("broker-1", "10.11.0.1", Err(())),
            ("nlb", "10.11.0.1", Err(())),
            ("pl-host", "172.16.0.11", Err(())),
            ("pl-host", "203.0.113.1", Err(())),
        ];
        for (source, target, expected) in cases {
            assert_eq!(reach(source, target).map_err(|_| ()), expected, "{source} -> {target}");
        }
    }

    #[test]
    fn a_withdrawn_route_stops_traffic_until_the_last_withdrawal_ends() {
        let mut fabric = fabric();
        let peered = |fabric: &Fabric| fabric.route("client", ip("172.16.0.11")).is_ok();
        fabric.withdraw("customer", cidr("172.16.0.0/16"));
        fabric.withdraw("customer", cidr("172.16.0.0/16"));
        assert!(!peered(&fabric));
        assert!(fabric.route("broker-1", ip("10.9.0.1")).is_err(), "the reply route is gone: no connection");
        assert!(fabric.route("client", ip("203.0.113.1")).is_ok(), "the internet route is another route");
        fabric.restore("customer", cidr("172.16.0.0/16"));
        assert!(!peered(&fabric));
        fabric.restore("customer", cidr("172.16.0.0/16"));
        assert!(peered(&fabric));
        fabric.withdraw("customer", cidr("0.0.0.0/0"));
        assert!(fabric.route("client", ip("203.0.113.1")).is_err());
    }

    #[test]
    fn a_route_into_a_privatelink_vpc_opens_the_reverse_direction() {
        let mut fabric = fabric();
        let reverse = |fabric: &Fabric| fabric.route("broker-1", ip("10.11.0.1")).map(|r| r.path);
        assert!(reverse(&fabric).is_err());
        // What the planted bug programs: no return route is needed for it to work.
        fabric
            .networks
            .get_mut(CLUSTER_NETWORK)
            .unwrap()
            .routes
            .push(route("10.11.0.0/16", Hop::PrivateLink { access: "pla-1".into(), to: "pl-vpc".into() }));
        assert_eq!(reverse(&fabric), Ok(Path::PrivateLink("pla-1".into())));
        let endpoint = fabric.route("pl-host", ip("10.11.0.201")).unwrap();
        assert_eq!(endpoint.port, Some(19001), "the endpoint delivers to its listener's port");
    }

    #[test]
    fn detaching_from_a_transit_gateway_cuts_both_ways_until_reattached() {
        let mut fabric = fabric();
        fabric.detach("tgw-1", CLUSTER_NETWORK);
        assert!(fabric.route("tgw-host", ip("172.16.0.11")).is_err());
        assert!(fabric.route("broker-1", ip("10.30.0.1")).is_err());
        fabric.reattach("tgw-1", CLUSTER_NETWORK);
        assert!(fabric.route("tgw-host", ip("172.16.0.11")).is_ok());
    }

    #[test]
    fn the_most_specific_route_wins() {
        let mut fabric = fabric();
        // A more specific customer route to a black hole (a peering to a network without the
        // address) takes 172.16.0.0/24 away from the working /16.
        fabric.networks.get_mut("customer").unwrap().routes.push(route("172.16.0.0/24", peering("peer-2", "partner")));
        assert!(fabric.route("client", ip("172.16.0.11")).is_err());
    }
}
