//! A node of the cluster: a broker and a controller voter in one process (KRaft's combined
//! mode), one per zone. This is the state the protocol handlers share: partitions, the metadata
//! image, groups, the controller handle. `runtime` builds it and runs its tasks (accept loop,
//! ticks, metadata following); nothing here spawns or listens.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::client::ClientCredentials;
use crate::control_plane::link::{ControlPlaneLink, ControlPlaneLinkConfig};
use crate::control_plane::quotas::TenantQuotas;
use crate::controller::metadata::{BrokerId, ControllerError, MetadataImage, OFFSETS_TOPIC};
use crate::group::offsets;
use crate::group::service::GroupService;
use crate::kms::client::KmsLinkConfig;
use crate::kms::keyring::Keyring;
use crate::log::{Disk, LogError, MetaPropertiesError, PartitionLog, SegmentPolicy};
use crate::messages::{ControllerRequest, PartitionIsrChange};
use crate::net::connections::{
    ConnectionCounts, ConnectionSlot, CONNECTIONS_PER_IP_MAX, CONNECTIONS_PER_PRINCIPAL_MAX,
};
use crate::net::Dialer;
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::quorum::{Quorum, Voter};
use crate::replication::fetcher::FollowerContext;
use crate::replication::group_commit::GroupCommit;
use crate::replication::partition::PartitionHandle;
use crate::replication::{IsrChangeRequest, Replica, ReplicationConfig, Role};
use crate::security::sasl::CredentialStore;
use crate::security::tls::{self, CryptoProvider, TlsMaterial};

/// The broker port (C01: fixed, not configurable).
pub const BROKER_PORT: u16 = 9092;

