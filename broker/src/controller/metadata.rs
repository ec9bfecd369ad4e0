//! The cluster metadata: the records the controller quorum replicates, the image they build,
//! and the decisions the active controller takes on it (zone-aware placement, leader election
//! from the ISR, fencing). Pure: no I/O, so it is tested with plain unit tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::raft::DirectoryId;

pub type BrokerId = i32;
pub(crate) const NO_LEADER: BrokerId = -1;
/// The internal topic that stores committed consumer offsets.
pub(crate) const OFFSETS_TOPIC: &str = "__consumer_offsets";
pub(crate) const OFFSETS_TOPIC_PARTITIONS: i32 = 3;
/// Producer ids are handed to brokers in blocks of this many (KIP-730's default).
pub(crate) const PRODUCER_ID_BLOCK_SIZE: i64 = 1_000;
/// `min.insync.replicas` of every topic: acks=all needs this many in-sync replicas.
pub(crate) const MIN_INSYNC_REPLICAS: usize = 2;
/// Broker epoch of a replica whose identity is unknown (never matches a registration).
pub(crate) const NO_BROKER_EPOCH: i64 = -1;

/// One entry of the metadata log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetadataRecord {
    /// The no-op a new Raft leader commits.
    #[default]
    Noop,
    /// Records that take effect together (KRaft's atomic batches): no image shows a prefix.
    /// A registration and the fencing of the previous incarnation must be one step, or a
    /// restarted broker could see itself registered while still named leader (seen in real
    /// mode: a wiped node led with an empty log and a follower truncated acknowledged records).
    Batch(Vec<MetadataRecord>),
    /// A new incarnation of a broker (a process start): its broker epoch is this record's
    /// index (KIP-841), and it starts fenced.
    RegisterBroker {
        broker: BrokerId,
        zone: String,
        host: String,
        port: i32,
        incarnation: u64,
        directory: DirectoryId,
    },
    FenceBroker {
        broker: BrokerId,
    },
    UnfenceBroker {
        broker: BrokerId,
    },
    CreateTopic {
        name: String,
        replica_assignments: Vec<Vec<BrokerId>>,
        /// Absent in records written before topics had settings: kept (nothing expires).
        #[serde(default)]
        config: TopicConfig,
    },
    DeleteTopic {
        name: String,
    },
    PartitionChange {
        topic: String,
        partition: i32,
        leader: BrokerId,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<BrokerId>,
        /// KIP-704's leader recovery state: the leader was elected from outside the ISR, so its
        /// followers may have to drop acknowledged records (an explicit, reported data loss).
        #[serde(default)]
        leader_recovering: bool,
        /// KIP-966's eligible leader replicas (see `PartitionState::elr`).
        #[serde(default)]
        elr: Vec<BrokerId>,
    },
    /// The next producer-id block was given to `broker` (KIP-730): ids below
    /// `next_producer_id` are never handed out again, whatever is lost.
    AllocateProducerIds {
        broker: BrokerId,
        next_producer_id: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub zone: String,
    pub host: String,
    pub port: i32,
    pub fenced: bool,
    /// The process incarnation that registered, and its broker epoch (KIP-841).
    pub incarnation: u64,
    pub epoch: i64,
    /// The storage the broker registered with: a new one means its logs are gone.
    pub directory: DirectoryId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub replicas: Vec<BrokerId>,
    pub leader: BrokerId,
    pub leader_epoch: i32,
    /// Bumped on every change (Kafka's partition epoch), so stale ISR updates are refused.
    pub partition_epoch: i32,
    pub isr: Vec<BrokerId>,
    /// True from an unclean election until the next change (KIP-704).
    #[serde(default)]
    pub leader_recovering: bool,
    /// KIP-966's eligible leader replicas: members that left the ISR while it was below
    /// min.insync.replicas. The high watermark could not move after they left, so each holds
    /// every acknowledged record; one may lead when no ISR member is live.
    #[serde(default)]
    pub elr: Vec<BrokerId>,
}

const DAY_MS: u64 = 24 * 3600 * 1000;
/// A customer topic's retention when CreateTopics does not set one (Kafka's default).
pub const RETENTION_MS_DEFAULT: u64 = 7 * DAY_MS;
pub const RETENTION_MS_MIN: u64 = 60 * 1000;
/// The most the service keeps a customer's record (C13): no topic keeps data forever.
pub const RETENTION_MS_MAX: u64 = 90 * DAY_MS;
pub const RETENTION_BYTES_MIN: u64 = 1024 * 1024;

/// Per-topic settings, fixed at creation (C13): how long and how much a partition's log keeps.
/// Customer topics always have a time limit, at most `RETENTION_MS_MAX`; the service's own
/// topics (committed offsets, the audit log) keep everything (`Default`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
}

