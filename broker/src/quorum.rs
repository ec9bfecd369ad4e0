//! The async shell around the Raft state machine: it persists, sends, ticks and applies the
//! metadata log, and runs the active controller's decisions (registration, fencing, topic
//! creation, ISR changes) one at a time so each is validated against a fresh image.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::control_plane::audit::AUDIT_TOPIC;
use crate::controller::metadata::{
    BrokerId, ControllerError, Election, MetadataImage, MetadataRecord, OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS,
};
use crate::controller::raft::{
    Config as RaftConfig, DirectoryId, Entry, HardState, PersistentState, Raft, RaftMessage, Ready,
};
use crate::encryption::KeySource;
use crate::log::sealed_log::SealedLog;
use crate::log::{Disk, LogError, MetaProperties};
use crate::messages::ControllerRequest;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// The metadata log's segments (sealed under the cluster's key, C08).
const METADATA_DIRECTORY: &str = "metadata";
const TICK: Duration = Duration::from_millis(100);
const ELECTION_TICKS_MIN: u32 = 10;
const ELECTION_TICKS_MAX: u32 = 20;
/// Raft's election timeout range (thesis 3.4), for harnesses that straddle it.
pub const ELECTION_TIMEOUT_MS: (u64, u64) = (ELECTION_TICKS_MIN as u64 * 100, ELECTION_TICKS_MAX as u64 * 100);
/// A broker that has not heart-beaten for this long is fenced (`broker.session.timeout.ms`,
/// Kafka's default).
pub const BROKER_SESSION_TIMEOUT_MS: u64 = 9_000;
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
pub const CONTROLLER_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// How the quorum reaches its peers: channels it is handed, served by the runtime's peer
/// transport (which dials, authenticates and batches). The quorum never dials itself.
pub struct PeerChannels {
    /// Raft messages for each peer voter or observer, in order; a full queue drops (Raft resends).
    pub raft: BTreeMap<BrokerId, mpsc::Sender<RaftMessage<MetadataRecord>>>,
    /// Requests for the active controller when it is another node.
    pub forward: mpsc::Sender<Forward>,
}

/// A controller request forwarded to the active controller `to`.
pub struct Forward {
    pub to: BrokerId,
    pub lane: Lane,
    pub request: ControllerRequest,
    pub reply: oneshot::Sender<Result<u64, ControllerError>>,
}

/// Heartbeats and other requests travel on separate connections, so a slow ISR change never
/// delays a heartbeat into a fencing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    Heartbeat,
    Request,
}

/// A controller voter (one per zone; combined with a broker on the same node).
#[derive(Debug, Clone)]
pub struct Voter {
    pub id: BrokerId,
    pub host: String,
    pub address: SocketAddr,
}

enum Input {
    Message {
        from: BrokerId,
        directory: DirectoryId,
        message: RaftMessage<MetadataRecord>,
    },
    /// One entry: several records travel as one `MetadataRecord::Batch`. Proposed only in
    /// `term`, the term whose image the decision was taken on.
    Propose {
        record: MetadataRecord,
        term: u64,
        reply: oneshot::Sender<Result<(u64, u64), ControllerError>>,
    },
}

/// One persisted line of the Raft log file.
#[derive(Serialize, Deserialize)]
enum PersistedLine {
    HardState(HardState),
    TruncateAfter(u64),
    Entry(Entry<MetadataRecord>),
}

/// While this node leads: its term and the index of the term's first entry.
type ActiveTerm = Arc<Mutex<Option<(u64, u64)>>>;

pub struct Quorum {
    id: BrokerId,
    inputs: mpsc::Sender<Input>,
    image: watch::Receiver<Arc<MetadataImage>>,
    /// Terms of recently committed entries, so a proposer can tell whether its entry or a
    /// later leader's took its index.
    committed_terms: Arc<Mutex<BTreeMap<u64, u64>>>,
    leader: Arc<AtomicI32>,
    active: ActiveTerm,
    operations: tokio::sync::Mutex<()>,
    heartbeats: Mutex<BTreeMap<BrokerId, tokio::time::Instant>>,
    leader_since: Mutex<Option<tokio::time::Instant>>,
    forward: mpsc::Sender<Forward>,
    bugs: PlantedBugs,
}

