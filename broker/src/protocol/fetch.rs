//! Fetch (consumers and follower replicas) and ListOffsets.

use std::time::Duration;

use kafka_protocol::messages::fetch_response::{EpochEndOffset, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::ResponseError;

use super::session::Session;
use crate::controller::metadata::NO_BROKER_EPOCH;
use crate::node::Node;
use crate::security::sasl::Role;

/// Per-partition read cap when the request's is larger (bounded memory per response).
const PARTITION_BYTES_MAX: usize = 8 * 1024 * 1024;

pub(super) async fn fetch(node: &Node, session: &Session, request: FetchRequest, version: i16) -> FetchResponse {
    let replica_id = request.replica_id.0;
    let is_broker = session.principal.as_ref().is_some_and(|p| p.role == Role::Broker);
    if replica_id >= 0 && !is_broker {
        return FetchResponse::default().with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    // The epoch the follower identified its connection with; unknown epochs never join an ISR.
    let replica_epoch =
        session.replica.filter(|(broker, _)| *broker == replica_id).map_or(NO_BROKER_EPOCH, |(_, epoch)| epoch);
    let wait = Duration::from_millis(request.max_wait_ms.clamp(0, 30_000) as u64);
    let deadline = tokio::time::Instant::now() + wait;
    // A one-partition fetch (followers and our clients) waits on that partition alone, so an
    // append does not wake every long poll on the node.
    let single = match request.topics.as_slice() {
        [topic] if topic.partitions.len() == 1 => node.partition(&topic.topic.0, topic.partitions[0].partition),
        _ => None,
    };
    loop {
        let node_wide = node.data_notified();
        let partition = single.as_ref().map(|handle| handle.notified());
        let (response, bytes, errors) = fetch_once(node, &request, replica_id, replica_epoch, version);
        if bytes > 0 || errors {
            return response;
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let woken = match partition {
            Some(partition) => crate::clock::timeout(remaining, partition).await.is_ok(),
            None => crate::clock::timeout(remaining, node_wide).await.is_ok(),
        };
        if !woken {
            return fetch_once(node, &request, replica_id, replica_epoch, version).0;
        }
    }
}

fn fetch_once(
    node: &Node,
    request: &FetchRequest,
    replica_id: i32,
    replica_epoch: i64,
    version: i16,
) -> (FetchResponse, usize, bool) {
    let mut total_bytes = 0usize;
    let mut any_error = false;
    let mut responses = Vec::new();
    let request_bytes_max = (request.max_bytes.max(1) as usize).min(64 * 1024 * 1024);
    for topic in &request.topics {
        let name = topic.topic.0.to_string();
        let mut partitions = Vec::new();
        for fetch in &topic.partitions {
            // Once the response holds `max_bytes`, the partitions after return no records (they
            // would each bring at least one batch): a fetch naming many partitions stays within
            // max_bytes plus one batch (KIP-74).
            let remaining = request_bytes_max.saturating_sub(total_bytes);
            let budget = (fetch.partition_max_bytes.max(1) as usize).min(PARTITION_BYTES_MAX).min(remaining);
            let data = fetch_partition(node, &name, fetch, (replica_id, replica_epoch), budget, version);
            if data.error_code != 0 {
                any_error = true;
            }
            if data.diverging_epoch.epoch >= 0 {
                any_error = true;
            }
            total_bytes += data.records.as_ref().map_or(0, |r| r.len());
            partitions.push(data);
        }
        responses.push(FetchableTopicResponse::default().with_topic(topic.topic.clone()).with_partitions(partitions));
    }
    (FetchResponse::default().with_responses(responses), total_bytes, any_error)
}

fn fetch_partition(
    node: &Node,
    topic: &str,
    fetch: &kafka_protocol::messages::fetch_request::FetchPartition,
    (replica_id, replica_epoch): (i32, i64),
    budget: usize,
    version: i16,
) -> PartitionData {
    let base = PartitionData::default()
        .with_partition_index(fetch.partition)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1);
    let error = |code: ResponseError| base.clone().with_error_code(code.code());
    let Some(handle) = node.partition(topic, fetch.partition) else {
        return error(if node.metadata().partition(topic, fetch.partition).is_some() {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        });
    };
    let mut isr_change = None;
    let mut high_watermark_moved = false;
    let data = {
        let mut replica = handle.replica.lock().unwrap();
        if !replica.is_leader() {
            return error(ResponseError::NotLeaderOrFollower);
        }
        if fetch.current_leader_epoch >= 0 && fetch.current_leader_epoch < replica.leader_epoch {
            return error(ResponseError::FencedLeaderEpoch);
        }
        if fetch.current_leader_epoch > replica.leader_epoch {
            return error(ResponseError::UnknownLeaderEpoch);
        }
        let log_end_offset = replica.log.log_end_offset();
        // A follower's divergence is checked before its offset: a follower ahead of a new
        // leader (it holds an old epoch's uncommitted suffix) must learn where to truncate,
        // not be told its offset is out of range forever.
        if replica_id >= 0 {
            // Divergence travels in Fetch from v12 (KIP-320/595); older followers get none.
            if let Some((epoch, end_offset)) =
                replica.diverging_epoch(fetch.last_fetched_epoch, fetch.fetch_offset).filter(|_| version >= 12)
            {
                let diverging = EpochEndOffset::default().with_epoch(epoch).with_end_offset(end_offset);
                return base.clone().with_high_watermark(replica.log.high_watermark()).with_diverging_epoch(diverging);
            }
        }
        if fetch.fetch_offset < replica.log.log_start_offset() || fetch.fetch_offset > log_end_offset {
            // The log start tells a follower behind the leader's retention where to begin.
            return error(ResponseError::OffsetOutOfRange)
                .with_high_watermark(replica.log.high_watermark())
                .with_log_start_offset(replica.log.log_start_offset());
        }
        let upper_bound = if replica_id >= 0 {
            // Followers read up to the log end; their position is their progress.
            let before = replica.log.high_watermark();
            isr_change = replica.on_follower_fetch(replica_id, replica_epoch, fetch.fetch_offset, node.now_ms());
            high_watermark_moved = replica.log.high_watermark() != before;
            log_end_offset
        } else {
            replica.log.high_watermark()
        };
        let read = if budget == 0 {
            Ok(bytes::Bytes::new())
        } else {
            replica.log.read(fetch.fetch_offset, upper_bound, budget)
        };
        let records = match read {
            Ok(records) => records,
            Err(failure) => {
                tracing::debug!(topic, partition = fetch.partition, %failure, "fetch refused");
                return error(ResponseError::KafkaStorageError).with_high_watermark(replica.log.high_watermark());
            }
        };
        let high_watermark = replica.log.high_watermark();
        base.clone()
            .with_high_watermark(high_watermark)
            .with_log_start_offset(replica.log.log_start_offset())
            .with_last_stable_offset(high_watermark)
            .with_records(Some(records))
    };
    if high_watermark_moved {
        // Wake acks=all producers and consumers waiting at the old high watermark. Only on a
        // real move: two followers' empty fetches must not wake each other forever.
        handle.changed();
    }
    if let Some(change) = isr_change {
        node.request_isr_change(topic, fetch.partition, change);
    }
    data
}

pub(super) fn list_offsets(node: &Node, request: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .into_iter()
                .map(|p| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1);
                    let Some(handle) = node.partition(&name, p.partition_index) else {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code()).with_offset(-1);
                    };
                    let replica = handle.replica.lock().unwrap();
                    if !replica.is_leader() {
                        return response.with_error_code(ResponseError::NotLeaderOrFollower.code()).with_offset(-1);
                    }
                    let offset = match p.timestamp {
                        -2 => replica.log.log_start_offset(),
                        // Latest, and any timestamp: records are not indexed by time here, so a
                        // timestamp lookup answers the end, as Kafka does for future timestamps.
                        _ => replica.log.high_watermark(),
                    };
                    // leader_epoch exists from v4 on; encoding refuses it below.
                    let response = response.with_offset(offset);
                    if version >= 4 {
                        response.with_leader_epoch(replica.leader_epoch)
                    } else {
                        response
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
