//! The classic consumer group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) as a state
//! machine: requests and the time come in, effects (the answers to parked requests) go out.
//! Like `controller::raft` it owns no channel, clock or task; `group::service` is its shell.
//!
//! Committed offsets live in the replicated `__consumer_offsets` topic (see `offsets.rs`);
//! membership is soft state that members re-establish after a coordinator moves, as in Kafka.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Why a group request was refused; mapped to Kafka codes in `protocol::errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The member id is not (or no longer) in the group.
    #[error("unknown member id")]
    UnknownMemberId,
    /// The request names a generation other than the group's current one (a fenced member).
    #[error("illegal generation")]
    IllegalGeneration,
    /// A rebalance is under way: the member must rejoin.
    #[error("rebalance in progress")]
    RebalanceInProgress,
    /// The protocol type differs from the group's, or no protocol is common to all members.
    #[error("inconsistent group protocol")]
    InconsistentGroupProtocol,
    /// This node stopped coordinating the group while the request was parked.
    #[error("not the group coordinator")]
    NotCoordinator,
    /// A new member of a group that already has `GROUP_MEMBERS_MAX` (KIP-389).
    #[error("the group has reached its maximum size")]
    GroupMaxSizeReached,
}

/// `group.max.size` (KIP-389): members per group. Each member holds its protocols' metadata
/// and parked requests, so an unbounded group is unbounded memory on its coordinator.
pub(crate) const GROUP_MEMBERS_MAX: usize = 1_000;

/// Each member's outcome of a LeaveGroup.
pub(crate) type LeaveResults = Vec<(String, Result<(), GroupError>)>;

/// Identifies a parked JoinGroup or SyncGroup request; chosen by the shell.
pub(crate) type RequestId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    pub generation_id: i32,
    pub protocol_name: String,
    pub leader: String,
    pub member_id: String,
    /// Only the leader receives the members and their subscription metadata.
    pub members: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub protocol_name: String,
    pub assignment: Bytes,
}

/// What the shell must do: answer parked requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Join { request: RequestId, outcome: Result<JoinOutcome, GroupError> },
    Sync { request: RequestId, outcome: Result<SyncOutcome, GroupError> },
}

#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a new member: the coordinator assigns one.
    pub member_id: String,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug)]
struct Member {
    session_timeout_ms: u64,
    rebalance_timeout_ms: u64,
    protocols: Vec<(String, Bytes)>,
    last_heartbeat_ms: u64,
    parked_join: Option<RequestId>,
    parked_sync: Option<RequestId>,
    assignment: Bytes,
}

#[derive(Debug)]
struct Group {
    state: GroupState,
    generation_id: i32,
    protocol_type: String,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    rebalance_deadline_ms: Option<u64>,
    next_member_number: u64,
}

/// Without a member's own value: Kafka's `group.initial.rebalance.delay` aside, 5 s.
const DEFAULT_REBALANCE_TIMEOUT_MS: u64 = 5_000;

impl Group {
    fn new(protocol_type: String) -> Self {
        Group {
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline_ms: None,
            next_member_number: 0,
        }
    }

