//! Where the security services live and how they are reached (C10, C12): addresses, principal
//! names and tokens, shared by the machines that run them and the ones that call them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use broker::log_store::shipper::LogStoreLink;
use broker::log_store::LOG_STORE_PORT;
use broker::net::https_client::HttpsEndpoint;
use broker::operators::OPERATOR_PORT;

/// (name, zone index, address) of each log-store replica.
pub const REPLICAS: [(&str, usize, Ipv4Addr); 3] = [
    ("log-store-1", 0, Ipv4Addr::new(10, 3, 1, 65)),
    ("log-store-2", 1, Ipv4Addr::new(10, 3, 2, 65)),
    ("log-store-3", 2, Ipv4Addr::new(10, 3, 3, 65)),
];
pub const OPS_HOST: (&str, Ipv4Addr) = ("security-ops", Ipv4Addr::new(10, 3, 0, 70));
/// The harness's log source (a service component as the store sees it).
pub const SOURCE: &str = "ops-source";
/// A component whose token an attacker holds: it ships, and tries to tamper.
pub const TAMPERER: &str = "ops-agent";
pub const CUSTODIAN: &str = "custodian";

pub fn token(principal: &str) -> String {
    format!("log-store-token-{principal}")
}

/// How `principal` reaches the log store: every replica.
pub fn link(principal: &str) -> LogStoreLink {
    LogStoreLink {
        endpoints: REPLICAS.iter().map(|(_, _, ip)| endpoint(*ip, LOG_STORE_PORT)).collect(),
        principal: principal.into(),
        token: token(principal),
    }
}

fn endpoint(ip: Ipv4Addr, port: u16) -> HttpsEndpoint {
    HttpsEndpoint { address: SocketAddr::new(IpAddr::V4(ip), port), server_name: ip.to_string() }
}

pub fn replica_endpoint(index: usize) -> HttpsEndpoint {
    endpoint(REPLICAS[index].2, LOG_STORE_PORT)
}

pub const DIRECTORY: (&str, Ipv4Addr) = ("staff-directory", Ipv4Addr::new(10, 3, 0, 71));
/// (name, zone index, address) of each bastion.
pub const BASTIONS: [(&str, usize, Ipv4Addr); 3] = [
    ("bastion-1", 0, Ipv4Addr::new(10, 3, 1, 22)),
    ("bastion-2", 1, Ipv4Addr::new(10, 3, 2, 22)),
    ("bastion-3", 2, Ipv4Addr::new(10, 3, 3, 22)),
];
/// The security admin (the harness creates operators and ends roles as it).
pub const ADMIN: &str = "security-admin";
pub const BASTION_SECRET: &str = "bastion-broker-secret";

pub fn staff_token(principal: &str) -> String {
    format!("staff-token-{principal}")
}

/// The only sources brokers accept the bastions' key from.
pub fn bastion_sources() -> Vec<broker::control_plane::network::Cidr> {
    BASTIONS.iter().map(|(_, _, ip)| format!("{ip}/32").parse().expect("a literal range")).collect()
}

pub fn directory_endpoint() -> HttpsEndpoint {
    endpoint(DIRECTORY.1, OPERATOR_PORT)
}

pub fn bastion_endpoint(index: usize) -> HttpsEndpoint {
    endpoint(BASTIONS[index].2, OPERATOR_PORT)
}

/// The detection pipeline's machine (a service machine with no zone).
pub const DETECTION: (&str, Ipv4Addr) = ("detection", Ipv4Addr::new(10, 3, 0, 72));
/// The paging provider and the customer's security contact's inbox: services on the internet
/// (TEST-NET-1), which the desk at the control plane dials.
pub const PAGER: (&str, Ipv4Addr) = ("pager", Ipv4Addr::new(192, 0, 2, 30));
pub const INBOX: (&str, Ipv4Addr) = ("customer-security", Ipv4Addr::new(192, 0, 2, 25));
/// The attacker with the leaked key: a host on the internet, in no network the key knows.
pub const ATTACKER: (&str, Ipv4Addr) = ("attacker", Ipv4Addr::new(192, 0, 2, 66));
/// The desk's principal for detection and the contact's (the rota's people are principals by name).
pub const DETECTION_PRINCIPAL: &str = "detection";
pub const CONTACT: &str = "security@customer.example";
/// The desk's own shipping principal at the log store.
pub const DESK_SOURCE: &str = "incident-desk";
/// The port the pager and the inbox listen on.
pub const HTTPS_PORT: u16 = 443;

pub fn desk_token(principal: &str) -> String {
    format!("desk-token-{principal}")
}

pub fn pager_endpoint() -> HttpsEndpoint {
    endpoint(PAGER.1, HTTPS_PORT)
}

pub fn inbox_endpoint() -> HttpsEndpoint {
    endpoint(INBOX.1, HTTPS_PORT)
}