impl TopicConfig {
    /// A customer topic's settings from CreateTopics' `(name, value)` configs; anything the
    /// service does not offer, or a value out of its bounds, is refused with the reason.
    pub fn for_customer<'a>(
        configs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<TopicConfig, String> {
        let mut config = TopicConfig { retention_ms: Some(RETENTION_MS_DEFAULT), retention_bytes: None };
        for (name, value) in configs {
            let value = value.unwrap_or("");
            let number = || value.parse::<i64>().map_err(|_| format!("{name}: {value:?} is not a number"));
            match name {
                "retention.ms" => {
                    let ms = number()?;
                    if ms < 0 {
                        return Err(format!(
                            "retention.ms: the service keeps data at most {} days (C13); {ms} would keep it forever",
                            RETENTION_MS_MAX / DAY_MS
                        ));
                    }
                    let ms = ms as u64;
                    if !(RETENTION_MS_MIN..=RETENTION_MS_MAX).contains(&ms) {
                        return Err(format!(
                            "retention.ms: {RETENTION_MS_MIN} to {RETENTION_MS_MAX} ({} days), not {ms}",
                            RETENTION_MS_MAX / DAY_MS
                        ));
                    }
                    config.retention_ms = Some(ms);
                }
                "retention.bytes" => {
                    let bytes = number()?;
                    config.retention_bytes = match bytes {
                        -1 => None,
                        b if b >= RETENTION_BYTES_MIN as i64 => Some(b as u64),
                        b => {
                            return Err(format!(
                                "retention.bytes: -1 (no limit) or at least {RETENTION_BYTES_MIN}, not {b}"
                            ))
                        }
                    };
                }
                other => {
                    return Err(format!("{other}: not a setting this service offers (retention.ms, retention.bytes)"))
                }
            }
        }
        Ok(config)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    pub brokers: BTreeMap<BrokerId, BrokerRegistration>,
    pub topics: BTreeMap<String, Vec<PartitionState>>,
    pub topic_configs: BTreeMap<String, TopicConfig>,
    /// The first producer id not yet given to any broker (KIP-730).
    pub next_producer_id: i64,
    /// The last block given to each broker: `[first, end)`.
    pub producer_id_blocks: BTreeMap<BrokerId, (i64, i64)>,
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
    /// A topic that would take the cluster past `PARTITIONS_PER_CLUSTER_MAX`.
    #[error("{requested} more partitions would exceed the cluster's limit of {max} ({held} held)")]
    PartitionLimit { requested: i32, held: usize, max: usize },
    /// An AlterPartition from a stale leader or epoch.
    #[error("stale partition state for {topic}-{partition}")]
    StalePartitionState { topic: String, partition: i32 },
    /// An AlterPartition that would add a fenced or unknown broker, or drop the leader.
    #[error("ineligible ISR for {topic}-{partition}")]
    IneligibleReplica { topic: String, partition: i32 },
    /// KIP-903: an AlterPartition adds a replica seen under an older broker epoch (it has
    /// restarted since, maybe with an empty disk).
    #[error("stale broker epoch for replica {broker} of {topic}-{partition}")]
    StaleBrokerEpoch { topic: String, partition: i32, broker: BrokerId },
    /// A request from a broker incarnation that is no longer registered.
    #[error("broker {0} is not registered with that epoch")]
    StaleBrokerRegistration(BrokerId),
    /// This controller is not the active one.
    #[error("not the active controller")]
    NotController,
    /// The quorum did not commit in time.
    #[error("controller request timed out")]
    Timeout,
}

/// Partitions a broker cluster holds, every tenant's and the service's own together (the limit
/// a Basic cluster of the paper's provider publishes): each is a log, a leader's state and a
/// follower's fetch on every replica, so CreateTopics must not create them without end.
pub const PARTITIONS_PER_CLUSTER_MAX: usize = 4_096;

/// How a partition gets a new leader when its leader leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Election {
    /// From the ISR, then (KIP-966) the eligible leader replicas; otherwise the partition stays
    /// offline rather than lose acknowledged writes.
    #[default]
    Clean,
    /// Kafka's `unclean.leader.election.enable=true`: a live out-of-sync replica, only when no
    /// in-sync or eligible replica is live (the planted bug `unclean-leader-election-enabled`).
    UncleanWhenNoneInSync,
    /// Any live replica, in sync or not (the planted bug `unclean-leader-election`).
    AnyLiveReplica,
}

impl MetadataImage {
    pub fn apply(&mut self, index: u64, record: &MetadataRecord) {
        assert!(
            index > self.applied_index || index == 0,
            "metadata applied out of order: {index} after {}",
            self.applied_index
        );
        self.applied_index = index;
        self.apply_record(index, record);
    }

