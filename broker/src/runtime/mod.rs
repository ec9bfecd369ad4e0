//! The running node: recovers storage, binds port 9092 and runs the node's tasks (the accept
//! loop, periodic ticks, metadata following, the controller's peer transport). The top of the
//! broker's layering; nothing below imports it.

mod audit_topic;
mod peers;
mod shredding;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::control_plane::link::ControlPlaneLink;
use crate::controller::metadata::MetadataImage;
use crate::entropy::Purpose;
use crate::kms::client::KmsClient;
use crate::kms::keyring::{Keyring, CLUSTER_KEY_PREFIX};
use crate::log::{Disk, MetaProperties};
use crate::net::PLAINTEXT_INTER_BROKER_PORT;
use crate::node::{ConnectionRefused, Node, NodeConfig, NodeError, BROKER_PORT};
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::quorum::Quorum;
use crate::replication::fetcher::{self, Leader};
use crate::replication::Role;

/// Starts a node: recovers its disk, binds port 9092 and spawns its tasks.
pub async fn start(config: NodeConfig, disk: Arc<dyn Disk>) -> Result<Arc<Node>, NodeError> {
    // A process start is a new incarnation; empty storage is a new directory (never the old one).
    // Both are published (audit events name the incarnation): their generator yields nothing else.
    let (incarnation, fresh_directory) = {
        use rand_core::RngCore;
        let mut random = config.entropy.generator(Purpose::Process);
        (random.next_u64(), random.next_u64())
    };
    let (meta, new_storage) =
        MetaProperties::load_or_join(disk.as_ref(), &config.cluster_id, config.broker_id, fresh_directory)?;
    if new_storage {
        tracing::warn!(broker = config.broker_id, directory = meta.directory_id, "storage is empty: formatted a new directory; this node observes the controller quorum until it replaces its old voter, and re-replicates its partitions");
    }
    let address = SocketAddr::new(config.listen_ip, BROKER_PORT);
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| NodeError::Bind(address, e))?;
    let credentials = crate::client::ClientCredentials {
        tls: crate::security::tls::client_config(&config.tls.ca_cert_pem, &config.crypto)?,
        api_key: config.inter_broker_api_key.clone(),
        secret: config.inter_broker_secret.clone(),
    };
    let control_plane = Arc::new(control_plane_link(&config, disk.clone(), &credentials, incarnation));
    let keyring = open_keyring(&config, disk.as_ref(), &credentials, control_plane.clone()).await?;
    let channels =
        peers::start((meta.node_id, meta.directory_id), &config.voters, config.dialer.clone(), credentials.clone());
    let metadata_log = Quorum::open_metadata_log(disk.clone(), keyring.clone())?;
    let controller = Quorum::start(
        &meta,
        &config.voters,
        metadata_log,
        channels,
        config.entropy.election_seed(),
        config.raft_entries_per_append_max,
        config.bugs,
    );
    let node = Arc::new(Node::new(config, disk, keyring, control_plane, controller, incarnation, credentials)?);
    tracing::info!(broker = node.config.broker_id, zone = %node.config.zone, %address, "node listening");
    tokio::spawn(node.controller().clone().heartbeat_forever(
        node.config.zone.clone(),
        node.config.host.clone(),
        BROKER_PORT as i32,
        incarnation,
        meta.directory_id,
    ));
    tokio::spawn(apply_metadata_forever(node.clone()));
    if node.config.control_plane.is_some() {
        tokio::spawn(node.control_plane().clone().pull_forever());
        tokio::spawn(audit_topic::ship_forever(node.clone()));
    }
    tokio::spawn(node.group_commit_forever());
    tokio::spawn(tick_forever(node.clone()));
    // Runs inside the keyring's own renewals: no task or timer of its own while nothing rotates.
    let weak = Arc::downgrade(&node);
    node.keyring().on_rewrap(Box::new(move |rewrapped| {
        if let Some(node) = weak.upgrade() {
            rewrite_key_files(&node, rewrapped);
        }
    }));
    tokio::spawn(accept_forever(node.clone(), listener));
    if node.config.bugs.is_on(PlantedBug::PlaintextInterBroker) {
        let address = SocketAddr::new(node.config.listen_ip, PLAINTEXT_INTER_BROKER_PORT);
        let plaintext = tokio::net::TcpListener::bind(address).await.map_err(|e| NodeError::Bind(address, e))?;
        tokio::spawn(accept_plaintext_forever(node.clone(), plaintext));
    }
    Ok(node)
}

