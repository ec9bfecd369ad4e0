//! FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch.

use std::time::Duration;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::offset_fetch_response::{OffsetFetchResponsePartition, OffsetFetchResponseTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::errors;
use crate::controller::metadata::{NO_LEADER, OFFSETS_TOPIC};
use crate::group::coordinator::{GroupError, JoinRequest};
use crate::group::offsets::{self, OffsetCommitRecord};
use crate::node::Node;
use crate::replication::acks::AppendError;

fn text(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}

pub(super) fn find_coordinator(node: &Node, request: FindCoordinatorRequest, version: i16) -> FindCoordinatorResponse {
    let image = node.metadata();
    let locate = |key: &str| -> Result<(i32, String, i32), ResponseError> {
        if request.key_type != 0 {
            // Transaction coordinators: transactions are not offered.
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let state = image
            .partition(OFFSETS_TOPIC, offsets::partition_for(key))
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        let broker = image
            .brokers
            .get(&state.leader)
            .filter(|_| state.leader != NO_LEADER)
            .ok_or(ResponseError::CoordinatorNotAvailable)?;
        Ok((state.leader, broker.host.clone(), broker.port))
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| match locate(key.as_str()) {
                Ok((id, host, port)) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(id))
                    .with_host(text(host))
                    .with_port(port),
                Err(error) => Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(-1))
                    .with_host(text(""))
                    .with_port(-1)
                    .with_error_code(error.code()),
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(request.key.as_str()) {
        Ok((id, host, port)) => {
            FindCoordinatorResponse::default().with_node_id(BrokerId(id)).with_host(text(host)).with_port(port)
        }
        Err(error) => FindCoordinatorResponse::default()
            .with_error_code(error.code())
            .with_node_id(BrokerId(-1))
            .with_host(text(""))
            .with_port(-1),
    }
}

pub(super) async fn join_group(node: &Node, request: JoinGroupRequest, version: i16) -> JoinGroupResponse {
    let group_id = request.group_id.0.to_string();
    let failed = |code: i16| {
        JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(request.member_id.clone())
            .with_leader(text(""))
    };
    if !node.is_group_coordinator(&group_id) {
        return failed(ResponseError::NotCoordinator.code());
    }
    let session_timeout_ms = request.session_timeout_ms.clamp(1_000, 300_000) as u64;
    let rebalance_timeout_ms = if request.rebalance_timeout_ms > 0 {
        request.rebalance_timeout_ms.min(300_000) as u64
    } else {
        session_timeout_ms
    };
    let join = JoinRequest {
        group_id,
        member_id: request.member_id.to_string(),
        protocol_type: request.protocol_type.to_string(),
        protocols: request.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
        session_timeout_ms,
        rebalance_timeout_ms,
    };
    let group_id = join.group_id.clone();
    let outcome = match node.groups().join(node.now_ms(), join).await {
        Ok(outcome) => outcome,
        Err(error) => {
            if matches!(error, crate::group::coordinator::GroupError::GroupMaxSizeReached) {
                tracing::warn!(group = %group_id, "join refused: the group has reached group.max.size");
            }
            return failed(errors::from_group(&error));
        }
    };
    let members = outcome
        .members
        .into_iter()
        .map(|(id, metadata)| JoinGroupResponseMember::default().with_member_id(text(id)).with_metadata(metadata))
        .collect();
    let response = JoinGroupResponse::default();
    // protocol_type exists from v7.
    let response =
        if version >= 7 { response.with_protocol_type(Some(request.protocol_type.clone())) } else { response };
    response
        .with_protocol_name(Some(text(outcome.protocol_name)))
        .with_generation_id(outcome.generation_id)
        .with_leader(text(outcome.leader))
        .with_member_id(text(outcome.member_id))
        .with_members(members)
}

pub(super) async fn sync_group(node: &Node, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
    let group_id = request.group_id.0.to_string();
    if !node.is_group_coordinator(&group_id) {
        return SyncGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code());
    }
    let assignments = request.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    match node.groups().sync(&group_id, request.generation_id, request.member_id.as_str(), assignments).await {
        Err(error) => SyncGroupResponse::default().with_error_code(errors::from_group(&error)),
        Ok(outcome) => {
            let response = SyncGroupResponse::default().with_assignment(outcome.assignment);
            // protocol_type and protocol_name exist from v5.
            if version >= 5 {
                response
                    .with_protocol_type(request.protocol_type.clone())
                    .with_protocol_name(Some(text(outcome.protocol_name)))
            } else {
                response
            }
        }
    }
}

pub(super) fn heartbeat(node: &Node, request: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = request.group_id.0.to_string();
    if !node.is_group_coordinator(&group_id) {
        return HeartbeatResponse::default().with_error_code(ResponseError::NotCoordinator.code());
    }
    let outcome = node.groups().heartbeat(node.now_ms(), &group_id, request.generation_id, request.member_id.as_str());
    HeartbeatResponse::default().with_error_code(outcome.err().map_or(errors::NONE, |e| errors::from_group(&e)))
}

pub(super) fn leave_group(node: &Node, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group_id = request.group_id.0.to_string();
    if !node.is_group_coordinator(&group_id) {
        return LeaveGroupResponse::default().with_error_code(ResponseError::NotCoordinator.code());
    }
    let mut ids: Vec<String> = request.members.iter().map(|m| m.member_id.to_string()).collect();
    if ids.is_empty() {
        ids.push(request.member_id.to_string());
    }
    let code = |outcome: &Result<(), GroupError>| outcome.err().map_or(errors::NONE, |e| errors::from_group(&e));
    let results = node.groups().leave(node.now_ms(), &group_id, &ids);
    if version < 3 {
        // One member per request before v3 (KIP-345 batched them): its error is the response's.
        return LeaveGroupResponse::default()
            .with_error_code(results.first().map_or(errors::NONE, |(_, outcome)| code(outcome)));
    }
    let members = results
        .iter()
        .map(|(id, outcome)| MemberResponse::default().with_member_id(text(id.clone())).with_error_code(code(outcome)))
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

pub(super) async fn offset_commit(node: &Node, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let group_id = request.group_id.0.to_string();
    let records: Vec<OffsetCommitRecord> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OffsetCommitRecord {
                group: group_id.clone(),
                topic: t.name.0.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
            })
        })
        .collect();
    // Counted from before its validation to the end of its replication (see `begin_commit`).
    let _pending = (!records.is_empty()).then(|| node.groups().begin_commit(&group_id));
    let mut code = if node.is_group_coordinator(&group_id) { 0 } else { ResponseError::NotCoordinator.code() };
    if code == 0 {
        code = node
            .groups()
            .validate_commit(&group_id, request.generation_id_or_member_epoch, request.member_id.as_str())
            .err()
            .map_or(errors::NONE, |e| errors::from_group(&e));
    }
    if code == 0 && !records.is_empty() {
        code = match node.partition(OFFSETS_TOPIC, offsets::partition_for(&group_id)) {
            None => ResponseError::NotCoordinator.code(),
            Some(handle) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                match super::produce::append_replicated(node, &handle, offsets::encode(&records), deadline).await {
                    Ok(_) => 0,
                    Err(AppendError::NotLeader) => ResponseError::NotCoordinator.code(),
                    Err(AppendError::Timeout) => ResponseError::CoordinatorNotAvailable.code(),
                    Err(error) => errors::from_append(&error),
                }
            }
        };
    }
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