    fn apply_record(&mut self, index: u64, record: &MetadataRecord) {
        match record {
            MetadataRecord::Noop => {}
            MetadataRecord::Batch(records) => {
                for record in records {
                    self.apply_record(index, record);
                }
            }
            MetadataRecord::RegisterBroker { broker, zone, host, port, incarnation, directory } => {
                let registration = BrokerRegistration {
                    zone: zone.clone(),
                    host: host.clone(),
                    port: *port,
                    fenced: true,
                    incarnation: *incarnation,
                    epoch: index as i64,
                    directory: *directory,
                };
                self.brokers.insert(*broker, registration);
            }
            MetadataRecord::AllocateProducerIds { broker, next_producer_id } => {
                assert!(*next_producer_id > self.next_producer_id, "producer-id blocks only move forward (KIP-730)");
                self.producer_id_blocks.insert(*broker, (self.next_producer_id, *next_producer_id));
                self.next_producer_id = *next_producer_id;
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
            MetadataRecord::CreateTopic { name, replica_assignments, config } => {
                self.topic_configs.entry(name.clone()).or_insert(*config);
                self.topics.entry(name.clone()).or_insert_with(|| {
                    replica_assignments
                        .iter()
                        .map(|replicas| PartitionState {
                            replicas: replicas.clone(),
                            leader: replicas[0],
                            leader_epoch: 0,
                            partition_epoch: 0,
                            isr: replicas.clone(),
                            leader_recovering: false,
                            elr: Vec::new(),
                        })
                        .collect()
                });
            }
            MetadataRecord::DeleteTopic { name } => {
                self.topics.remove(name);
                self.topic_configs.remove(name);
            }
            MetadataRecord::PartitionChange {
                topic,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
                leader_recovering,
                elr,
            } => {
                if let Some(state) = self.topics.get_mut(topic).and_then(|p| p.get_mut(*partition as usize)) {
                    // Records proposed against an older state lose (the active controller validated them).
                    if *partition_epoch > state.partition_epoch {
                        assert!(*leader_epoch >= state.leader_epoch, "leader epoch moved back");
                        state.leader = *leader;
                        state.leader_epoch = *leader_epoch;
                        state.partition_epoch = *partition_epoch;
                        state.isr = isr.clone();
                        state.leader_recovering = *leader_recovering;
                        state.elr = elr.clone();
                    }
                }
            }
        }
    }

    /// A topic's settings (those of the service's own topics when it has none).
    pub fn topic_config(&self, topic: &str) -> TopicConfig {
        self.topic_configs.get(topic).copied().unwrap_or_default()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.topics.get(topic).and_then(|partitions| partitions.get(usize::try_from(partition).ok()?))
    }

    fn is_live(&self, broker: BrokerId) -> bool {
        self.brokers.get(&broker).is_some_and(|registration| !registration.fenced)
    }

    /// Zone-aware placement: each partition's replicas sit in distinct zones, leaders rotate.
    pub(crate) fn place_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        config: TopicConfig,
    ) -> Result<MetadataRecord, ControllerError> {
        if name.is_empty() || name.len() > 249 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(ControllerError::InvalidTopicName(name.to_string()));
        }
        if self.topics.contains_key(name) {
            return Err(ControllerError::TopicAlreadyExists(name.to_string()));
        }
        if !(1..=10_000).contains(&partitions) {
            return Err(ControllerError::InvalidPartitions(partitions));
        }
        let held: usize = self.topics.values().map(Vec::len).sum();
        if held + partitions as usize > PARTITIONS_PER_CLUSTER_MAX {
            return Err(ControllerError::PartitionLimit {
                requested: partitions,
                held,
                max: PARTITIONS_PER_CLUSTER_MAX,
            });
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
            return Err(ControllerError::InvalidReplicationFactor {
                requested: replication_factor,
                available: zones.len(),
            });
        }
        let replica_assignments = (0..partitions as usize)
            .map(|index| {
                (0..factor)
                    .map(|slot| {
                        let zone = &zones[(index + slot) % zones.len()];
                        zone[(index / zones.len()) % zone.len()]
                    })
                    .collect()
            })
            .collect();
        Ok(MetadataRecord::CreateTopic { name: name.to_string(), replica_assignments, config })
    }

    /// Leader election from the ISR; `Election::AnyLiveReplica` takes the first live replica in
    /// assignment order, in sync or not.
    fn elect(&self, state: &PartitionState, excluded: BrokerId, election: Election) -> BrokerId {
        let eligible = |broker: &&BrokerId| **broker != excluded && self.is_live(**broker);
        if election == Election::AnyLiveReplica {
            return state.replicas.iter().find(eligible).copied().unwrap_or(NO_LEADER);
        }
        state.replicas.iter().filter(|b| state.isr.contains(b)).find(eligible).copied().unwrap_or(NO_LEADER)
    }

    /// The records that fence `broker`: it leaves every ISR it is not the last member of, and
    /// the partitions it led elect a new leader from the ISR (KIP-841).
    pub fn fence(&self, broker: BrokerId, election: Election) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::FenceBroker { broker }];
        records.extend(self.leave_partitions(broker, election, false));
        records
    }

    /// The records for a broker's new incarnation (a restart), KIP-841: a new registration
    /// (a new broker epoch, fenced until it has caught up with the metadata), and the old
    /// incarnation fenced at once, so the restarted process never serves as the leader or ISR
    /// member its previous life was. When it comes back with new storage (another directory
    /// id), it also leaves the ISRs it was the last member of: its log no longer holds what
    /// they acknowledged (KIP-966's unclean shutdown); such a partition stays offline rather
    /// than elect a leader that lost acknowledged writes.
    #[allow(clippy::too_many_arguments, reason = "the fields of a registration, as the heartbeat carries them")]
    pub(crate) fn register(
        &self,
        broker: BrokerId,
        zone: String,
        host: String,
        port: i32,
        incarnation: u64,
        directory: DirectoryId,
        election: Election,
    ) -> Vec<MetadataRecord> {
        let storage_lost = self.brokers.get(&broker).is_some_and(|previous| previous.directory != directory);
        let mut records = vec![MetadataRecord::RegisterBroker { broker, zone, host, port, incarnation, directory }];
        records.extend(self.leave_partitions(broker, election, storage_lost));
        records
    }

    fn leave_partitions(&self, broker: BrokerId, election: Election, storage_lost: bool) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for (topic, partitions) in &self.topics {
            for (index, state) in partitions.iter().enumerate() {
                if !state.replicas.contains(&broker) {
                    continue;
                }
                let mut isr: Vec<BrokerId> = state.isr.iter().copied().filter(|b| *b != broker).collect();
                let mut leader =
                    if state.leader == broker { self.elect(state, broker, election) } else { state.leader };
                if isr.is_empty() && !storage_lost {
                    // Keep the last member: it holds every acknowledged write (no unclean election).
                    isr = state.isr.clone();
                }
                if leader == NO_LEADER && election != Election::AnyLiveReplica {
                    // KIP-966: no live ISR member; an eligible leader replica has every acknowledged record.
                    if let Some(eligible) = state.elr.iter().copied().find(|b| *b != broker && self.is_live(*b)) {
                        leader = eligible;
                        isr = vec![eligible];
                    }
                }
                if leader == NO_LEADER && state.leader == broker && election == Election::UncleanWhenNoneInSync {
                    // unclean.leader.election.enable: no in-sync or eligible replica is live.
                    leader =
                        state.replicas.iter().copied().find(|b| *b != broker && self.is_live(*b)).unwrap_or(NO_LEADER);
                }
                let recovering = election != Election::Clean && leader != NO_LEADER && !isr.contains(&leader);
                if recovering {
                    isr = vec![leader];
                }
                if leader == state.leader && isr == state.isr && !(storage_lost && state.elr.contains(&broker)) {
                    continue;
                }
                if storage_lost && isr.is_empty() {
                    tracing::error!(topic, partition = index, broker, "the last in-sync replica lost its storage and no eligible leader replica is live: the partition stays offline");
                }
                let mut record = change(topic, index, state, leader, isr);
                if let MetadataRecord::PartitionChange { leader_recovering, elr, .. } = &mut record {
                    *leader_recovering = recovering;
                    if storage_lost {
                        // KIP-966: an unclean shutdown (here: lost storage) leaves the ELR too.
                        elr.retain(|b| *b != broker);
                    }
                }
                records.push(record);
            }
        }
        records
    }

    /// The records that unfence `broker` and give leaderless partitions whose ISR (or, KIP-966,
    /// whose eligible leader replicas) hold it a leader.
    pub fn unfence(&self, broker: BrokerId, election: Election) -> Vec<MetadataRecord> {
        let mut records = vec![MetadataRecord::UnfenceBroker { broker }];
        for (topic, partitions) in &self.topics {
            for (index, state) in partitions.iter().enumerate() {
                if state.leader == NO_LEADER && state.isr.contains(&broker) {
                    records.push(change(topic, index, state, broker, state.isr.clone()));
                } else if state.leader == NO_LEADER && state.elr.contains(&broker) {
                    records.push(change(topic, index, state, broker, vec![broker]));
                } else if state.leader == NO_LEADER && election != Election::Clean && state.replicas.contains(&broker) {
                    // An out-of-sync replica comes back to an offline partition: unclean election.
                    let mut record = change(topic, index, state, broker, vec![broker]);
                    if let MetadataRecord::PartitionChange { leader_recovering, .. } = &mut record {
                        *leader_recovering = true;
                    }
                    records.push(record);
                }
            }
        }
        records
    }

    /// Validates a leader's ISR change (Kafka's AlterPartition). `broker_epochs` are the broker
    /// epochs the leader saw each member fetch with: a member being added must be live and
    /// registered with that very epoch (KIP-903), or it may be a restarted process that lacks
    /// what the leader saw its previous life fetch.
    #[allow(clippy::too_many_arguments, reason = "the fields of Kafka's AlterPartition request")]
    pub fn alter_partition(
        &self,
        topic: &str,
        partition: i32,
        leader: BrokerId,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: &[BrokerId],
        broker_epochs: &BTreeMap<BrokerId, i64>,
    ) -> Result<MetadataRecord, ControllerError> {
        let stale = || ControllerError::StalePartitionState { topic: topic.to_string(), partition };
        let state = self.partition(topic, partition).ok_or_else(|| ControllerError::UnknownTopic(topic.to_string()))?;
        if state.leader != leader || state.leader_epoch != leader_epoch || state.partition_epoch != partition_epoch {
            return Err(stale());
        }
        let isr_set: BTreeSet<BrokerId> = isr.iter().copied().collect();
        let added_ineligible =
            isr_set.iter().any(|b| !state.replicas.contains(b) || (!state.isr.contains(b) && !self.is_live(*b)));
        if !isr_set.contains(&leader) || added_ineligible {
            return Err(ControllerError::IneligibleReplica { topic: topic.to_string(), partition });
        }
        let stale = isr_set
            .iter()
            .copied()
            .filter(|b| !state.isr.contains(b))
            .find(|b| broker_epochs.get(b) != self.brokers.get(b).map(|r| &r.epoch));
        if let Some(broker) = stale {
            return Err(ControllerError::StaleBrokerEpoch { topic: topic.to_string(), partition, broker });
        }
        let isr: Vec<BrokerId> = state.replicas.iter().copied().filter(|b| isr_set.contains(b)).collect();
        Ok(change(topic, partition as usize, state, leader, isr))
    }

    /// The next producer-id block for a registered broker incarnation (KIP-730). The block is
    /// a committed record, so no controller failover or disk loss can hand it out again.
    pub(crate) fn allocate_producer_ids(
        &self,
        broker: BrokerId,
        broker_epoch: i64,
    ) -> Result<MetadataRecord, ControllerError> {
        if self.brokers.get(&broker).is_none_or(|registration| registration.epoch != broker_epoch) {
            return Err(ControllerError::StaleBrokerRegistration(broker));
        }
        Ok(MetadataRecord::AllocateProducerIds {
            broker,
            next_producer_id: self.next_producer_id + PRODUCER_ID_BLOCK_SIZE,
        })
    }
}

