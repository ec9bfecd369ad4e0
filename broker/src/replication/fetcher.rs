//! The follower side of replication: fetch from the leader with the replica id, truncate where
//! the leader says our log diverges (KIP-101/KIP-320), append, learn the high watermark.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use tokio::sync::Notify;

use super::partition::PartitionHandle;
use super::replica::Role;
use crate::client::{ClientCredentials, Connection};
use crate::messages::InternalRequest;
use crate::net::{Dialer, PLAINTEXT_INTER_BROKER_PORT};
use crate::planted_bugs::{PlantedBug, PlantedBugs};

const FETCH_VERSION: i16 = 12;
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// What a follower needs of its node: who it is, how it reaches the leader, and whom to wake.
#[derive(Clone)]
pub struct FollowerContext {
    pub broker_id: i32,
    /// The broker epoch this process's fetches carry (KIP-903).
    pub broker_epoch: i64,
    pub dialer: Dialer,
    pub credentials: ClientCredentials,
    pub bugs: PlantedBugs,
    /// The node-wide signal that data moved (wakes long polls).
    pub data: Arc<Notify>,
}

/// Where the leader is: its broker id, address and TLS server name.
pub struct Leader {
    pub id: i32,
    pub epoch: i32,
    pub address: SocketAddr,
    pub host: String,
}

/// Runs until this replica stops following `leader` in its epoch.
pub async fn follow(
    context: FollowerContext,
    handle: Arc<PartitionHandle>,
    topic: String,
    partition: i32,
    leader: Leader,
) {
    let Leader { id: leader, epoch: leader_epoch, address, host } = leader;
    let mut connection: Option<Connection> = None;
    // The planted bug `skip-truncation` stops reporting our last epoch once told we diverge.
    let mut divergence_ignored = false;
    loop {
        let (fetch_offset, last_fetched_epoch, durable) = {
            let replica = handle.replica.lock().unwrap();
            let following = matches!(replica.role, Role::Follower { leader: l } if l == leader)
                && replica.leader_epoch == leader_epoch;
            if !following {
                return;
            }
            (
                replica.log.log_end_offset(),
                if divergence_ignored { -1 } else { replica.log.last_epoch() },
                replica.log.durable_end_offset() == replica.log.log_end_offset(),
            )
        };
        // A fetch offset tells the leader "I hold everything below it", which counts towards
        // acks=all: only once it is on stable storage here (planted: at once).
        if !durable && !context.bugs.is_on(PlantedBug::AckBeforeSync) {
            handle.wait_durable(fetch_offset, tokio::time::Instant::now() + RETRY_BACKOFF).await;
            continue;
        }
        if connection.is_none() {
            let connected = if context.bugs.is_on(PlantedBug::PlaintextInterBroker) {
                let plaintext = SocketAddr::new(address.ip(), PLAINTEXT_INTER_BROKER_PORT);
                Connection::connect_plaintext(&context.dialer, plaintext, &context.credentials, Duration::from_secs(2))
                    .await
            } else {
                Connection::connect(&context.dialer, address, &host, &context.credentials, Duration::from_secs(2)).await
            };
            match connected {
                Ok(mut fresh) => {
                    fresh.set_request_timeout(Duration::from_secs(5));
                    let identify = InternalRequest::IdentifyReplica {
                        broker: context.broker_id,
                        broker_epoch: context.broker_epoch,
                    };
                    if let Err(error) = fresh.send_internal(&identify).await {
                        tracing::debug!(%topic, partition, leader, %error, "cannot identify to the leader");
                        tokio::time::sleep(RETRY_BACKOFF).await;
                        continue;
                    }
                    connection = Some(fresh);
                }
                Err(error) => {
                    tracing::debug!(%topic, partition, leader, %error, "cannot reach the leader");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    continue;
                }
            }
        }
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(context.broker_id))
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(16 * 1024 * 1024)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(leader_epoch)
                    .with_fetch_offset(fetch_offset)
                    .with_last_fetched_epoch(last_fetched_epoch)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(8 * 1024 * 1024)])]);
        let response = match connection.as_mut().expect("connected above").send(request, FETCH_VERSION).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%topic, partition, leader, %error, "fetch from leader failed");
                connection = None;
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        };
        let Some(data) =
            response.responses.into_iter().flat_map(|t| t.partitions).find(|p| p.partition_index == partition)
        else {
            tokio::time::sleep(RETRY_BACKOFF).await;
            continue;
        };
        if data.error_code == ResponseError::OffsetOutOfRange.code() && data.log_start_offset > fetch_offset {
            // The leader's retention took what this replica lacks: start again at its log
            // start (Kafka's follower does the same).
            let restarted = handle.replica.lock().unwrap().log.restart_at(data.log_start_offset);
            match restarted {
                Ok(()) => {
                    tracing::info!(%topic, partition, log_start_offset = data.log_start_offset, "behind the leader's log start: the log starts again there")
                }
                Err(error) => {
                    tracing::warn!(%topic, partition, %error, "cannot start the log again at the leader's log start")
                }
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
            continue;
        }
        if data.error_code != 0 {
            // Not (yet) the leader, or epochs disagree: wait for metadata to catch up.
            tracing::debug!(%topic, partition, leader, leader_epoch, error = data.error_code, "the leader refused our fetch");
            tokio::time::sleep(RETRY_BACKOFF).await;
            continue;
        }
        {
            let mut replica = handle.replica.lock().unwrap();
            if replica.leader_epoch != leader_epoch {
                return;
            }
            // The default (-1, -1) means no divergence; the leader sends (-1, 0) for "all of it".
            if data.diverging_epoch.epoch >= 0 || data.diverging_epoch.end_offset >= 0 {
                if context.bugs.is_on(PlantedBug::SkipTruncation) {
                    divergence_ignored = true;
                } else {
                    match replica.truncate_on_divergence(data.diverging_epoch.epoch, data.diverging_epoch.end_offset) {
                        Ok(log_end_offset) => {
                            tracing::info!(%topic, partition, log_end_offset, "truncated a diverging log suffix (KIP-101)")
                        }
                        Err(error) => tracing::error!(%topic, partition, %error, "truncation failed"),
                    }
                }
            }
            if let Some(records) = data.records.filter(|r| !r.is_empty()) {
                match replica.log.append_as_follower(records) {
                    // Its key is being wrapped, or refused: the next fetch tries again.
                    Err(error @ crate::log::LogError::KeyUnavailable(_)) => {
                        tracing::debug!(%topic, partition, %error, "follower append waits for its key")
                    }
                    Err(error) => tracing::error!(%topic, partition, %error, "follower append failed"),
                    Ok(_) => {}
                }
            }
            replica.follow_high_watermark(data.high_watermark);
        }
        handle.request_sync();
        handle.changed();
        context.data.notify_waiters();
    }
}
