//! The async shell around the group state machine: it parks JoinGroup and SyncGroup requests
//! on channels, feeds the machine the node's clock, and counts offset commits in flight.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::coordinator::{
    Effect, GroupCoordinator, GroupError, JoinOutcome, JoinRequest, LeaveResults, RequestId, SyncOutcome,
};

enum Parked {
    Join(oneshot::Sender<Result<JoinOutcome, GroupError>>),
    Sync(oneshot::Sender<Result<SyncOutcome, GroupError>>),
}

#[derive(Default)]
pub struct GroupService {
    coordinator: Mutex<GroupCoordinator>,
    parked: Mutex<(RequestId, BTreeMap<RequestId, Parked>)>,
    /// Offset commits validated and still being replicated, per group.
    pending_commits: Mutex<BTreeMap<String, usize>>,
}

/// An offset commit in flight; dropping it ends it.
pub(crate) struct PendingCommit<'a> {
    service: &'a GroupService,
    group_id: String,
}

impl Drop for PendingCommit<'_> {
    fn drop(&mut self) {
        let mut pending = self.service.pending_commits.lock().unwrap();
        let count = pending.get_mut(&self.group_id).expect("a pending commit was counted");
        *count -= 1;
        if *count == 0 {
            pending.remove(&self.group_id);
        }
    }
}

impl GroupService {
    fn park(&self, parked: Parked) -> RequestId {
        let mut guard = self.parked.lock().unwrap();
        guard.0 += 1;
        let id = guard.0;
        guard.1.insert(id, parked);
        id
    }

    fn apply(&self, effects: Vec<Effect>) {
        let mut guard = self.parked.lock().unwrap();
        // A request that gave up waiting is gone: its answer has no one to go to.
        for effect in effects {
            match effect {
                Effect::Join { request, outcome } => {
                    if let Some(Parked::Join(sender)) = guard.1.remove(&request) {
                        let _ = sender.send(outcome);
                    }
                }
                Effect::Sync { request, outcome } => {
                    if let Some(Parked::Sync(sender)) = guard.1.remove(&request) {
                        let _ = sender.send(outcome);
                    }
                }
            }
        }
    }

    async fn wait<T>(
        &self,
        id: RequestId,
        receiver: oneshot::Receiver<Result<T, GroupError>>,
        timeout: Duration,
    ) -> Result<T, GroupError> {
        match crate::clock::timeout(timeout, receiver).await {
            Ok(Ok(outcome)) => outcome,
            _ => {
                self.parked.lock().unwrap().1.remove(&id);
                Err(GroupError::RebalanceInProgress)
            }
        }
    }

    pub async fn join(&self, now: u64, request: JoinRequest) -> Result<JoinOutcome, GroupError> {
        let timeout = Duration::from_millis(request.rebalance_timeout_ms) + Duration::from_secs(5);
        let (sender, receiver) = oneshot::channel();
        let id = self.park(Parked::Join(sender));
        let effects = self.coordinator.lock().unwrap().join(now, request, id);
        match effects {
            Ok(effects) => self.apply(effects),
            Err(error) => {
                self.parked.lock().unwrap().1.remove(&id);
                return Err(error);
            }
        }
        self.wait(id, receiver, timeout).await
    }

    pub async fn sync(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> Result<SyncOutcome, GroupError> {
        let (sender, receiver) = oneshot::channel();
        let id = self.park(Parked::Sync(sender));
        let effects = self.coordinator.lock().unwrap().sync(group_id, generation_id, member_id, assignments, id);
        match effects {
            Ok(effects) => self.apply(effects),
            Err(error) => {
                self.parked.lock().unwrap().1.remove(&id);
                return Err(error);
            }
        }
        self.wait(id, receiver, Duration::from_secs(60)).await
    }

    pub(crate) fn heartbeat(
        &self,
        now: u64,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        self.coordinator.lock().unwrap().heartbeat(now, group_id, generation_id, member_id)
    }

    pub(crate) fn leave(&self, now: u64, group_id: &str, member_ids: &[String]) -> LeaveResults {
        let (results, effects) = self.coordinator.lock().unwrap().leave(now, group_id, member_ids);
        self.apply(effects);
        results
    }

    pub(crate) fn validate_commit(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        self.coordinator.lock().unwrap().validate_commit(group_id, generation_id, member_id)
    }

    pub fn tick(&self, now: u64) {
        let effects = self.coordinator.lock().unwrap().tick(now);
        self.apply(effects);
    }

    pub(crate) fn unload(&self, owns: impl Fn(&str) -> bool) {
        let effects = self.coordinator.lock().unwrap().unload(owns);
        self.apply(effects);
    }

    /// A commit of `group_id` starts replicating. Until it ends, OffsetFetch for the group asks
    /// the client to retry: a member that was just given a partition must not read an offset
    /// older than one its previous owner is still committing (seen: a zombie commit of 1300
    /// acknowledged after the new owner had read 1299, then the new owner committed 1299).
    pub(crate) fn begin_commit(&self, group_id: &str) -> PendingCommit<'_> {
        *self.pending_commits.lock().unwrap().entry(group_id.to_string()).or_default() += 1;
        PendingCommit { service: self, group_id: group_id.to_string() }
    }

    pub(crate) fn has_pending_commits(&self, group_id: &str) -> bool {
        self.pending_commits.lock().unwrap().contains_key(group_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_fetch_waits_while_any_commit_of_the_group_replicates() {
        let service = GroupService::default();
        let first = service.begin_commit("g");
        let second = service.begin_commit("g");
        assert!(service.has_pending_commits("g") && !service.has_pending_commits("other"));
        drop(first);
        assert!(service.has_pending_commits("g"), "one commit is still replicating");
        drop(second);
        assert!(!service.has_pending_commits("g"));
    }
}
