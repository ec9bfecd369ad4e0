//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup): group
//! membership, generations and rebalancing. Committed offsets live in the replicated
//! `__consumer_offsets` topic (see `offsets.rs`); membership is soft state that members
//! re-establish after a coordinator moves, as in Kafka.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug, Clone)]
pub struct JoinOutcome {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader receives the members and their subscription metadata.
    pub members: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone)]
pub struct SyncOutcome {
    pub error_code: i16,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

struct Member {
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    last_heartbeat: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    assignment: Bytes,
}

struct Group {
    state: GroupState,
    generation_id: i32,
    protocol_type: String,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    rebalance_deadline: Option<Instant>,
    next_member_number: u64,
}

impl Group {
    fn new(protocol_type: String) -> Self {
        Group { state: GroupState::Empty, generation_id: 0, protocol_type, protocol_name: None, leader: None, members: BTreeMap::new(), rebalance_deadline: None, next_member_number: 0 }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        // Members waiting for an assignment of the old generation must rejoin.
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncOutcome { error_code: ResponseError::RebalanceInProgress.code(), protocol_name: None, assignment: Bytes::new() });
            }
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::from_secs(5));
        self.rebalance_deadline = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    fn try_complete_join(&mut self, now: Instant, force: bool) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        if !all_joined && !force {
            return;
        }
        // Members that did not rejoin by the deadline are gone.
        self.members.retain(|_, m| m.join_waiter.is_some());
        self.generation_id += 1;
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol_name = None;
            return;
        }
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().expect("a member exists");
        // The first protocol of the leader's list that every member supports.
        let chosen = self.members[&leader].protocols.iter().map(|(name, _)| name.clone()).find(|name| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name)));
        self.protocol_name = chosen.clone();
        self.state = GroupState::CompletingRebalance;
        let roster: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.protocols.iter().find(|(n, _)| Some(n) == chosen.as_ref()).map(|(_, meta)| meta.clone()).unwrap_or_default()))
            .collect();
        for (id, member) in self.members.iter_mut() {
            member.assignment = Bytes::new();
            member.last_heartbeat = now;
            let outcome = JoinOutcome {
                error_code: if chosen.is_some() { 0 } else { ResponseError::InconsistentGroupProtocol.code() },
                generation_id: self.generation_id,
                protocol_name: chosen.clone(),
                leader: leader.clone(),
                member_id: id.clone(),
                members: if *id == leader { roster.clone() } else { Vec::new() },
            };
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(outcome);
            }
        }
    }
}

#[derive(Default)]
pub struct GroupCoordinator {
    groups: Mutex<BTreeMap<String, Group>>,
    /// Offset commits validated and still being replicated, per group.
    pending_commits: Mutex<BTreeMap<String, usize>>,
}

/// An offset commit in flight; dropping it ends it.
pub struct PendingCommit<'a> {
    coordinator: &'a GroupCoordinator,
    group_id: String,
}

impl Drop for PendingCommit<'_> {
    fn drop(&mut self) {
        let mut pending = self.coordinator.pending_commits.lock().unwrap();
        let count = pending.get_mut(&self.group_id).expect("a pending commit was counted");
        *count -= 1;
        if *count == 0 {
            pending.remove(&self.group_id);
        }
    }
}

pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
}

fn join_error(code: ResponseError, member_id: &str) -> JoinOutcome {
    JoinOutcome { error_code: code.code(), generation_id: -1, protocol_name: None, leader: String::new(), member_id: member_id.to_string(), members: Vec::new() }
}

impl GroupCoordinator {
    pub fn join(&self, request: JoinRequest) -> Result<oneshot::Receiver<JoinOutcome>, JoinOutcome> {
        let now = Instant::now();
        let mut groups = self.groups.lock().unwrap();
        let group = groups.entry(request.group_id.clone()).or_insert_with(|| Group::new(request.protocol_type.clone()));
        if group.state != GroupState::Empty && group.protocol_type != request.protocol_type {
            return Err(join_error(ResponseError::InconsistentGroupProtocol, &request.member_id));
        }
        group.protocol_type = request.protocol_type;
        let member_id = if request.member_id.is_empty() {
            group.next_member_number += 1;
            format!("{}-member-{}", request.group_id, group.next_member_number)
        } else if group.members.contains_key(&request.member_id) {
            request.member_id
        } else {
            return Err(join_error(ResponseError::UnknownMemberId, &request.member_id));
        };
        let (sender, receiver) = oneshot::channel();
        let member = group.members.entry(member_id).or_insert_with(|| Member {
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
            protocols: Vec::new(),
            last_heartbeat: now,
            join_waiter: None,
            sync_waiter: None,
            assignment: Bytes::new(),
        });
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.last_heartbeat = now;
        member.join_waiter = Some(sender);
        group.prepare_rebalance(now);
        group.try_complete_join(now, false);
        Ok(receiver)
    }

