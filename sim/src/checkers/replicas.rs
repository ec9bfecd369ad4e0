//! Replica consistency, a safety check only an in-process harness can make: at the end of a
//! run, every partition's live replicas must hold the same bytes below their common high
//! watermark (from the latest log start: retention deletes on each replica's own clock). A follower that kept a diverging suffix (KIP-101 truncation skipped) or a leader
//! that lost what its ISR acknowledged shows up here even when no client read the difference.

use crate::world::World;

/// One line per partition whose replicas differ below their common high watermark.
pub fn divergent_replicas(world: &World) -> Vec<String> {
    let nodes: Vec<(String, std::sync::Arc<broker::node::Node>)> =
        world.brokers.iter().filter_map(|b| world.live_node(&b.name).map(|n| (b.name.clone(), n))).collect();
    let Some((_, any)) = nodes.first() else { return Vec::new() };
    let image = any.metadata();
    let mut divergent = Vec::new();
    for (topic, partitions) in &image.topics {
        for partition in 0..partitions.len() as i32 {
            // Retention may have taken more from one replica than another: compare from the
            // latest log start.
            let start = nodes
                .iter()
                .filter_map(|(_, node)| {
                    Some(node.partition(topic, partition)?.replica.lock().unwrap().log.log_start_offset())
                })
                .max()
                .unwrap_or(0);
            // (machine, high watermark, log end) per live replica, read under its own lock.
            let replicas: Vec<(&str, i64, bytes::Bytes)> = nodes
                .iter()
                .filter_map(|(name, node)| {
                    let handle = node.partition(topic, partition)?;
                    let mut replica = handle.replica.lock().unwrap();
                    let high_watermark = replica.log.high_watermark();
                    // A replica whose key may not be used now serves nothing, not even here.
                    let bytes = replica.log.read(start, high_watermark, usize::MAX).ok()?;
                    Some((name.as_str(), high_watermark, bytes))
                })
                .collect();
            let Some(common) = replicas.iter().map(|(_, high_watermark, _)| *high_watermark).min() else { continue };
            for pair in replicas.windows(2) {
                let ((left, _, left_bytes), (right, _, right_bytes)) = (&pair[0], &pair[1]);
                let shared = left_bytes.len().min(right_bytes.len());
                // Below the common high watermark both hold whole, identical batches.
                if let Some(at) = (0..shared).find(|i| left_bytes[*i] != right_bytes[*i]) {
                    divergent.push(format!("{topic}-{partition}: replicas on {left} and {right} differ below their common high watermark {common} (first differing byte {at})"));
                    break;
                }
            }
        }
    }
    divergent
}
