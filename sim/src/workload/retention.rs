//! A topic with a retention, written and read as a client sees it (C13's side that the disk
//! cannot show: a record must stay readable until its retention is up). One record goes to
//! each partition in turn every `interval`, acks=all, its offset noted when acknowledged; once
//! a second a reader fetches each partition from where it got to, as a consumer with
//! `auto.offset.reset=earliest` does, and notes the log start offset every answer carries
//! (`checkers::retention::early` judges them against the acknowledged records).

use std::time::Duration;

use broker::log::batch::{decode_values, encode_values};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::client::ClusterClient;
use super::{encode_value, Recorder};
use crate::checkers::retention::{RetainedAck, RetentionLog, SeenLogStart};

/// How often the reader fetches each partition.
const READ_EVERY: Duration = Duration::from_secs(1);
const FETCH_BYTES: i32 = 1024 * 1024;

pub async fn run(
    mut client: ClusterClient,
    recorder: Recorder,
    log: RetentionLog,
    topic: String,
    partitions: i32,
    interval: Duration,
) {
    let mut positions = vec![0i64; partitions as usize];
    let mut next_read = recorder.now_ms();
    let mut counter = 0u64;
    while !recorder.stopping() {
        let partition = (counter % partitions as u64) as i32;
        let sent_ms = recorder.now_ms();
        if let Some(offset) = produce(&mut client, &topic, partition, counter, &recorder).await {
            log.note_ack(RetainedAck { partition, offset, sent_ms });
        }
        counter += 1;
        if recorder.now_ms() >= next_read {
            for (partition, position) in positions.iter_mut().enumerate() {
                read(&mut client, &recorder, &log, &topic, partition as i32, position).await;
            }
            next_read = recorder.now_ms() + READ_EVERY.as_millis() as u64;
        }
        tokio::time::sleep(interval).await;
    }
}

async fn leader(client: &mut ClusterClient, topic: &str, partition: i32) -> i32 {
    if client.leader(topic, partition).is_none() {
        let _ = client.refresh_metadata().await;
    }
    client.leader(topic, partition).unwrap_or(1)
}

/// One acks=all record; its offset once acknowledged.
async fn produce(
    client: &mut ClusterClient,
    topic: &str,
    partition: i32,
    counter: u64,
    recorder: &Recorder,
) -> Option<i64> {
    let broker = leader(client, topic, partition).await;
    let records = encode_values(&[encode_value(counter, &recorder.canary, None)], -1, -1, -1);
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(StrBytes::from_string(topic.to_string()))).with_partition_data(
            vec![PartitionProduceData::default().with_index(partition).with_records(Some(records))],
        ),
    ]);
    let response = client.send(broker, request, 7).await.ok()?;
    let answer = response.responses.first().and_then(|t| t.partition_responses.first())?;
    if answer.error_code != 0 {
        let _ = client.refresh_metadata().await;
        return None;
    }
    Some(answer.base_offset)
}

/// Fetches `partition` from `position` and moves it on: past what was read, or to the log
/// start when retention took what was there. Notes the log start the leader answered with.
async fn read(
    client: &mut ClusterClient,
    recorder: &Recorder,
    log: &RetentionLog,
    topic: &str,
    partition: i32,
    position: &mut i64,
) {
    let broker = leader(client, topic, partition).await;
    let request = super::access::fetch_request(topic, partition, *position, FETCH_BYTES);
    let Ok(response) = client.send(broker, request, 11).await else { return };
    let Some(answer) = response.responses.first().and_then(|t| t.partitions.first()) else { return };
    let at_ms = recorder.now_ms();
    if answer.error_code == ResponseError::OffsetOutOfRange.code() && answer.log_start_offset > *position {
        log.note_log_start(SeenLogStart { partition, at_ms, offset: answer.log_start_offset });
        *position = answer.log_start_offset;
        return;
    }
    if answer.error_code != 0 {
        let _ = client.refresh_metadata().await;
        return;
    }
    if answer.log_start_offset >= 0 {
        log.note_log_start(SeenLogStart { partition, at_ms, offset: answer.log_start_offset });
    }
    let records = answer.records.clone().unwrap_or_default();
    let Ok(values) = decode_values(records) else { return };
    for (offset, _) in values {
        if offset >= *position && offset < answer.high_watermark {
            *position = offset + 1;
        }
    }
}
