//! Greedy clients (C03): a producer of 1 MiB batches to one partition and a consumer that
//! reads that partition from the start again and again, each back to back, as fast as the
//! broker answers, ignoring every `throttle_time_ms` the way a hostile or broken client would.
//! Only the broker's muting can hold them to the quota. Every request is evidence for
//! `checkers::quotas`.

use std::time::Duration;

use broker::client::ClientError;
use broker::log::batch::encode_values;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::client::ClusterClient;
use super::Recorder;
use crate::checkers::quotas::{Flow, GreedyLog, GreedySend};

/// One request's payload, and when the client stops: enough to show a rate past a broker's
/// share of 100 MB/s within seconds, without holding gigabytes in the simulated disks.
const BATCH_BYTES: usize = 1 << 20;
pub const GREEDY_BYTES_MAX: u64 = 300 * 1_000_000;

pub async fn run(mut client: ClusterClient, recorder: Recorder, log: GreedyLog, topic: String) {
    // Incompressible bytes from the seed, so no layer can shrink them.
    let mut payload = vec![0u8; BATCH_BYTES];
    let mut state = recorder.canary.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, b| h.rotate_left(5) ^ *b as u64);
    for chunk in payload.chunks_mut(8) {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let records = encode_values(&[bytes::Bytes::from(payload)], -1, -1, -1);
    let mut sent = 0u64;
    while !recorder.stopping() && sent < GREEDY_BYTES_MAX {
        let broker = match client.leader(&topic, 0) {
            Some(leader) => leader,
            None => {
                let _ = client.refresh_metadata().await;
                if client.leader(&topic, 0).is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_string(topic.clone()))).with_partition_data(
                vec![PartitionProduceData::default().with_index(0).with_records(Some(records.clone()))],
            ),
        ]);
        let start_ms = recorder.now_ms();
        let outcome = client.send(broker, request, 7).await;
        let mut record = GreedySend::unanswered(Flow::Ingress, start_ms, recorder.now_ms(), broker);
        record.bytes = records.len() as u64;
        match outcome {
            Ok(response) => {
                record.throttle_ms = response.throttle_time_ms;
                record.error_code =
                    response.responses.first().and_then(|t| t.partition_responses.first()).map(|p| p.error_code);
                if record.error_code == Some(0) {
                    sent += record.bytes;
                } else {
                    let _ = client.refresh_metadata().await;
                }
            }
            Err(error) => unanswered(&mut client, &mut record, error).await,
        }
        log.sends.lock().unwrap().push(record);
    }
}

/// Bytes a greedy consumer asks for per fetch.
const FETCH_BYTES: i32 = 4 << 20;

pub async fn consume(mut client: ClusterClient, recorder: Recorder, log: GreedyLog, topic: String) {
    let mut offset = 0i64;
    while !recorder.stopping() {
        let Some(broker) = client.leader(&topic, 0) else {
            let _ = client.refresh_metadata().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let request = super::access::fetch_request(&topic, 0, offset, FETCH_BYTES);
        let start_ms = recorder.now_ms();
        let outcome = client.send(broker, request, 11).await;
        let mut record = GreedySend::unanswered(Flow::Egress, start_ms, recorder.now_ms(), broker);
        match outcome {
            Ok(response) => {
                record.throttle_ms = response.throttle_time_ms;
                let partition = response.responses.first().and_then(|t| t.partitions.first());
                record.error_code = partition.map(|p| p.error_code);
                let records = partition.and_then(|p| p.records.clone()).unwrap_or_default();
                record.bytes = records.len() as u64;
                let high_watermark = partition.map_or(0, |p| p.high_watermark);
                let last = broker::log::batch::decode_values(records)
                    .ok()
                    .and_then(|values| values.last().map(|(offset, _)| *offset));
                offset = match last {
                    // From the start again once at the end: the point is the bytes.
                    Some(last) if last + 1 < high_watermark => last + 1,
                    _ => 0,
                };
                if record.error_code != Some(0) {
                    let _ = client.refresh_metadata().await;
                }
                if record.bytes == 0 {
                    // Nothing written yet.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(error) => unanswered(&mut client, &mut record, error).await,
        }
        log.sends.lock().unwrap().push(record);
    }
}

/// A request without an answer: a transport failure means the connection closed under it.
async fn unanswered(client: &mut ClusterClient, record: &mut GreedySend, error: ClientError) {
    record.disconnected = matches!(error, ClientError::Transport(_));
    let _ = client.refresh_metadata().await;
}
