//! A group consumer on the classic protocol: FindCoordinator, JoinGroup, SyncGroup (the leader
//! assigns partitions round-robin; the assignment bytes are ours, opaque to the broker),
//! OffsetFetch, Fetch from each partition's leader, periodic OffsetCommit and Heartbeat, and
//! a rejoin whenever the coordinator says the group is rebalancing.

use std::collections::BTreeMap;
use std::time::Duration;

use broker::log::batch::decode_values;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::client::ClusterClient;
use super::{decode_value, Recorder};
use crate::history::{CommitOutcome, OpKind, PollOutcome, TopicPartition};

pub const GROUP: &str = "workload";
const PROTOCOL: &str = "faultline-round-robin";
const SESSION_TIMEOUT_MS: i32 = 10_000;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(1_000);
const BACKOFF: Duration = Duration::from_millis(200);

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

struct Membership {
    coordinator: i32,
    member_id: String,
    generation: i32,
    assignment: Vec<TopicPartition>,
}

pub async fn run(
    mut client: ClusterClient,
    recorder: Recorder,
    process: u32,
    topics: Vec<(String, i32)>,
    commit_interval: Duration,
) {
    let mut member_id = String::new();
    while !recorder.stopping() {
        let Some(membership) = join(&mut client, &recorder, process, &topics, &mut member_id).await else {
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        consume(&mut client, &recorder, process, membership, commit_interval, &mut member_id).await;
    }
}

async fn find_coordinator(client: &mut ClusterClient) -> Option<i32> {
    for broker in 1..=3 {
        if let Ok(response) = client.send(broker, FindCoordinatorRequest::default().with_key(text(GROUP)), 2).await {
            if response.error_code == 0 && response.node_id.0 >= 0 {
                return Some(response.node_id.0);
            }
        }
    }
    None
}

async fn join(
    client: &mut ClusterClient,
    recorder: &Recorder,
    process: u32,
    topics: &[(String, i32)],
    member_id: &mut String,
) -> Option<Membership> {
    let coordinator = find_coordinator(client).await?;
    let subscription =
        serde_json::to_vec(&topics.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>()).expect("serializes");
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(text(GROUP)))
        .with_session_timeout_ms(SESSION_TIMEOUT_MS)
        .with_rebalance_timeout_ms(SESSION_TIMEOUT_MS)
        .with_member_id(text(member_id))
        .with_protocol_type(text("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(text(PROTOCOL))
            .with_metadata(subscription.into())]);
    let joined = client.send(coordinator, request, 5).await.ok()?;
    if joined.error_code == ResponseError::UnknownMemberId.code() {
        member_id.clear();
        return None;
    }
    if joined.error_code != 0 {
        return None;
    }
    *member_id = joined.member_id.to_string();
    let mut assignments = Vec::new();
    if joined.leader == joined.member_id {
        let mut members: Vec<String> = joined.members.iter().map(|m| m.member_id.to_string()).collect();
        members.sort();
        let all: Vec<(String, i32)> = topics.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
        let mut plan: BTreeMap<String, Vec<(String, i32)>> = members.iter().map(|m| (m.clone(), Vec::new())).collect();
        for (index, partition) in all.into_iter().enumerate() {
            plan.get_mut(&members[index % members.len()]).expect("member exists").push(partition);
        }
        assignments = plan
            .into_iter()
            .map(|(member, parts)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(text(&member))
                    .with_assignment(serde_json::to_vec(&parts).expect("serializes").into())
            })
            .collect();
    }
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(text(GROUP)))
        .with_generation_id(joined.generation_id)
        .with_member_id(text(member_id))
        .with_assignments(assignments);
    let synced = client.send(coordinator, request, 3).await.ok()?;
    if synced.error_code != 0 {
        return None;
    }
    let parts: Vec<(String, i32)> = serde_json::from_slice(&synced.assignment).unwrap_or_default();
    let assignment: Vec<TopicPartition> =
        parts.into_iter().map(|(topic, partition)| TopicPartition { topic, partition }).collect();
    let start_ms = recorder.now_ms();
    recorder.record(process, start_ms, OpKind::Assign { group: GROUP.into(), partitions: assignment.clone() });
    Some(Membership { coordinator, member_id: member_id.clone(), generation: joined.generation_id, assignment })
}