/// The node's link to the control plane (authenticated as this broker), if it has one; its
/// snapshot from the disk until the first pull.
fn control_plane_link(
    config: &NodeConfig,
    disk: Arc<dyn Disk>,
    credentials: &crate::client::ClientCredentials,
    incarnation: u64,
) -> ControlPlaneLink {
    let client = config.control_plane.clone().map(|link| {
        let client = crate::net::https_client::HttpsClient::new(
            link.endpoint.clone(),
            credentials.tls.clone(),
            config.dialer.clone(),
            &config.inter_broker_api_key,
            &config.inter_broker_secret,
        );
        (client, link)
    });
    let source = format!("crn://faultline/broker={}/process={incarnation}", config.broker_id);
    let link = ControlPlaneLink::new(client, disk, source, config.bugs);
    match &config.log_store {
        Some(log_store) => link.with_security_events(crate::log_store::shipper::SecurityEvents::start(
            log_store,
            &format!("{incarnation:016x}"),
            credentials.tls.clone(),
            config.dialer.clone(),
        )),
        None => link,
    }
}

/// The master key that protects a topic: its tenant's (`lkc-…_name`, C28: the customer's own
/// key or the one the service keeps for it, as the control plane's snapshot says), or the
/// cluster's own for the service's topics. A tenant the snapshot does not (yet) host has none.
fn master_key_resolver(
    cluster_id: &str,
    control_plane: Arc<ControlPlaneLink>,
    bugs: PlantedBugs,
) -> crate::kms::keyring::KeyResolver {
    let cluster_key = format!("{CLUSTER_KEY_PREFIX}{cluster_id}");
    Box::new(move |topic: &str| match topic.split_once('_') {
        Some((tenant, _)) if tenant.starts_with("lkc-") => {
            let access = control_plane.access();
            let own = access.master_key(tenant)?;
            // Planted: a key the service keeps for the tenant taken for the service's own key.
            let service_managed = own.starts_with(crate::kms::keys::SERVICE_ALIAS_PREFIX);
            if bugs.is_on(PlantedBug::TenantsShareAMasterKey) && service_managed {
                return Some(cluster_key.clone());
            }
            Some(own)
        }
        _ => Some(cluster_key.clone()),
    })
}

/// Unwraps every root key this node's disk refers to, and a root under the cluster's key,
/// before anything is opened (a node cannot read its own metadata log without them).
async fn open_keyring(
    config: &NodeConfig,
    disk: &dyn Disk,
    credentials: &crate::client::ClientCredentials,
    control_plane: Arc<ControlPlaneLink>,
) -> Result<Arc<Keyring>, NodeError> {
    if disk.read("metadata/raft.log")?.is_some() {
        return Err(NodeError::UnencryptedStorage(format!("broker {}'s directory", config.broker_id)));
    }
    let client = KmsClient::new(&config.kms, credentials.tls.clone(), config.dialer.clone());
    let keyring = Arc::new(Keyring::new(
        client,
        master_key_resolver(&config.cluster_id, control_plane, config.bugs),
        config.entropy.generator(Purpose::Keyring),
        crate::kms::keyring::KeyLease::default(),
        config.bugs,
    ));
    let cluster_key = format!("{CLUSTER_KEY_PREFIX}{}", config.cluster_id);
    keyring.load(crate::log::segment::wrapped_roots(disk)?, &[cluster_key]).await;
    tokio::spawn(keyring.clone().maintain_forever());
    Ok(keyring)
}

async fn accept_plaintext_forever(node: Arc<Node>, listener: tokio::net::TcpListener) {
    while let Ok((stream, peer)) = listener.accept().await {
        tokio::spawn(crate::protocol::serve_plaintext(node.clone(), stream, peer));
    }
}

