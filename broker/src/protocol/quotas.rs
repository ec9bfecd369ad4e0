//! Per-tenant quotas at the edge (C03, C04): a Basic or Standard tenant's Produce request bytes
//! and Fetch response bytes count against its stream limit, this broker's share of it; the
//! answer carries `throttle_time_ms` and the connection is then not read for that long
//! (KIP-219). A tenant over its storage limit has its produce refused with POLICY_VIOLATION:
//! waiting would not free anything.

use std::time::Duration;

use kafka_protocol::messages::{FetchResponse, ProduceRequest, ProduceResponse};
use kafka_protocol::ResponseError;

use super::session::Session;
use crate::control_plane::model::ClusterLimits;
use crate::control_plane::quotas::{storage_allows, Direction};
use crate::node::Node;
use crate::planted_bugs::PlantedBug;

/// The limits a request's tenant is held to.
pub(super) struct Quota {
    pub cluster_id: String,
    pub limits: ClusterLimits,
}

impl Quota {
    /// This broker's share of a cluster-wide limit: brokers enforce alone, so each takes an
    /// equal part and the tenant never exceeds the whole, however its leaders are placed.
    fn share(node: &Node, total: u64) -> u64 {
        total / node.metadata().brokers.len().max(1) as u64
    }

    fn throttle(&self, node: &Node, session: &mut Session, direction: Direction, bytes: usize) -> i32 {
        let rate = Self::share(node, self.limits.stream_bytes_per_second_max);
        let wait = node.quotas.record(&self.cluster_id, direction, rate, bytes as u64, node.now_ms());
        if !wait.is_zero() && !node.config.bugs.is_on(PlantedBug::ThrottleWithoutMute) {
            session.muted_for = wait;
        }
        wait.as_millis() as i32
    }

    /// Counts a Produce request of `bytes` and sets the response's throttle time.
    pub(super) fn produced(&self, node: &Node, session: &mut Session, bytes: usize, response: &mut ProduceResponse) {
        response.throttle_time_ms = self.throttle(node, session, Direction::Ingress, bytes);
    }

    /// Counts a Fetch response's record bytes and sets its throttle time.
    pub(super) fn fetched(&self, node: &Node, session: &mut Session, response: &mut FetchResponse) {
        let bytes = response
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
            .sum();
        response.throttle_time_ms = self.throttle(node, session, Direction::Egress, bytes);
    }

    /// The refusal of a produce when the tenant's storage here is at its share of the limit.
    pub(super) fn storage_refusal(&self, node: &Node, request: &ProduceRequest) -> Option<ProduceResponse> {
        let prefix = format!("{}_", self.cluster_id);
        let used = node.quotas.storage_used(&self.cluster_id, node.now_ms(), || {
            node.partition_handles()
                .into_iter()
                .filter(|((topic, _), _)| topic.starts_with(&prefix))
                .map(|(_, handle)| {
                    let replica = handle.replica.lock().unwrap();
                    if replica.is_leader() {
                        replica.log.size_bytes()
                    } else {
                        0
                    }
                })
                .sum()
        });
        if storage_allows(used, Self::share(node, self.limits.storage_bytes_max)) {
            return None;
        }
        let code = ResponseError::PolicyViolation.code();
        let responses = request.topic_data.iter().map(|topic| super::produce::refused(topic, code)).collect();
        Some(ProduceResponse::default().with_responses(responses))
    }
}

/// How long a throttled connection is not read (the session's `muted_for`, then reset).
pub(super) fn take_mute(session: &mut Session) -> Duration {
    std::mem::take(&mut session.muted_for)
}
