//! Broker-to-broker messages (Raft and controller requests) on port 9092 (C01: no other
//! port). They travel in Kafka framing under a private API key with a JSON body: Kafka's own
//! KRaft APIs model a different Raft (pull-based), so reusing their schemas would mislead.
//! Only principals with the broker role may send them.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::ConnectionError;
use crate::controller::metadata::{BrokerId, ControllerError, MetadataRecord};
use crate::controller::quorum::ControllerRequest;
use crate::controller::raft::{DirectoryId, RaftMessage};
use crate::node::Node;

pub const INTERNAL_API_KEY: i16 = 32_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InternalRequest {
    /// Everything queued for this peer since the last send: one round trip, however many
    /// messages, so a slow link does not cap Raft's message rate at one per round trip.
    /// `directory` is the sender's storage (KIP-853): only a voter's own storage counts.
    Raft { from: BrokerId, directory: DirectoryId, messages: Vec<RaftMessage<MetadataRecord>> },
    Controller(ControllerRequest),
    /// Sent once by a follower on a new fetch connection: the broker epoch its fetches carry
    /// (KIP-903; Kafka's Fetch carries it as `ReplicaState` from v15, which needs topic ids).
    IdentifyReplica { broker: BrokerId, broker_epoch: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InternalResponse {
    Delivered,
    Controller(Result<u64, ControllerError>),
}

pub async fn handle(node: &Arc<Node>, session: &mut super::Session, frame: Bytes) -> Result<Bytes, ConnectionError> {
    let correlation_id = &frame[4..8];
    let request: InternalRequest = serde_json::from_slice(&frame[8..]).map_err(|e| ConnectionError::Malformed(e.to_string()))?;
    let response = match request {
        InternalRequest::Raft { from, directory, messages } => {
            for message in messages {
                node.controller().deliver(from, directory, message);
            }
            InternalResponse::Delivered
        }
        InternalRequest::Controller(request) => InternalResponse::Controller(node.controller().execute(request).await),
        InternalRequest::IdentifyReplica { broker, broker_epoch } => {
            session.replica = Some((broker, broker_epoch));
            InternalResponse::Delivered
        }
    };
    let mut out = BytesMut::from(correlation_id);
    out.extend_from_slice(&serde_json::to_vec(&response).expect("internal responses serialize"));
    Ok(out.freeze())
}