async fn accept_forever(node: Arc<Node>, listener: tokio::net::TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => match node.admit_connection(peer.ip()) {
                Ok(slot) => {
                    stream.set_nodelay(true).ok();
                    let node = node.clone();
                    tokio::spawn(async move {
                        crate::protocol::serve_connection(node, stream, peer).await;
                        drop(slot);
                    });
                }
                // A private-only cluster is not there for this source: closed before TLS.
                Err(ConnectionRefused::Endpoint) => {
                    let refused = node.counters.endpoint_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if refused.is_power_of_two() {
                        tracing::warn!(%peer, refused = refused + 1, "connection refused: the source is on no network the clusters here allow");
                    }
                }
                Err(ConnectionRefused::TooManyFromAddress) => {
                    let refused = node.counters.address_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if refused.is_power_of_two() {
                        tracing::warn!(%peer, refused = refused + 1, max = crate::net::connections::CONNECTIONS_PER_IP_MAX, "connection refused: max.connections.per.ip reached");
                    }
                }
            },
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How soon a partition that could not be opened (its key refused or not yet known) is tried
/// again when the metadata does not change meanwhile.
const REOPEN_RETRY: Duration = Duration::from_secs(1);

/// Follows the metadata image: becomes leader or follower of each of our partitions. One that
/// cannot be opened is tried again every `REOPEN_RETRY` (a key comes back without any metadata
/// change).
async fn apply_metadata_forever(node: Arc<Node>) {
    let mut images = node.controller().image();
    let mut unopened = std::collections::BTreeSet::new();
    loop {
        let image = images.borrow_and_update().clone();
        unopened = apply_image(&node, &image, &unopened);
        let changed = if unopened.is_empty() {
            images.changed().await
        } else {
            tokio::select! {
                changed = images.changed() => changed,
                _ = tokio::time::sleep(REOPEN_RETRY) => Ok(()),
            }
        };
        if changed.is_err() {
            return;
        }
    }
}

/// Applies `image`; returns the partitions that could not be opened (logged when they were
/// not already in `unopened`).
fn apply_image(
    node: &Arc<Node>,
    image: &MetadataImage,
    unopened: &std::collections::BTreeSet<(String, usize)>,
) -> std::collections::BTreeSet<(String, usize)> {
    let me = node.config.broker_id;
    let mut failed = std::collections::BTreeSet::new();
    // Until our own registration is in the metadata, the roles it names are our previous
    // life's (KIP-841): a restarted process, maybe with an empty disk, must not lead or follow
    // on their strength. The registration record itself moves them away.
    let Some(broker_epoch) = node.broker_epoch(image) else {
        return failed;
    };
    let now = node.now_ms();
    for (topic, partitions) in &image.topics {
        for (index, state) in partitions.iter().enumerate() {
            if !state.replicas.contains(&me) {
                continue;
            }
            let handle = match node.open_partition(topic, index as i32) {
                Ok(handle) => handle,
                Err(error) => {
                    if !unopened.contains(&(topic.clone(), index)) {
                        tracing::error!(topic, partition = index, %error, "cannot open partition log; retrying every second");
                    }
                    failed.insert((topic.clone(), index));
                    continue;
                }
            };
            if unopened.contains(&(topic.clone(), index)) {
                tracing::info!(topic, partition = index, "partition log opened");
            }
            let follow = {
                let mut replica = handle.replica.lock().unwrap();
                let changed = replica.apply_metadata(state, now);
                if changed && replica.is_leader() {
                    tracing::info!(topic, partition = index, leader_epoch = state.leader_epoch, isr = ?state.isr, broker_epoch, "became partition leader");
                }
                match replica.role {
                    Role::Follower { leader } if changed => Some((leader, replica.leader_epoch)),
                    _ => None,
                }
            };
            if let Some((leader, epoch)) = follow {
                if let Some((address, host)) = node.broker_address(leader) {
                    let leader = Leader { id: leader, epoch, address, host };
                    tokio::spawn(fetcher::follow(
                        node.follower_context(broker_epoch),
                        handle.clone(),
                        topic.clone(),
                        index as i32,
                        leader,
                    ));
                }
            }
            handle.changed();
        }
    }
    node.close_partitions_not_in(image);
    node.groups().unload(|group| node.is_group_coordinator(group));
    node.data_changed();
    failed
}

/// Rewrites the key files of every open partition whose roots the keyring re-wrapped after a
/// rotation, so that no segment keeps depending on an old version (C09).
fn rewrite_key_files(node: &Node, rewrapped: &std::collections::BTreeMap<u64, crate::encryption::WrappedKey>) {
    let mut files = 0;
    for ((topic, partition), handle) in node.partition_handles() {
        match handle.replica.lock().unwrap().log.rewrap_key_files(rewrapped) {
            Ok(changed) => files += changed,
            Err(error) => tracing::warn!(%topic, partition, %error, "cannot rewrite a key file"),
        }
    }
    tracing::info!(roots = rewrapped.len(), files, "re-wrapped root keys under the latest key versions");
}

/// Periodic work: ISR shrink checks, group session expiry, high watermark checkpoints and
/// retention, the shredding of deleted clusters.
async fn tick_forever(node: Arc<Node>) {
    let mut ticks: u64 = 0;
    let shredder = Arc::new(shredding::Shredder::default());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ticks += 1;
        let now = node.now_ms();
        for ((topic, partition), handle) in node.partition_handles() {
            let change = handle.replica.lock().unwrap().tick(now);
            if let Some(change) = change {
                tracing::info!(%topic, partition, isr = ?change.isr, "asking the controller to change the ISR");
                node.request_isr_change(&topic, partition, change);
            }
            // Every 5 s (`RETENTION_PASS_MS`).
            if ticks.is_multiple_of(50) {
                let mut replica = handle.replica.lock().unwrap();
                if let Err(error) = replica.log.checkpoint_high_watermark() {
                    tracing::warn!(%topic, partition, %error, "high watermark checkpoint failed");
                }
                match replica.log.apply_retention() {
                    Ok(0) => {}
                    Ok(segments) => {
                        let log_start_offset = replica.log.log_start_offset();
                        tracing::info!(%topic, partition, segments, log_start_offset, "retention deleted old segments")
                    }
                    Err(error) => tracing::warn!(%topic, partition, %error, "retention could not delete a segment"),
                }
            }
        }
        node.groups().tick(now);
        if ticks.is_multiple_of(10) {
            shredder.tick(&node);
        }
    }
}