fn change(
    topic: &str,
    partition: usize,
    state: &PartitionState,
    leader: BrokerId,
    isr: Vec<BrokerId>,
) -> MetadataRecord {
    let leader_epoch = if leader != state.leader { state.leader_epoch + 1 } else { state.leader_epoch };
    let elr = eligible_leader_replicas(state, &isr);
    MetadataRecord::PartitionChange {
        topic: topic.to_string(),
        partition: partition as i32,
        leader,
        leader_epoch,
        partition_epoch: state.partition_epoch + 1,
        isr,
        leader_recovering: false,
        elr,
    }
}

/// KIP-966: members that leave an ISR which is then below min.insync.replicas join the ELR
/// (the high watermark is frozen from then on, and it covered their logs); an ISR back at
/// min.insync.replicas empties it.
fn eligible_leader_replicas(state: &PartitionState, isr: &[BrokerId]) -> Vec<BrokerId> {
    if isr.len() >= MIN_INSYNC_REPLICAS {
        return Vec::new();
    }
    let mut elr = state.elr.clone();
    for broker in &state.isr {
        if !isr.contains(broker) && !elr.contains(broker) {
            elr.push(*broker);
        }
    }
    elr.retain(|broker| !isr.contains(broker));
    elr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_topics_keep_data_for_a_bounded_time_and_unknown_settings_are_refused() {
        let config = |pairs: &[(&'static str, &'static str)]| {
            TopicConfig::for_customer(pairs.iter().map(|(name, value)| (*name, Some(*value))))
        };
        assert_eq!(config(&[]), Ok(TopicConfig { retention_ms: Some(RETENTION_MS_DEFAULT), retention_bytes: None }));
        assert_eq!(
            config(&[("retention.ms", "60000"), ("retention.bytes", "1048576")]),
            Ok(TopicConfig { retention_ms: Some(60_000), retention_bytes: Some(1_048_576) })
        );
        assert!(config(&[("retention.ms", "-1")]).unwrap_err().contains("at most 90 days"));
        assert!(config(&[("retention.ms", "59999")]).is_err());
        assert!(config(&[("retention.ms", &*Box::leak((RETENTION_MS_MAX + 1).to_string().into_boxed_str()))]).is_err());
        assert!(config(&[("retention.bytes", "1000")]).is_err());
        assert!(config(&[("retention.ms", "soon")]).unwrap_err().contains("not a number"));
        assert!(config(&[("cleanup.policy", "compact")]).unwrap_err().contains("not a setting this service offers"));
        // The service's own topics keep everything.
        assert_eq!(TopicConfig::default(), TopicConfig { retention_ms: None, retention_bytes: None });
    }

    fn three_zones() -> MetadataImage {
        let mut image = MetadataImage::default();
        for (index, zone) in ["zone-a", "zone-b", "zone-c"].iter().enumerate() {
            let broker = index as i32 + 1;
            let index = image.applied_index + 1;
            image.apply(
                index,
                &MetadataRecord::RegisterBroker {
                    broker,
                    zone: zone.to_string(),
                    host: format!("h{broker}"),
                    port: 9092,
                    incarnation: 1,
                    directory: broker as u64,
                },
            );
            image.apply(index + 1, &MetadataRecord::UnfenceBroker { broker });
        }
        image
    }

    /// Three zones and topic `t`: one partition, replicas 1, 2, 3, all in sync, 1 leading.
    fn three_zones_with_topic() -> MetadataImage {
        let mut image = three_zones();
        apply_all(
            &mut image,
            &[MetadataRecord::CreateTopic {
                name: "t".into(),
                replica_assignments: vec![vec![1, 2, 3]],
                config: TopicConfig::default(),
            }],
        );
        image
    }

    /// The broker epochs a leader would have seen every broker fetch with.
    fn epochs(image: &MetadataImage) -> BTreeMap<BrokerId, i64> {
        image.brokers.iter().map(|(id, registration)| (*id, registration.epoch)).collect()
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for record in records {
            let index = image.applied_index + 1;
            image.apply(index, record);
        }
    }

    /// Bound: topics and partitions per CreateTopics end at `PARTITIONS_PER_CLUSTER_MAX` for
    /// the cluster; a topic past it is refused whole, and one that fits is still placed.
    #[test]
    fn partitions_per_cluster_are_bounded() {
        let mut image = three_zones();
        let per_topic = 1_000;
        let fitting = PARTITIONS_PER_CLUSTER_MAX / per_topic;
        for topic in 0..fitting {
            let record = image.place_topic(&format!("t{topic}"), per_topic as i32, 3, TopicConfig::default()).unwrap();
            apply_all(&mut image, &[record]);
        }
        let held = fitting * per_topic;
        assert_eq!(
            image.place_topic("one-too-many", per_topic as i32, 3, TopicConfig::default()),
            Err(ControllerError::PartitionLimit { requested: per_topic as i32, held, max: PARTITIONS_PER_CLUSTER_MAX })
        );
        let rest = (PARTITIONS_PER_CLUSTER_MAX - held) as i32;
        assert!(image.place_topic("the-rest", rest, 3, TopicConfig::default()).is_ok());
    }

    #[test]
    fn placement_puts_replicas_in_distinct_zones_and_rotates_leaders() {
        let mut image = three_zones();
        let record = image.place_topic("orders", 6, 3, TopicConfig::default()).unwrap();
        apply_all(&mut image, &[record]);
        let partitions = &image.topics["orders"];
        let mut leaders = BTreeSet::new();
        for state in partitions {
            let zones: BTreeSet<_> = state.replicas.iter().map(|b| image.brokers[b].zone.clone()).collect();
            assert_eq!(zones.len(), 3);
            leaders.insert(state.leader);
        }
        assert_eq!(leaders.len(), 3);
        assert!(matches!(
            image.place_topic("x", 1, 4, TopicConfig::default()),
            Err(ControllerError::InvalidReplicationFactor { .. })
        ));
        assert!(matches!(
            image.place_topic("orders", 1, 3, TopicConfig::default()),
            Err(ControllerError::TopicAlreadyExists(_))
        ));
        assert!(matches!(
            image.place_topic("bad name", 1, 3, TopicConfig::default()),
            Err(ControllerError::InvalidTopicName(_))
        ));
    }

    #[test]
    fn fencing_elects_only_from_the_isr() {
        let mut image = three_zones_with_topic();
        // The ISR shrank to {1, 2}; then 1 dies: 2 leads, 3 (out of sync) never does.
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 2], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        let records = image.fence(1, Election::Clean);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.leader_epoch, state.isr.clone()), (2, 1, vec![2]));
        // 2 dies too: the partition goes offline rather than electing 3 (unclean election is off).
        let records = image.fence(2, Election::Clean);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.isr.clone()), (NO_LEADER, vec![2]));
        // 2 comes back: it leads again.
        let records = image.unfence(2, Election::Clean);
        apply_all(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
    }

    #[test]
    fn unclean_election_picks_an_out_of_sync_replica() {
        let mut image = three_zones_with_topic();
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 3], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        let records = image.fence(1, Election::AnyLiveReplica);
        apply_all(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, 2);
    }

    #[test]
    fn unclean_election_enabled_waits_for_the_in_sync_replicas_and_then_takes_an_out_of_sync_one() {
        // unclean.leader.election.enable: only when no in-sync (or eligible) replica is live.
        let mut image = three_zones_with_topic();
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 3], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        let mut with_isr_alive = image.clone();
        let records = with_isr_alive.fence(1, Election::UncleanWhenNoneInSync);
        apply_all(&mut with_isr_alive, &records);
        assert_eq!(with_isr_alive.partition("t", 0).unwrap().leader, 3, "an in-sync replica is live: clean");
        // The ISR is {1}; 1 dies with 2 out of sync and live.
        let shrink = image.alter_partition("t", 0, 1, 0, 1, &[1], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        // No eligible leader replica either (KIP-966 would otherwise elect 3 cleanly).
        image.topics.get_mut("t").unwrap()[0].elr.clear();
        let (mut clean, mut unclean) = (image.clone(), image.clone());
        let records = clean.fence(1, Election::Clean);
        apply_all(&mut clean, &records);
        assert_eq!(clean.partition("t", 0).unwrap().leader, NO_LEADER, "clean: offline rather than lose writes");
        let records = unclean.fence(1, Election::UncleanWhenNoneInSync);
        apply_all(&mut unclean, &records);
        let elected = unclean.partition("t", 0).unwrap().leader;
        assert!(elected == 2 || elected == 3, "an out-of-sync replica leads: {elected}");
    }

    #[test]
    fn stale_alter_partition_is_refused() {
        let mut image = three_zones_with_topic();
        let first = image.alter_partition("t", 0, 1, 0, 0, &[1, 2], &epochs(&image)).unwrap();
        apply_all(&mut image, &[first]);
        assert!(matches!(
            image.alter_partition("t", 0, 1, 0, 0, &[1], &epochs(&image)),
            Err(ControllerError::StalePartitionState { .. })
        ));
        assert!(matches!(
            image.alter_partition("t", 0, 1, 0, 1, &[2, 3], &epochs(&image)),
            Err(ControllerError::IneligibleReplica { .. })
        ));
    }

    #[test]
    fn a_new_incarnation_is_fenced_at_once_and_rejoins_only_with_its_new_epoch() {
        // KIP-841: a restarted broker's previous life is fenced when the new one registers,
        // before any session timeout, and its partitions elect leaders from the rest of the ISR.
        let mut image = three_zones_with_topic();
        let old_epochs = epochs(&image);
        let records = image.register(1, "zone-a".into(), "h1".into(), 9092, 2, 1, Election::Clean);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap().clone();
        assert_eq!((state.leader, state.leader_epoch, state.isr.clone()), (2, 1, vec![2, 3]));
        let registration = image.brokers[&1].clone();
        assert!(registration.fenced && registration.incarnation == 2 && registration.epoch > old_epochs[&1]);
        // While fenced it cannot join any ISR...
        assert!(matches!(
            image.alter_partition("t", 0, 2, 1, state.partition_epoch, &[1, 2, 3], &epochs(&image)),
            Err(ControllerError::IneligibleReplica { .. })
        ));
        // ...and once it has caught up with the metadata and is unfenced, KIP-903: an addition
        // with the epoch the leader saw before the restart is refused...
        let records = image.unfence(1, Election::Clean);
        apply_all(&mut image, &records);
        let stale = image.alter_partition("t", 0, 2, 1, state.partition_epoch, &[1, 2, 3], &old_epochs);
        assert!(matches!(stale, Err(ControllerError::StaleBrokerEpoch { broker: 1, .. })), "{stale:?}");
        // ...and one with the new epoch is taken.
        let joined = image.alter_partition("t", 0, 2, 1, state.partition_epoch, &[1, 2, 3], &epochs(&image)).unwrap();
        apply_all(&mut image, &[joined]);
        assert_eq!(image.partition("t", 0).unwrap().isr, vec![1, 2, 3]);
    }

    #[test]
    fn new_storage_leaves_even_the_last_isr_seat() {
        // KIP-966's unclean shutdown: a broker back with an empty disk must not be elected
        // over data its ISR seat stood for; a restart with its disk keeps the seat.
        let mut image = three_zones_with_topic();
        for broker in [2, 3] {
            let records = image.fence(broker, Election::Clean);
            apply_all(&mut image, &records);
        }
        assert_eq!(image.partition("t", 0).unwrap().isr, vec![1]);
        let mut same_disk = image.clone();
        let records = same_disk.register(1, "zone-a".into(), "h1".into(), 9092, 2, 1, Election::Clean);
        apply_all(&mut same_disk, &records);
        assert_eq!(same_disk.partition("t", 0).unwrap().isr, vec![1], "its log survived: it keeps the seat");
        let records = image.register(1, "zone-a".into(), "h1".into(), 9092, 2, 99, Election::Clean);
        apply_all(&mut image, &records);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.isr.clone()), (NO_LEADER, vec![]));
        let records = image.unfence(1, Election::Clean);
        apply_all(&mut image, &records);
        assert_eq!(image.partition("t", 0).unwrap().leader, NO_LEADER, "never elected over what it lost");
    }

    #[test]
    fn unclean_election_marks_the_leader_as_recovering() {
        let mut image = three_zones_with_topic();
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 3], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        let records = image.fence(1, Election::AnyLiveReplica);
        apply_all(&mut image, &records);
        assert!(
            image.partition("t", 0).unwrap().leader_recovering,
            "KIP-704: followers may truncate acknowledged data"
        );
    }

    #[test]
    fn a_batch_takes_effect_at_one_index() {
        // A registration and the fencing it implies must never be seen apart.
        let mut image = three_zones();
        apply_all(
            &mut image,
            &[MetadataRecord::CreateTopic {
                name: "t".into(),
                replica_assignments: vec![vec![3, 1, 2]],
                config: TopicConfig::default(),
            }],
        );
        let records = image.register(3, "zone-c".into(), "h3".into(), 9092, 2, 99, Election::Clean);
        let index = image.applied_index + 1;
        image.apply(index, &MetadataRecord::Batch(records));
        assert_eq!(image.applied_index, index);
        assert_eq!(image.brokers[&3].epoch, index as i64);
        assert_ne!(
            image.partition("t", 0).unwrap().leader,
            3,
            "the new registration and the lost leadership land together"
        );
    }

    #[test]
    fn producer_id_blocks_never_repeat_across_failover_and_disk_loss() {
        // KIP-730: blocks are committed records. A new controller replays the same log, and a
        // node back with an empty disk re-registers and gets a block after every earlier one.
        let mut log = Vec::new();
        let mut image = three_zones();
        let mut given = Vec::new();
        for broker in [1, 2, 3, 1] {
            let record = image.allocate_producer_ids(broker, image.brokers[&broker].epoch).unwrap();
            apply_all(&mut image, std::slice::from_ref(&record));
            log.push(record);
            given.push(image.producer_id_blocks[&broker]);
        }
        // Controller failover: the new active controller's image comes from the same records.
        let mut failover = three_zones();
        apply_all(&mut failover, &log);
        assert_eq!(failover.next_producer_id, image.next_producer_id);
        // Broker 3 loses its disk: a new incarnation; its old epoch can no longer allocate.
        let old_epoch = image.brokers[&3].epoch;
        let records = failover.register(3, "zone-c".into(), "h3".into(), 9092, 2, 99, Election::Clean);
        apply_all(&mut failover, &[MetadataRecord::Batch(records)]);
        assert!(matches!(
            failover.allocate_producer_ids(3, old_epoch),
            Err(ControllerError::StaleBrokerRegistration(3))
        ));
        let record = failover.allocate_producer_ids(3, failover.brokers[&3].epoch).unwrap();
        apply_all(&mut failover, &[record]);
        given.push(failover.producer_id_blocks[&3]);
        for (position, (first, end)) in given.iter().enumerate() {
            assert_eq!(end - first, PRODUCER_ID_BLOCK_SIZE);
            for (other_first, other_end) in &given[position + 1..] {
                assert!(
                    end <= other_first || other_end <= first,
                    "blocks {first}..{end} and {other_first}..{other_end} overlap"
                );
            }
        }
    }

    #[test]
    fn eligible_leader_replicas_keep_a_partition_led_when_its_last_isr_member_loses_its_disk() {
        // KIP-966: 2 left the ISR when it fell below min.insync.replicas, so the high watermark
        // froze with 2 holding everything below it. When 1 (the last ISR member) comes back
        // with new storage, 2 leads instead of the partition going offline.
        let mut image = three_zones_with_topic();
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1, 2], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        assert!(
            image.partition("t", 0).unwrap().elr.is_empty(),
            "ISR {{1, 2}} still meets min.insync.replicas: 3 may lack acknowledged records"
        );
        let shrink = image.alter_partition("t", 0, 1, 0, 1, &[1], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        assert_eq!(image.partition("t", 0).unwrap().elr, vec![2]);
        let records = image.register(1, "zone-a".into(), "h1".into(), 9092, 2, 99, Election::Clean);
        apply_all(&mut image, &[MetadataRecord::Batch(records)]);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.isr.clone(), state.elr.clone()), (2, vec![2], vec![]));
        // Back at min.insync.replicas: the ELR empties.
        let expand = image
            .alter_partition("t", 0, 2, state.leader_epoch, state.partition_epoch, &[2, 3], &epochs(&image))
            .unwrap();
        apply_all(&mut image, &[expand]);
        assert!(image.partition("t", 0).unwrap().elr.is_empty());
    }

    #[test]
    fn an_eligible_leader_replica_that_loses_its_disk_leaves_the_elr() {
        let mut image = three_zones_with_topic();
        let shrink = image.alter_partition("t", 0, 1, 0, 0, &[1], &epochs(&image)).unwrap();
        apply_all(&mut image, &[shrink]);
        assert_eq!(image.partition("t", 0).unwrap().elr, vec![2, 3]);
        let records = image.register(3, "zone-c".into(), "h3".into(), 9092, 2, 99, Election::Clean);
        apply_all(&mut image, &[MetadataRecord::Batch(records)]);
        assert_eq!(image.partition("t", 0).unwrap().elr, vec![2]);
        // The leader is fenced (disk intact): it keeps the ISR seat, 2 (live, eligible) leads.
        let records = image.fence(1, Election::Clean);
        apply_all(&mut image, &[MetadataRecord::Batch(records)]);
        let state = image.partition("t", 0).unwrap();
        assert_eq!((state.leader, state.isr.clone()), (2, vec![2]));
        assert_eq!(state.elr, vec![1], "1 left an ISR below min.insync.replicas: eligible in turn");
    }
}
