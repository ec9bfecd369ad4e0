//! The DNS service (C06): authoritative for one broker cluster's names, `bootstrap.<zone>` and
//! `b<id>.<zone>`, answered per source network. A query from inside a cluster network, or
//! from a customer range peered or attached to it, gets the brokers' private addresses in that
//! network's CIDR; any other source gets the public addresses if a hosted cluster has public
//! endpoints, and no such name otherwise. PrivateLink customers are "any other source": they
//! reach the brokers only through their own override of these names (a private zone pointing
//! at their endpoint), as the clouds require. The wire format is hickory-proto's; the socket
//! is the runtime's, so the simulation runs it too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::control_plane::access::DataPlaneAccess;
use crate::control_plane::network::{private_address, Endpoints};
use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// The DNS port.
pub const DNS_PORT: u16 = 53;
/// How long resolvers may cache an answer: short enough that an address change reaches
/// clients within a minute, long enough that a DNS outage is carried by caches.
pub const ANSWER_TTL: Duration = Duration::from_secs(30);
/// A datagram larger than this is not a query we answer (RFC 1035's UDP limit).
const QUERY_BYTES_MAX: usize = 512;

/// `bootstrap.<zone>`: every broker.
pub fn bootstrap_name(zone: &str) -> String {
    format!("bootstrap.{zone}")
}

/// `b<id>.<zone>`: one broker, as its Metadata advertises it.
pub fn broker_name(zone: &str, broker_id: i32) -> String {
    format!("b{broker_id}.{zone}")
}

/// The names of one broker cluster and its public addresses.
#[derive(Debug, Clone)]
pub struct DnsZone {
    /// Such as `pkc-sim.region-1.faultline.cloud`.
    pub zone: String,
    /// Broker id -> public address (the public endpoint's, which forwards to the broker).
    pub public_addresses: Vec<(i32, Ipv4Addr)>,
    pub bugs: PlantedBugs,
}

/// What a name resolves to for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Addresses(Vec<Ipv4Addr>),
    /// A name of the zone that does not exist, or that has no address for this source.
    NoSuchName,
    /// A name outside the zone: not ours to answer.
    NotOurs,
}

impl DnsZone {
    /// The answer to `name` (any case, with or without the final dot) for a query from `source`.
    pub fn resolve(&self, endpoints: &Endpoints, source: IpAddr, name: &str) -> Answer {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let Some(label) = name.strip_suffix(&format!(".{}", self.zone)) else {
            return Answer::NotOurs;
        };
        let brokers: Vec<i32> = match label {
            "bootstrap" => self.public_addresses.iter().map(|(id, _)| *id).collect(),
            _ => match label.strip_prefix('b').and_then(|id| id.parse::<i32>().ok()) {
                Some(id) if self.public_addresses.iter().any(|(known, _)| *known == id) => vec![id],
                _ => return Answer::NoSuchName,
            },
        };
        let private = if self.bugs.is_on(PlantedBug::DnsIgnoresSourceNetwork) {
            // Planted: one answer for everyone, public when there is one (C06).
            if endpoints.public {
                None
            } else {
                endpoints.networks.first()
            }
        } else {
            endpoints.private_network_for(source)
        };
        // Where the public endpoints are now: moved by the control plane, or as deployed.
        let public_address = |id: &i32| match endpoints.public_addresses.is_empty() {
            true => self.public_addresses.iter().find(|(known, _)| known == id).map(|(_, a)| *a),
            // BUG (planted): a moved endpoint looked up by position, the id taken for an index
            // (ids start at 1): after a move, a broker's name answers another broker's address.
            false if self.bugs.is_on(PlantedBug::DnsAnswersAnotherBroker) => {
                endpoints.public_addresses.get(*id as usize % endpoints.public_addresses.len()).map(|e| e.address)
            }
            false => endpoints.public_addresses.iter().find(|e| e.broker_id == *id).map(|e| e.address),
        };
        let addresses: Vec<Ipv4Addr> = match private {
            Some(network) => brokers.iter().filter_map(|id| private_address(&network.cidr, *id)).collect(),
            None if endpoints.public => brokers.iter().filter_map(public_address).collect(),
            None => Vec::new(),
        };
        if addresses.is_empty() {
            Answer::NoSuchName
        } else {
            Answer::Addresses(addresses)
        }
    }