pub(super) fn offset_fetch(node: &Node, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let group_id = request.group_id.0.to_string();
    // The top-level error code exists from v2; v1 clients read it per partition.
    let refuse = |code: i16| {
        if version >= 2 {
            return OffsetFetchResponse::default().with_error_code(code);
        }
        let topics = request.topics.clone().unwrap_or_default().into_iter().map(|t| refused_offsets(t, code)).collect();
        OffsetFetchResponse::default().with_topics(topics)
    };
    let not_coordinator = || refuse(ResponseError::NotCoordinator.code());
    if !node.is_group_coordinator(&group_id) {
        return not_coordinator();
    }
    let Some(handle) = node.partition(OFFSETS_TOPIC, offsets::partition_for(&group_id)) else {
        return not_coordinator();
    };
    let mut replica = handle.replica.lock().unwrap();
    // A new coordinator must not answer from a log whose earlier commits it cannot yet see, nor
    // any coordinator while a commit of the group is still being replicated.
    if !replica.leader_caught_up() || node.groups().has_pending_commits(&group_id) {
        return refuse(ResponseError::CoordinatorLoadInProgress.code());
    }
    let high_watermark = replica.log.high_watermark();
    let Ok(committed) = replica.log.batches_below(high_watermark) else {
        return refuse(ResponseError::KafkaStorageError.code());
    };
    let topics = request
        .topics
        .unwrap_or_default()
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&partition| {
                    let (offset, metadata) =
                        offsets::latest(committed.iter(), &group_id, &name, partition).unwrap_or((-1, None));
                    let response = OffsetFetchResponsePartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_metadata(Some(text(metadata.unwrap_or_default())));
                    if version >= 5 {
                        response.with_committed_leader_epoch(-1)
                    } else {
                        response
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default().with_name(topic.name).with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}

/// A topic of an OffsetFetch answered with `code` for each partition asked (before v2 the
/// error travels per partition).
pub(super) fn refused_offsets(
    topic: kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic,
    code: i16,
) -> OffsetFetchResponseTopic {
    let partitions = topic
        .partition_indexes
        .iter()
        .map(|p| {
            OffsetFetchResponsePartition::default()
                .with_partition_index(*p)
                .with_committed_offset(-1)
                .with_error_code(code)
        })
        .collect();
    OffsetFetchResponseTopic::default().with_name(topic.name).with_partitions(partitions)
}
