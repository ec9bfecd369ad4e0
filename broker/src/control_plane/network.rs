//! Networks (C05, the networking half of C03): a cluster network is an address space the
//! customer chooses at provisioning (a CIDR), offering connection types; a peering connects a
//! customer VPC to it by the customer's routes. Routing needs every range on both sides to be
//! unambiguous, so a customer route may not overlap the network's CIDR, nor a range already
//! connected to the network, nor another route of the same request: the refusal names both
//! ranges.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// An IPv4 range in CIDR notation, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(Ipv4Net);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IPv4 range in CIDR notation (such as 10.1.0.0/16)")]
    Syntax(String),
    #[error("{given} has host bits set: the range is {network}")]
    HostBits { given: String, network: String },
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let net: Ipv4Net = text.parse().map_err(|_| CidrError::Syntax(text.to_string()))?;
        if net.trunc() != net {
            return Err(CidrError::HostBits { given: text.to_string(), network: net.trunc().to_string() });
        }
        Ok(Cidr(net))
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> String {
        cidr.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Cidr {
    /// Whether the two ranges share an address (one contains the other: CIDR ranges nest).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }

    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        match address {
            std::net::IpAddr::V4(v4) => self.0.contains(&v4),
            std::net::IpAddr::V6(_) => false,
        }
    }

    /// The address `offset` past the range's first, if the range has it.
    pub fn host(&self, offset: u32) -> Option<std::net::Ipv4Addr> {
        let address = u32::from(self.0.network()).checked_add(offset)?;
        let address = std::net::Ipv4Addr::from(address);
        self.0.contains(&address).then_some(address)
    }
}

/// A cluster network's size: /16 (65,536 addresses) to /27 (32), as the clouds' VPCs allow.
pub const NETWORK_PREFIX_LENGTHS: std::ops::RangeInclusive<u8> = 16..=27;

/// How customers reach the clusters of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionType {
    Public,
    Peering,
    PrivateLink,
    TransitGateway,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub environment_id: String,
    pub display_name: String,
    pub cidr: Cidr,
    pub connection_types: Vec<ConnectionType>,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peering {
    pub id: String,
    pub network_id: String,
    pub display_name: String,
    /// The customer VPC's ranges, routed to the network and back.
    pub customer_routes: Vec<Cidr>,
    pub created_at_ms: u64,
}

/// A broker's public endpoint: the address the cloud's load balancer gives it (C06). The DNS
/// service answers public clients with these; moving them is a DNS change clients feel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PublicEndpoint {
    pub broker_id: i32,
    pub address: std::net::Ipv4Addr,
}

/// A cluster network as the data plane enforces it (C05, C06).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkView {
    pub id: String,
    pub cidr: Cidr,
    pub connection_types: Vec<ConnectionType>,
    /// Customer ranges routed to the network (peerings; transit gateway attachments).
    pub connected: Vec<ConnectedRange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectedRange {
    pub cidr: Cidr,
    pub via: ConnectionType,
    /// The peering or attachment that connects it.
    pub connection_id: String,
}

/// The first broker's offset in its network: a broker's private address is the network's
/// address plus this plus its id (room below for the cloud's own addresses, as AWS keeps .0-.3).
pub const BROKER_ADDRESS_OFFSET: u32 = 10;

/// Broker `broker_id`'s private address in `cidr`.
pub fn private_address(cidr: &Cidr, broker_id: i32) -> Option<std::net::Ipv4Addr> {
    cidr.host(BROKER_ADDRESS_OFFSET + u32::try_from(broker_id).ok()?)
}

/// How the brokers of one broker cluster may be reached, from what its hosted clusters'
/// networking says (C05, C06). Before the first snapshot nothing is reachable from outside the
/// service: the policy fails closed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    /// Some hosted cluster is reachable over public endpoints (TLS and API keys still apply).
    pub public: bool,
    pub networks: Vec<NetworkView>,
    /// Where the public endpoints are now, if the control plane has moved them from where the
    /// deployment put them.
    pub public_addresses: Vec<PublicEndpoint>,
}

impl Endpoints {
    /// From each hosted cluster's networking and network.
    pub fn new<'a>(clusters: impl Iterator<Item = (super::model::Networking, Option<&'a NetworkView>)>) -> Self {
        let mut endpoints = Endpoints::default();
        for (networking, network) in clusters {
            if networking == super::model::Networking::Public {
                endpoints.public = true;
            }
            if let Some(network) = network {
                endpoints.public |= network.connection_types.contains(&ConnectionType::Public);
                if !endpoints.networks.iter().any(|n| n.id == network.id) {
                    endpoints.networks.push(network.clone());
                }
            }
        }
        endpoints
    }

    /// The network whose private addresses `source` uses: `source` is inside it, or in a
    /// customer range connected by a connection type the network offers.
    pub fn private_network_for(&self, source: std::net::IpAddr) -> Option<&NetworkView> {
        self.networks.iter().find(|network| {
            network.cidr.contains(source)
                || network
                    .connected
                    .iter()
                    .any(|range| network.connection_types.contains(&range.via) && range.cidr.contains(source))
        })
    }

    /// Whether a connection from `source` may reach the brokers at all.
    pub fn admits(&self, source: std::net::IpAddr) -> bool {
        self.public || self.private_network_for(source).is_some()
    }
}

