//! The controller quorum's peer transport: one connection per peer voter for Raft messages
//! (batching whatever queued during the previous round trip), and one per lane to the active
//! controller for forwarded requests.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::client::{ClientCredentials, Connection};
use crate::controller::metadata::{BrokerId, ControllerError, MetadataRecord};
use crate::controller::raft::{DirectoryId, RaftMessage};
use crate::messages::{InternalRequest, InternalResponse};
use crate::net::Dialer;
use crate::quorum::{Forward, Lane, PeerChannels, Voter, CONTROLLER_REQUEST_TIMEOUT};

const PEER_QUEUE_MAX: usize = 1_024;

/// Spawns the senders and returns the channels the quorum is handed.
pub(super) fn start(
    (id, directory): (BrokerId, DirectoryId),
    voters: &[Voter],
    dialer: Dialer,
    credentials: ClientCredentials,
) -> PeerChannels {
    let mut raft = BTreeMap::new();
    for voter in voters.iter().filter(|v| v.id != id) {
        let (sender, receiver) = mpsc::channel(PEER_QUEUE_MAX);
        raft.insert(voter.id, sender);
        tokio::spawn(send_raft((id, directory), voter.clone(), receiver, dialer.clone(), credentials.clone()));
    }
    let (forward, requests) = mpsc::channel(PEER_QUEUE_MAX);
    tokio::spawn(forward_requests(requests, voters.to_vec(), dialer, credentials));
    PeerChannels { raft, forward }
}

/// Keeps one connection to a peer voter and sends it Raft messages in order, batching
/// whatever queued up during the previous round trip.
async fn send_raft(
    (id, directory): (BrokerId, DirectoryId),
    voter: Voter,
    mut messages: mpsc::Receiver<RaftMessage<MetadataRecord>>,
    dialer: Dialer,
    credentials: ClientCredentials,
) {
    let mut connection: Option<Connection> = None;
    while let Some(first) = messages.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = messages.try_recv() {
            batch.push(next);
        }
        if connection.is_none() {
            match Connection::connect(&dialer, voter.address, &voter.host, &credentials, Duration::from_secs(1)).await {
                Ok(mut fresh) => {
                    fresh.set_request_timeout(Duration::from_secs(2));
                    connection = Some(fresh);
                }
                Err(error) => {
                    tracing::debug!(peer = voter.id, %error, "controller peer unreachable");
                    // Drop what queued up meanwhile: Raft resends what still matters.
                    while messages.try_recv().is_ok() {}
                    continue;
                }
            }
        }
        let request = InternalRequest::Raft { from: id, directory, messages: batch };
        if let Err(error) = connection.as_mut().expect("connected above").send_internal(&request).await {
            tracing::debug!(peer = voter.id, %error, "controller peer connection lost");
            connection = None;
        }
    }
}

/// Splits forwarded requests into their lanes; each lane has its own connection and task.
async fn forward_requests(
    mut requests: mpsc::Receiver<Forward>,
    voters: Vec<Voter>,
    dialer: Dialer,
    credentials: ClientCredentials,
) {
    let mut lanes = BTreeMap::new();
    for lane in [Lane::Heartbeat, Lane::Request] {
        let (sender, receiver) = mpsc::channel::<Forward>(PEER_QUEUE_MAX);
        tokio::spawn(serve_lane(receiver, voters.clone(), dialer.clone(), credentials.clone()));
        lanes.insert(lane, sender);
    }
    while let Some(forward) = requests.recv().await {
        // A closed lane drops the reply sender: the requester sees NotController and retries.
        let _ = lanes[&forward.lane].send(forward).await;
    }
}

/// One request at a time to the active controller, reconnecting when it changes.
async fn serve_lane(
    mut requests: mpsc::Receiver<Forward>,
    voters: Vec<Voter>,
    dialer: Dialer,
    credentials: ClientCredentials,
) {
    let mut connected: Option<(BrokerId, Connection)> = None;
    while let Some(Forward { to, request, reply, .. }) = requests.recv().await {
        if connected.as_ref().is_none_or(|(leader, _)| *leader != to) {
            connected = None;
            let Some(voter) = voters.iter().find(|v| v.id == to) else {
                let _ = reply.send(Err(ControllerError::NotController));
                continue;
            };
            match Connection::connect(&dialer, voter.address, &voter.host, &credentials, Duration::from_secs(2)).await {
                Ok(mut connection) => {
                    connection.set_request_timeout(CONTROLLER_REQUEST_TIMEOUT);
                    connected = Some((to, connection));
                }
                Err(_) => {
                    let _ = reply.send(Err(ControllerError::NotController));
                    continue;
                }
            }
        }
        let (_, connection) = connected.as_mut().expect("connected above");
        let outcome = match connection.send_internal(&InternalRequest::Controller(request)).await {
            Ok(InternalResponse::Controller(outcome)) => outcome,
            _ => {
                connected = None;
                Err(ControllerError::Timeout)
            }
        };
        let _ = reply.send(outcome);
    }
}