    /// The response datagram to `query` from `source`; `None` for bytes that are not a query
    /// (dropped, as resolvers retry).
    pub fn answer(&self, endpoints: &Endpoints, source: IpAddr, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() > QUERY_BYTES_MAX {
            return None;
        }
        let request = Message::from_vec(query).ok()?;
        if request.message_type() != MessageType::Query {
            return None;
        }
        let mut response = Message::new();
        response
            .set_id(request.id())
            .set_message_type(MessageType::Response)
            .set_op_code(request.op_code())
            .set_recursion_desired(request.recursion_desired())
            .set_authoritative(true);
        for question in request.queries() {
            response.add_query(question.clone());
        }
        let code = match (request.op_code(), request.queries()) {
            (OpCode::Query, [question]) if question.query_class() == DNSClass::IN => {
                match self.resolve(endpoints, source, &question.name().to_ascii()) {
                    Answer::Addresses(addresses) => {
                        if matches!(question.query_type(), RecordType::A | RecordType::ANY) {
                            for address in addresses {
                                response.add_answer(Record::from_rdata(
                                    question.name().clone(),
                                    ANSWER_TTL.as_secs() as u32,
                                    RData::A(A(address)),
                                ));
                            }
                        }
                        // Other types of an existing name: no data, no error (RFC 2308).
                        ResponseCode::NoError
                    }
                    Answer::NoSuchName => ResponseCode::NXDomain,
                    Answer::NotOurs => {
                        response.set_authoritative(false);
                        ResponseCode::Refused
                    }
                }
            }
            (OpCode::Query, _) => ResponseCode::FormErr,
            _ => ResponseCode::NotImp,
        };
        response.set_response_code(code);
        response.to_vec().ok()
    }
}

/// What the service has answered, for logs and tests.
#[derive(Debug, Default)]
pub struct DnsCounters {
    pub queries: AtomicU64,
    pub dropped: AtomicU64,
}