impl Quorum {
    /// Recovers the Raft state from the metadata log's records and starts the driver task.
    pub fn start(
        meta: &MetaProperties,
        voters: &[Voter],
        (log, records): (SealedLog, Vec<Vec<u8>>),
        peers: PeerChannels,
        seed: u64,
        entries_per_append_max: usize,
        bugs: PlantedBugs,
    ) -> Arc<Self> {
        let id = meta.node_id;
        let persisted = recover(&records);
        let config = RaftConfig {
            id,
            directory: meta.directory_id,
            nodes: voters.iter().map(|v| v.id).collect(),
            bootstrap_voters: meta.initial_voters.clone(),
            election_ticks_min: ELECTION_TICKS_MIN,
            election_ticks_max: ELECTION_TICKS_MAX,
            // A heartbeat every 200 ms against a 1-2 s election timeout.
            heartbeat_ticks: 2,
            max_entries_per_append: entries_per_append_max,
            seed,
        };
        let raft = Raft::new(config, persisted);
        let (inputs, input_receiver) = mpsc::channel(4_096);
        let (image_sender, image) = watch::channel(Arc::new(MetadataImage::default()));
        let leader = Arc::new(AtomicI32::new(-1));
        let active = Arc::new(Mutex::new(None));
        let committed_terms = Arc::new(Mutex::new(BTreeMap::new()));
        tokio::spawn(drive(
            raft,
            input_receiver,
            peers.raft,
            log,
            image_sender,
            (leader.clone(), active.clone()),
            committed_terms.clone(),
        ));
        let quorum = Arc::new(Quorum {
            id,
            inputs,
            image,
            committed_terms,
            leader,
            active,
            operations: tokio::sync::Mutex::new(()),
            heartbeats: Mutex::new(BTreeMap::new()),
            leader_since: Mutex::new(None),
            forward: peers.forward,
            bugs,
        });
        tokio::spawn(active_controller_duties(quorum.clone()));
        quorum
    }

    /// Opens this node's metadata log (sealed under the cluster's key): the log to append to
    /// and the records it holds, for `start`.
    pub fn open_metadata_log(
        disk: Arc<dyn Disk>,
        keys: Arc<dyn KeySource>,
    ) -> Result<(SealedLog, Vec<Vec<u8>>), LogError> {
        SealedLog::open(disk, keys, METADATA_DIRECTORY)
    }

    /// The election policy: clean, unless a planted bug says otherwise.
    fn election(&self) -> Election {
        if self.bugs.is_on(PlantedBug::UncleanLeaderElection) {
            Election::AnyLiveReplica
        } else if self.bugs.is_on(PlantedBug::UncleanLeaderElectionEnabled) {
            Election::UncleanWhenNoneInSync
        } else {
            Election::Clean
        }
    }

