//! One partition replica on a node and the signal that its log or high watermark moved.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::group_commit::GroupCommit;
use super::replica::Replica;

pub struct PartitionHandle {
    pub replica: Mutex<Replica>,
    notify: Notify,
    /// The node's group commit, which syncs this log's appends.
    commit: Arc<GroupCommit>,
    /// In the group commit's queue (it takes a handle once per round).
    pub(super) sync_queued: AtomicBool,
}

impl PartitionHandle {
    pub fn new(replica: Replica, commit: Arc<GroupCommit>) -> Self {
        Self { replica: Mutex::new(replica), notify: Notify::new(), commit, sync_queued: AtomicBool::new(false) }
    }

    pub fn changed(&self) {
        self.notify.notify_waiters();
    }

    /// Subscribe before checking a condition, then await: no wakeup is missed.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Asks the group commit to sync what was appended.
    pub(crate) fn request_sync(self: &Arc<Self>) {
        self.commit.request(self);
    }

    /// Waits until the log is durable up to `end_offset` (or was cut below it); false if
    /// `deadline` passed first.
    pub(crate) async fn wait_durable(self: &Arc<Self>, end_offset: i64, deadline: Instant) -> bool {
        loop {
            let notified = self.notified();
            {
                let replica = self.replica.lock().unwrap();
                if replica.log.durable_end_offset() >= end_offset.min(replica.log.log_end_offset()) {
                    return true;
                }
            }
            self.request_sync();
            if crate::clock::timeout(deadline.saturating_duration_since(Instant::now()), notified).await.is_err() {
                return false;
            }
        }
    }
}
