//! Secure deletion (C13): what a broker does with the tombstone of a deleted cluster. Reads
//! already fail at once (the cluster, its keys and ACLs left the snapshot); this destroys what
//! is left, crypto-shredding first:
//! 1. the cluster's master key leaves the keyring, and the service's key for it is scheduled
//!    for deletion at the key service (unusable from that moment);
//! 2. its topics are deleted through the controller, which makes every replica shred its
//!    partitions' logs, key files first;
//! 3. logs of its topics still on this disk but in no replica (this node was down when the
//!    topics went) are shredded the same way.
//!
//! Runs from the node's tick and spawns a pass only when a tombstone still has work, so a
//! cluster that never deletes anything runs nothing more.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::control_plane::snapshot::DeletedCluster;
use crate::kms::keys::tenant_key_alias;
use crate::messages::ControllerRequest;
use crate::node::Node;

#[derive(Default)]
pub(super) struct Shredder {
    /// A pass is running.
    busy: AtomicBool,
    /// Deleted clusters whose master key this node has dealt with.
    keys_done: Mutex<BTreeSet<String>>,
}

impl Shredder {
    /// Starts a pass if a tombstone has work left on this node.
    pub(super) fn tick(self: &Arc<Self>, node: &Arc<Node>) {
        let deleted = node.control_plane().access().deleted_clusters.clone();
        if deleted.is_empty() || self.busy.load(Ordering::Acquire) {
            return;
        }
        let image = node.metadata();
        let ids: Vec<&str> = deleted.iter().map(|c| c.id.as_str()).collect();
        for directory in node.shred_logs_of_deleted(|topic| of_any(topic, &ids), &image) {
            tracing::info!(%directory, "shredded the log of a deleted cluster's partition");
        }
        let topics: Vec<String> = image.topics.keys().filter(|t| of_any(t, &ids)).cloned().collect();
        let keys: Vec<DeletedCluster> = {
            let done = self.keys_done.lock().unwrap();
            deleted.into_iter().filter(|c| !done.contains(&c.id)).collect()
        };
        if topics.is_empty() && keys.is_empty() {
            return;
        }
        self.busy.store(true, Ordering::Release);
        let (shredder, node) = (self.clone(), node.clone());
        tokio::spawn(async move {
            shredder.pass(&node, keys, topics).await;
            shredder.busy.store(false, Ordering::Release);
        });
    }

    async fn pass(&self, node: &Node, keys: Vec<DeletedCluster>, topics: Vec<String>) {
        for cluster in keys {
            let (master, service_managed) = match &cluster.encryption_key {
                // The customer's key is theirs; its roots stay while another of their clusters
                // here uses it (that cluster's segments are under the same roots).
                Some(customer_key) if node.control_plane().access().uses_master_key(customer_key) => {
                    self.keys_done.lock().unwrap().insert(cluster.id);
                    continue;
                }
                Some(customer_key) => (customer_key.clone(), false),
                None => (tenant_key_alias(&cluster.id), true),
            };
            if node.keyring().shred_master(&master, service_managed).await {
                self.keys_done.lock().unwrap().insert(cluster.id);
            }
        }
        for topic in topics {
            match node.controller_request(ControllerRequest::DeleteTopic { name: topic.clone() }).await {
                Ok(_) => tracing::info!(%topic, "deleted a deleted cluster's topic"),
                // Gone already (another broker asked first), or the controller is away: the
                // next pass sees which.
                Err(error) => tracing::debug!(%topic, %error, "could not delete a deleted cluster's topic yet"),
            }
        }
    }
}

/// Whether `topic` is one of the clusters' (`<cluster id>_<name>`).
fn of_any(topic: &str, cluster_ids: &[&str]) -> bool {
    cluster_ids.iter().any(|id| topic.strip_prefix(id).is_some_and(|rest| rest.starts_with('_')))
}
