//! The storage identity of a node (Kafka's `meta.properties`, KIP-853's directory id): which
//! cluster and node the storage belongs to, and which formatting of it this is. A node that
//! finds no identity on its disk has lost its storage (or never had any): it formats a new
//! directory id and joins as an observer; it never pretends to be the storage it replaced.

use serde::{Deserialize, Serialize};

use super::disk::Disk;
use crate::controller::metadata::BrokerId;
use crate::controller::raft::{DirectoryId, VoterSet};

pub(crate) const META_PROPERTIES_FILE: &str = "meta.properties";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: BrokerId,
    pub directory_id: DirectoryId,
    /// Set only when the storage was formatted with the cluster (`kafka-storage format
    /// --initial-controllers`); storage formatted later joins and learns the voters from the log.
    pub initial_voters: Option<VoterSet>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaPropertiesError {
    /// The disk could not be read or written.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    /// `meta.properties` is unreadable: refuse rather than guess an identity.
    #[error("{META_PROPERTIES_FILE} is corrupt: {0}")]
    Corrupt(String),
    /// The storage belongs to another cluster or node (a wrong `--dir`).
    #[error("this storage belongs to cluster {found_cluster} node {found_node}, not cluster {cluster} node {node}")]
    WrongOwner { found_cluster: String, found_node: BrokerId, cluster: String, node: BrokerId },
    /// Data without an identity: written by an older version, or a partial copy.
    #[error("the storage holds data but no {META_PROPERTIES_FILE}; move it away to start this node empty")]
    Unformatted,
}

impl MetaProperties {
    /// Formats empty storage; refuses storage that already has an identity or any data.
    pub fn format(disk: &dyn Disk, meta: &MetaProperties) -> Result<(), MetaPropertiesError> {
        if !disk.list("")?.is_empty() {
            return Err(MetaPropertiesError::Unformatted);
        }
        let bytes = serde_json::to_vec_pretty(meta).expect("meta.properties serializes");
        disk.replace_durably(META_PROPERTIES_FILE, &bytes)?;
        Ok(())
    }

    /// Formats a new cluster's storage (`kafka-storage format --initial-controllers`): every
    /// node's directory id goes into every node's initial voter set.
    pub fn format_cluster(
        cluster_id: &str,
        nodes: &[(BrokerId, DirectoryId, &dyn Disk)],
    ) -> Result<(), MetaPropertiesError> {
        let initial_voters: VoterSet = nodes.iter().map(|(id, directory, _)| (*id, *directory)).collect();
        for (node_id, directory_id, disk) in nodes {
            let meta = MetaProperties {
                cluster_id: cluster_id.to_string(),
                node_id: *node_id,
                directory_id: *directory_id,
                initial_voters: Some(initial_voters.clone()),
            };
            Self::format(*disk, &meta)?;
        }
        Ok(())
    }

    /// The identity on `disk`, or a new one (a fresh directory, no initial voters) when the
    /// disk is empty. The bool is true when the storage is new.
    pub(crate) fn load_or_join(
        disk: &dyn Disk,
        cluster_id: &str,
        node_id: BrokerId,
        fresh_directory: DirectoryId,
    ) -> Result<(MetaProperties, bool), MetaPropertiesError> {
        match disk.read(META_PROPERTIES_FILE)? {
            Some(bytes) => {
                let meta: MetaProperties =
                    serde_json::from_slice(&bytes).map_err(|e| MetaPropertiesError::Corrupt(e.to_string()))?;
                if meta.cluster_id != cluster_id || meta.node_id != node_id {
                    return Err(MetaPropertiesError::WrongOwner {
                        found_cluster: meta.cluster_id,
                        found_node: meta.node_id,
                        cluster: cluster_id.to_string(),
                        node: node_id,
                    });
                }
                Ok((meta, false))
            }
            None => {
                let meta = MetaProperties {
                    cluster_id: cluster_id.to_string(),
                    node_id,
                    directory_id: fresh_directory,
                    initial_voters: None,
                };
                Self::format(disk, &meta)?;
                Ok((meta, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryDisk;

    #[test]
    fn empty_storage_joins_with_a_new_directory_and_keeps_it() {
        let disk = MemoryDisk::new();
        let (meta, new) = MetaProperties::load_or_join(&disk, "c1", 3, 77).unwrap();
        assert!(new && meta.directory_id == 77 && meta.initial_voters.is_none());
        let (again, new) = MetaProperties::load_or_join(&disk, "c1", 3, 99).unwrap();
        assert!(!new && again == meta, "a restart keeps the identity");
        disk.destroy();
        let (replaced, new) = MetaProperties::load_or_join(&disk, "c1", 3, 99).unwrap();
        assert!(new && replaced.directory_id == 99, "a lost disk is new storage, never the old one");
    }

    #[test]
    fn foreign_or_unformatted_storage_is_refused() {
        let disk = MemoryDisk::new();
        MetaProperties::load_or_join(&disk, "c1", 3, 1).unwrap();
        assert!(matches!(MetaProperties::load_or_join(&disk, "c2", 3, 1), Err(MetaPropertiesError::WrongOwner { .. })));
        assert!(matches!(MetaProperties::load_or_join(&disk, "c1", 2, 1), Err(MetaPropertiesError::WrongOwner { .. })));
        let data_only = MemoryDisk::new();
        data_only.append("orders-0/00000000000000000000.log", b"x").unwrap();
        assert!(matches!(MetaProperties::load_or_join(&data_only, "c1", 3, 1), Err(MetaPropertiesError::Unformatted)));
    }
}
