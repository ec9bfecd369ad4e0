//! One partition replica's replication state: leader or follower, the ISR and the high
//! watermark. A state machine: the async shell feeds it follower fetches, metadata and time,
//! and sends the ISR changes it asks for to the controller (Kafka's AlterPartition).

use std::collections::{BTreeMap, BTreeSet};

use crate::controller::metadata::{BrokerId, PartitionState, NO_BROKER_EPOCH, NO_LEADER};
use crate::log::PartitionLog;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

#[derive(Debug, Clone, Copy)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `min.insync.replicas`.
    pub min_insync_replicas: usize,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self { replica_lag_time_max_ms: 10_000, min_insync_replicas: crate::controller::metadata::MIN_INSYNC_REPLICAS }
    }
}

#[derive(Debug, Clone)]
struct FollowerProgress {
    log_end_offset: i64,
    last_caught_up_ms: u64,
    /// The broker epoch the follower fetches with (KIP-903): progress is about that process.
    broker_epoch: i64,
}

#[derive(Debug, Clone)]
pub struct LeaderState {
    /// The ISR the controller committed.
    pub isr: BTreeSet<BrokerId>,
    /// An ISR change sent to the controller and not yet committed, and when it was sent.
    pending: Option<(BTreeSet<BrokerId>, u64)>,
    /// ISR members past `replica.lag.time.max.ms`: they no longer count for acks=all even
    /// before the controller commits the shrink (which it cannot do without a quorum).
    lagging: BTreeSet<BrokerId>,
    followers: BTreeMap<BrokerId, FollowerProgress>,
}

#[derive(Debug, Clone)]
pub enum Role {
    /// Not a replica in the current metadata, or the partition has no leader.
    Offline,
    Leader(LeaderState),
    Follower {
        leader: BrokerId,
    },
}

/// An ISR change the leader asks the controller for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChangeRequest {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<BrokerId>,
    /// The broker epoch each follower in `isr` fetched with (KIP-903).
    pub broker_epochs: BTreeMap<BrokerId, i64>,
}

/// How long an unanswered ISR change blocks the next one.
const PENDING_ISR_TIMEOUT_MS: u64 = 2_000;

pub struct Replica {
    pub broker: BrokerId,
    pub log: PartitionLog,
    pub role: Role,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<BrokerId>,
    /// Log end when this replica became leader of the current epoch.
    epoch_start_offset: i64,
    /// The current leader was elected from outside the ISR (KIP-704): truncating acknowledged
    /// records is then expected, not a broken invariant.
    leader_recovering: bool,
    config: ReplicationConfig,
    bugs: PlantedBugs,
}

impl Replica {
    pub fn new(broker: BrokerId, log: PartitionLog, config: ReplicationConfig, bugs: PlantedBugs) -> Self {
        Self {
            broker,
            log,
            role: Role::Offline,
            leader_epoch: -1,
            partition_epoch: -1,
            replicas: Vec::new(),
            epoch_start_offset: 0,
            leader_recovering: false,
            config,
            bugs,
        }
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }

    pub fn leader(&self) -> Option<BrokerId> {
        match self.role {
            Role::Leader(_) => Some(self.broker),
            Role::Follower { leader } => Some(leader),
            Role::Offline => None,
        }
    }

    /// A leader whose high watermark covers everything written before its epoch: what it
    /// reads below the high watermark is then the whole committed history (a new group
    /// coordinator answers COORDINATOR_LOAD_IN_PROGRESS until then, as Kafka's does).
    pub(crate) fn leader_caught_up(&self) -> bool {
        self.is_leader() && self.log.high_watermark() >= self.epoch_start_offset
    }

    /// The ISR size acks=all checks: the committed ISR less members known to lag.
    pub fn isr_size(&self) -> usize {
        match &self.role {
            Role::Leader(state) => state.isr.iter().filter(|b| !state.lagging.contains(b)).count(),
            _ => 0,
        }
    }