pub struct NodeConfig {
    /// The cluster this node belongs to; its storage must say the same.
    pub cluster_id: String,
    pub broker_id: BrokerId,
    pub zone: String,
    /// Advertised host (and TLS server name) of this node.
    pub host: String,
    pub listen_ip: std::net::IpAddr,
    pub voters: Vec<Voter>,
    pub tls: TlsMaterial,
    /// The rustls provider every TLS configuration of this node is built on (the OS one in
    /// real mode; the simulation hands in its seeded one).
    pub crypto: Arc<CryptoProvider>,
    pub credentials: CredentialStore,
    /// This node's own API key and secret for broker-to-broker traffic.
    pub inter_broker_api_key: String,
    pub inter_broker_secret: String,
    pub replication: ReplicationConfig,
    pub default_partitions: i32,
    pub default_replication_factor: i16,
    pub bugs: PlantedBugs,
    /// Raft entries per AppendEntries: a knob the simulation draws per seed (1 commits a
    /// multi-record decision entry by entry, which is what showed the need for atomic batches).
    pub raft_entries_per_append_max: usize,
    /// Where the process's ids and keys come from ([`crate::entropy::Entropy::os`] in real mode).
    pub entropy: crate::entropy::Entropy,
    pub dialer: Dialer,
    /// Where customer keys and ACLs come from; `None`: only the service's own keys work.
    pub control_plane: Option<ControlPlaneLinkConfig>,
    /// The service's own ranges (brokers, control plane, DNS, PrivateLink load balancers):
    /// always admitted. Customers are admitted by the hosted clusters' networking (C05).
    pub service_ranges: Vec<crate::control_plane::network::Cidr>,
    /// The key service and this node's principal there (C08, C09).
    pub kms: KmsLinkConfig,
    /// When partition segments roll.
    pub segment_policy: SegmentPolicy,
    /// Where this node ships its security events (C12); `None`: nowhere.
    pub log_store: Option<crate::log_store::shipper::LogStoreLink>,
    /// The bastions' addresses: the only sources the bastions' key is accepted from (C10).
    pub bastion_sources: Vec<crate::control_plane::network::Cidr>,
    /// Where each connection's request frames are written for fuzz seeds
    /// (`broker dev --capture-requests`); `None` everywhere else.
    pub capture_requests: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("broker_id", &self.broker_id)
            .field("zone", &self.zone)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRefused {
    /// The source is on no network the hosted clusters allow (C05).
    Endpoint,
    /// The source already holds `CONNECTIONS_PER_IP_MAX` connections.
    TooManyFromAddress,
}

/// Connection counters (C02 evidence: refused handshakes are counted).
#[derive(Debug, Default)]
pub struct Counters {
    pub tls_accepted: AtomicU64,
    pub tls_refused: AtomicU64,
    /// Connections closed at accept: the source is on no network the hosted clusters allow.
    pub endpoint_refused: AtomicU64,
    /// Connections closed at accept: the source held `CONNECTIONS_PER_IP_MAX` already.
    pub address_refused: AtomicU64,
}

pub struct Node {
    pub config: NodeConfig,
    disk: Arc<dyn Disk>,
    /// The root keys this node seals its data under (C08).
    keyring: Arc<Keyring>,
    started: tokio::time::Instant,
    acceptor: tokio_rustls::TlsAcceptor,
    pub client_credentials: ClientCredentials,
    /// Customer keys and ACLs, pulled from the control plane.
    control_plane: Arc<ControlPlaneLink>,
    controller: Arc<Quorum>,
    partitions: Mutex<BTreeMap<(String, i32), Arc<PartitionHandle>>>,
    data: Arc<Notify>,
    groups: GroupService,
    /// This process's incarnation (KIP-841).
    incarnation: u64,
    /// The producer-id block being handed out: `[next, end)` (KIP-730).
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    pub counters: Counters,
    /// Per-tenant rates and storage on this broker (C03).
    pub(crate) quotas: TenantQuotas,
    /// Connections held per client address and per customer API key.
    pub(crate) connections_per_ip: ConnectionCounts<std::net::IpAddr>,
    pub(crate) connections_per_principal: ConnectionCounts<String>,
    /// ISR changes waiting for the controller.
    isr_changes: Arc<Mutex<IsrChangeQueue>>,
    /// Syncs the partitions' appends, many per fsync round.
    group_commit: Arc<GroupCommit>,
}

#[derive(Default)]
struct IsrChangeQueue {
    pending: BTreeMap<(String, i32), IsrChangeRequest>,
    /// A sender task is running; it takes what is pending until nothing is.
    sending: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The listener could not bind.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// Storage failure at startup.
    #[error("storage: {0}")]
    Storage(#[from] std::io::Error),
    /// The metadata log could not be opened.
    #[error("metadata log: {0}")]
    MetadataLog(#[from] LogError),
    /// The directory predates encryption at rest (C08).
    #[error("{0} holds a metadata log written before encryption at rest; format a new directory with `broker init`")]
    UnencryptedStorage(String),
    /// The storage's identity is missing, foreign or unreadable.
    #[error("storage identity: {0}")]
    StorageIdentity(#[from] MetaPropertiesError),
}

impl Node {
    /// The node's shared state; `runtime::start` builds it and starts its tasks.
    pub(crate) fn new(
        config: NodeConfig,
        disk: Arc<dyn Disk>,
        keyring: Arc<Keyring>,
        control_plane: Arc<ControlPlaneLink>,
        controller: Arc<Quorum>,
        incarnation: u64,
        client_credentials: ClientCredentials,
    ) -> Result<Node, NodeError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&config.tls, &config.crypto)?);
        Ok(Node {
            control_plane,
            disk,
            keyring,
            started: tokio::time::Instant::now(),
            acceptor,
            client_credentials,
            controller,
            partitions: Mutex::new(BTreeMap::new()),
            data: Arc::new(Notify::new()),
            groups: GroupService::default(),
            incarnation,
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            counters: Counters::default(),
            quotas: TenantQuotas::default(),
            connections_per_ip: ConnectionCounts::new(CONNECTIONS_PER_IP_MAX),
            connections_per_principal: ConnectionCounts::new(CONNECTIONS_PER_PRINCIPAL_MAX),
            isr_changes: Arc::default(),
            group_commit: GroupCommit::new(),
            config,
        })
    }

    pub(crate) fn tls_acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.config.credentials
    }

    pub fn control_plane(&self) -> &Arc<ControlPlaneLink> {
        &self.control_plane
    }

    /// Whether a connection from `source` may proceed to TLS (C05): the service's own ranges
    /// always; customers as the hosted clusters' networking says. A node without a control
    /// plane has no customers to protect (only the service's keys authenticate).
    pub fn admits(&self, source: std::net::IpAddr) -> bool {
        self.config.control_plane.is_none()
            // Planted: no endpoint policy (C05).
            || self.config.bugs.is_on(crate::planted_bugs::PlantedBug::PrivateClusterAcceptsPublic)
            || self.config.service_ranges.iter().any(|range| range.contains(source))
            || self.control_plane.access().endpoints.admits(source)
    }

    /// Whether a connection from `source` may proceed to TLS, and its place in the count of
    /// its address: the endpoint policy (C05), then `CONNECTIONS_PER_IP_MAX` for sources
    /// outside the service's own ranges (`Ok(None)`: not counted).
    pub(crate) fn admit_connection(
        &self,
        source: std::net::IpAddr,
    ) -> Result<Option<ConnectionSlot<std::net::IpAddr>>, ConnectionRefused> {
        if !self.admits(source) {
            return Err(ConnectionRefused::Endpoint);
        }
        if self.config.service_ranges.iter().any(|range| range.contains(source)) {
            return Ok(None);
        }
        self.connections_per_ip.acquire(source).map(Some).ok_or(ConnectionRefused::TooManyFromAddress)
    }

