//! Broker-to-broker messages (Raft, controller requests, replica identity) and their framing on
//! port 9092 (C01: no other port). They travel in Kafka framing under a private API key with a
//! JSON body: Kafka's own KRaft APIs model a different Raft (pull-based), so reusing their
//! schemas would mislead. Only principals with the broker role may send them.
//!
//! A leaf of the layering: it names state-machine types and nothing that does I/O.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::controller::metadata::{BrokerId, ControllerError, MetadataRecord};
use crate::controller::raft::{DirectoryId, RaftMessage};

pub(crate) const INTERNAL_API_KEY: i16 = 32_000;

/// What a broker asks of the active controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControllerRequest {
    /// Registration and heartbeat in one (KRaft's BrokerRegistration and BrokerHeartbeat): a new
    /// `incarnation` registers (KIP-841); the registered one is unfenced once its metadata has
    /// reached its own registration (`metadata_offset`, the index its image applied).
    /// `broker_epoch` is `None` until the broker sees its registration, then the epoch it got.
    Heartbeat {
        broker: BrokerId,
        zone: String,
        host: String,
        port: i32,
        incarnation: u64,
        directory: DirectoryId,
        broker_epoch: Option<i64>,
        metadata_offset: u64,
    },
    /// A leader's ISR changes, every partition it has one for (Kafka's AlterPartition carries
    /// many): decided together and committed as one batch, so a wave of changes after a crash
    /// costs one commit, not one per partition.
    AlterPartition {
        leader: BrokerId,
        changes: Vec<PartitionIsrChange>,
    },
    /// The next producer-id block for a broker (KIP-730's AllocateProducerIds).
    AllocateProducerIds {
        broker: BrokerId,
        broker_epoch: i64,
    },
    CreateTopic {
        name: String,
        partitions: i32,
        replication_factor: i16,
        #[serde(default)]
        config: crate::controller::metadata::TopicConfig,
    },
    DeleteTopic {
        name: String,
    },
}

/// One partition of an `AlterPartition`. `broker_epochs`: the broker epoch each ISR member
/// fetched with (KIP-903).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionIsrChange {
    pub topic: String,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<BrokerId>,
    pub broker_epochs: BTreeMap<BrokerId, i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum InternalRequest {
    /// Everything queued for this peer since the last send: one round trip, however many
    /// messages, so a slow link does not cap Raft's message rate at one per round trip.
    /// `directory` is the sender's storage (KIP-853): only a voter's own storage counts.
    Raft {
        from: BrokerId,
        directory: DirectoryId,
        messages: Vec<RaftMessage<MetadataRecord>>,
    },
    Controller(ControllerRequest),
    /// Sent once by a follower on a new fetch connection: the broker epoch its fetches carry
    /// (KIP-903; Kafka's Fetch carries it as `ReplicaState` from v15, which needs topic ids).
    IdentifyReplica {
        broker: BrokerId,
        broker_epoch: i64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum InternalResponse {
    Delivered,
    Controller(Result<u64, ControllerError>),
}

/// Bytes that are not an internal message of this version.
#[derive(Debug, thiserror::Error)]
#[error("malformed internal message: {0}")]
pub(crate) struct MalformedInternal(String);

/// A request frame: API key, version 0, correlation id, JSON body.
pub(crate) fn encode_request(correlation_id: i32, request: &InternalRequest) -> Bytes {
    let mut buffer = BytesMut::new();
    buffer.extend_from_slice(&INTERNAL_API_KEY.to_be_bytes());
    buffer.extend_from_slice(&0i16.to_be_bytes());
    buffer.extend_from_slice(&correlation_id.to_be_bytes());
    buffer.extend_from_slice(&serde_json::to_vec(request).expect("internal requests serialize"));
    buffer.freeze()
}

/// The correlation id and request of a frame whose API key is `INTERNAL_API_KEY`.
pub(crate) fn decode_request(frame: &[u8]) -> Result<(i32, InternalRequest), MalformedInternal> {
    let header: [u8; 4] = frame
        .get(4..8)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| MalformedInternal("frame shorter than its header".into()))?;
    let request = serde_json::from_slice(&frame[8..]).map_err(|e| MalformedInternal(e.to_string()))?;
    Ok((i32::from_be_bytes(header), request))
}

/// A response frame: correlation id, JSON body.
pub(crate) fn encode_response(correlation_id: i32, response: &InternalResponse) -> Bytes {
    let mut buffer = BytesMut::from(&correlation_id.to_be_bytes()[..]);
    buffer.extend_from_slice(&serde_json::to_vec(response).expect("internal responses serialize"));
    buffer.freeze()
}

pub(crate) fn decode_response(frame: &[u8]) -> Result<(i32, InternalResponse), MalformedInternal> {
    let header: [u8; 4] = frame
        .get(..4)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| MalformedInternal("frame shorter than its header".into()))?;
    let response = serde_json::from_slice(&frame[4..]).map_err(|e| MalformedInternal(e.to_string()))?;
    Ok((i32::from_be_bytes(header), response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_frames_round_trip_and_short_frames_are_refused() {
        let request = InternalRequest::IdentifyReplica { broker: 2, broker_epoch: 17 };
        let (correlation_id, decoded) = decode_request(&encode_request(9, &request)).unwrap();
        assert_eq!(correlation_id, 9);
        assert!(matches!(decoded, InternalRequest::IdentifyReplica { broker: 2, broker_epoch: 17 }));
        let (correlation_id, response) =
            decode_response(&encode_response(9, &InternalResponse::Controller(Ok(4)))).unwrap();
        assert!(correlation_id == 9 && matches!(response, InternalResponse::Controller(Ok(4))));
        assert!(decode_request(&[0x7d, 0x00, 0, 0, 0]).is_err());
        assert!(decode_response(&[0, 0]).is_err());
    }
}