    /// Applies the controller's view of this partition. Returns true if the role changed.
    pub fn apply_metadata(&mut self, state: &PartitionState, now_ms: u64) -> bool {
        if state.leader_epoch < self.leader_epoch
            || (state.leader_epoch == self.leader_epoch && state.partition_epoch <= self.partition_epoch)
        {
            return false;
        }
        let new_epoch = state.leader_epoch != self.leader_epoch;
        self.leader_epoch = state.leader_epoch;
        self.partition_epoch = state.partition_epoch;
        self.replicas = state.replicas.clone();
        if new_epoch {
            self.leader_recovering = state.leader_recovering;
        }
        let isr: BTreeSet<BrokerId> = state.isr.iter().copied().collect();
        if state.leader == self.broker {
            if let (false, Role::Leader(leader)) = (new_epoch, &mut self.role) {
                leader.isr = isr;
                leader.pending = None;
                self.maybe_advance_high_watermark();
                return false;
            }
            self.log.begin_epoch(state.leader_epoch);
            self.epoch_start_offset = self.log.log_end_offset();
            // Followers start the lag clock now: a new leader does not shrink the ISR at once.
            let followers = state
                .replicas
                .iter()
                .filter(|b| **b != self.broker)
                .map(|b| {
                    (
                        *b,
                        FollowerProgress {
                            log_end_offset: 0,
                            last_caught_up_ms: now_ms,
                            broker_epoch: NO_BROKER_EPOCH,
                        },
                    )
                })
                .collect();
            self.role = Role::Leader(LeaderState { isr, pending: None, lagging: BTreeSet::new(), followers });
            self.maybe_advance_high_watermark();
            true
        } else if state.leader == NO_LEADER || !state.replicas.contains(&self.broker) {
            let changed = !matches!(self.role, Role::Offline);
            self.role = Role::Offline;
            changed
        } else {
            let changed = !matches!(self.role, Role::Follower { leader } if leader == state.leader) || new_epoch;
            self.role = Role::Follower { leader: state.leader };
            changed
        }
    }

    /// A follower fetched from `fetch_offset`: it has everything below it (Kafka's
    /// `updateFollowerFetchState`). May ask to add the follower to the ISR.
    /// `broker_epoch` is the epoch the follower's process registered with (KIP-903).
    pub fn on_follower_fetch(
        &mut self,
        follower: BrokerId,
        broker_epoch: i64,
        fetch_offset: i64,
        now_ms: u64,
    ) -> Option<IsrChangeRequest> {
        let log_end_offset = self.log.log_end_offset();
        let high_watermark = self.log.high_watermark();
        let Role::Leader(leader) = &mut self.role else { return None };
        let progress = leader.followers.get_mut(&follower)?;
        progress.broker_epoch = broker_epoch;
        progress.log_end_offset = fetch_offset.min(log_end_offset);
        if fetch_offset >= log_end_offset {
            progress.last_caught_up_ms = now_ms;
            leader.lagging.remove(&follower);
        }
        // KIP-497: a follower may join once it has everything up to the high watermark. The
        // planted bug lets it join as soon as it fetches, so the high watermark can move back.
        let caught_up = fetch_offset >= high_watermark || self.bugs.is_on(PlantedBug::HighWatermarkRegression);
        let request = if !leader.isr.contains(&follower)
            && caught_up
            && leader.pending.is_none()
            && broker_epoch != NO_BROKER_EPOCH
        {
            let mut isr = leader.isr.clone();
            isr.insert(follower);
            leader.pending = Some((isr.clone(), now_ms));
            let broker_epochs = broker_epochs(leader, &isr);
            Some(IsrChangeRequest {
                leader_epoch: self.leader_epoch,
                partition_epoch: self.partition_epoch,
                isr: isr.into_iter().collect(),
                broker_epochs,
            })
        } else {
            None
        };
        self.maybe_advance_high_watermark();
        request
    }

    /// Time passes: followers that lag too long are dropped from the ISR.
    pub fn tick(&mut self, now_ms: u64) -> Option<IsrChangeRequest> {
        let lag_max = self.config.replica_lag_time_max_ms;
        let Role::Leader(leader) = &mut self.role else { return None };
        leader.lagging = leader
            .followers
            .iter()
            .filter(|(_, p)| now_ms.saturating_sub(p.last_caught_up_ms) > lag_max)
            .map(|(b, _)| *b)
            .collect();
        if let Some((_, since)) = &leader.pending {
            if now_ms.saturating_sub(*since) < PENDING_ISR_TIMEOUT_MS {
                return None;
            }
            leader.pending = None;
        }
        let lagging: Vec<BrokerId> = leader
            .isr
            .iter()
            .copied()
            .filter(|b| leader.followers.get(b).is_some_and(|p| now_ms.saturating_sub(p.last_caught_up_ms) > lag_max))
            .collect();
        if lagging.is_empty() {
            return None;
        }
        let isr: BTreeSet<BrokerId> = leader.isr.iter().copied().filter(|b| !lagging.contains(b)).collect();
        // The shrink only counts once committed; until then the larger ISR bounds the HW.
        leader.pending = Some((leader.isr.clone(), now_ms));
        let broker_epochs = broker_epochs(leader, &isr);
        Some(IsrChangeRequest {
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            isr: isr.into_iter().collect(),
            broker_epochs,
        })
    }