    fn prepare_rebalance(&mut self, now: u64, effects: &mut Vec<Effect>) {
        if self.state == GroupState::PreparingRebalance {
            return;
        }
        // Members waiting for an assignment of the old generation must rejoin.
        for member in self.members.values_mut() {
            if let Some(request) = member.parked_sync.take() {
                effects.push(Effect::Sync { request, outcome: Err(GroupError::RebalanceInProgress) });
            }
        }
        let timeout =
            self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(DEFAULT_REBALANCE_TIMEOUT_MS);
        self.rebalance_deadline_ms = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    /// Completes the join phase once every member rejoined, or (`force`) at the deadline,
    /// dropping those that did not.
    fn try_complete_join(&mut self, now: u64, force: bool, effects: &mut Vec<Effect>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if !force && !self.members.values().all(|m| m.parked_join.is_some()) {
            return;
        }
        self.members.retain(|_, m| m.parked_join.is_some());
        self.generation_id += 1;
        self.rebalance_deadline_ms = None;
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
        let chosen = self.members[&leader]
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| self.members.values().all(|m| m.protocols.iter().any(|(n, _)| n == name)));
        self.protocol_name = chosen.clone();
        self.state = GroupState::CompletingRebalance;
        let roster: Vec<(String, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    m.protocols
                        .iter()
                        .find(|(n, _)| Some(n) == chosen.as_ref())
                        .map(|(_, meta)| meta.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();
        for (id, member) in self.members.iter_mut() {
            member.assignment = Bytes::new();
            member.last_heartbeat_ms = now;
            let outcome = match &chosen {
                Some(protocol_name) => Ok(JoinOutcome {
                    generation_id: self.generation_id,
                    protocol_name: protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader { roster.clone() } else { Vec::new() },
                }),
                None => Err(GroupError::InconsistentGroupProtocol),
            };
            if let Some(request) = member.parked_join.take() {
                effects.push(Effect::Join { request, outcome });
            }
        }
    }

    fn member(&self, member_id: &str, generation_id: i32) -> Result<&Member, GroupError> {
        let member = self.members.get(member_id).ok_or(GroupError::UnknownMemberId)?;
        if generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(member)
    }
}

/// Every group this node coordinates.
#[derive(Debug, Default)]
pub(crate) struct GroupCoordinator {
    groups: BTreeMap<String, Group>,
}

impl GroupCoordinator {
    /// JoinGroup: parks `request` until the rebalance completes (the effects may answer it at once).
    pub(crate) fn join(&mut self, now: u64, join: JoinRequest, request: RequestId) -> Result<Vec<Effect>, GroupError> {
        let group = self.groups.entry(join.group_id.clone()).or_insert_with(|| Group::new(join.protocol_type.clone()));
        if group.state != GroupState::Empty && group.protocol_type != join.protocol_type {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        group.protocol_type = join.protocol_type;
        let member_id = if join.member_id.is_empty() {
            if group.members.len() >= GROUP_MEMBERS_MAX {
                return Err(GroupError::GroupMaxSizeReached);
            }
            group.next_member_number += 1;
            format!("{}-member-{}", join.group_id, group.next_member_number)
        } else if group.members.contains_key(&join.member_id) {
            join.member_id
        } else {
            return Err(GroupError::UnknownMemberId);
        };
        let member = group.members.entry(member_id).or_insert_with(|| Member {
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            protocols: Vec::new(),
            last_heartbeat_ms: now,
            parked_join: None,
            parked_sync: None,
            assignment: Bytes::new(),
        });
        let mut effects = Vec::new();
        if let Some(replaced) = member.parked_join.replace(request) {
            effects.push(Effect::Join { request: replaced, outcome: Err(GroupError::RebalanceInProgress) });
        }
        member.protocols = join.protocols;
        member.session_timeout_ms = join.session_timeout_ms;
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.last_heartbeat_ms = now;
        group.prepare_rebalance(now, &mut effects);
        group.try_complete_join(now, false, &mut effects);
        Ok(effects)
    }

    /// SyncGroup: the leader's assignments complete the rebalance; other members park until then.
    pub(crate) fn sync(
        &mut self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
        request: RequestId,
    ) -> Result<Vec<Effect>, GroupError> {
        let group = self.groups.get_mut(group_id).ok_or(GroupError::UnknownMemberId)?;
        group.member(member_id, generation_id)?;
        let protocol_name = group.protocol_name.clone().unwrap_or_default();
        let mut effects = Vec::new();
        match group.state {
            GroupState::Empty | GroupState::PreparingRebalance => return Err(GroupError::RebalanceInProgress),
            GroupState::Stable => {
                let assignment = group.members[member_id].assignment.clone();
                effects.push(Effect::Sync { request, outcome: Ok(SyncOutcome { protocol_name, assignment }) });
            }
            GroupState::CompletingRebalance => {
                let member = group.members.get_mut(member_id).expect("checked above");
                if let Some(replaced) = member.parked_sync.replace(request) {
                    effects.push(Effect::Sync { request: replaced, outcome: Err(GroupError::RebalanceInProgress) });
                }
                if group.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(member) = group.members.get_mut(&id) {
                            member.assignment = assignment;
                        }
                    }
                    group.state = GroupState::Stable;
                    for member in group.members.values_mut() {
                        if let Some(request) = member.parked_sync.take() {
                            effects.push(Effect::Sync {
                                request,
                                outcome: Ok(SyncOutcome {
                                    protocol_name: protocol_name.clone(),
                                    assignment: member.assignment.clone(),
                                }),
                            });
                        }
                    }
                }
            }
        }
        Ok(effects)
    }

    pub(crate) fn heartbeat(
        &mut self,
        now: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        let group = self.groups.get_mut(group_id).ok_or(GroupError::UnknownMemberId)?;
        let member = group.members.get_mut(member_id).ok_or(GroupError::UnknownMemberId)?;
        member.last_heartbeat_ms = now;
        if group.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        if generation_id != group.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// LeaveGroup for each of `member_ids`, and the effects of the rebalance it starts.
    pub(crate) fn leave(&mut self, now: u64, group_id: &str, member_ids: &[String]) -> (LeaveResults, Vec<Effect>) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return (member_ids.iter().map(|m| (m.clone(), Err(GroupError::UnknownMemberId))).collect(), Vec::new());
        };
        let mut effects = Vec::new();
        let mut results = Vec::new();
        for id in member_ids {
            match group.members.remove(id) {
                Some(member) => {
                    effects.extend(
                        member
                            .parked_join
                            .map(|request| Effect::Join { request, outcome: Err(GroupError::UnknownMemberId) }),
                    );
                    effects.extend(
                        member
                            .parked_sync
                            .map(|request| Effect::Sync { request, outcome: Err(GroupError::UnknownMemberId) }),
                    );
                    results.push((id.clone(), Ok(())));
                }
                None => results.push((id.clone(), Err(GroupError::UnknownMemberId))),
            }
        }
        group.prepare_rebalance(now, &mut effects);
        group.try_complete_join(now, false, &mut effects);
        (results, effects)
    }