async fn committed_offsets(
    client: &mut ClusterClient,
    membership: &Membership,
) -> Option<BTreeMap<TopicPartition, i64>> {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in &membership.assignment {
        by_topic.entry(tp.topic.clone()).or_default().push(tp.partition);
    }
    let topics = by_topic
        .iter()
        .map(|(t, ps)| {
            OffsetFetchRequestTopic::default().with_name(TopicName(text(t))).with_partition_indexes(ps.clone())
        })
        .collect();
    let response = client
        .send(
            membership.coordinator,
            OffsetFetchRequest::default().with_group_id(GroupId(text(GROUP))).with_topics(Some(topics)),
            5,
        )
        .await
        .ok()?;
    if response.error_code != 0 {
        return None;
    }
    let mut positions = BTreeMap::new();
    for topic in response.topics {
        for partition in topic.partitions {
            if partition.error_code != 0 {
                return None;
            }
            positions.insert(
                TopicPartition { topic: topic.name.0.to_string(), partition: partition.partition_index },
                partition.committed_offset.max(0),
            );
        }
    }
    Some(positions)
}

async fn consume(
    client: &mut ClusterClient,
    recorder: &Recorder,
    process: u32,
    membership: Membership,
    commit_interval: Duration,
    member_id: &mut String,
) {
    let Some(mut positions) = committed_offsets(client, &membership).await else { return };
    let mut last_heartbeat = tokio::time::Instant::now();
    let mut last_commit = tokio::time::Instant::now();
    let mut committed = positions.clone();
    loop {
        let stopping = recorder.stopping();
        let mut fetched_any = false;
        for tp in &membership.assignment {
            let position = positions[tp];
            let start_ms = recorder.now_ms();
            match fetch(client, tp, position, recorder.fields.as_deref()).await {
                Ok(records) => {
                    recorder.note_read(tp, start_ms, None);
                    if let Some((last, _)) = records.last() {
                        positions.insert(tp.clone(), last + 1);
                    }
                    fetched_any |= !records.is_empty();
                    let records = records.into_iter().map(|(offset, value)| (tp.clone(), offset, value)).collect();
                    recorder.record(
                        process,
                        start_ms,
                        OpKind::Poll { group: GROUP.into(), outcome: PollOutcome::Ok { records } },
                    );
                }
                Err(error) => {
                    let error = error.to_string();
                    recorder.note_read(tp, start_ms, Some(error.clone()));
                    recorder.record(
                        process,
                        start_ms,
                        OpKind::Poll { group: GROUP.into(), outcome: PollOutcome::Failed { error } },
                    );
                    let _ = client.refresh_metadata().await;
                }
            }
        }
        if last_commit.elapsed() >= commit_interval || stopping {
            last_commit = tokio::time::Instant::now();
            if !commit(client, recorder, process, &membership, &positions, &mut committed).await {
                return;
            }
        }
        if stopping {
            let request = LeaveGroupRequest::default()
                .with_group_id(GroupId(text(GROUP)))
                .with_member_id(text(&membership.member_id));
            let _ = client.send(membership.coordinator, request, 1).await;
            return;
        }
        if last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
            last_heartbeat = tokio::time::Instant::now();
            let request = HeartbeatRequest::default()
                .with_group_id(GroupId(text(GROUP)))
                .with_generation_id(membership.generation)
                .with_member_id(text(&membership.member_id));
            match client.send(membership.coordinator, request, 3).await {
                Ok(response) if response.error_code == 0 => {}
                Ok(response) => {
                    if response.error_code == ResponseError::UnknownMemberId.code() {
                        member_id.clear();
                    }
                    return;
                }
                Err(_) => return,
            }
        }
        if !fetched_any {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn commit(
    client: &mut ClusterClient,
    recorder: &Recorder,
    process: u32,
    membership: &Membership,
    positions: &BTreeMap<TopicPartition, i64>,
    committed: &mut BTreeMap<TopicPartition, i64>,
) -> bool {
    let changed: Vec<(&TopicPartition, i64)> =
        positions.iter().filter(|(tp, offset)| committed.get(*tp) != Some(offset)).map(|(tp, o)| (tp, *o)).collect();
    if changed.is_empty() {
        return true;
    }
    let mut by_topic: BTreeMap<String, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, offset) in &changed {
        by_topic.entry(tp.topic.clone()).or_default().push(
            OffsetCommitRequestPartition::default().with_partition_index(tp.partition).with_committed_offset(*offset),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(text(GROUP)))
        .with_generation_id_or_member_epoch(membership.generation)
        .with_member_id(text(&membership.member_id))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(t, ps)| OffsetCommitRequestTopic::default().with_name(TopicName(text(&t))).with_partitions(ps))
                .collect(),
        );
    let start_ms = recorder.now_ms();
    let outcome = client.send(membership.coordinator, request, 7).await;
    let error = match &outcome {
        Ok(response) => response
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.error_code)
            .find(|c| *c != 0)
            .map(|c| format!("error {c}")),
        Err(error) => Some(error.to_string()),
    };
    for (tp, offset) in changed {
        let outcome = match &error {
            None => CommitOutcome::Ok,
            Some(error) => CommitOutcome::Failed { error: error.clone() },
        };
        recorder.record(
            process,
            start_ms,
            OpKind::Commit { group: GROUP.into(), partition: tp.clone(), offset, outcome },
        );
        if error.is_none() {
            committed.insert(tp.clone(), offset);
        }
    }
    error.is_none()
}

