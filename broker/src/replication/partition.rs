//! One partition replica on a node and the signal that its log or high watermark moved.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::replica::Replica;

pub struct PartitionHandle {
    pub replica: Mutex<Replica>,
    notify: Notify,
}

impl PartitionHandle {
    pub fn new(replica: Replica) -> Self {
        Self { replica: Mutex::new(replica), notify: Notify::new() }
    }

    pub fn changed(&self) {
        self.notify.notify_waiters();
    }

    /// Subscribe before checking a condition, then await: no wakeup is missed.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}
