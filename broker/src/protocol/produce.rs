//! Produce (acks 0, 1 and all, with min.insync.replicas) and InitProducerId.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_request::TopicProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::ResponseError;

use super::errors;
use crate::encryption::KeyUnavailable;
use crate::node::Node;
use crate::planted_bugs::PlantedBug;
use crate::replication::acks::{self, AppendError, Appended};
use crate::replication::partition::PartitionHandle;

/// A produce request's wait for its acknowledgements, after its appends.
pub(super) type Acknowledging<'n> = Pin<Box<dyn Future<Output = ProduceResponse> + Send + 'n>>;

/// Appends every partition of `request` (before any is waited for) and returns the wait for
/// what its acks promise: a connection appends its next produce while this one waits.
pub(super) async fn append(node: &Node, request: ProduceRequest, version: i16) -> Acknowledging<'_> {
    let timeout = Duration::from_millis(request.timeout_ms.clamp(0, 300_000) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    if node.config.bugs.is_on(PlantedBug::ProduceStallsInMaintenance) {
        const EVERY_MS: u64 = 600_000;
        const HELD_MS: u64 = 8_000;
        let phase = crate::clock::wall_clock_ms() % EVERY_MS;
        if phase < HELD_MS {
            tokio::time::sleep(Duration::from_millis(HELD_MS - phase)).await;
        }
    }
    // Every partition is appended before any is waited for, so that a request's partitions
    // replicate and sync together (one group commit round, one follower fetch) rather than
    // one after another.
    let mut topics = Vec::new();
    for topic in request.topic_data {
        let name = topic.name.0.to_string();
        let mut partitions = Vec::new();
        for data in topic.partition_data {
            let appended = append_partition(node, &name, data.index, data.records, request.acks).await;
            partitions.push((data.index, appended));
        }
        topics.push((topic.name, partitions));
    }
    let acks = request.acks;
    Box::pin(async move {
        let mut responses = Vec::new();
        for (name, partitions) in topics {
            let mut partition_responses = Vec::new();
            for (index, appended) in partitions {
                let response = match appended {
                    Ok(appended) => acknowledge(node, appended, acks, deadline).await,
                    Err(code) => failure(code),
                };
                // log_start_offset exists from v5 on.
                let response = if version >= 5 { response } else { response.with_log_start_offset(-1) };
                partition_responses.push(response.with_index(index));
            }
            responses
                .push(TopicProduceResponse::default().with_name(name).with_partition_responses(partition_responses));
        }
        ProduceResponse::default().with_responses(responses)
    })
}

/// A topic of a produce request answered `code` for each partition, none of it written.
pub(super) fn refused(topic: &TopicProduceData, code: i16) -> TopicProduceResponse {
    let partitions = topic.partition_data.iter().map(|p| failure(code).with_index(p.index)).collect();
    TopicProduceResponse::default().with_name(topic.name.clone()).with_partition_responses(partitions)
}

fn failure(code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default().with_error_code(code).with_base_offset(-1).with_log_start_offset(-1)
}

/// Appends one partition's records as leader; the error is the partition's Kafka code.
async fn append_partition(
    node: &Node,
    topic: &str,
    partition: i32,
    records: Option<bytes::Bytes>,
    acks: i16,
) -> Result<(Arc<PartitionHandle>, Appended), i16> {
    if topic.starts_with("__") {
        return Err(ResponseError::InvalidTopicException.code());
    }
    let Some(handle) = node.partition(topic, partition) else {
        let code = if node.metadata().partition(topic, partition).is_some() {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        return Err(code.code());
    };
    let Some(records) = records else { return Err(ResponseError::CorruptMessage.code()) };
    if !(-1..=1).contains(&acks) {
        return Err(ResponseError::InvalidRequiredAcks.code());
    }
    // A tenant's first write on this node waits (bounded) for its root key to be wrapped.
    let key_status = handle.replica.lock().unwrap().log.key_status();
    if let Err(KeyUnavailable::NotReady(_)) = key_status {
        node.keyring().wait_maintained(KEY_READY_WAIT).await;
    }
    let appended = async {
        if acks == -1 {
            acks::check_min_insync(&handle, node.config.replication.min_insync_replicas)?;
        }
        let appended = acks::append_local(&handle, records)?;
        node.data_changed();
        Ok::<_, AppendError>(appended)
    };
    match appended.await {
        Ok(appended) => Ok((handle, appended)),
        Err(error) => Err(errors::from_append(&error)),
    }
}

/// Waits for what `acks` promises of an append: acks=all, the high watermark past it (every
/// ISR member has it on stable storage); acks=1, the leader's stable storage; acks=0, nothing.
async fn acknowledge(
    node: &Node,
    (handle, appended): (Arc<PartitionHandle>, Appended),
    acks: i16,
    deadline: tokio::time::Instant,
) -> PartitionProduceResponse {
    let waited = match acks {
        // Planted: acks=all answered like acks=1.
        -1 if !node.config.bugs.is_on(PlantedBug::AckBeforeReplication) => {
            acks::wait_until_replicated(&handle, appended, node.config.replication.min_insync_replicas, deadline).await
        }
        0 => Ok(()),
        _ => match handle.wait_durable(appended.last_offset + 1, deadline).await {
            true => Ok(()),
            false => Err(AppendError::Timeout),
        },
    };
    match waited {
        Ok(()) => PartitionProduceResponse::default()
            .with_base_offset(appended.base_offset)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(0),
        Err(error) => failure(errors::from_append(&error)),
    }
}

/// How long a produce waits for a key that is being wrapped before it is refused (retriable).
const KEY_READY_WAIT: Duration = Duration::from_secs(2);

/// Appends as leader and waits for acks=all; returns the base offset.
pub(super) async fn append_replicated(
    node: &Node,
    handle: &Arc<PartitionHandle>,
    records: bytes::Bytes,
    deadline: tokio::time::Instant,
) -> Result<i64, AppendError> {
    let appended = acks::append_local(handle, records)?;
    node.data_changed();
    acks::wait_until_replicated(handle, appended, node.config.replication.min_insync_replicas, deadline).await?;
    Ok(appended.base_offset)
}

pub(super) async fn init_producer_id(node: &Node, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        // Transactions are not offered; refuse rather than pretend.
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    match node.allocate_producer_id().await {
        Ok(producer_id) => {
            InitProducerIdResponse::default().with_producer_id(ProducerId(producer_id)).with_producer_epoch(0)
        }
        Err(error) => {
            // The controller quorum is unreachable: retriable, as Kafka answers it.
            tracing::warn!(%error, "cannot allocate a producer id");
            InitProducerIdResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
