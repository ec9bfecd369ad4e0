//! Group commit: one task per node syncs the appends of every partition that has any, in
//! rounds, so that an fsync is shared by every request and partition that arrived while the
//! previous round ran (the way brokers that fsync by default keep up). Appends do not sync;
//! a leader counts only its durable offsets towards the high watermark and a follower fetches
//! on only once its appends are durable, so acks=all still means "on stable storage on every
//! ISR member": an acknowledged write survives a power loss of any set of zones.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::partition::PartitionHandle;
use crate::log::PendingSync;

#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Vec<Arc<PartitionHandle>>>,
    wake: Notify,
}

impl GroupCommit {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Asks the next round to sync `handle`'s log (once, however often it is asked).
    pub(crate) fn request(&self, handle: &Arc<PartitionHandle>) {
        if !handle.sync_queued.swap(true, Ordering::AcqRel) {
            self.queue.lock().unwrap().push(handle.clone());
            self.wake.notify_one();
        }
    }

    /// Runs the rounds until the node stops. `data` is the node's signal that data moved.
    pub async fn run_forever(self: Arc<Self>, data: Arc<Notify>) {
        loop {
            let round: Vec<Arc<PartitionHandle>> = std::mem::take(&mut *self.queue.lock().unwrap());
            if round.is_empty() {
                self.wake.notified().await;
                continue;
            }
            let mut pending = Vec::with_capacity(round.len());
            for handle in round {
                // Cleared before the capture: an append after it asks for the next round.
                handle.sync_queued.store(false, Ordering::Release);
                let unsynced = handle.replica.lock().unwrap().log.unsynced();
                if let Some(sync) = unsynced {
                    pending.push((handle, sync));
                }
            }
            let results = sync_all(pending.iter().map(|(_, sync)| sync.clone()).collect()).await;
            for ((handle, sync), result) in pending.into_iter().zip(results) {
                match result {
                    Ok(()) => {
                        let mut replica = handle.replica.lock().unwrap();
                        replica.log.synced(&sync);
                        replica.maybe_advance_high_watermark();
                    }
                    // Fail closed: after a failed fsync the page cache may have dropped the
                    // pages (Linux does), so nothing of it is ever counted durable; the writes
                    // waiting on it time out instead of being acknowledged.
                    Err(error) => tracing::error!(%error, "sync failed: the appends it covered are never acknowledged"),
                }
                handle.changed();
            }
            data.notify_waiters();
        }
    }
}

/// Real mode: the files are synced on blocking threads at once, so the file system can commit
/// them in one journal transaction.
#[cfg(not(madsim))]
async fn sync_all(syncs: Vec<PendingSync>) -> Vec<Result<(), crate::log::LogError>> {
    let tasks: Vec<_> = syncs.into_iter().map(|sync| tokio::task::spawn_blocking(move || sync.sync())).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic())));
    }
    results
}

/// Simulation: one shared fsync for the round; a power loss during it keeps none of it.
#[cfg(madsim)]
async fn sync_all(syncs: Vec<PendingSync>) -> Vec<Result<(), crate::log::LogError>> {
    // The files of a round share one fsync (one journal commit), as the real mode's do.
    let latency = syncs.iter().map(PendingSync::latency).max().unwrap_or_default();
    tokio::time::sleep(latency).await;
    syncs.iter().map(PendingSync::sync).collect()
}