    pub fn image(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// The current Raft leader, as far as this node knows.
    pub fn leader(&self) -> Option<BrokerId> {
        Some(self.leader.load(Ordering::Relaxed)).filter(|l| *l >= 0)
    }

    /// A Raft message from voter or observer `from`, sent from its storage `directory`.
    pub(crate) fn deliver(&self, from: BrokerId, directory: DirectoryId, message: RaftMessage<MetadataRecord>) {
        // A full queue drops the message; Raft tolerates loss.
        let _ = self.inputs.try_send(Input::Message { from, directory, message });
    }

    /// Runs a request on the active controller: here if we are it, otherwise forwarded.
    pub(crate) async fn submit(&self, request: ControllerRequest) -> Result<u64, ControllerError> {
        let deadline = tokio::time::Instant::now() + CONTROLLER_REQUEST_TIMEOUT;
        loop {
            let outcome = match self.leader() {
                Some(leader) if leader == self.id => self.execute(request.clone()).await,
                Some(leader) => self.forward(leader, &request).await,
                None => Err(ControllerError::NotController),
            };
            match outcome {
                Err(ControllerError::NotController | ControllerError::Timeout)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }

    async fn forward(&self, leader: BrokerId, request: &ControllerRequest) -> Result<u64, ControllerError> {
        let lane = if matches!(request, ControllerRequest::Heartbeat { .. }) { Lane::Heartbeat } else { Lane::Request };
        let (reply, outcome) = oneshot::channel();
        self.forward
            .send(Forward { to: leader, lane, request: request.clone(), reply })
            .await
            .map_err(|_| ControllerError::NotController)?;
        outcome.await.unwrap_or(Err(ControllerError::NotController))
    }

    /// Decides and commits a request; only on the active controller.
    pub async fn execute(&self, request: ControllerRequest) -> Result<u64, ControllerError> {
        // A heartbeat counts when it arrives, not when the operation queue gets to it.
        if let ControllerRequest::Heartbeat { broker, .. } = &request {
            if self.leader() == Some(self.id) {
                self.heartbeats.lock().unwrap().insert(*broker, tokio::time::Instant::now());
            }
        }
        let _one_at_a_time = self.operations.lock().await;
        let (term, image) = self.decision_image().await?;
        let records = match request {
            ControllerRequest::Heartbeat {
                broker,
                zone,
                host,
                port,
                incarnation,
                directory,
                broker_epoch,
                metadata_offset,
            } => {
                // The planted bug: a restarted process is taken for its previous life (no
                // incarnation check), so it keeps the leadership and ISR seats of a log it lost.
                let same_life = |registration: &crate::controller::metadata::BrokerRegistration| {
                    registration.incarnation == incarnation
                        || (self.bugs.is_on(PlantedBug::RestartedBrokerKeepsLeadership) && registration.host == host)
                };
                match image.brokers.get(&broker) {
                    Some(registration) if same_life(registration) => {
                        if registration.fenced && metadata_offset >= registration.epoch as u64 {
                            image.unfence(broker, self.election())
                        } else {
                            Vec::new()
                        }
                    }
                    // A heartbeat of a superseded incarnation (a dead process's request,
                    // delivered late): never let it register its previous life again.
                    Some(_) if broker_epoch.is_some() => return Err(ControllerError::StaleBrokerRegistration(broker)),
                    _ => {
                        tracing::info!(
                            broker,
                            incarnation,
                            directory,
                            "registering a new broker incarnation (KIP-841): its previous life is fenced"
                        );
                        image.register(broker, zone, host, port, incarnation, directory, self.election())
                    }
                }
            }
            ControllerRequest::AlterPartition { leader, changes } => {
                // Each partition is judged alone (Kafka answers per partition); the request
                // fails only if every change does.
                let mut records = Vec::new();
                let mut refused = None;
                for change in &changes {
                    match image.alter_partition(
                        &change.topic,
                        change.partition,
                        leader,
                        change.leader_epoch,
                        change.partition_epoch,
                        &change.isr,
                        &change.broker_epochs,
                    ) {
                        Ok(record) => records.push(record),
                        Err(error) => {
                            tracing::debug!(topic = %change.topic, partition = change.partition, %error, "ISR change refused");
                            refused.get_or_insert(error);
                        }
                    }
                }
                match refused {
                    Some(error) if records.is_empty() => return Err(error),
                    _ => records,
                }
            }
            ControllerRequest::AllocateProducerIds { broker, broker_epoch } => {
                vec![image.allocate_producer_ids(broker, broker_epoch)?]
            }
            ControllerRequest::CreateTopic { name, partitions, replication_factor, config } => {
                vec![image.place_topic(&name, partitions, replication_factor, config)?]
            }
            ControllerRequest::DeleteTopic { name } => {
                // Internal topics and the audit topic (C18) are never deleted.
                if name.starts_with("__") || name == AUDIT_TOPIC || !image.topics.contains_key(&name) {
                    return Err(ControllerError::UnknownTopic(name));
                }
                vec![MetadataRecord::DeleteTopic { name }]
            }
        };
        if records.is_empty() {
            return Ok(image.applied_index);
        }
        self.commit(records, term).await
    }

    /// The image the active controller decides on, and its term. A new leader first applies
    /// everything committed before its term (KRaft's active controller replays the log before
    /// it serves): deciding on an older image proposed records against superseded partition
    /// epochs, which were then dropped (seen: a re-imaged broker's registration committed
    /// without the leadership moves it implied).
    async fn decision_image(&self) -> Result<(u64, Arc<MetadataImage>), ControllerError> {
        let (term, term_start) = (*self.active.lock().unwrap()).ok_or(ControllerError::NotController)?;
        if !self.wait_applied(term_start, CONTROLLER_REQUEST_TIMEOUT).await {
            return Err(ControllerError::Timeout);
        }
        Ok((term, self.image.borrow().clone()))
    }

    /// Must be called with `operations` held, on an image from `decision_image`.
    async fn commit(&self, records: Vec<MetadataRecord>, term: u64) -> Result<u64, ControllerError> {
        // The planted bug commits a decision record by record, so an image can show a prefix.
        let entries = if records.len() == 1 || self.bugs.is_on(PlantedBug::NonAtomicMetadataBatches) {
            records
        } else {
            vec![MetadataRecord::Batch(records)]
        };
        let mut last = None;
        for record in entries {
            let (reply, receiver) = oneshot::channel();
            self.inputs
                .send(Input::Propose { record, term, reply })
                .await
                .map_err(|_| ControllerError::NotController)?;
            last = Some(receiver.await.map_err(|_| ControllerError::NotController)??);
        }
        let (index, term) = last.ok_or(ControllerError::NotController)?;
        let mut image = self.image.clone();
        let applied =
            crate::clock::timeout(CONTROLLER_REQUEST_TIMEOUT, image.wait_for(|image| image.applied_index >= index))
                .await;
        match applied {
            // A different term at our index means a new leader overwrote the proposal.
            Ok(Ok(_)) if self.committed_terms.lock().unwrap().get(&index) == Some(&term) => Ok(index),
            Ok(Ok(_)) => Err(ControllerError::NotController),
            _ => Err(ControllerError::Timeout),
        }
    }

    /// Waits until this node's image has applied `index` (read-your-writes for CreateTopics).
    pub(crate) async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut image = self.image.clone();
        let applied = crate::clock::timeout(timeout, image.wait_for(|image| image.applied_index >= index)).await;
        matches!(applied, Ok(Ok(_)))
    }

    /// The broker side of registration: heart-beat to the active controller forever.
    pub(crate) async fn heartbeat_forever(
        self: Arc<Self>,
        zone: String,
        host: String,
        port: i32,
        incarnation: u64,
        directory: DirectoryId,
    ) {
        loop {
            let (metadata_offset, broker_epoch) = {
                let image = self.image.borrow();
                (
                    image.applied_index,
                    image
                        .brokers
                        .get(&self.id)
                        .filter(|registration| registration.incarnation == incarnation)
                        .map(|registration| registration.epoch),
                )
            };
            let request = ControllerRequest::Heartbeat {
                broker: self.id,
                zone: zone.clone(),
                host: host.clone(),
                port,
                incarnation,
                directory,
                broker_epoch,
                metadata_offset,
            };
            if let Err(error) = self.submit(request).await {
                tracing::debug!(%error, "heartbeat failed");
            }
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        }
    }
}

/// While this node is the active controller: fence silent brokers, create the offsets topic.
async fn active_controller_duties(quorum: Arc<Quorum>) {
    loop {
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
        let now = tokio::time::Instant::now();
        if quorum.leader() != Some(quorum.id) {
            *quorum.leader_since.lock().unwrap() = None;
            quorum.heartbeats.lock().unwrap().clear();
            continue;
        }
        let since = *quorum.leader_since.lock().unwrap().get_or_insert(now);
        let image = quorum.image.borrow().clone();
        // A new controller gives every broker a full session before fencing it.
        let grace = Duration::from_millis(BROKER_SESSION_TIMEOUT_MS);
        if now.duration_since(since) > grace {
            let silent: Vec<BrokerId> = {
                let heartbeats = quorum.heartbeats.lock().unwrap();
                image
                    .brokers
                    .iter()
                    .filter(|(id, registration)| {
                        !registration.fenced && heartbeats.get(id).is_none_or(|last| now.duration_since(*last) > grace)
                    })
                    .map(|(id, _)| *id)
                    .collect()
            };
            for broker in silent {
                let _one_at_a_time = quorum.operations.lock().await;
                let Ok((term, image)) = quorum.decision_image().await else { break };
                if image.brokers.get(&broker).is_none_or(|registration| registration.fenced) {
                    continue;
                }
                tracing::info!(broker, "fencing broker: no heartbeat within the session timeout");
                let records = image.fence(broker, quorum.election());
                let _ = quorum.commit(records, term).await;
            }
        }
        let zones: std::collections::BTreeSet<&str> =
            image.brokers.values().filter(|r| !r.fenced).map(|r| r.zone.as_str()).collect();
        for (topic, partitions) in [(OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS), (AUDIT_TOPIC, 1)] {
            if !image.topics.contains_key(topic) && zones.len() >= 3 {
                // The service's own topics keep everything (the default config).
                let request = ControllerRequest::CreateTopic {
                    name: topic.into(),
                    partitions,
                    replication_factor: 3,
                    config: Default::default(),
                };
                let _ = quorum.execute(request).await;
            }
        }
    }
}

fn recover(records: &[Vec<u8>]) -> PersistentState<MetadataRecord> {
    let mut state = PersistentState::default();
    for record in records {
        for line in record.split(|b| *b == b'\n').filter(|line| !line.is_empty()) {
            let line = serde_json::from_slice::<PersistedLine>(line).expect("an authenticated metadata record parses");
            match line {
                PersistedLine::HardState(hard_state) => state.hard_state = hard_state,
                PersistedLine::TruncateAfter(index) => state.log.retain(|entry| entry.index <= index),
                PersistedLine::Entry(entry) => state.log.push(entry),
            }
        }
    }
    state
}

fn persist(log: &mut SealedLog, ready: &Ready<MetadataRecord>) {
    let mut lines = Vec::new();
    let mut push = |line: PersistedLine| {
        lines.extend_from_slice(&serde_json::to_vec(&line).expect("raft state serializes"));
        lines.push(b'\n');
    };
    if let Some(hard_state) = &ready.hard_state {
        push(PersistedLine::HardState(hard_state.clone()));
    }
    if let Some(index) = ready.truncate_after {
        push(PersistedLine::TruncateAfter(index));
    }
    for entry in &ready.append {
        push(PersistedLine::Entry(entry.clone()));
    }
    if lines.is_empty() {
        return;
    }
    // Raft needs its term, vote and log durable before it speaks; one record, one frame.
    log.append(&lines).expect("the metadata log must be writable");
}

async fn drive(
    mut raft: Raft<MetadataRecord>,
    mut inputs: mpsc::Receiver<Input>,
    peers: BTreeMap<BrokerId, mpsc::Sender<RaftMessage<MetadataRecord>>>,
    mut log: SealedLog,
    image_sender: watch::Sender<Arc<MetadataImage>>,
    (leader, active): (Arc<AtomicI32>, ActiveTerm),
    committed_terms: Arc<Mutex<BTreeMap<u64, u64>>>,
) {
    let mut image = MetadataImage::default();
    let mut voters_logged = raft.voters().clone();
    tracing::info!(voters = ?voters_logged, voter = raft.is_voter(), "controller storage recovered");
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ready = tokio::select! {
            _ = ticker.tick() => raft.tick(),
            input = inputs.recv() => match input {
                None => return,
                Some(Input::Message { from, directory, message }) => raft.step(from, directory, message),
                Some(Input::Propose { term, reply, .. }) if term != raft.term() => {
                    let _ = reply.send(Err(ControllerError::NotController));
                    Ready::default()
                }
                Some(Input::Propose { record, reply, .. }) => match raft.propose(record) {
                    Ok((ready, index)) => {
                        let _ = reply.send(Ok((index, raft.term())));
                        ready
                    }
                    Err(_) => {
                        let _ = reply.send(Err(ControllerError::NotController));
                        Ready::default()
                    }
                },
            },
        };
        let ready_changed_voters =
            ready.truncate_after.is_some() || ready.append.iter().any(|entry| entry.voters.is_some());
        persist(&mut log, &ready);
        for (target, message) in ready.messages {
            if let Some(peer) = peers.get(&target) {
                let _ = peer.try_send(message);
            }
        }
        if !ready.committed.is_empty() {
            let mut terms = committed_terms.lock().unwrap();
            for entry in &ready.committed {
                image.apply(entry.index, &entry.command);
                terms.insert(entry.index, entry.term);
            }
            // Bounded: proposers wait seconds, not thousands of entries.
            while terms.len() > 4_096 {
                terms.pop_first();
            }
            drop(terms);
            image_sender.send_replace(Arc::new(image.clone()));
        }
        if ready_changed_voters && *raft.voters() != voters_logged {
            voters_logged = raft.voters().clone();
            tracing::info!(voters = ?voters_logged, voter = raft.is_voter(), "controller voter set changed (KIP-853)");
        }
        *active.lock().unwrap() = raft.term_start_index().map(|start| (raft.term(), start));
        let known_leader = raft.leader().unwrap_or(-1);
        if leader.swap(known_leader, Ordering::Relaxed) != known_leader {
            tracing::info!(
                term = raft.term(),
                leader = known_leader,
                commit = raft.commit_index(),
                "controller leader changed"
            );
        }
    }
}
