//! The cluster metadata: the records the controller quorum replicates, the image they build,
//! and the decisions the active controller takes on it (zone-aware placement, leader election
//! from the ISR, fencing). Pure: no I/O, so it is tested with plain unit tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub type BrokerId = i32;
pub const NO_LEADER: BrokerId = -1;
/// The internal topic that stores committed consumer offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
pub const OFFSETS_TOPIC_PARTITIONS: i32 = 3;

/// One entry of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// The no-op a new Raft leader commits.
    #[default]
    Noop,
    RegisterBroker { broker: BrokerId, zone: String, host: String, port: i32 },
    FenceBroker { broker: BrokerId },
    UnfenceBroker { broker: BrokerId },
    CreateTopic { name: String, replica_assignments: Vec<Vec<BrokerId>> },
    DeleteTopic { name: String },
    PartitionChange { topic: String, partition: i32, leader: BrokerId, leader_epoch: i32, partition_epoch: i32, isr: Vec<BrokerId> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub zone: String,
    pub host: String,
    pub port: i32,
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub replicas: Vec<BrokerId>,
    pub leader: BrokerId,
    pub leader_epoch: i32,
    /// Bumped on every change (Kafka's partition epoch), so stale ISR updates are refused.
    pub partition_epoch: i32,
    pub isr: Vec<BrokerId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    pub topics: BTreeMap<String, Vec<PartitionState>>,
    /// Index of the last applied record.
    pub applied_index: u64,
}

/// Expected refusals of controller operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ControllerError {
    /// CreateTopics for a name that exists.
    #[error("topic {0} already exists")]
    TopicAlreadyExists(String),
    /// A topic that does not exist.
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// Not enough zones (or brokers) for the replication factor.
    #[error("replication factor {requested} needs {requested} zones with a live broker; {available} available")]
    InvalidReplicationFactor { requested: i16, available: usize },
    /// Partition count out of range.
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    /// Invalid topic name.
    #[error("invalid topic name {0:?}")]
    InvalidTopicName(String),
    /// An AlterPartition from a stale leader or epoch.
    #[error("stale partition state for {topic}-{partition}")]
    StalePartitionState { topic: String, partition: i32 },
    /// An AlterPartition that would add a fenced or unknown broker, or drop the leader.
    #[error("ineligible ISR for {topic}-{partition}")]
    IneligibleReplica { topic: String, partition: i32 },
    /// This controller is not the active one.
    #[error("not the active controller")]
    NotController,
    /// The quorum did not commit in time.
    #[error("controller request timed out")]
    Timeout,
}

impl MetadataImage {
    pub fn apply(&mut self, index: u64, record: &MetadataRecord) {
        assert!(index > self.applied_index || index == 0, "metadata applied out of order: {index} after {}", self.applied_index);
        self.applied_index = index;
        match record {
            MetadataRecord::Noop => {}
            MetadataRecord::RegisterBroker { broker, zone, host, port } => {
                self.brokers.insert(*broker, BrokerRegistration { zone: zone.clone(), host: host.clone(), port: *port, fenced: false });
            }
            MetadataRecord::FenceBroker { broker } => {
                if let Some(registration) = self.brokers.get_mut(broker) {
                    registration.fenced = true;
                }
            }
            MetadataRecord::UnfenceBroker { broker } => {
                if let Some(registration) = self.brokers.get_mut(broker) {
                    registration.fenced = false;
                }
            }
            MetadataRecord::CreateTopic { name, replica_assignments } => {
                self.topics.entry(name.clone()).or_insert_with(|| {
                    replica_assignments
                        .iter()
                        .map(|replicas| PartitionState { replicas: replicas.clone(), leader: replicas[0], leader_epoch: 0, partition_epoch: 0, isr: replicas.clone() })
                        .collect()
                });
            }
            MetadataRecord::DeleteTopic { name } => {
                self.topics.remove(name);
            }
            MetadataRecord::PartitionChange { topic, partition, leader, leader_epoch, partition_epoch, isr } => {
                if let Some(state) = self.topics.get_mut(topic).and_then(|p| p.get_mut(*partition as usize)) {
                    // Records proposed against an older state lose (the active controller validated them).
                    if *partition_epoch > state.partition_epoch {
                        assert!(*leader_epoch >= state.leader_epoch, "leader epoch moved back");
                        state.leader = *leader;
                        state.leader_epoch = *leader_epoch;
                        state.partition_epoch = *partition_epoch;
                        state.isr = isr.clone();
                    }
                }
            }
        }
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.topics.get(topic).and_then(|partitions| partitions.get(usize::try_from(partition).ok()?))
    }

