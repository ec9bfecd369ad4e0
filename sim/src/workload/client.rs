//! A cluster-aware wrapper over the broker crate's `Connection`: bootstrap, metadata, one
//! connection per broker, reconnect on failure. Brokers are found by name (`b<id>.<zone>`),
//! resolved through the service's DNS with the client's own resolver and cache (C06), and the
//! TLS server name is the name resolved.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::client::{ClientCredentials, ClientError, Connection};
use broker::net::Dialer;
use broker::network::resolver::{Origin, Resolver};
use broker::node::BROKER_PORT;

use crate::checkers::dns::{ResolutionLog, ResolutionRecord};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use kafka_protocol::protocol::Request;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client finds the brokers (from `World::endpoints`).
pub struct ClusterEndpoints {
    /// The broker cluster's DNS zone.
    pub zone: String,
    pub brokers: i32,
    pub resolver: Arc<Resolver>,
    /// The client's machine and its address (what the DNS service sees), for the resolution log.
    pub machine: String,
    pub source: std::net::IpAddr,
    pub resolutions: ResolutionLog,
}

impl ClusterEndpoints {
    /// Broker `id`'s address and TLS name, resolved now (and logged).
    async fn resolve(&self, id: i32) -> Result<(SocketAddr, String), ClientError> {
        let name = broker::network::dns::broker_name(&self.zone, id);
        let outcome = self.resolver.resolve(&name).await;
        let (origin, addresses) = match &outcome {
            Ok(resolution) => (
                match resolution.origin {
                    Origin::Server(_) => "server".to_string(),
                    Origin::Cache => "cache".to_string(),
                    Origin::Stale => "stale".to_string(),
                    Origin::Override => "override".to_string(),
                },
                resolution.addresses.clone(),
            ),
            Err(error) => (format!("failed: {error}"), Vec::new()),
        };
        // Cache hits are many and say nothing new: only what changed the client's knowledge.
        if origin != "cache" {
            self.resolutions.record(ResolutionRecord {
                at: tokio::time::Instant::now(),
                machine: self.machine.clone(),
                source: self.source,
                name: name.clone(),
                addresses: addresses.clone(),
                origin,
            });
        }
        let resolution = outcome.map_err(|error| ClientError::Resolve(error.to_string()))?;
        let address =
            resolution.addresses.first().ok_or_else(|| ClientError::Resolve(format!("{name}: no address")))?;
        Ok((SocketAddr::new((*address).into(), BROKER_PORT), name))
    }
}

pub struct ClusterClient {
    dialer: Dialer,
    credentials: ClientCredentials,
    endpoints: ClusterEndpoints,
    connections: BTreeMap<i32, Connection>,
    /// (topic, partition) -> leader
    leaders: BTreeMap<(String, i32), i32>,
    pub partitions: BTreeMap<String, i32>,
    next_bootstrap: usize,
}

impl ClusterClient {
    pub fn new(dialer: Dialer, credentials: ClientCredentials, endpoints: ClusterEndpoints) -> Self {
        ClusterClient {
            dialer,
            credentials,
            endpoints,
            connections: BTreeMap::new(),
            leaders: BTreeMap::new(),
            partitions: BTreeMap::new(),
            next_bootstrap: 0,
        }
    }

    async fn connection(&mut self, broker: i32) -> Result<&mut Connection, ClientError> {
        if !self.connections.contains_key(&broker) {
            if !(1..=self.endpoints.brokers).contains(&broker) {
                return Err(ClientError::Malformed(format!("unknown broker {broker}")));
            }
            let (address, host) = self.endpoints.resolve(broker).await?;
            let connection =
                Connection::connect(&self.dialer, address, &host, &self.credentials, CONNECT_TIMEOUT).await?;
            self.connections.insert(broker, connection);
        }
        let connection = self.connections.get_mut(&broker).expect("inserted above");
        connection.set_request_timeout(REQUEST_TIMEOUT);
        Ok(connection)
    }

    /// Sends to one broker; a transport failure drops the connection.
    pub async fn send<R: Request>(
        &mut self,
        broker: i32,
        request: R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        let outcome = self.connection(broker).await?.send(request, version).await;
        if outcome.is_err() {
            self.connections.remove(&broker);
        }
        outcome
    }

    /// Refreshes metadata from the next reachable bootstrap broker.
    pub async fn refresh_metadata(&mut self) -> Result<(), ClientError> {
        let mut last_error = ClientError::Timeout;
        for _ in 0..self.endpoints.brokers as usize {
            let broker = (self.next_bootstrap % self.endpoints.brokers as usize) as i32 + 1;
            self.next_bootstrap += 1;
            match self.send(broker, MetadataRequest::default().with_topics(None), 4).await {
                Ok(response) => {
                    self.apply_metadata(response);
                    self.warm_resolver().await;
                    return Ok(());
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Resolves every broker name the cache does not know yet, so that a leader moving to a
    /// broker this client never used finds its address cached even while DNS is down (C06).
    async fn warm_resolver(&mut self) {
        for id in 1..=self.endpoints.brokers {
            let name = broker::network::dns::broker_name(&self.endpoints.zone, id);
            if !self.endpoints.resolver.knows(&name) {
                // A failure is logged and retried at the next refresh or connect.
                let _ = self.endpoints.resolve(id).await;
            }
        }
    }

    fn apply_metadata(&mut self, response: MetadataResponse) {
        for topic in response.topics {
            let Some(name) = topic.name else { continue };
            let name = name.0.to_string();
            self.partitions.insert(name.clone(), topic.partitions.len() as i32);
            for partition in topic.partitions {
                self.leaders.insert((name.clone(), partition.partition_index), partition.leader_id.0);
            }
        }
    }

    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        self.leaders.get(&(topic.to_string(), partition)).copied().filter(|l| *l >= 0)
    }

    /// Full ISR and a leader for every partition (the liveness phase's convergence test);
    /// `Err` says what is not converged yet.
    pub async fn cluster_healthy(&mut self, topics: &[String]) -> Result<(), NotConverged> {
        let mut last = String::from("no broker answered Metadata");
        for broker in 1..=self.endpoints.brokers {
            let response = match self.send(broker, MetadataRequest::default().with_topics(None), 4).await {
                Ok(response) => response,
                Err(error) => {
                    last = format!("broker {broker}: {error}");
                    continue;
                }
            };
            let mut problems = Vec::new();
            if response.brokers.len() < 3 {
                problems.push(format!("{} live brokers", response.brokers.len()));
            }
            let mut seen = 0;
            for topic in &response.topics {
                let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
                if !(topics.contains(&name) || name == "__consumer_offsets") {
                    continue;
                }
                seen += 1;
                for p in &topic.partitions {
                    if p.leader_id.0 < 0 || p.isr_nodes.len() != p.replica_nodes.len() {
                        problems.push(format!(
                            "{name}-{} leader {} isr {:?}",
                            p.partition_index,
                            p.leader_id.0,
                            p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>()
                        ));
                    }
                }
            }
            if seen != topics.len() + 1 {
                problems.push("topics missing".into());
            }
            self.apply_metadata(response);
            return if problems.is_empty() {
                Ok(())
            } else {
                Err(NotConverged(format!("per broker {broker}: {}", problems.join("; "))))
            };
        }
        Err(NotConverged(last))
    }
}

/// What keeps the cluster from counting as converged (for the liveness verdict's detail).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NotConverged(pub String);