    pub fn sync(&self, group_id: &str, generation_id: i32, member_id: &str, assignments: Vec<(String, Bytes)>) -> Result<oneshot::Receiver<SyncOutcome>, i16> {
        let mut groups = self.groups.lock().unwrap();
        let group = groups.get_mut(group_id).ok_or(ResponseError::UnknownMemberId.code())?;
        if !group.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId.code());
        }
        if generation_id != group.generation_id {
            return Err(ResponseError::IllegalGeneration.code());
        }
        let (sender, receiver) = oneshot::channel();
        let protocol_name = group.protocol_name.clone();
        match group.state {
            GroupState::Empty | GroupState::PreparingRebalance => return Err(ResponseError::RebalanceInProgress.code()),
            GroupState::Stable => {
                let assignment = group.members[member_id].assignment.clone();
                let _ = sender.send(SyncOutcome { error_code: 0, protocol_name, assignment });
            }
            GroupState::CompletingRebalance => {
                group.members.get_mut(member_id).expect("checked").sync_waiter = Some(sender);
                if group.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(member) = group.members.get_mut(&id) {
                            member.assignment = assignment;
                        }
                    }
                    group.state = GroupState::Stable;
                    for member in group.members.values_mut() {
                        if let Some(waiter) = member.sync_waiter.take() {
                            let _ = waiter.send(SyncOutcome { error_code: 0, protocol_name: protocol_name.clone(), assignment: member.assignment.clone() });
                        }
                    }
                }
            }
        }
        Ok(receiver)
    }

    pub fn heartbeat(&self, group_id: &str, generation_id: i32, member_id: &str) -> i16 {
        let mut groups = self.groups.lock().unwrap();
        let Some(group) = groups.get_mut(group_id) else { return ResponseError::UnknownMemberId.code() };
        let state = group.state;
        let generation = group.generation_id;
        let Some(member) = group.members.get_mut(member_id) else { return ResponseError::UnknownMemberId.code() };
        member.last_heartbeat = Instant::now();
        if state == GroupState::PreparingRebalance {
            return ResponseError::RebalanceInProgress.code();
        }
        if generation_id != generation {
            return ResponseError::IllegalGeneration.code();
        }
        0
    }

    pub fn leave(&self, group_id: &str, member_ids: &[String]) -> Vec<(String, i16)> {
        let now = Instant::now();
        let mut groups = self.groups.lock().unwrap();
        let Some(group) = groups.get_mut(group_id) else {
            return member_ids.iter().map(|m| (m.clone(), ResponseError::UnknownMemberId.code())).collect();
        };
        let results = member_ids.iter().map(|m| (m.clone(), if group.members.remove(m).is_some() { 0 } else { ResponseError::UnknownMemberId.code() })).collect();
        group.prepare_rebalance(now);
        group.try_complete_join(now, false);
        results
    }

    /// Whether a commit from this member and generation may be accepted.
    pub fn validate_commit(&self, group_id: &str, generation_id: i32, member_id: &str) -> i16 {
        if generation_id < 0 {
            // Simple consumers (assign(), no membership) commit without a generation.
            return 0;
        }
        let groups = self.groups.lock().unwrap();
        let Some(group) = groups.get(group_id) else { return ResponseError::UnknownMemberId.code() };
        if !group.members.contains_key(member_id) {
            return ResponseError::UnknownMemberId.code();
        }
        if group.generation_id != generation_id {
            return ResponseError::IllegalGeneration.code();
        }
        if group.state == GroupState::PreparingRebalance {
            return ResponseError::RebalanceInProgress.code();
        }
        0
    }

    /// Time passes: expire silent members, finish rebalances whose deadline passed.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut groups = self.groups.lock().unwrap();
        for group in groups.values_mut() {
            let expired: Vec<String> = group.members.iter().filter(|(_, m)| m.join_waiter.is_none() && now.duration_since(m.last_heartbeat) > m.session_timeout).map(|(id, _)| id.clone()).collect();
            if !expired.is_empty() {
                for id in &expired {
                    group.members.remove(id);
                }
                tracing::info!(members = ?expired, "group members expired: no heartbeat within the session timeout");
                group.prepare_rebalance(now);
            }
            if group.rebalance_deadline.is_some_and(|deadline| now >= deadline) {
                group.try_complete_join(now, true);
            } else {
                group.try_complete_join(now, false);
            }
        }
    }

    /// The coordinator moved away: members will find the new one and rejoin.
    /// A commit of `group_id` starts replicating. Until it ends, OffsetFetch for the group asks
    /// the client to retry: a member that was just given a partition must not read an offset
    /// older than one its previous owner is still committing (seen: a zombie commit of 1300
    /// acknowledged after the new owner had read 1299, then the new owner committed 1299).
    pub fn begin_commit(&self, group_id: &str) -> PendingCommit<'_> {
        *self.pending_commits.lock().unwrap().entry(group_id.to_string()).or_default() += 1;
        PendingCommit { coordinator: self, group_id: group_id.to_string() }
    }

    pub fn has_pending_commits(&self, group_id: &str) -> bool {
        self.pending_commits.lock().unwrap().contains_key(group_id)
    }

    pub fn unload(&self, owns: impl Fn(&str) -> bool) {
        self.groups.lock().unwrap().retain(|id, _| owns(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_fetch_waits_while_any_commit_of_the_group_replicates() {
        let coordinator = GroupCoordinator::default();
        let first = coordinator.begin_commit("g");
        let second = coordinator.begin_commit("g");
        assert!(coordinator.has_pending_commits("g") && !coordinator.has_pending_commits("other"));
        drop(first);
        assert!(coordinator.has_pending_commits("g"), "one commit is still replicating");
        drop(second);
        assert!(!coordinator.has_pending_commits("g"));
    }
}