    /// Whether `key` may sign in from `source`: the bastions' key only from a bastion (C10).
    pub(crate) fn key_admitted_from(&self, key: &str, source: &str) -> bool {
        key != crate::operators::BASTION_API_KEY
            || source
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| self.config.bastion_sources.iter().any(|range| range.contains(ip)))
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    pub fn controller(&self) -> &Arc<Quorum> {
        &self.controller
    }

    pub fn groups(&self) -> &GroupService {
        &self.groups
    }

    pub fn metadata(&self) -> Arc<MetadataImage> {
        self.controller.image().borrow().clone()
    }

    /// Milliseconds since this node started (simulated time under madsim).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<PartitionHandle>> {
        self.partitions.lock().unwrap().get(&(topic.to_string(), partition)).cloned()
    }

    /// Runs the group commit's rounds (the runtime spawns it).
    pub(crate) fn group_commit_forever(&self) -> impl std::future::Future<Output = ()> + 'static {
        self.group_commit.clone().run_forever(self.data.clone())
    }

    pub(crate) fn data_changed(&self) {
        self.data.notify_waiters();
    }

    pub(crate) fn data_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.data.notified()
    }

    pub(crate) fn is_group_coordinator(&self, group_id: &str) -> bool {
        self.partition(OFFSETS_TOPIC, offsets::partition_for(group_id))
            .is_some_and(|h| h.replica.lock().unwrap().is_leader())
    }

    /// This process's broker epoch: the index of its registration, once the metadata holds
    /// it (KIP-841). `None` until then: the process must not act on its previous life's roles.
    pub fn broker_epoch(&self, image: &MetadataImage) -> Option<i64> {
        let registration = image.brokers.get(&self.config.broker_id)?;
        (registration.incarnation == self.incarnation
            || self.config.bugs.is_on(PlantedBug::RestartedBrokerKeepsLeadership))
        .then_some(registration.epoch)
    }

    /// Waits, up to `timeout`, until this process's own registration is in its metadata image:
    /// the image has then applied everything committed before it. Kafka answers no client
    /// before this initial catch-up; a node just back from a crash would otherwise describe
    /// topics from an image that does not have them yet. Bounded, so that a node cut off from
    /// the quorum still answers with what it has.
    pub(crate) async fn wait_caught_up(&self, timeout: Duration) {
        let mut images = self.controller.image();
        let caught_up = async {
            loop {
                let registered = self.broker_epoch(&images.borrow_and_update()).is_some();
                if registered || images.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = crate::clock::timeout(timeout, caught_up).await;
    }

    /// This process's incarnation (a new one per start, KIP-841).
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Every partition replica on this node, in (topic, partition) order.
    pub fn partition_handles(&self) -> Vec<((String, i32), Arc<PartitionHandle>)> {
        self.partitions.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// A producer id never handed out before, by any broker, across restarts, controller
    /// failovers and disk losses: ids come in blocks the controller quorum commits (KIP-730).
    pub(crate) async fn allocate_producer_id(&self) -> Result<i64, ControllerError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let broker_epoch = self
                .broker_epoch(&self.metadata())
                .ok_or(ControllerError::StaleBrokerRegistration(self.config.broker_id))?;
            let index = self
                .controller_request(ControllerRequest::AllocateProducerIds {
                    broker: self.config.broker_id,
                    broker_epoch,
                })
                .await?;
            let image = self.metadata();
            let block = image
                .producer_id_blocks
                .get(&self.config.broker_id)
                .copied()
                .filter(|_| image.applied_index >= index)
                .ok_or(ControllerError::Timeout)?;
            *ids = block;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Runs a controller request and waits until this node's metadata reflects it.
    pub(crate) async fn controller_request(&self, request: ControllerRequest) -> Result<u64, ControllerError> {
        let index = self.controller.submit(request).await?;
        self.controller.wait_applied(index, Duration::from_secs(5)).await;
        Ok(index)
    }

    /// Queues a leader's ISR change for the controller (AlterPartition). One request is in
    /// flight per node at a time, carrying every change queued meanwhile (the newest per
    /// partition): a slow controller link then costs a round trip per wave, not per partition.
    pub(crate) fn request_isr_change(self: &Node, topic: &str, partition: i32, change: IsrChangeRequest) {
        let mut queue = self.isr_changes.lock().unwrap();
        queue.pending.insert((topic.to_string(), partition), change);
        if queue.sending {
            return;
        }
        queue.sending = true;
        drop(queue);
        let (queue, controller, leader) = (self.isr_changes.clone(), self.controller.clone(), self.config.broker_id);
        tokio::spawn(async move {
            loop {
                let pending = {
                    let mut queue = queue.lock().unwrap();
                    if queue.pending.is_empty() {
                        queue.sending = false;
                        return;
                    }
                    std::mem::take(&mut queue.pending)
                };
                let changes = pending
                    .into_iter()
                    .map(|((topic, partition), change)| PartitionIsrChange {
                        topic,
                        partition,
                        leader_epoch: change.leader_epoch,
                        partition_epoch: change.partition_epoch,
                        isr: change.isr,
                        broker_epochs: change.broker_epochs,
                    })
                    .collect();
                if let Err(error) = controller.submit(ControllerRequest::AlterPartition { leader, changes }).await {
                    tracing::debug!(%error, "ISR changes refused");
                }
            }
        });
    }

    /// The address of a broker, from the static voter list.
    pub(crate) fn broker_address(&self, broker: BrokerId) -> Option<(SocketAddr, String)> {
        self.config.voters.iter().find(|v| v.id == broker).map(|v| (v.address, v.host.clone()))
    }

    /// What a follower fetcher of this process needs, at `broker_epoch`.
    pub(crate) fn follower_context(&self, broker_epoch: i64) -> FollowerContext {
        FollowerContext {
            broker_id: self.config.broker_id,
            broker_epoch,
            dialer: self.config.dialer.clone(),
            credentials: self.client_credentials.clone(),
            bugs: self.config.bugs,
            data: self.data.clone(),
        }
    }

    /// This node's replica of a partition, opening its log on first use.
    pub(crate) fn open_partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionHandle>, LogError> {
        let mut partitions = self.partitions.lock().unwrap();
        if let Some(handle) = partitions.get(&(topic.to_string(), partition)) {
            return Ok(handle.clone());
        }
        let mut log = PartitionLog::open(
            self.disk.clone(),
            self.keyring.clone(),
            topic,
            &format!("{topic}-{partition}"),
            self.config.segment_policy,
            self.config.bugs,
        )?;
        log.set_config(self.metadata().topic_config(topic));
        let replica = Replica::new(self.config.broker_id, log, self.config.replication, self.config.bugs);
        let handle = Arc::new(PartitionHandle::new(replica, self.group_commit.clone()));
        partitions.insert((topic.to_string(), partition), handle.clone());
        Ok(handle)
    }

    /// Drops the replicas the image no longer places here (deleted topics, moved replicas) and
    /// their logs (C13: unavailable at once).
    pub(crate) fn close_partitions_not_in(&self, image: &MetadataImage) {
        let me = self.config.broker_id;
        let removed: Vec<(String, i32)> = self
            .partitions
            .lock()
            .unwrap()
            .keys()
            .filter(|(t, p)| image.partition(t, *p).is_none_or(|s| !s.replicas.contains(&me)))
            .cloned()
            .collect();
        for (topic, partition) in removed {
            if let Some(handle) = self.partitions.lock().unwrap().remove(&(topic.clone(), partition)) {
                handle.replica.lock().unwrap().role = Role::Offline;
                handle.changed();
            }
            if let Err(error) = crate::log::shred(self.disk.as_ref(), &format!("{topic}-{partition}")) {
                tracing::warn!(%topic, partition, %error, "cannot remove a deleted partition's log");
            }
        }
    }

    /// Shreds the logs on this node's disk of deleted clusters' topics that the image no
    /// longer has: a node down when a cluster was deleted finds them on its return (C13).
    /// Returns the partitions shredded.
    pub(crate) fn shred_logs_of_deleted(&self, deleted: impl Fn(&str) -> bool, image: &MetadataImage) -> Vec<String> {
        let files = match self.disk.list("") {
            Ok(files) => files,
            Err(error) => {
                tracing::warn!(%error, "cannot list the disk for deleted clusters' logs");
                return Vec::new();
            }
        };
        let directories: std::collections::BTreeSet<&str> =
            files.iter().filter_map(|f| f.split_once('/')).map(|(d, _)| d).collect();
        let mut shredded = Vec::new();
        for directory in directories {
            let Some((topic, partition)) = directory.rsplit_once('-') else { continue };
            let Ok(partition) = partition.parse::<i32>() else { continue };
            let served = image.partition(topic, partition).is_some()
                || self.partitions.lock().unwrap().contains_key(&(topic.to_string(), partition));
            if !deleted(topic) || served {
                continue;
            }
            match crate::log::shred(self.disk.as_ref(), directory) {
                Ok(_) => shredded.push(directory.to_string()),
                Err(error) => tracing::warn!(directory, %error, "cannot shred a deleted cluster's log"),
            }
        }
        shredded
    }
}