/// Why a fetch returned nothing; recorded in the history as the poll's error.
#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    /// The client's metadata names no leader for the partition.
    #[error("no leader known")]
    NoLeader,
    /// Connection, TLS, timeout or decoding failure.
    #[error(transparent)]
    Client(#[from] broker::client::ClientError),
    /// The response had no partition in it.
    #[error("empty fetch response")]
    EmptyResponse,
    /// The broker answered with a Kafka error.
    #[error("{0}")]
    Kafka(String),
    /// Record bytes that do not decode.
    #[error("undecodable records: {0}")]
    Records(String),
}

/// Fetches from the partition's leader; returns (offset, value) pairs from `position` on.
pub async fn fetch(
    client: &mut ClusterClient,
    tp: &TopicPartition,
    position: i64,
    fields: Option<&super::ProtectedFields>,
) -> Result<Vec<(i64, u64)>, FetchFailure> {
    let Some(leader) = client.leader(&tp.topic, tp.partition) else { return Err(FetchFailure::NoLeader) };
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(TopicName(text(&tp.topic))).with_partitions(vec![
            FetchPartition::default()
                .with_partition(tp.partition)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(position)
                .with_last_fetched_epoch(-1)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(256 * 1024),
        ])]);
    let response = client.send(leader, request, 11).await?;
    let data = response.responses.into_iter().flat_map(|t| t.partitions).next().ok_or(FetchFailure::EmptyResponse)?;
    if data.error_code != 0 {
        return Err(FetchFailure::Kafka(
            ResponseError::try_from_code(data.error_code)
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| data.error_code.to_string()),
        ));
    }
    let records = data
        .records
        .map(|r| decode_values(r).map_err(|e| FetchFailure::Records(e.to_string())))
        .transpose()?
        .unwrap_or_default();
    Ok(records
        .into_iter()
        .filter(|(offset, _)| *offset >= position)
        .inspect(|(offset, value)| {
            if let (Some(fields), Some(value)) = (fields, value) {
                fields.check(*offset, value);
            }
        })
        .filter_map(|(offset, value)| value.and_then(|v| decode_value(&v)).map(|v| (offset, v)))
        .collect())
}