    fn is_live(&self, broker: BrokerId) -> bool {
        self.brokers.get(&broker).is_some_and(|registration| !registration.fenced)
    }

    /// Zone-aware placement: each partition's replicas sit in distinct zones, leaders rotate.
    pub fn place_topic(&self, name: &str, partitions: i32, replication_factor: i16) -> Result<MetadataRecord, ControllerError> {
        if name.is_empty() || name.len() > 249 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(ControllerError::InvalidTopicName(name.to_string()));
        }
        if self.topics.contains_key(name) {
            return Err(ControllerError::TopicAlreadyExists(name.to_string()));
        }
        if !(1..=10_000).contains(&partitions) {
            return Err(ControllerError::InvalidPartitions(partitions));
        }
        // One list of brokers per zone, zones in name order, brokers in id order.
        let mut zones: BTreeMap<&str, Vec<BrokerId>> = BTreeMap::new();
        for (id, registration) in &self.brokers {
            if !registration.fenced {
                zones.entry(registration.zone.as_str()).or_default().push(*id);
            }
        }
        let zones: Vec<Vec<BrokerId>> = zones.into_values().collect();
        let factor = usize::try_from(replication_factor).unwrap_or(0);
        if factor == 0 || factor > zones.len() {
            return Err(ControllerError::InvalidReplicationFactor { requested: replication_factor, available: zones.len() });
        }
        let replica_assignments = (0..partitions as usize)
            .map(|index| (0..factor).map(|slot| {
                let zone = &zones[(index + slot) % zones.len()];
                zone[(index / zones.len()) % zone.len()]
            }).collect())
            .collect();
        Ok(MetadataRecord::CreateTopic { name: name.to_string(), replica_assignments })
    }

    /// Leader election from the ISR. The planted bug `unclean-leader-election` (`unclean`)
    /// takes the first live replica in assignment order, in sync or not.
    fn elect(&self, state: &PartitionState, excluded: BrokerId, unclean: bool) -> BrokerId {
        let eligible = |broker: &&BrokerId| **broker != excluded && self.is_live(**broker);
        if unclean {
            return state.replicas.iter().find(eligible).copied().unwrap_or(NO_LEADER);
        }
        state.replicas.iter().filter(|b| state.isr.contains(b)).find(eligible).copied().unwrap_or(NO_LEADER)
    }

    /// The records that fence `broker`: it leaves every ISR it is not the last member of, and
    /// the partitions it led elect a new leader from the ISR (KIP-841).
    pub fn fence(&self, broker: BrokerId, unclean: bool) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::FenceBroker { broker }];
        for (topic, partitions) in &self.topics {
            for (index, state) in partitions.iter().enumerate() {
                if !state.replicas.contains(&broker) {
                    continue;
                }
                let mut isr: Vec<BrokerId> = state.isr.iter().copied().filter(|b| *b != broker).collect();
                let leader = if state.leader == broker { self.elect(state, broker, unclean) } else { state.leader };
                if isr.is_empty() {
                    // Keep the last member: it holds every acknowledged write (no unclean election).
                    isr = state.isr.clone();
                }
                if unclean && leader != NO_LEADER && !isr.contains(&leader) {
                    isr = vec![leader];
                }
                if leader == state.leader && isr == state.isr {
                    continue;
                }
                records.push(change(topic, index, state, leader, isr));
            }
        }
        records
    }

    /// The records that unfence `broker` and give leaderless partitions whose ISR holds it a leader.
    pub fn unfence(&self, broker: BrokerId) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::UnfenceBroker { broker }];
        for (topic, partitions) in &self.topics {
            for (index, state) in partitions.iter().enumerate() {
                if state.leader == NO_LEADER && state.isr.contains(&broker) {
                    records.push(change(topic, index, state, broker, state.isr.clone()));
                }
            }
        }
        records
    }

    /// Validates a leader's ISR change (Kafka's AlterPartition).
    pub fn alter_partition(&self, topic: &str, partition: i32, leader: BrokerId, leader_epoch: i32, partition_epoch: i32, isr: &[BrokerId]) -> Result<MetadataRecord, ControllerError> {
        let stale = || ControllerError::StalePartitionState { topic: topic.to_string(), partition };
        let state = self.partition(topic, partition).ok_or_else(|| ControllerError::UnknownTopic(topic.to_string()))?;
        if state.leader != leader || state.leader_epoch != leader_epoch || state.partition_epoch != partition_epoch {
            return Err(stale());
        }
        let isr_set: BTreeSet<BrokerId> = isr.iter().copied().collect();
        let added_ineligible = isr_set.iter().any(|b| !state.replicas.contains(b) || (!state.isr.contains(b) && !self.is_live(*b)));
        if !isr_set.contains(&leader) || added_ineligible {
            return Err(ControllerError::IneligibleReplica { topic: topic.to_string(), partition });
        }
        let isr: Vec<BrokerId> = state.replicas.iter().copied().filter(|b| isr_set.contains(b)).collect();
        Ok(change(topic, partition as usize, state, leader, isr))
    }

    /// Partitions with no leader (for the C20 two-zone read report).
    pub fn offline_partitions(&self) -> Vec<(String, i32)> {
        self.topics
            .iter()
            .flat_map(|(topic, partitions)| partitions.iter().enumerate().filter(|(_, s)| s.leader == NO_LEADER).map(move |(i, _)| (topic.clone(), i as i32)))
            .collect()
    }
}

