//! Produce (acks 0, 1 and all, with min.insync.replicas) and InitProducerId.

use std::time::Duration;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::errors;
use crate::log::AppendOutcome;
use crate::node::{Node, PartitionHandle};

pub async fn produce(node: &Node, request: ProduceRequest, version: i16) -> ProduceResponse {
    let timeout = Duration::from_millis(request.timeout_ms.clamp(0, 300_000) as u64);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut responses = Vec::new();
    for topic in request.topic_data {
        let name = topic.name.0.to_string();
        let mut partition_responses = Vec::new();
        for data in topic.partition_data {
            let response = produce_partition(node, &name, data.index, data.records, request.acks, deadline).await;
            // log_start_offset exists from v5 on.
            let response = if version >= 5 { response } else { response.with_log_start_offset(-1) };
            partition_responses.push(response.with_index(data.index));
        }
        responses.push(TopicProduceResponse::default().with_name(topic.name).with_partition_responses(partition_responses));
    }
    ProduceResponse::default().with_responses(responses)
}

fn failure(code: i16) -> PartitionProduceResponse {
    PartitionProduceResponse::default().with_error_code(code).with_base_offset(-1).with_log_start_offset(-1)
}

async fn produce_partition(node: &Node, topic: &str, partition: i32, records: Option<bytes::Bytes>, acks: i16, deadline: tokio::time::Instant) -> PartitionProduceResponse {
    if topic.starts_with("__") {
        return failure(ResponseError::InvalidTopicException.code());
    }
    let Some(handle) = node.partition(topic, partition) else {
        let code = if node.metadata().partition(topic, partition).is_some() { ResponseError::NotLeaderOrFollower } else { ResponseError::UnknownTopicOrPartition };
        return failure(code.code());
    };
    let Some(records) = records else { return failure(ResponseError::CorruptMessage.code()) };
    if !matches!(acks, -1 | 0 | 1) {
        return failure(ResponseError::InvalidRequiredAcks.code());
    }
    {
        let replica = handle.replica.lock().unwrap();
        if !replica.is_leader() {
            return failure(ResponseError::NotLeaderOrFollower.code());
        }
        if acks == -1 && replica.isr_size() < node.config.replication.min_insync_replicas {
            return failure(ResponseError::NotEnoughReplicas.code());
        }
    }
    let base_offset = if acks == -1 && !node.config.bugs.ack_before_replication {
        append_replicated(node, &handle, records, deadline).await
    } else {
        append_local(node, &handle, records).map(|(base_offset, _, _)| base_offset)
    };
    match base_offset {
        Ok(base_offset) => PartitionProduceResponse::default().with_base_offset(base_offset).with_log_append_time_ms(-1).with_log_start_offset(0),
        Err(code) => failure(code),
    }
}

/// Appends as leader; returns (base offset, last offset, leader epoch).
fn append_local(node: &Node, handle: &PartitionHandle, records: bytes::Bytes) -> Result<(i64, i64, i32), i16> {
    let outcome = {
        let mut replica = handle.replica.lock().unwrap();
        if !replica.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower.code());
        }
        let epoch = replica.leader_epoch;
        match replica.log.append_as_leader(records, epoch) {
            Ok(outcome) => {
                replica.maybe_advance_high_watermark();
                (outcome, epoch)
            }
            Err(error) => {
                tracing::debug!(%error, "append refused");
                return Err(errors::from_log(&error));
            }
        }
    };
    handle.changed();
    node.data_changed();
    let (AppendOutcome::Appended { base_offset, last_offset } | AppendOutcome::Duplicate { base_offset, last_offset }) = outcome.0;
    Ok((base_offset, last_offset, outcome.1))
}

/// Appends as leader and waits for acks=all; returns the base offset.
pub(crate) async fn append_replicated(node: &Node, handle: &PartitionHandle, records: bytes::Bytes, deadline: tokio::time::Instant) -> Result<i64, i16> {
    let (base_offset, last_offset, leader_epoch) = append_local(node, handle, records)?;
    wait_until_replicated(node, handle, last_offset, leader_epoch, deadline).await?;
    Ok(base_offset)
}

/// acks=all: the write is acknowledged once the high watermark passes it, which needs every
/// member of an ISR of at least min.insync.replicas.
async fn wait_until_replicated(node: &Node, handle: &PartitionHandle, last_offset: i64, leader_epoch: i32, deadline: tokio::time::Instant) -> Result<(), i16> {
    loop {
        let notified = handle.notified();
        {
            let replica = handle.replica.lock().unwrap();
            if !replica.is_leader() || replica.leader_epoch != leader_epoch {
                return Err(ResponseError::NotLeaderOrFollower.code());
            }
            if replica.log.high_watermark() > last_offset {
                return Ok(());
            }
            if replica.isr_size() < node.config.replication.min_insync_replicas {
                return Err(ResponseError::NotEnoughReplicasAfterAppend.code());
            }
        }
        if tokio::time::timeout(deadline.saturating_duration_since(tokio::time::Instant::now()), notified).await.is_err() {
            return Err(ResponseError::RequestTimedOut.code());
        }
    }
}

pub async fn init_producer_id(node: &Node, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        // Transactions are not offered; refuse rather than pretend.
        return InitProducerIdResponse::default().with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1);
    }
    match node.allocate_producer_id().await {
        Ok(producer_id) => InitProducerIdResponse::default().with_producer_id(ProducerId(producer_id)).with_producer_epoch(0),
        Err(error) => {
            // The controller quorum is unreachable: retriable, as Kafka answers it.
            tracing::warn!(%error, "cannot allocate a producer id");
            InitProducerIdResponse::default().with_error_code(ResponseError::CoordinatorNotAvailable.code()).with_producer_id(ProducerId(-1)).with_producer_epoch(-1)
        }
    }
}
