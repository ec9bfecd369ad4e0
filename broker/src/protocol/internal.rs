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
use crate::controller::raft::RaftMessage;
use crate::node::Node;

pub const INTERNAL_API_KEY: i16 = 32_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InternalRequest {
    /// Everything queued for this peer since the last send: one round trip, however many
    /// messages, so a slow link does not cap Raft's message rate at one per round trip.
    Raft { from: BrokerId, messages: Vec<RaftMessage<MetadataRecord>> },
    Controller(ControllerRequest),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InternalResponse {
    Delivered,
    Controller(Result<u64, ControllerError>),
}

pub async fn handle(node: &Arc<Node>, frame: Bytes) -> Result<Bytes, ConnectionError> {
    let correlation_id = &frame[4..8];
    let request: InternalRequest = serde_json::from_slice(&frame[8..]).map_err(|e| ConnectionError::Malformed(e.to_string()))?;
    let response = match request {
        InternalRequest::Raft { from, messages } => {
            for message in messages {
                node.controller().deliver(from, message);
            }
            InternalResponse::Delivered
        }
        InternalRequest::Controller(request) => InternalResponse::Controller(node.controller().execute(request).await),
    };
    let mut out = BytesMut::from(correlation_id);
    out.extend_from_slice(&serde_json::to_vec(&response).expect("internal responses serialize"));
    Ok(out.freeze())
}