/// Answers queries on `socket` until the process ends; `access` gives the current policy (the
/// last data-plane snapshot pulled from the control plane).
pub async fn serve(
    socket: tokio::net::UdpSocket,
    zone: DnsZone,
    access: impl Fn() -> Arc<DataPlaneAccess>,
    counters: Arc<DnsCounters>,
) {
    let mut buffer = vec![0u8; QUERY_BYTES_MAX + 1];
    loop {
        let (length, source) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::warn!(%error, "dns: receive failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        counters.queries.fetch_add(1, Ordering::Relaxed);
        match zone.answer(&access().endpoints, source.ip(), &buffer[..length]) {
            Some(response) => {
                if let Err(error) = super::send_to(&socket, &response, source).await {
                    tracing::debug!(%error, %source, "dns: answer not sent");
                }
            }
            None => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Binds `listen` (UDP) and serves in a task; returns the bound address.
pub async fn start(
    listen: SocketAddr,
    zone: DnsZone,
    access: impl Fn() -> Arc<DataPlaneAccess> + Send + 'static,
) -> std::io::Result<(SocketAddr, Arc<DnsCounters>)> {
    let socket = tokio::net::UdpSocket::bind(listen).await?;
    let bound = socket.local_addr()?;
    let counters = Arc::new(DnsCounters::default());
    tokio::spawn(serve(socket, zone, access, counters.clone()));
    tracing::info!(%bound, "dns: serving");
    Ok((bound, counters))
}

/// A query for `name`'s A records with id `id` (for resolvers and tests).
pub fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut message = Message::new();
    message.set_id(id).set_message_type(MessageType::Query).set_op_code(OpCode::Query).set_recursion_desired(true);
    message.add_query(hickory_proto::op::Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    message.to_vec().ok()
}

/// A response's A records and their TTL (the smallest), if it answers query `id`.
pub fn parse_answer(id: u16, bytes: &[u8]) -> Option<(ResponseCode, Vec<Ipv4Addr>, Duration)> {
    let message = Message::from_vec(bytes).ok()?;
    if message.id() != id || message.message_type() != MessageType::Response {
        return None;
    }
    let mut ttl = u32::MAX;
    let addresses = message
        .answers()
        .iter()
        .filter_map(|record| match record.data() {
            RData::A(a) => {
                ttl = ttl.min(record.ttl());
                Some(a.0)
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    let ttl = if addresses.is_empty() { 0 } else { ttl };
    Some((message.response_code(), addresses, Duration::from_secs(ttl as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_plane::network::{Cidr, ConnectedRange, ConnectionType, NetworkView};

    fn zone() -> DnsZone {
        DnsZone {
            zone: "pkc-1.region-1.faultline.cloud".into(),
            public_addresses: vec![(1, Ipv4Addr::new(203, 0, 113, 1)), (2, Ipv4Addr::new(203, 0, 113, 2))],
            bugs: PlantedBugs::default(),
        }
    }

    fn network(types: Vec<ConnectionType>) -> NetworkView {
        NetworkView {
            id: "n-1".into(),
            cidr: "172.16.0.0/16".parse().unwrap(),
            connection_types: types,
            connected: vec![ConnectedRange {
                cidr: "10.9.0.0/16".parse::<Cidr>().unwrap(),
                via: ConnectionType::Peering,
                connection_id: "peer-1".into(),
            }],
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_network_gets_its_own_addresses() {
        let both =
            Endpoints { public: true, networks: vec![network(vec![ConnectionType::Peering])], ..Endpoints::default() };
        let private_only =
            Endpoints { public: false, networks: vec![network(vec![ConnectionType::Peering])], ..Endpoints::default() };
        let zone = zone();
        let private = |id: u8| Ipv4Addr::new(172, 16, 0, 10 + id);
        let public = |id: u8| Ipv4Addr::new(203, 0, 113, id);
        let cases = [
            // (policy, source, name, answer)
            (
                &both,
                "10.9.4.2",
                "bootstrap.pkc-1.region-1.faultline.cloud",
                Answer::Addresses(vec![private(1), private(2)]),
            ),
            (&both, "10.9.4.2", "B2.PKC-1.region-1.faultline.cloud.", Answer::Addresses(vec![private(2)])),
            (
                &both,
                "198.51.100.7",
                "bootstrap.pkc-1.region-1.faultline.cloud",
                Answer::Addresses(vec![public(1), public(2)]),
            ),
            (&both, "172.16.0.99", "b1.pkc-1.region-1.faultline.cloud", Answer::Addresses(vec![private(1)])),
            (&private_only, "198.51.100.7", "bootstrap.pkc-1.region-1.faultline.cloud", Answer::NoSuchName),
            (&private_only, "10.9.0.1", "b1.pkc-1.region-1.faultline.cloud", Answer::Addresses(vec![private(1)])),
            (&both, "10.9.0.1", "b3.pkc-1.region-1.faultline.cloud", Answer::NoSuchName),
            (&both, "10.9.0.1", "bx.pkc-1.region-1.faultline.cloud", Answer::NoSuchName),
            (&both, "10.9.0.1", "example.com", Answer::NotOurs),
            (&both, "10.9.0.1", "evilpkc-1.region-1.faultline.cloud", Answer::NotOurs),
            (&Endpoints::default(), "10.9.0.1", "bootstrap.pkc-1.region-1.faultline.cloud", Answer::NoSuchName),
        ];
        for (policy, source, name, expected) in cases {
            assert_eq!(zone.resolve(policy, ip(source), name), expected, "{source} asks {name}");
        }
    }

    #[test]
    fn a_range_counts_only_through_a_connection_type_the_network_offers() {
        // The peering's range is recorded, but the network no longer offers peering.
        let policy = Endpoints {
            public: true,
            networks: vec![network(vec![ConnectionType::PrivateLink])],
            ..Endpoints::default()
        };
        assert_eq!(
            zone().resolve(&policy, ip("10.9.0.1"), "b1.pkc-1.region-1.faultline.cloud"),
            Answer::Addresses(vec![Ipv4Addr::new(203, 0, 113, 1)])
        );
    }

    #[test]
    fn the_wire_format_round_trips_and_bad_datagrams_are_dropped() {
        let policy =
            Endpoints { public: true, networks: vec![network(vec![ConnectionType::Peering])], ..Endpoints::default() };
        let zone = zone();
        let query = query(7, "bootstrap.pkc-1.region-1.faultline.cloud").unwrap();
        let response = zone.answer(&policy, ip("10.9.0.1"), &query).unwrap();
        let (code, addresses, ttl) = parse_answer(7, &response).unwrap();
        assert_eq!(code, ResponseCode::NoError);
        assert_eq!(addresses, vec![Ipv4Addr::new(172, 16, 0, 11), Ipv4Addr::new(172, 16, 0, 12)]);
        assert_eq!(ttl, ANSWER_TTL);
        assert!(parse_answer(8, &response).is_none(), "another query's answer");
        let missing =
            zone.answer(&policy, ip("10.9.0.1"), &super::query(9, "b9.pkc-1.region-1.faultline.cloud").unwrap());
        assert_eq!(parse_answer(9, &missing.unwrap()).unwrap().0, ResponseCode::NXDomain);
        for garbage in [&b""[..], b"\x00\x01", &[0xffu8; 600][..]] {
            assert!(zone.answer(&policy, ip("10.9.0.1"), garbage).is_none());
        }
    }

    #[test]
    fn moved_public_endpoints_are_answered_from_the_next_snapshot() {
        use crate::control_plane::network::PublicEndpoint;
        let moved = vec![PublicEndpoint { broker_id: 1, address: Ipv4Addr::new(203, 0, 113, 101) }];
        let policy = Endpoints { public: true, networks: vec![], public_addresses: moved };
        assert_eq!(
            zone().resolve(&policy, ip("198.51.100.7"), "b1.pkc-1.region-1.faultline.cloud"),
            Answer::Addresses(vec![Ipv4Addr::new(203, 0, 113, 101)])
        );
    }

    #[test]
    fn the_planted_bug_gives_peered_clients_public_addresses() {
        let policy =
            Endpoints { public: true, networks: vec![network(vec![ConnectionType::Peering])], ..Endpoints::default() };
        let mut zone = zone();
        zone.bugs = PlantedBugs::from_names(["dns-ignores-source-network"]).unwrap();
        assert_eq!(
            zone.resolve(&policy, ip("10.9.0.1"), "b1.pkc-1.region-1.faultline.cloud"),
            Answer::Addresses(vec![Ipv4Addr::new(203, 0, 113, 1)])
        );
    }
}