    /// Whether an offset commit from this member and generation may be accepted.
    pub(crate) fn validate_commit(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        if generation_id < 0 {
            // Simple consumers (assign(), no membership) commit without a generation.
            return Ok(());
        }
        let group = self.groups.get(group_id).ok_or(GroupError::UnknownMemberId)?;
        group.member(member_id, generation_id)?;
        if group.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Time passes: expire silent members, finish rebalances whose deadline passed.
    pub(crate) fn tick(&mut self, now: u64) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (group_id, group) in self.groups.iter_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| {
                    m.parked_join.is_none() && now.saturating_sub(m.last_heartbeat_ms) > m.session_timeout_ms
                })
                .map(|(id, _)| id.clone())
                .collect();
            if !expired.is_empty() {
                for id in &expired {
                    let member = group.members.remove(id).expect("listed above");
                    effects.extend(
                        member
                            .parked_sync
                            .map(|request| Effect::Sync { request, outcome: Err(GroupError::UnknownMemberId) }),
                    );
                }
                tracing::info!(group = %group_id, members = ?expired, "group members expired: no heartbeat within the session timeout");
                group.prepare_rebalance(now, &mut effects);
            }
            let deadline_passed = group.rebalance_deadline_ms.is_some_and(|deadline| now >= deadline);
            group.try_complete_join(now, deadline_passed, &mut effects);
        }
        effects
    }

    /// The coordinator moved away from the groups `owns` refuses: parked requests are answered
    /// NOT_COORDINATOR; members find the new coordinator and rejoin.
    pub(crate) fn unload(&mut self, owns: impl Fn(&str) -> bool) -> Vec<Effect> {
        let mut effects = Vec::new();
        self.groups.retain(|id, group| {
            if owns(id) {
                return true;
            }
            for member in group.members.values_mut() {
                effects.extend(
                    member
                        .parked_join
                        .take()
                        .map(|request| Effect::Join { request, outcome: Err(GroupError::NotCoordinator) }),
                );
                effects.extend(
                    member
                        .parked_sync
                        .take()
                        .map(|request| Effect::Sync { request, outcome: Err(GroupError::NotCoordinator) }),
                );
            }
            false
        });
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_MS: u64 = 10_000;
    const REBALANCE_MS: u64 = 30_000;

    fn join_request(member_id: &str) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
        }
    }

    /// Bound: a group takes `GROUP_MEMBERS_MAX` members; the next new member is refused with
    /// GROUP_MAX_SIZE_REACHED and nothing is kept for it, while members already in may rejoin.
    #[test]
    fn a_group_is_bounded_by_group_max_size() {
        let mut groups = GroupCoordinator::default();
        let mut first = None;
        for request in 0..GROUP_MEMBERS_MAX as RequestId {
            groups.join(0, join_request(""), request).expect("room in the group");
            first.get_or_insert_with(|| groups.groups["g"].members.keys().next().unwrap().clone());
        }
        let refused = groups.join(0, join_request(""), 5_000);
        assert!(matches!(refused, Err(GroupError::GroupMaxSizeReached)), "{refused:?}");
        assert_eq!(groups.groups["g"].members.len(), GROUP_MEMBERS_MAX);
        groups.join(0, join_request(&first.unwrap()), 5_001).expect("a member may rejoin a full group");
    }

    fn joined(effects: &[Effect], request: RequestId) -> JoinOutcome {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Join { request: r, outcome: Ok(outcome) } if *r == request => Some(outcome.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("request {request} was not answered with a join: {effects:?}"))
    }

    fn synced(effects: &[Effect], request: RequestId) -> Result<SyncOutcome, GroupError> {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Sync { request: r, outcome } if *r == request => Some(outcome.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("request {request} was not answered with a sync: {effects:?}"))
    }

    /// One member joins and syncs: generation 1, Stable.
    fn stable_group_of_one(groups: &mut GroupCoordinator) -> String {
        let effects = groups.join(0, join_request(""), 1).unwrap();
        let outcome = joined(&effects, 1);
        assert_eq!(
            (outcome.generation_id, outcome.leader.as_str(), outcome.members.len()),
            (1, outcome.member_id.as_str(), 1)
        );
        let effects = groups
            .sync("g", 1, &outcome.member_id, vec![(outcome.member_id.clone(), Bytes::from_static(b"p0"))], 2)
            .unwrap();
        assert_eq!(synced(&effects, 2).unwrap().assignment, Bytes::from_static(b"p0"));
        outcome.member_id
    }

    #[test]
    fn a_second_member_starts_a_rebalance_that_completes_when_the_first_rejoins() {
        let mut groups = GroupCoordinator::default();
        let first = stable_group_of_one(&mut groups);
        let effects = groups.join(1_000, join_request(""), 3).unwrap();
        assert!(effects.is_empty(), "the new member waits for the old one to rejoin");
        assert_eq!(groups.heartbeat(1_100, "g", 1, &first), Err(GroupError::RebalanceInProgress));
        let effects = groups.join(1_200, join_request(&first), 4).unwrap();
        let (leader, follower) = (joined(&effects, 4), joined(&effects, 3));
        assert_eq!((leader.generation_id, follower.generation_id), (2, 2));
        assert_eq!(leader.leader, first, "the leader keeps its seat");
        assert_eq!((leader.members.len(), follower.members.len()), (2, 0), "only the leader gets the roster");
        // The follower parks in SyncGroup until the leader's assignments arrive.
        assert!(groups.sync("g", 2, &follower.member_id, Vec::new(), 5).unwrap().is_empty());
        let assignments =
            vec![(first.clone(), Bytes::from_static(b"a")), (follower.member_id.clone(), Bytes::from_static(b"b"))];
        let effects = groups.sync("g", 2, &first, assignments, 6).unwrap();
        assert_eq!(synced(&effects, 5).unwrap().assignment, Bytes::from_static(b"b"));
        assert_eq!(synced(&effects, 6).unwrap().assignment, Bytes::from_static(b"a"));
        assert_eq!(groups.heartbeat(1_300, "g", 2, &first), Ok(()));
    }

    #[test]
    fn a_silent_member_expires_after_its_session_timeout_and_the_rest_rebalance() {
        let mut groups = GroupCoordinator::default();
        let first = stable_group_of_one(&mut groups);
        assert!(groups.join(0, join_request(""), 3).unwrap().is_empty());
        let effects = groups.join(0, join_request(&first), 4).unwrap();
        let second = joined(&effects, 3).member_id;
        groups.sync("g", 2, &first, Vec::new(), 5).unwrap();
        // Only the first member heart-beats.
        for now in (1_000..=SESSION_MS).step_by(1_000) {
            groups.heartbeat(now, "g", 2, &first).unwrap();
            assert!(groups.tick(now).is_empty());
        }
        groups.heartbeat(SESSION_MS + 1, "g", 2, &first).unwrap();
        assert!(groups.tick(SESSION_MS + 1).is_empty(), "the second member expires; the first must rejoin");
        assert_eq!(groups.heartbeat(SESSION_MS + 2, "g", 2, &second), Err(GroupError::UnknownMemberId));
        assert_eq!(groups.heartbeat(SESSION_MS + 2, "g", 2, &first), Err(GroupError::RebalanceInProgress));
        let effects = groups.join(SESSION_MS + 3, join_request(&first), 6).unwrap();
        assert_eq!(joined(&effects, 6).generation_id, 3);
    }

    #[test]
    fn members_that_do_not_rejoin_by_the_rebalance_deadline_are_dropped() {
        let mut groups = GroupCoordinator::default();
        let first = stable_group_of_one(&mut groups);
        assert!(groups.join(100, join_request(""), 3).unwrap().is_empty());
        // The first member never rejoins (but keeps heart-beating, so it does not expire).
        for now in (1_000..REBALANCE_MS).step_by(1_000) {
            let _ = groups.heartbeat(now, "g", 1, &first);
            assert!(groups.tick(now).is_empty(), "still waiting at {now} ms");
        }
        let effects = groups.tick(100 + REBALANCE_MS);
        let outcome = joined(&effects, 3);
        assert_eq!((outcome.generation_id, outcome.members.len()), (2, 1));
        assert_eq!(groups.heartbeat(100 + REBALANCE_MS, "g", 2, &first), Err(GroupError::UnknownMemberId));
    }

    #[test]
    fn leaving_answers_parked_requests_and_rebalances_the_rest() {
        let mut groups = GroupCoordinator::default();
        let first = stable_group_of_one(&mut groups);
        assert!(groups.join(0, join_request(""), 3).unwrap().is_empty());
        let (results, effects) = groups.leave(10, "g", &[first.clone(), "nobody".into()]);
        assert_eq!(results, vec![(first.clone(), Ok(())), ("nobody".into(), Err(GroupError::UnknownMemberId))]);
        let outcome = joined(&effects, 3);
        assert_eq!(
            (outcome.generation_id, outcome.leader.clone()),
            (2, outcome.member_id.clone()),
            "the remaining member leads generation 2"
        );
        let (results, effects) = groups.leave(20, "g", std::slice::from_ref(&outcome.member_id));
        assert_eq!(results[0].1, Ok(()));
        assert!(effects.is_empty());
        assert_eq!(
            groups.join(30, join_request(&first), 9),
            Err(GroupError::UnknownMemberId),
            "a member that left must join as new"
        );
    }

    #[test]
    fn an_old_generation_is_fenced_from_sync_heartbeat_and_commits() {
        let mut groups = GroupCoordinator::default();
        let first = stable_group_of_one(&mut groups);
        assert_eq!(groups.validate_commit("g", 1, &first), Ok(()));
        let effects = groups.join(0, join_request(&first), 3).unwrap();
        assert_eq!(joined(&effects, 3).generation_id, 2);
        assert_eq!(
            groups.validate_commit("g", 1, &first),
            Err(GroupError::IllegalGeneration),
            "a zombie of generation 1 must not commit"
        );
        assert_eq!(groups.heartbeat(1, "g", 1, &first), Err(GroupError::IllegalGeneration));
        assert_eq!(groups.sync("g", 1, &first, Vec::new(), 4), Err(GroupError::IllegalGeneration));
        assert_eq!(groups.validate_commit("g", 2, "stranger"), Err(GroupError::UnknownMemberId));
        assert_eq!(groups.validate_commit("g", -1, ""), Ok(()), "simple consumers commit without a generation");
    }

    #[test]
    fn no_common_protocol_refuses_every_joiner_and_unload_answers_parked_requests() {
        let mut groups = GroupCoordinator::default();
        let mut other = join_request("");
        other.protocols = vec![("roundrobin".into(), Bytes::new())];
        let first = joined(&groups.join(0, join_request(""), 1).unwrap(), 1).member_id;
        assert!(groups.join(0, other, 2).unwrap().is_empty());
        let effects = groups.join(0, join_request(&first), 3).unwrap();
        assert!(
            effects
                .iter()
                .all(|e| matches!(e, Effect::Join { outcome: Err(GroupError::InconsistentGroupProtocol), .. }))
                && effects.len() == 2,
            "{effects:?}"
        );
        let mut wrong_type = join_request("");
        wrong_type.protocol_type = "connect".into();
        assert_eq!(groups.join(0, wrong_type, 4), Err(GroupError::InconsistentGroupProtocol));
        assert!(groups.join(0, join_request(&first), 5).unwrap().is_empty());
        assert_eq!(
            groups.unload(|_| false),
            vec![Effect::Join { request: 5, outcome: Err(GroupError::NotCoordinator) }]
        );
        assert_eq!(groups.heartbeat(0, "g", 0, &first), Err(GroupError::UnknownMemberId));
    }
}