    /// The high watermark is the smallest log end over the maximal ISR (committed plus
    /// pending members, KIP-497), and only moves while that ISR meets min.insync.replicas.
    pub fn maybe_advance_high_watermark(&mut self) -> bool {
        let Role::Leader(leader) = &self.role else { return false };
        let mut maximal: BTreeSet<BrokerId> = leader.isr.clone();
        if let Some((pending, _)) = &leader.pending {
            maximal.extend(pending.iter().copied());
        }
        maximal.insert(self.broker);
        if maximal.len() < self.config.min_insync_replicas {
            return false;
        }
        // Only what is on stable storage here counts (group commit). Planted: the log end,
        // synced or not.
        let own = if self.bugs.is_on(PlantedBug::AckBeforeSync) {
            self.log.log_end_offset()
        } else {
            self.log.durable_end_offset()
        };
        let candidate = maximal
            .iter()
            .map(|b| if *b == self.broker { own } else { leader.followers.get(b).map_or(0, |p| p.log_end_offset) })
            .min()
            .unwrap_or(own);
        let current = self.log.high_watermark();
        if self.bugs.is_on(PlantedBug::HighWatermarkRegression) && candidate != current {
            self.log.force_high_watermark(candidate);
            return true;
        }
        if candidate > current {
            self.log.set_high_watermark(candidate);
            return true;
        }
        false
    }

    /// Leader side of a follower fetch (KIP-101, as Fetch carries it since KIP-320): where the
    /// follower's log diverges from ours, given the epoch of its last batch and its log end.
    pub fn diverging_epoch(&self, last_fetched_epoch: i32, fetch_offset: i64) -> Option<(i32, i64)> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let (epoch, end_offset) = match self.log.end_offset_for_epoch(last_fetched_epoch) {
            // No epoch of ours is that old: every entry the follower has diverges.
            (-1, _) => (-1, 0),
            found => found,
        };
        (epoch != last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset))
    }

    /// Follower side: truncate to the smaller of the leader's end of the diverging epoch and
    /// our own end of it. Returns the new log end.
    pub fn truncate_on_divergence(&mut self, epoch: i32, end_offset: i64) -> Result<i64, crate::log::LogError> {
        let (_, own_end) = self.log.end_offset_for_epoch(epoch);
        let truncate_to = end_offset.min(own_end).max(0);
        // The log asserts this too; here the message can say who and why.
        assert!(
            truncate_to >= self.log.high_watermark() || self.leader_recovering,
            "{}broker {} following {:?} at leader epoch {}: the leader says our log diverges at epoch {epoch} end {end_offset}, below our high watermark {} (log end {})",
            crate::INVARIANT_BROKEN, self.broker, self.leader(), self.leader_epoch, self.log.high_watermark(), self.log.log_end_offset()
        );
        self.log.truncate_to(truncate_to, self.leader_recovering)?;
        Ok(self.log.log_end_offset())
    }

    /// A follower learns the leader's high watermark, bounded by its own log.
    pub fn follow_high_watermark(&mut self, leader_high_watermark: i64) {
        let bounded = leader_high_watermark.min(self.log.log_end_offset());
        if bounded > self.log.high_watermark() {
            self.log.set_high_watermark(bounded);
        }
    }
}

