//! High-watermark monotonicity, sampled from inside the simulation: a partition leader's high
//! watermark never moves back while it leads one epoch in one process (Kafka's HW only grows;
//! KIP-497 exists so that a follower joining the ISR cannot pull it back). Clients cannot see
//! every regression (the history checker finds some of them much later, as a committed offset
//! that moves back), so the harness watches the leaders themselves.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::workload::Recorder;
use crate::world::World;

/// How often the leaders are sampled (simulated time).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// (machine, process incarnation, topic, partition, leader epoch) -> the highest HW seen.
type Seen = BTreeMap<(String, u64, String, i32, i32), i64>;

/// Samples every live leader until the recorder stops; returns the regressions, time-ordered.
pub async fn watch(world: Arc<World>, recorder: Recorder, regressions: Arc<Mutex<Vec<(u64, String)>>>) {
    let mut seen = Seen::new();
    while !recorder.stopping() {
        for broker in &world.brokers {
            let Some(node) = world.live_node(&broker.name) else { continue };
            for ((topic, partition), handle) in node.partition_handles() {
                let replica = handle.replica.lock().unwrap();
                if !replica.is_leader() {
                    continue;
                }
                let high_watermark = replica.log.high_watermark();
                let key = (broker.name.clone(), node.incarnation(), topic.clone(), partition, replica.leader_epoch);
                let highest = seen.entry(key).or_insert(high_watermark);
                if high_watermark < *highest {
                    regressions.lock().unwrap().push((recorder.now_ms(), format!("{topic}-{partition}: the leader on {} (epoch {}) moved its high watermark back from {} to {high_watermark}", broker.name, replica.leader_epoch, *highest)));
                }
                *highest = (*highest).max(high_watermark);
            }
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
}
