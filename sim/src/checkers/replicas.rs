//! Replica consistency, a safety check only an in-process harness can make: at the end of a
//! run, every pair of a partition's live replicas must hold the same bytes below their common
//! high watermark (from the latest log start: retention deletes on each replica's own clock). A follower that kept a diverging suffix (KIP-101 truncation skipped) or a leader
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
            let common = nodes
                .iter()
                .filter_map(|(_, node)| {
                    Some(node.partition(topic, partition)?.replica.lock().unwrap().log.high_watermark())
                })
                .min();
            let Some(common) = common else { continue };
            // Each live replica's bytes from the latest log start to the common high watermark.
            let replicas: Vec<(&str, bytes::Bytes)> = nodes
                .iter()
                .filter_map(|(name, node)| {
                    let handle = node.partition(topic, partition)?;
                    let mut replica = handle.replica.lock().unwrap();
                    // A replica whose key may not be used now serves nothing, not even here.
                    let bytes = replica.log.read(start, common.max(start), usize::MAX).ok()?;
                    Some((name.as_str(), bytes))
                })
                .collect();
            // Every pair: two replicas that agree with a third can still differ from each other
            // where the third is short.
            'pairs: for (index, (left, left_bytes)) in replicas.iter().enumerate() {
                for (right, right_bytes) in &replicas[index + 1..] {
                    if left_bytes != right_bytes {
                        let at = left_bytes.iter().zip(right_bytes.iter()).position(|(l, r)| l != r);
                        let at = at.unwrap_or(left_bytes.len().min(right_bytes.len()));
                        divergent.push(format!("{topic}-{partition}: replicas on {left} and {right} differ below their common high watermark {common} (first differing byte {at} of {} and {})", left_bytes.len(), right_bytes.len()));
                        break 'pairs;
                    }
                }
            }
        }
    }
    divergent
}

/// The harness's own process id on the surveys it adds to a history.
const SURVEY_PROCESS: u32 = 9_998;

/// A survey op for every partition with acknowledged writes of which no broker's disk holds any
/// file now (its directory is `<topic>-<partition>` under the topic's internal name, which
/// `internal` gives: a tenant's topic carries its cluster's prefix). The history checker then counts each write acknowledged before `at_ms` there
/// as lost: without this a cluster whose brokers all came back from a power cut with empty
/// disks (a create or rename never made durable) read as one that only failed to converge.
pub fn surveys(
    world: &World,
    history: &crate::history::History,
    internal: impl Fn(&str) -> String,
    at_ms: u64,
) -> Vec<crate::history::Op> {
    use crate::history::{Op, OpKind, SendOutcome};
    let acknowledged: std::collections::BTreeSet<&crate::history::TopicPartition> = history
        .ops
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Send { partition, outcome: SendOutcome::Acked { .. }, .. } => Some(partition),
            _ => None,
        })
        .collect();
    let files: Vec<String> = world
        .brokers
        .iter()
        .filter_map(|broker| world.disks.get(&broker.name))
        .flat_map(|disk| broker::log::Disk::list(disk, "").expect("a memory disk lists"))
        .collect();
    acknowledged
        .into_iter()
        .filter(|tp| {
            let directory = format!("{}-{}", internal(&tp.topic), tp.partition);
            !files.iter().any(|file| file.split('/').next() == Some(directory.as_str()))
        })
        .map(|tp| Op {
            process: SURVEY_PROCESS,
            start_ms: at_ms,
            end_ms: at_ms,
            kind: OpKind::Survey { partition: tp.clone(), log_end_offset: 0 },
        })
        .collect()
}