/// PrivateLink access (C05): the customer's account may create endpoints to the network. There
/// is no CIDR to coordinate and nothing is routed: connections go one way, from the customer's
/// endpoint to the service's load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrivateLinkAccess {
    pub id: String,
    pub network_id: String,
    pub display_name: String,
    /// The customer's VPC whose endpoints are accepted.
    pub customer_vpc: String,
    pub created_at_ms: u64,
}

/// A transit gateway attachment (C05): the network joins the customer's gateway, and the
/// customer's ranges behind it are routed to the network and back (transitive among them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitGatewayAttachment {
    pub id: String,
    pub network_id: String,
    pub display_name: String,
    pub transit_gateway_id: String,
    pub customer_routes: Vec<Cidr>,
    pub created_at_ms: u64,
}

/// A route the service programs into the cluster network's route table in its cloud account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClusterRoute {
    /// To a customer range over a peering (the customer routes back over it).
    Peering { destination: Cidr, peering_id: String },
    /// To a customer range over a transit gateway.
    TransitGateway { destination: Cidr, transit_gateway_id: String },
    /// Into a customer VPC over its PrivateLink endpoint: never correct (PrivateLink is
    /// one-way); only the planted bug `privatelink-allows-reverse` programs it.
    PrivateLink { customer_vpc: String, access_id: String },
}

/// Every customer range connected to network `network_id` (peerings and attachments).
pub fn connected_ranges<'a>(
    network_id: &str,
    peerings: impl Iterator<Item = &'a Peering>,
    attachments: impl Iterator<Item = &'a TransitGatewayAttachment>,
) -> Vec<ConnectedRange> {
    let mut connected: Vec<ConnectedRange> = peerings
        .filter(|p| p.network_id == network_id)
        .flat_map(|p| {
            p.customer_routes.iter().map(|cidr| ConnectedRange {
                cidr: *cidr,
                via: ConnectionType::Peering,
                connection_id: p.id.clone(),
            })
        })
        .collect();
    connected.extend(attachments.filter(|a| a.network_id == network_id).flat_map(|a| {
        a.customer_routes.iter().map(|cidr| ConnectedRange {
            cidr: *cidr,
            via: ConnectionType::TransitGateway,
            connection_id: a.id.clone(),
        })
    }));
    connected
}

/// The cluster network's route table as the service programs it: a route per connected
/// customer range, over its peering or gateway. PrivateLink adds nothing.
pub fn cluster_routes<'a>(
    network_id: &str,
    peerings: impl Iterator<Item = &'a Peering>,
    attachments: impl Iterator<Item = &'a TransitGatewayAttachment>,
    accesses: impl Iterator<Item = &'a PrivateLinkAccess>,
    bugs: crate::planted_bugs::PlantedBugs,
) -> Vec<ClusterRoute> {
    let attachments: Vec<&TransitGatewayAttachment> = attachments.collect();
    let mut routes: Vec<ClusterRoute> = connected_ranges(network_id, peerings, attachments.iter().copied())
        .into_iter()
        .map(|range| match range.via {
            ConnectionType::TransitGateway => ClusterRoute::TransitGateway {
                destination: range.cidr,
                transit_gateway_id: attachments
                    .iter()
                    .find(|a| a.id == range.connection_id)
                    .map(|a| a.transit_gateway_id.clone())
                    .unwrap_or_default(),
            },
            _ => ClusterRoute::Peering { destination: range.cidr, peering_id: range.connection_id },
        })
        .collect();
    // Planted: PrivateLink programmed like a two-way connection (C05).
    if bugs.is_on(crate::planted_bugs::PlantedBug::PrivatelinkAllowsReverse) {
        routes.extend(
            accesses
                .filter(|a| a.network_id == network_id)
                .map(|a| ClusterRoute::PrivateLink { customer_vpc: a.customer_vpc.clone(), access_id: a.id.clone() }),
        );
    }
    routes.sort();
    routes
}