fn broker_epochs(leader: &LeaderState, isr: &BTreeSet<BrokerId>) -> BTreeMap<BrokerId, i64> {
    leader.followers.iter().filter(|(b, _)| isr.contains(b)).map(|(b, p)| (*b, p.broker_epoch)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::encode;
    use crate::log::MemoryDisk;
    use std::sync::Arc;

    fn leader_of(isr: Vec<BrokerId>) -> Replica {
        let keys = Arc::new(crate::encryption::FixedKeys::default());
        let log = PartitionLog::open(
            Arc::new(MemoryDisk::new()),
            keys,
            "t",
            "t-0",
            crate::log::SegmentPolicy::default(),
            PlantedBugs::none(),
        )
        .unwrap();
        let mut replica = Replica::new(1, log, ReplicationConfig::default(), PlantedBugs::none());
        replica.apply_metadata(
            &PartitionState {
                replicas: vec![1, 2, 3],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                isr,
                leader_recovering: false,
                elr: Vec::new(),
            },
            0,
        );
        replica
    }

    #[test]
    fn high_watermark_waits_for_every_isr_member() {
        let mut replica = leader_of(vec![1, 2, 3]);
        replica.log.append_as_leader(encode(&["a", "b"], -1, -1), 0).unwrap();
        replica.log.sync().unwrap();
        replica.maybe_advance_high_watermark();
        assert_eq!(replica.log.high_watermark(), 0);
        replica.on_follower_fetch(2, 7, 2, 1);
        assert_eq!(replica.log.high_watermark(), 0, "3 is in the ISR and has nothing");
        replica.on_follower_fetch(3, 7, 1, 1);
        assert_eq!(replica.log.high_watermark(), 1);
        replica.on_follower_fetch(3, 7, 2, 1);
        assert_eq!(replica.log.high_watermark(), 2);
    }

    #[test]
    fn high_watermark_waits_for_the_leaders_own_sync() {
        let mut replica = leader_of(vec![1, 2]);
        replica.log.append_as_leader(encode(&["a"], -1, -1), 0).unwrap();
        replica.on_follower_fetch(2, 7, 1, 1);
        assert_eq!(replica.log.high_watermark(), 0, "in the leader's page cache only");
        replica.log.sync().unwrap();
        replica.maybe_advance_high_watermark();
        assert_eq!(replica.log.high_watermark(), 1);
    }

    #[test]
    fn lagging_follower_is_shrunk_and_min_isr_blocks_the_high_watermark() {
        let mut replica = leader_of(vec![1, 2, 3]);
        replica.log.append_as_leader(encode(&["a"], -1, -1), 0).unwrap();
        replica.log.sync().unwrap();
        replica.on_follower_fetch(2, 7, 1, 5_000);
        let request = replica.tick(10_001).expect("3 lagged past replica.lag.time.max.ms");
        assert_eq!(request.isr, vec![1, 2]);
        assert_eq!(replica.isr_size(), 2, "3 stops counting for acks=all before the shrink commits");
        replica.apply_metadata(
            &PartitionState {
                replicas: vec![1, 2, 3],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 1,
                isr: vec![1, 2],
                leader_recovering: false,
                elr: Vec::new(),
            },
            10_002,
        );
        assert_eq!(replica.log.high_watermark(), 1);
        // ISR {1} is below min.insync.replicas = 2: nothing new becomes visible.
        replica.apply_metadata(
            &PartitionState {
                replicas: vec![1, 2, 3],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 2,
                isr: vec![1],
                leader_recovering: false,
                elr: Vec::new(),
            },
            10_003,
        );
        replica.log.append_as_leader(encode(&["b"], -1, -1), 0).unwrap();
        replica.log.sync().unwrap();
        replica.maybe_advance_high_watermark();
        assert_eq!(replica.log.high_watermark(), 1);
    }

    #[test]
    fn a_follower_joins_the_isr_only_when_caught_up_to_the_high_watermark() {
        // KIP-497: joining below the high watermark would let it move back.
        let mut replica = leader_of(vec![1, 2]);
        replica.log.append_as_leader(encode(&["a", "b"], -1, -1), 0).unwrap();
        replica.log.sync().unwrap();
        replica.on_follower_fetch(2, 7, 2, 1);
        assert_eq!(replica.log.high_watermark(), 2);
        assert_eq!(replica.on_follower_fetch(3, 7, 1, 1), None);
        let request = replica.on_follower_fetch(3, 7, 2, 2).unwrap();
        assert_eq!(request.isr, vec![1, 2, 3]);
        // KIP-903: the request names the broker epoch each member fetched with.
        assert_eq!(request.broker_epochs, BTreeMap::from([(2, 7), (3, 7)]));
    }

    #[test]
    fn a_follower_of_unknown_broker_epoch_is_never_proposed_for_the_isr() {
        let mut replica = leader_of(vec![1, 2]);
        replica.log.append_as_leader(encode(&["a"], -1, -1), 0).unwrap();
        replica.log.sync().unwrap();
        replica.on_follower_fetch(2, 7, 1, 1);
        assert_eq!(replica.on_follower_fetch(3, NO_BROKER_EPOCH, 1, 1), None);
    }
}
