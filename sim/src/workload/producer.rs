//! An idempotent acks=all producer, one request in flight, retrying within a delivery timeout
//! like Kafka's producer. Outcomes are honest: Acked with the offset, Failed only when no
//! attempt can have been written, Indeterminate otherwise.

use std::time::Duration;

use broker::log::batch::encode_values;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::client::ClusterClient;
use super::{encode_value, Recorder};
use crate::history::{OpKind, SendOutcome, TopicPartition};

/// Kafka's `delivery.timeout.ms`, shortened for simulated runs.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

struct Session {
    producer_id: i64,
    producer_epoch: i16,
    sequences: std::collections::BTreeMap<(String, i32), i32>,
}

pub async fn run(
    mut client: ClusterClient,
    recorder: Recorder,
    process: u32,
    topics: Vec<(String, i32)>,
    interval: Duration,
) {
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition { topic: t.clone(), partition: p }))
        .collect();
    let mut session: Option<Session> = None;
    let mut counter: u64 = 0;
    while !recorder.stopping() {
        let partition = partitions[(counter as usize + process as usize) % partitions.len()].clone();
        let value = ((process as u64) << 40) | counter;
        counter += 1;
        let start_ms = recorder.now_ms();
        let outcome = send(
            &mut client,
            &mut session,
            &partition,
            encode_value(value, &recorder.canary, recorder.fields.as_deref()),
        )
        .await;
        if !matches!(outcome, SendOutcome::Acked { .. }) {
            // A new producer id restarts sequence numbers cleanly after an unknown outcome.
            session = None;
        }
        recorder.record(process, start_ms, OpKind::Send { partition, value, outcome });
        tokio::time::sleep(interval).await;
    }
}

async fn init_session(client: &mut ClusterClient) -> Option<Session> {
    for broker in 1..=3 {
        match client
            .send(
                broker,
                InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(-1)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
                4,
            )
            .await
        {
            Ok(response) if response.error_code == 0 => {
                return Some(Session {
                    producer_id: response.producer_id.0,
                    producer_epoch: response.producer_epoch,
                    sequences: Default::default(),
                });
            }
            Ok(response) => tracing::debug!(broker, code = response.error_code, "InitProducerId refused"),
            Err(error) => tracing::debug!(broker, %error, "InitProducerId failed"),
        }
    }
    None
}

async fn send(
    client: &mut ClusterClient,
    session: &mut Option<Session>,
    partition: &TopicPartition,
    value: bytes::Bytes,
) -> SendOutcome {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    let mut maybe_written = false;
    let mut last_error = String::from("no attempt");
    while tokio::time::Instant::now() < deadline {
        if session.is_none() {
            *session = init_session(client).await;
            if session.is_none() {
                last_error = "InitProducerId failed".into();
                tokio::time::sleep(RETRY_BACKOFF).await;
                continue;
            }
        }
        let Some(leader) = client.leader(&partition.topic, partition.partition) else {
            let _ = client.refresh_metadata().await;
            last_error = "no leader known".into();
            tokio::time::sleep(RETRY_BACKOFF).await;
            continue;
        };
        let state = session.as_mut().expect("initialised above");
        let key = (partition.topic.clone(), partition.partition);
        let sequence = *state.sequences.get(&key).unwrap_or(&0);
        let records = encode_values(std::slice::from_ref(&value), state.producer_id, state.producer_epoch, sequence);
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(partition.topic.clone())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition.partition)
                    .with_records(Some(records))]),
        ]);
        match client.send(leader, request, 7).await {
            Ok(response) => {
                let result = &response.responses[0].partition_responses[0];
                match result.error_code {
                    0 => {
                        state.sequences.insert(key, sequence.wrapping_add(1));
                        return SendOutcome::Acked { offset: result.base_offset };
                    }
                    code => {
                        let error = ResponseError::try_from_code(code)
                            .map(|e| format!("{e:?}"))
                            .unwrap_or_else(|| code.to_string());
                        last_error = error;
                        // Refused before the append: NOT_ENOUGH_REPLICAS, leadership and topic
                        // errors raised up front. Anything else may have been appended.
                        let refused_up_front = [
                            ResponseError::NotEnoughReplicas,
                            ResponseError::UnknownTopicOrPartition,
                            ResponseError::CorruptMessage,
                        ]
                        .iter()
                        .any(|e| e.code() == code);
                        // NOT_LEADER_OR_FOLLOWER is also the answer to a producer waiting for
                        // acks=all when leadership moved, so it may follow an append.
                        maybe_written |= !refused_up_front;
                        if code == ResponseError::OutOfOrderSequenceNumber.code()
                            || code == ResponseError::InvalidProducerEpoch.code()
                        {
                            break;
                        }
                        let _ = client.refresh_metadata().await;
                    }
                }
            }
            Err(error) => {
                last_error = error.to_string();
                maybe_written = true;
                let _ = client.refresh_metadata().await;
            }
        }
        tokio::time::sleep(RETRY_BACKOFF).await;
    }
    if maybe_written {
        SendOutcome::Indeterminate { error: last_error }
    } else {
        SendOutcome::Failed { error: last_error }
    }
}