fn change(topic: &str, partition: usize, state: &PartitionState, leader: BrokerId, isr: Vec<BrokerId>) -> MetadataRecord {
    let leader_epoch = if leader != state.leader { state.leader_epoch + 1 } else { state.leader_epoch };
    MetadataRecord::PartitionChange { topic: topic.to_string(), partition: partition as i32, leader, leader_epoch, partition_epoch: state.partition_epoch + 1, isr }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three_zones() -> MetadataImage {
        let mut image = MetadataImage::default();
        for (index, zone) in ["zone-a", "zone-b", "zone-c"].iter().enumerate() {
            let broker = index as i32 + 1;
            image.apply(index as u64 + 1, &MetadataRecord::RegisterBroker { broker, zone: zone.to_string(), host: format!("h{broker}"), port: 9092 });
        }
        image
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for record in records {
            let index = image.applied_index + 1;
            image.apply(index, record);
        }
    }

    #[test]
    fn placement_puts_replicas_in_distinct_zones_and_rotates_leaders() {
        let mut image = three_zones();
        let record = image.place_topic("orders", 6, 3).unwrap();
        apply_all(&mut image, &[record]);
        let partitions = &image.topics["orders"];
        let mut leaders = BTreeSet::new();
        for state in partitions {
            let zones: BTreeSet<_> = state.replicas.iter().map(|b| image.brokers[b].zone.clone()).collect();
            assert_eq!(zones.len(), 3);
            leaders.insert(state.leader);
        }
        assert_eq!(leaders.len(), 3);
        assert!(matches!(image.place_topic("x", 1, 4), Err(ControllerError::InvalidReplicationFactor { .. })));
        assert!(matches!(image.place_topic("orders", 1, 3), Err(ControllerError::TopicAlreadyExists(_))));
        assert!(matches!(image.place_topic("bad name", 1, 3), Err(ControllerError::InvalidTopicName(_))));
    }

    #[test]
    fn fencing_elects_only_from_the_isr() {
        let mut image = three_zones();
        apply_all(&mut image, &[MetadataRecord::CreateTopic { name: "t".into(), replica_assignments: vec![vec![1, 2, 3]] }]);
        // The ISR shrank to {1, 2}; then 1 dies: 2 leads, 3 (out of sync) never does.
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 2]).unwrap();
        apply_all(&mut image, &[shrink]);
        let records = image.fence(1, false);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.leader_epoch, state.isr.clone()), (2, 1, vec![2]));
        // 2 dies too: the partition goes offline rather than electing 3 (unclean election is off).
        let records = image.fence(2, false);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.isr.clone()), (NO_LEADER, vec![2]));
        // 2 comes back: it leads again.
        let records = image.unfence(2);
        apply_all(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
    }

    #[test]
    fn unclean_election_picks_an_out_of_sync_replica() {
        let mut image = three_zones();
        apply_all(&mut image, &[MetadataRecord::CreateTopic { name: "t".into(), replica_assignments: vec![vec![1, 2, 3]] }]);
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 3]).unwrap();
        apply_all(&mut image, &[shrink]);
        let records = image.fence(1, true);
        apply_all(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
    }

    #[test]
    fn stale_alter_partition_is_refused() {
        let mut image = three_zones();
        apply_all(&mut image, &[MetadataRecord::CreateTopic { name: "t".into(), replica_assignments: vec![vec![1, 2, 3]] }]);
        let first = image.alter_partition("t", 0, 1, 0, 0, &[1, 2]).unwrap();
        apply_all(&mut image, &[first]);
        assert!(matches!(image.alter_partition("t", 0, 1, 0, 0, &[1]), Err(ControllerError::StalePartitionState { .. })));
        assert!(matches!(image.alter_partition("t", 0, 1, 0, 1, &[2, 3]), Err(ControllerError::IneligibleReplica { .. })));
    }
}