/// Why `routes` cannot be connected to `network`, which already has `connected` ranges; `None`
/// if they can.
pub fn route_conflict<'a>(
    network: &Network,
    connected: impl Iterator<Item = &'a ConnectedRange>,
    routes: &[Cidr],
) -> Option<String> {
    for (index, route) in routes.iter().enumerate() {
        if route.overlaps(&network.cidr) {
            return Some(format!("customer route {route} overlaps network {}'s CIDR {}", network.id, network.cidr));
        }
        if let Some(other) = routes[..index].iter().find(|other| route.overlaps(other)) {
            return Some(format!("customer routes {other} and {route} overlap"));
        }
    }
    for range in connected {
        if let Some(route) = routes.iter().find(|route| route.overlaps(&range.cidr)) {
            let by = match range.via {
                ConnectionType::TransitGateway => "transit gateway attachment",
                _ => "peering",
            };
            return Some(format!(
                "customer route {route} overlaps {}, already connected to network {} by {by} {}",
                range.cidr, network.id, range.connection_id
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_overlap_when_one_contains_the_other() {
        // (a, b, overlap)
        let table = [
            ("10.1.0.0/16", "10.1.0.0/16", true),   // equal
            ("10.1.0.0/16", "10.1.128.0/20", true), // containment
            ("10.1.128.0/20", "10.1.0.0/16", true), // containment, the other way
            ("10.0.0.0/8", "10.255.255.0/24", true),
            ("10.1.0.0/16", "10.2.0.0/16", false),   // adjacent
            ("10.1.0.0/17", "10.1.128.0/17", false), // adjacent halves
            ("10.1.255.0/24", "10.2.0.0/24", false), // adjacent across the boundary
            ("172.31.0.0/16", "10.1.0.0/16", false),
        ];
        for (a, b, overlap) in table {
            assert_eq!(cidr(a).overlaps(&cidr(b)), overlap, "{a} {b}");
        }
    }

    #[test]
    fn only_canonical_ipv4_ranges_parse() {
        assert_eq!(
            "10.1.2.3/16".parse::<Cidr>(),
            Err(CidrError::HostBits { given: "10.1.2.3/16".into(), network: "10.1.0.0/16".into() })
        );
        for bad in ["10.1.0.0", "10.1.0.0/33", "fd00::/8", "ten/8", ""] {
            assert!(matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))), "{bad}");
        }
        assert_eq!(serde_json::to_string(&cidr("10.1.0.0/16")).unwrap(), "\"10.1.0.0/16\"");
        assert!(serde_json::from_str::<Cidr>("\"10.1.0.1/16\"").is_err());
    }

    #[test]
    fn a_route_conflict_names_both_ranges() {
        let network = Network {
            id: "n-1".into(),
            environment_id: "env-1".into(),
            display_name: "net".into(),
            cidr: cidr("10.1.0.0/16"),
            connection_types: vec![ConnectionType::Peering],
            created_at_ms: 0,
        };
        let existing = Peering {
            id: "peer-1".into(),
            network_id: "n-1".into(),
            display_name: "vpc-a".into(),
            customer_routes: vec![cidr("172.31.0.0/16")],
            created_at_ms: 0,
        };
        let conflict = |routes: &[&str]| {
            let routes: Vec<Cidr> = routes.iter().map(|r| cidr(r)).collect();
            let connected = connected_ranges("n-1", [&existing].into_iter(), std::iter::empty());
            route_conflict(&network, connected.iter(), &routes)
        };
        assert_eq!(
            conflict(&["10.1.128.0/20"]).unwrap(),
            "customer route 10.1.128.0/20 overlaps network n-1's CIDR 10.1.0.0/16"
        );
        assert_eq!(
            conflict(&["172.31.4.0/24"]).unwrap(),
            "customer route 172.31.4.0/24 overlaps 172.31.0.0/16, already connected to network n-1 by peering peer-1"
        );
        assert_eq!(
            conflict(&["192.168.0.0/16", "192.168.8.0/24"]).unwrap(),
            "customer routes 192.168.0.0/16 and 192.168.8.0/24 overlap"
        );
        // Adjacent ranges connect.
        assert_eq!(conflict(&["10.2.0.0/16", "172.30.0.0/16"]), None);
    }

    #[test]
    fn endpoints_admit_public_clusters_from_anywhere_and_private_ones_from_their_networks() {
        use crate::control_plane::model::Networking;
        let network = NetworkView {
            id: "n-1".into(),
            cidr: cidr("172.16.0.0/16"),
            connection_types: vec![ConnectionType::Peering],
            connected: vec![
                ConnectedRange { cidr: cidr("10.9.0.0/16"), via: ConnectionType::Peering, connection_id: "p".into() },
                // Recorded, but the network does not offer it: not a way in.
                ConnectedRange {
                    cidr: cidr("10.10.0.0/16"),
                    via: ConnectionType::TransitGateway,
                    connection_id: "t".into(),
                },
            ],
        };
        let private = Endpoints::new([(Networking::Private, Some(&network))].into_iter());
        let public = Endpoints::new([(Networking::Public, None), (Networking::Private, Some(&network))].into_iter());
        let cases = [
            // (policy, source, admitted, private network)
            (&private, "10.9.3.4", true, true),
            (&private, "172.16.0.1", true, true),
            (&private, "10.10.0.1", false, false),
            (&private, "198.51.100.1", false, false),
            (&public, "198.51.100.1", true, false),
            (&public, "10.9.3.4", true, true),
            (&Endpoints::default(), "10.9.3.4", false, false),
        ];
        for (policy, source, admitted, in_network) in cases {
            let source: std::net::IpAddr = source.parse().unwrap();
            assert_eq!(policy.admits(source), admitted, "{source} admitted");
            assert_eq!(policy.private_network_for(source).is_some(), in_network, "{source} private");
        }
        assert_eq!(private_address(&cidr("172.16.0.0/16"), 3), Some("172.16.0.13".parse().unwrap()));
        assert_eq!(private_address(&cidr("172.16.0.0/29"), 3), None, "a /29 has 8 addresses");
    }
}
