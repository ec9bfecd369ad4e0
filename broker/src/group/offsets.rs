//! Committed offsets as records of the replicated `__consumer_offsets` topic. A group's
//! partition is a stable hash of its id (FNV-1a, not a seeded hasher: it must agree across
//! nodes and runs).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::controller::metadata::OFFSETS_TOPIC_PARTITIONS;
use crate::log::batch;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OffsetCommitRecord {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub metadata: Option<String>,
}

pub(crate) fn partition_for(group_id: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in group_id.as_bytes() {
        hash ^= *byte as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % OFFSETS_TOPIC_PARTITIONS as u32) as i32
}

pub(crate) fn encode(records: &[OffsetCommitRecord]) -> Bytes {
    let values: Vec<Bytes> =
        records.iter().map(|r| Bytes::from(serde_json::to_vec(r).expect("offset records serialize"))).collect();
    batch::encode_values(&values, -1, -1, -1)
}

/// The latest committed offset per (group, topic, partition) in `records` (log order).
pub(crate) fn latest<'a>(
    batches: impl Iterator<Item = &'a Bytes>,
    group: &str,
    topic: &str,
    partition: i32,
) -> Option<(i64, Option<String>)> {
    let mut latest = None;
    for bytes in batches {
        let Ok(values) = batch::decode_values(bytes.clone()) else { continue };
        for (_, value) in values {
            let Some(value) = value else { continue };
            if let Ok(record) = serde_json::from_slice::<OffsetCommitRecord>(&value) {
                if record.group == group && record.topic == topic && record.partition == partition {
                    latest = Some((record.offset, record.metadata));
                }
            }
        }
    }
    latest
}
