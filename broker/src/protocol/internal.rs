//! The broker side of the internal API (`messages`): Raft messages into the quorum, controller
//! requests to the active controller, and a follower's identity for its fetch connection.

use std::sync::Arc;

use bytes::Bytes;

use super::session::{ConnectionError, Session};
use crate::messages::{self, InternalRequest, InternalResponse};
use crate::node::Node;

pub(super) async fn handle(node: &Arc<Node>, session: &mut Session, frame: Bytes) -> Result<Bytes, ConnectionError> {
    let (correlation_id, request) =
        messages::decode_request(&frame).map_err(|e| ConnectionError::Malformed(e.to_string()))?;
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
    Ok(messages::encode_response(correlation_id, &response))
}
