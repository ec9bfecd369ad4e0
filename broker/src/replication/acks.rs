//! The leader's side of a produce: the local append, and the acks=all wait for the high
//! watermark to pass it (which needs every member of an ISR of at least min.insync.replicas).

use tokio::time::Instant;

use super::partition::PartitionHandle;
use crate::log::{AppendOutcome, LogError};

/// Why an append was not (or not fully) acknowledged. Mapped to Kafka codes in
/// `protocol::errors`.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// This replica is not (or no longer, in the append's epoch) the leader.
    #[error("not the partition leader")]
    NotLeader,
    /// The ISR is smaller than min.insync.replicas: nothing was appended.
    #[error("ISR below min.insync.replicas")]
    NotEnoughReplicas,
    /// The ISR shrank below min.insync.replicas after the append: it may or may not survive.
    #[error("ISR fell below min.insync.replicas after the append")]
    NotEnoughReplicasAfterAppend,
    /// The high watermark did not pass the append before the request's deadline.
    #[error("not replicated before the deadline")]
    Timeout,
    /// The log refused the batch.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Where a leader append landed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub leader_epoch: i32,
}

/// Appends as leader and asks the group commit to sync it. The caller wakes the node's long polls (`PartitionHandle::changed` is
/// done here).
pub(crate) fn append_local(
    handle: &std::sync::Arc<PartitionHandle>,
    records: bytes::Bytes,
) -> Result<Appended, AppendError> {
    let appended = {
        let mut replica = handle.replica.lock().unwrap();
        if !replica.is_leader() {
            return Err(AppendError::NotLeader);
        }
        let leader_epoch = replica.leader_epoch;
        let outcome = replica.log.append_as_leader(records, leader_epoch)?;
        replica.maybe_advance_high_watermark();
        let (AppendOutcome::Appended { base_offset, last_offset }
        | AppendOutcome::Duplicate { base_offset, last_offset }) = outcome;
        Appended { base_offset, last_offset, leader_epoch }
    };
    handle.request_sync();
    handle.changed();
    Ok(appended)
}

/// Refuses up front when the ISR is already too small for acks=all (Kafka's NOT_ENOUGH_REPLICAS).
pub(crate) fn check_min_insync(handle: &PartitionHandle, min_insync_replicas: usize) -> Result<(), AppendError> {
    let replica = handle.replica.lock().unwrap();
    if !replica.is_leader() {
        return Err(AppendError::NotLeader);
    }
    if replica.isr_size() < min_insync_replicas {
        return Err(AppendError::NotEnoughReplicas);
    }
    Ok(())
}

/// acks=all: waits until the high watermark passes `appended`, in its leader epoch.
pub(crate) async fn wait_until_replicated(
    handle: &PartitionHandle,
    appended: Appended,
    min_insync_replicas: usize,
    deadline: Instant,
) -> Result<(), AppendError> {
    loop {
        let notified = handle.notified();
        {
            let replica = handle.replica.lock().unwrap();
            if !replica.is_leader() || replica.leader_epoch != appended.leader_epoch {
                return Err(AppendError::NotLeader);
            }
            if replica.log.high_watermark() > appended.last_offset {
                return Ok(());
            }
            if replica.isr_size() < min_insync_replicas {
                return Err(AppendError::NotEnoughReplicasAfterAppend);
            }
        }
        if crate::clock::timeout(deadline.saturating_duration_since(Instant::now()), notified).await.is_err() {
            return Err(AppendError::Timeout);
        }
    }
}
