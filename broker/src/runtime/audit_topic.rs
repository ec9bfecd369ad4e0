//! The audit topic's shipper (C18): the leader of the audit topic's partition copies the
//! control plane's audit log into it, in order, each event once. Where to resume is read from
//! the partition itself (the sequence of its last record), so a new leader continues where the
//! log ends, whatever its predecessor had shipped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::control_plane::audit::{AuditEvent, AUDIT_TOPIC};
use crate::control_plane::link::PULL_INTERVAL;
use crate::log::batch::{decode_values, encode_values};
use crate::node::Node;
use crate::planted_bugs::PlantedBug;
use crate::replication::acks;
use crate::replication::partition::PartitionHandle;

const EVENTS_PER_ROUND_MAX: usize = 500;
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The sequence of the last event in the partition (0 when empty).
fn last_shipped(handle: &PartitionHandle) -> Option<u64> {
    let mut replica = handle.replica.lock().unwrap();
    let end = replica.log.log_end_offset();
    if end == 0 {
        return Some(0);
    }
    let bytes = replica.log.read(end - 1, end, 1024 * 1024).ok()?;
    let values = decode_values(bytes).ok()?;
    let (_, value) = values.into_iter().rev().find(|(offset, _)| *offset == end - 1)?;
    let event: AuditEvent = serde_json::from_slice(&value?).ok()?;
    Some(event.sequence)
}

pub(super) async fn ship_forever(node: Arc<Node>) {
    loop {
        tokio::time::sleep(PULL_INTERVAL).await;
        let Some(handle) = node.partition(AUDIT_TOPIC, 0) else { continue };
        if !handle.replica.lock().unwrap().is_leader() {
            continue;
        }
        let Some(last) = last_shipped(&handle) else {
            tracing::error!("the audit topic's last record is not an audit event; not shipping");
            continue;
        };
        // Planted: resume one past the last event written.
        let after = if node.config.bugs.is_on(PlantedBug::AuditEventDropped) && last > 0 { last + 1 } else { last };
        let events = match node.control_plane().audit_events(after, EVENTS_PER_ROUND_MAX).await {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(%error, "audit events not fetched");
                continue;
            }
        };
        let values: Vec<Bytes> =
            events.iter().map(|event| Bytes::from(serde_json::to_vec(event).expect("events serialize"))).collect();
        let records = encode_values(&values, -1, -1, -1);
        let shipped = async {
            let appended = acks::append_local(&handle, records)?;
            node.data_changed();
            let deadline = tokio::time::Instant::now() + REPLICATION_TIMEOUT;
            acks::wait_until_replicated(&handle, appended, node.config.replication.min_insync_replicas, deadline).await
        };
        if let Err(error) = shipped.await {
            tracing::debug!(%error, "audit events not replicated yet; the next round resumes from the log");
        }
    }
}
