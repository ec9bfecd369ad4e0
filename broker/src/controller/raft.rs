//! Raft consensus for the controller quorum, as a pure state machine in the style of
//! raft-rs `RawNode`/`Ready`: no I/O, no async, no clocks. Time arrives as `tick()` calls,
//! network input as `step()` calls, and every call returns a `Ready` that tells the caller
//! what to persist, what to send and what to apply.
//!
//! Section numbers refer to Diego Ongaro, "Consensus: Bridging Theory and Practice" (2014),
//! called "the thesis" below, and to the extended Raft paper ("§5.x").
//!
//! Implemented: leader election with randomized timeouts (thesis 3.4), log replication
//! (thesis 3.5), the commitment rule for entries of the current term only (thesis 3.6.2 /
//! §5.4.2), pre-vote (thesis 9.6), check-quorum (thesis 6.2) and leader stickiness
//! (thesis 4.2.3), and single-server membership changes (thesis 4.1) that replace a voter
//! whose storage was lost. Snapshots are not implemented: the log is never compacted.
//!
//! Storage identity (KIP-853): a voter is a node id *and* the directory id of the storage that
//! holds its term, vote and log. A node that comes back with new storage has a new directory
//! id; it is an observer (it replicates, it never votes or campaigns) until the leader has
//! removed the old voter and added the new directory, one voter at a time. A voter that
//! silently rejoined with an empty disk would forget its vote and its log, which Raft's
//! safety argument does not allow (two leaders in a term, committed entries lost).
//!
//! The command type needs `C: Default`: a new leader appends `C::default()` as its no-op
//! entry (thesis 6.4), so the state machine must treat the default command as "do nothing".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

pub type NodeId = i32;

/// Identifies one formatting of a node's storage (KIP-853's directory id).
pub(crate) type DirectoryId = u64;
/// The voters: node id -> the directory whose promises count for it.
pub(crate) type VoterSet = BTreeMap<NodeId, DirectoryId>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<C> {
    pub term: u64,
    pub index: u64,
    /// `C::default()` (a no-op) on configuration entries.
    pub command: C,
    /// A configuration entry: the voter set from this entry on (thesis 4.1: a server uses the
    /// latest configuration in its log, committed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<VoterSet>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<NodeId>,
}

/// What must be durable before restart; the caller persists it and hands it back to `Raft::new`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PersistentState<C> {
    pub hard_state: HardState,
    pub log: Vec<Entry<C>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RaftMessage<C> {
    /// `term` is the term the pre-candidate WOULD use; receivers never adopt it (thesis 9.6).
    PreVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    /// When granted, `term` echoes the requested term; when rejected, it is the voter's term.
    PreVoteResponse {
        term: u64,
        granted: bool,
    },
    RequestVote {
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    },
    VoteResponse {
        term: u64,
        granted: bool,
    },
    AppendEntries {
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry<C>>,
        leader_commit: u64,
    },
    /// On success `match_index` is the index of the last entry the follower now knows matches
    /// the leader. On failure it is a hint: the leader should retry with `next_index` at most
    /// `match_index + 1` (the follower's last index when its log is too short, otherwise the
    /// index just below the conflicting `prev_log_index`).
    AppendResponse {
        term: u64,
        success: bool,
        match_index: u64,
    },
}

impl<C> RaftMessage<C> {
    pub(crate) fn term(&self) -> u64 {
        match self {
            RaftMessage::PreVote { term, .. }
            | RaftMessage::PreVoteResponse { term, .. }
            | RaftMessage::RequestVote { term, .. }
            | RaftMessage::VoteResponse { term, .. }
            | RaftMessage::AppendEntries { term, .. }
            | RaftMessage::AppendResponse { term, .. } => *term,
        }
    }
}

/// Output of every call; the caller must persist `hard_state`/`truncate_after`/`append` BEFORE
/// sending `messages`, then apply `committed` in order.
#[derive(Debug)]
pub struct Ready<C> {
    /// (target, message); the sender is implicit: the caller passes `from` to `step()`.
    pub messages: Vec<(NodeId, RaftMessage<C>)>,
    /// Some when term or vote changed since the last `Ready`.
    pub hard_state: Option<HardState>,
    /// Drop persisted entries with index > this (applied before `append`).
    pub truncate_after: Option<u64>,
    /// New entries to persist (after truncation), contiguous and in index order.
    pub append: Vec<Entry<C>>,
    /// Newly committed entries, in index order, each exactly once per `Raft` instance lifetime.
    /// After a restart they are re-delivered from index 1 as the commit index advances again,
    /// so the caller rebuilds its state machine from them.
    pub committed: Vec<Entry<C>>,
}

// Written by hand so that `Ready<C>: Default` does not require `C: Default`.
impl<C> Default for Ready<C> {
    fn default() -> Self {
        Ready {
            messages: Vec::new(),
            hard_state: None,
            truncate_after: None,
            append: Vec::new(),
            committed: Vec::new(),
        }
    }
}

impl<C> Ready<C> {
    /// True when the caller has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.hard_state.is_none()
            && self.truncate_after.is_none()
            && self.append.is_empty()
            && self.committed.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// This node's storage (written when the storage was formatted).
    pub directory: DirectoryId,
    /// Every node that may vote or observe (the address book); a leader replicates to all.
    pub nodes: Vec<NodeId>,
    /// The voter set the cluster was formatted with; `None` for storage formatted to join an
    /// existing cluster (it learns the voters from the log).
    pub bootstrap_voters: Option<VoterSet>,
    /// Election timeouts are drawn uniformly from `election_ticks_min..election_ticks_max`
    /// (thesis 3.4). `election_ticks_min` is also the check-quorum period and the lease
    /// within which followers ignore candidates (thesis 4.2.3, 6.2).
    pub election_ticks_min: u32,
    pub election_ticks_max: u32,
    pub heartbeat_ticks: u32,
    pub max_entries_per_append: usize,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    /// Polling for a pre-vote without having raised its term (thesis 9.6).
    PreCandidate,
    Candidate,
    Leader,
}

/// The leader's view of one follower (thesis figure 3.1, "volatile state on leaders").
#[derive(Clone, Debug)]
struct Progress {
    next_index: u64,
    match_index: u64,
    /// The directory the node last answered from: `match_index` is about that storage.
    directory: Option<DirectoryId>,
}

enum ElectionResult {
    Won,
    Lost,
    Pending,
}

pub struct Raft<C> {
    config: Config,
    hard_state: HardState,
    /// Entry at position `i` has index `i + 1`; there is no compaction.
    log: Vec<Entry<C>>,
    /// The latest configuration in the log (or the bootstrap one), and its index (0 for bootstrap).
    voters: VoterSet,
    voters_index: u64,
    /// Leader only: the index of its no-op; no membership change before it commits (thesis 4.1).
    term_start_index: u64,
    role: Role,
    leader_id: Option<NodeId>,
    commit_index: u64,
    /// Highest index handed out through `Ready::committed` by this instance.
    delivered_index: u64,
    /// Ticks since the last election-timer reset (followers and candidates) or since the
    /// last check-quorum round (leaders).
    election_elapsed: u32,
    randomized_election_timeout: u32,
    heartbeat_elapsed: u32,
    /// Pre-votes or votes received in the current campaign, by voter.
    votes: BTreeMap<NodeId, bool>,
    /// Leader only: replication state for every other voter.
    progress: BTreeMap<NodeId, Progress>,
    /// Leader only: voters heard from since the last check-quorum round.
    recently_active: BTreeSet<NodeId>,
    random: ChaCha8Rng,
    /// Output accumulated during the current call.
    pending: Ready<C>,
    /// The hard state last handed out, to report changes only.
    reported_hard_state: HardState,
    /// Test-only fault injection: grant every vote request, breaking election safety on purpose
    /// so the simulation's checker can be shown to catch it.
    #[cfg(test)]
    fault_grant_every_vote: bool,
}

impl<C: Clone + Debug + Default> Raft<C> {
    pub fn new(mut config: Config, persisted: PersistentState<C>) -> Self {
        config.nodes.sort_unstable();
        config.nodes.dedup();
        assert!(config.election_ticks_min >= 1, "election_ticks_min must be at least 1");
        assert!(
            config.election_ticks_max >= config.election_ticks_min,
            "election_ticks_max must not be below election_ticks_min"
        );
        assert!(config.heartbeat_ticks >= 1, "heartbeat_ticks must be at least 1");
        assert!(config.max_entries_per_append >= 1, "max_entries_per_append must be at least 1");
        let mut previous_term = 0;
        for (position, entry) in persisted.log.iter().enumerate() {
            assert_eq!(entry.index, position as u64 + 1, "persisted log must be contiguous from index 1");
            assert!(entry.term >= previous_term, "log terms never decrease along the log");
            previous_term = entry.term;
        }
        assert!(
            previous_term <= persisted.hard_state.term,
            "persisted log holds an entry from a term later than the persisted term"
        );
        #[allow(
            clippy::disallowed_methods,
            reason = "election jitter is no secret, and the randomized tests replay a cluster from its seed"
        )]
        let random = ChaCha8Rng::seed_from_u64(config.seed);
        let mut raft = Raft {
            hard_state: persisted.hard_state.clone(),
            reported_hard_state: persisted.hard_state,
            log: persisted.log,
            voters: VoterSet::new(),
            voters_index: 0,
            term_start_index: 0,
            role: Role::Follower,
            leader_id: None,
            commit_index: 0,
            delivered_index: 0,
            election_elapsed: 0,
            randomized_election_timeout: config.election_ticks_min,
            heartbeat_elapsed: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            recently_active: BTreeSet::new(),
            random,
            pending: Ready::default(),
            config,
            #[cfg(test)]
            fault_grant_every_vote: false,
        };
        raft.refresh_voters();
        raft.reset_randomized_election_timeout();
        raft
    }

    pub fn tick(&mut self) -> Ready<C> {
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
        self.take_ready()
    }

    /// A message from node `from`, sent from its storage `from_directory`.
    pub fn step(&mut self, from: NodeId, from_directory: DirectoryId, message: RaftMessage<C>) -> Ready<C> {
        if from != self.config.id {
            self.handle_message(from, from_directory, message);
        }
        self.take_ready()
    }

    /// Appends a command if leader; `Err(leader hint)` otherwise.
    pub(crate) fn propose(&mut self, command: C) -> Result<(Ready<C>, u64), Option<NodeId>> {
        if self.role != Role::Leader {
            return Err(self.leader_id);
        }
        let index = self.append_as_leader(command, None);
        self.broadcast_append();
        // A single-voter cluster commits here; larger ones wait for acknowledgements.
        self.maybe_advance_commit();
        Ok((self.take_ready(), index))
    }

    /// The current leader, `None` when unknown.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader_id
    }

    pub(crate) fn term(&self) -> u64 {
        self.hard_state.term
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub(crate) fn commit_index(&self) -> u64 {
        self.commit_index
    }

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    #[cfg(test)]
    fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    /// When leader: the index of its term's first entry. Everything committed before the term
    /// is at or below it, so a state machine that has applied it has seen every earlier decision.
    pub(crate) fn term_start_index(&self) -> Option<u64> {
        self.is_leader().then_some(self.term_start_index)
    }

    /// The voter set this node currently uses.
    pub fn voters(&self) -> &VoterSet {
        &self.voters
    }

    /// True when this node's storage is a voter (false for an observer).
    pub(crate) fn is_voter(&self) -> bool {
        self.voters.get(&self.config.id) == Some(&self.config.directory)
    }

    // ---- time ----

    fn tick_election(&mut self) {
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.is_voter() && self.election_elapsed >= self.randomized_election_timeout {
            self.start_pre_vote();
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.config.election_ticks_min {
            self.election_elapsed = 0;
            // Check-quorum (thesis 6.2): a leader cut off from a majority steps down so that
            // clients stop sending it work, and so that it stops rejecting pre-votes.
            let active_voters = self.recently_active.len() + 1;
            self.recently_active.clear();
            if active_voters < self.quorum() {
                let term = self.term();
                self.become_follower(term, None);
                return;
            }
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.maybe_replace_voter();
            // Heartbeats carry entries from next_index, so they double as retransmission.
            self.broadcast_append();
        }
    }

    // ---- role transitions ----

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        assert!(term >= self.hard_state.term, "term never decreases");
        if term > self.hard_state.term {
            self.hard_state.term = term;
            self.hard_state.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader_id = leader;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.votes.clear();
        self.progress.clear();
        self.recently_active.clear();
        self.reset_randomized_election_timeout();
    }

    /// Thesis 9.6: ask whether an election could be won before disrupting anyone with a
    /// higher term.
    fn start_pre_vote(&mut self) {
        self.role = Role::PreCandidate;
        self.leader_id = None;
        self.election_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        if let ElectionResult::Won = self.tally_votes() {
            self.start_election();
            return;
        }
        let message_term = self.term() + 1;
        let (last_log_index, last_log_term) = (self.last_index(), self.last_term());
        for peer in self.peers() {
            self.send(peer, RaftMessage::PreVote { term: message_term, last_log_index, last_log_term });
        }
    }

    fn start_election(&mut self) {
        self.hard_state.term += 1;
        self.hard_state.voted_for = Some(self.config.id);
        self.role = Role::Candidate;
        self.leader_id = None;
        self.election_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        if let ElectionResult::Won = self.tally_votes() {
            self.become_leader();
            return;
        }
        let term = self.term();
        let (last_log_index, last_log_term) = (self.last_index(), self.last_term());
        for peer in self.peers() {
            self.send(peer, RaftMessage::RequestVote { term, last_log_index, last_log_term });
        }
    }

    fn become_leader(&mut self) {
        assert_eq!(self.role, Role::Candidate, "only a candidate can become leader");
        self.role = Role::Leader;
        self.leader_id = Some(self.config.id);
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.votes.clear();
        self.recently_active.clear();
        let next_index = self.last_index() + 1;
        self.progress = self
            .peers()
            .into_iter()
            .map(|peer| (peer, Progress { next_index, match_index: 0, directory: None }))
            .collect();
        // Thesis 6.4 / paper §8: an entry of the new term lets the leader commit everything
        // from earlier terms (which it may not count replicas for directly, §5.4.2).
        self.term_start_index = self.append_as_leader(C::default(), None);
        self.broadcast_append();
        self.maybe_advance_commit();
    }

    // ---- messages ----

    fn handle_message(&mut self, from: NodeId, from_directory: DirectoryId, message: RaftMessage<C>) {
        let from_voter = self.is_voter_key(from, from_directory);
        let message_term = message.term();
        if message_term > self.term() {
            match &message {
                // Pre-votes never change the receiver's term; that is their point (thesis 9.6).
                RaftMessage::PreVote { .. } => {}
                RaftMessage::PreVoteResponse { granted: true, .. } => {}
                // Thesis 4.2.3: within the minimum election timeout of hearing from a leader,
                // neither update the term nor vote, so a disruptive server cannot depose it.
                RaftMessage::RequestVote { .. } if self.in_leader_lease() => return,
                RaftMessage::AppendEntries { .. } => self.become_follower(message_term, Some(from)),
                _ => self.become_follower(message_term, None),
            }
        } else if message_term < self.term() {
            match message {
                // Tell a stale leader about the newer term so it steps down (thesis 3.3).
                RaftMessage::AppendEntries { .. } => {
                    let response = RaftMessage::AppendResponse {
                        term: self.term(),
                        success: false,
                        match_index: self.last_index(),
                    };
                    self.send(from, response);
                }
                // Lets a pre-candidate or candidate that is behind adopt the newer term, which
                // it needs in order to ever win (its next pre-vote would be rejected too).
                RaftMessage::PreVote { .. } => {
                    let response = RaftMessage::PreVoteResponse { term: self.term(), granted: false };
                    self.send(from, response);
                }
                RaftMessage::RequestVote { .. } => {
                    let response = RaftMessage::VoteResponse { term: self.term(), granted: false };
                    self.send(from, response);
                }
                // Responses from earlier terms answer questions nobody is asking any more.
                _ => {}
            }
            return;
        }

        if self.role == Role::Leader && message_term == self.term() && from_voter {
            self.recently_active.insert(from);
        }

        match message {
            RaftMessage::PreVote { term, last_log_index, last_log_term } => {
                self.handle_pre_vote(from, term, last_log_index, last_log_term)
            }
            RaftMessage::PreVoteResponse { term, granted } => {
                self.handle_pre_vote_response(from, from_voter, term, granted)
            }
            RaftMessage::RequestVote { term, last_log_index, last_log_term } => {
                self.handle_request_vote(from, term, last_log_index, last_log_term)
            }
            RaftMessage::VoteResponse { term, granted } => self.handle_vote_response(from, from_voter, term, granted),
            RaftMessage::AppendEntries { term, prev_log_index, prev_log_term, entries, leader_commit } => {
                self.handle_append_entries(from, term, prev_log_index, prev_log_term, entries, leader_commit)
            }
            RaftMessage::AppendResponse { term, success, match_index } => {
                self.handle_append_response(from, from_directory, term, success, match_index)
            }
        }
    }

    fn handle_pre_vote(&mut self, from: NodeId, term: u64, last_log_index: u64, last_log_term: u64) {
        // An observer (storage not in the voter set) never votes (KIP-853).
        let granted = self.is_voter()
            && term > self.term()
            && !self.in_leader_lease()
            && self.is_up_to_date(last_log_index, last_log_term);
        let response_term = if granted { term } else { self.term() };
        self.send(from, RaftMessage::PreVoteResponse { term: response_term, granted });
    }

    fn handle_pre_vote_response(&mut self, from: NodeId, from_voter: bool, term: u64, granted: bool) {
        if self.role != Role::PreCandidate || !from_voter {
            return;
        }
        // A grant counts only for the term we are polling for; rejections at or below our
        // term (higher ones already made us a follower) count as they are.
        if granted && term != self.term() + 1 {
            return;
        }
        self.votes.insert(from, granted);
        match self.tally_votes() {
            ElectionResult::Won => self.start_election(),
            ElectionResult::Lost => {
                let term = self.term();
                self.become_follower(term, None);
            }
            ElectionResult::Pending => {}
        }
    }

    fn handle_request_vote(&mut self, from: NodeId, term: u64, last_log_index: u64, last_log_term: u64) {
        debug_assert_eq!(term, self.term());
        // A voter that already knows this term's leader has no reason to vote for another.
        // An observer has no vote to give: its storage is not the one the voter set counts.
        let can_vote = self.is_voter()
            && (self.hard_state.voted_for == Some(from)
                || (self.hard_state.voted_for.is_none() && self.leader_id.is_none()));
        #[cfg(test)]
        let can_vote = can_vote || self.fault_grant_every_vote;
        // Election restriction (thesis 3.6.1): only vote for logs at least as up to date.
        let granted = can_vote && self.is_up_to_date(last_log_index, last_log_term);
        if granted {
            #[cfg(not(test))]
            let fault_injected = false;
            #[cfg(test)]
            let fault_injected = self.fault_grant_every_vote;
            assert!(
                fault_injected || self.hard_state.voted_for.is_none() || self.hard_state.voted_for == Some(from),
                "a vote is never granted twice in a term"
            );
            if self.role != Role::Follower {
                // Only a pre-candidate can get here (candidates and leaders voted for
                // themselves); it concedes to the candidate of its own term.
                self.become_follower(term, None);
            }
            self.hard_state.voted_for = Some(from);
            // Thesis 3.4: granting a vote resets the election timer.
            self.election_elapsed = 0;
        }
        self.send(from, RaftMessage::VoteResponse { term: self.term(), granted });
    }

    fn handle_vote_response(&mut self, from: NodeId, from_voter: bool, term: u64, granted: bool) {
        if self.role != Role::Candidate || term != self.term() || !from_voter {
            return;
        }
        self.votes.insert(from, granted);
        match self.tally_votes() {
            ElectionResult::Won => self.become_leader(),
            ElectionResult::Lost => self.become_follower(term, None),
            ElectionResult::Pending => {}
        }
    }

    fn handle_append_entries(
        &mut self,
        from: NodeId,
        term: u64,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry<C>>,
        leader_commit: u64,
    ) {
        assert!(self.role != Role::Leader, "election safety: two leaders in term {term}");
        if self.role != Role::Follower {
            // Thesis 3.4: a candidate that hears from the leader of its term steps back.
            self.become_follower(term, Some(from));
        }
        self.leader_id = Some(from);
        self.election_elapsed = 0;

        if prev_log_index > self.last_index() {
            let hint = self.last_index();
            self.send(from, RaftMessage::AppendResponse { term, success: false, match_index: hint });
            return;
        }
        if self.term_at(prev_log_index) != Some(prev_log_term) {
            // Committed entries match the leader's log (leader completeness), so a conflict
            // can only lie above the commit index.
            assert!(prev_log_index > self.commit_index, "conflict at committed index {prev_log_index}");
            let hint = prev_log_index - 1;
            self.send(from, RaftMessage::AppendResponse { term, success: false, match_index: hint });
            return;
        }

        let last_new_index = prev_log_index + entries.len() as u64;
        for (offset, entry) in entries.into_iter().enumerate() {
            assert_eq!(entry.index, prev_log_index + 1 + offset as u64, "entries must be contiguous");
            match self.term_at(entry.index) {
                // Already have it (a duplicate or reordered message): leave the log alone,
                // truncating here could drop entries a newer message appended (thesis 3.5).
                Some(existing_term) if existing_term == entry.term => {}
                Some(_) => {
                    self.truncate_log_after(entry.index - 1);
                    self.append_entry(entry);
                }
                None => self.append_entry(entry),
            }
        }

        // Only up to the last entry this message vouches for: beyond it our log may still
        // differ from the leader's.
        let new_commit = leader_commit.min(last_new_index);
        if new_commit > self.commit_index {
            self.set_commit_index(new_commit);
        }
        self.send(from, RaftMessage::AppendResponse { term, success: true, match_index: last_new_index });
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        from_directory: DirectoryId,
        term: u64,
        success: bool,
        match_index: u64,
    ) {
        if self.role != Role::Leader || term != self.term() {
            return;
        }
        let last_index = self.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        if progress.directory != Some(from_directory) {
            // New storage behind a known id: nothing it acknowledged before is on it.
            progress.directory = Some(from_directory);
            progress.match_index = 0;
        }
        if success {
            assert!(match_index <= last_index, "follower claims entries the leader does not have");
            progress.match_index = progress.match_index.max(match_index);
            progress.next_index = progress.next_index.max(progress.match_index + 1);
            let more_to_send = progress.next_index <= last_index;
            self.maybe_advance_commit();
            if more_to_send {
                self.send_append(from);
            }
        } else {
            // Back off towards the hint. A hint below what is known to match means either a
            // stale rejection or a follower that lost its disk (a zone loss: the log is gone).
            // Trusting it only costs resending entries; the commit index never moves back, so
            // it is safe, and without it a wiped follower would never catch up.
            if match_index < progress.match_index {
                progress.match_index = match_index;
            }
            progress.next_index =
                progress.next_index.saturating_sub(1).min(match_index + 1).max(progress.match_index + 1);
            self.send_append(from);
        }
    }

    // ---- replication ----

    fn broadcast_append(&mut self) {
        for peer in self.peers() {
            self.send_append(peer);
        }
    }

    fn send_append(&mut self, peer: NodeId) {
        let next_index = self.progress[&peer].next_index;
        let prev_log_index = next_index - 1;
        let prev_log_term = self.term_at(prev_log_index).expect("next_index is at most last_index + 1");
        let end = self.last_index().min(prev_log_index + self.config.max_entries_per_append as u64);
        let entries = self.log[prev_log_index as usize..end as usize].to_vec();
        let message = RaftMessage::AppendEntries {
            term: self.term(),
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit_index,
        };
        self.send(peer, message);
    }

    /// Thesis 3.6.2 / §5.4.2: commit by counting replicas only for entries of the current
    /// term; earlier entries are committed indirectly by the log matching property.
    fn maybe_advance_commit(&mut self) {
        assert!(self.is_voter(), "a leader is a voter");
        // Only the storage the voter set names counts (KIP-853): an id back with new storage
        // acknowledges nothing for its old self.
        let mut match_indexes: Vec<u64> = self
            .voters
            .iter()
            .map(|(voter, directory)| {
                if *voter == self.config.id {
                    self.last_index()
                } else {
                    self.progress
                        .get(voter)
                        .filter(|progress| progress.directory == Some(*directory))
                        .map_or(0, |progress| progress.match_index)
                }
            })
            .collect();
        match_indexes.sort_unstable_by(|left, right| right.cmp(left));
        let replicated_on_majority = match_indexes[self.quorum() - 1];
        if replicated_on_majority > self.commit_index && self.term_at(replicated_on_majority) == Some(self.term()) {
            self.set_commit_index(replicated_on_majority);
        }
    }

    /// Thesis 4.1, one server at a time: the leader replaces a voter whose id answers from new
    /// storage by first removing the old directory, then (once that is committed and the new
    /// storage has caught up) adding the new one. Each step changes one voter, so the majorities
    /// of consecutive configurations overlap. Only after the leader committed an entry of its
    /// own term, and with no configuration change in flight.
    fn maybe_replace_voter(&mut self) {
        if self.voters_index > self.commit_index || self.term_start_index > self.commit_index {
            return;
        }
        let commit_index = self.commit_index;
        let change = self.config.nodes.iter().filter(|node| **node != self.config.id).find_map(|node| {
            let progress = self.progress.get(node)?;
            let observed = progress.directory?;
            match self.voters.get(node) {
                Some(directory) if *directory != observed => {
                    let mut voters = self.voters.clone();
                    voters.remove(node);
                    Some(voters)
                }
                None if progress.match_index >= commit_index => {
                    let mut voters = self.voters.clone();
                    voters.insert(*node, observed);
                    Some(voters)
                }
                _ => None,
            }
        });
        if let Some(voters) = change {
            self.append_as_leader(C::default(), Some(voters));
            self.maybe_advance_commit();
        }
    }

    fn append_as_leader(&mut self, command: C, voters: Option<VoterSet>) -> u64 {
        let entry = Entry { term: self.term(), index: self.last_index() + 1, command, voters };
        let index = entry.index;
        self.append_entry(entry);
        index
    }

    // ---- log ----

    fn append_entry(&mut self, entry: Entry<C>) {
        assert_eq!(entry.index, self.last_index() + 1, "log must stay contiguous");
        assert!(entry.term >= self.last_term(), "log terms never decrease along the log");
        if let Some(voters) = &entry.voters {
            self.voters = voters.clone();
            self.voters_index = entry.index;
        }
        self.pending.append.push(entry.clone());
        self.log.push(entry);
    }

    /// Recomputes the configuration in use from the log (after a restart or a truncation).
    fn refresh_voters(&mut self) {
        match self.log.iter().rev().find_map(|entry| entry.voters.as_ref().map(|voters| (entry.index, voters))) {
            Some((index, voters)) => {
                self.voters = voters.clone();
                self.voters_index = index;
            }
            None => {
                self.voters = self.config.bootstrap_voters.clone().unwrap_or_default();
                self.voters_index = 0;
            }
        }
    }

    fn truncate_log_after(&mut self, index: u64) {
        assert!(index >= self.commit_index, "never truncate committed entries");
        self.log.truncate(index as usize);
        if self.voters_index > index {
            // The configuration entry is gone: the previous one applies again (thesis 4.1).
            self.refresh_voters();
        }
        // Entries appended earlier in this same call and now gone must not reach disk.
        self.pending.append.retain(|entry| entry.index <= index);
        self.pending.truncate_after = Some(self.pending.truncate_after.map_or(index, |earlier| earlier.min(index)));
    }

    fn set_commit_index(&mut self, index: u64) {
        assert!(index >= self.commit_index, "commit index never decreases");
        assert!(index <= self.last_index(), "cannot commit entries we do not have");
        self.commit_index = index;
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.log.get(index as usize - 1).map(|entry| entry.term)
    }

    fn last_term(&self) -> u64 {
        self.log.last().map_or(0, |entry| entry.term)
    }

    /// Thesis 3.6.1: compare last terms, then lengths.
    fn is_up_to_date(&self, last_log_index: u64, last_log_term: u64) -> bool {
        (last_log_term, last_log_index) >= (self.last_term(), self.last_index())
    }

    // ---- helpers ----

    /// True while this node believes a leader is alive: always for a leader (check-quorum
    /// removes it when not), and for a follower within the minimum election timeout of the
    /// leader's last message (thesis 4.2.3).
    fn in_leader_lease(&self) -> bool {
        match self.role {
            Role::Leader => true,
            _ => self.leader_id.is_some() && self.election_elapsed < self.config.election_ticks_min,
        }
    }

    fn tally_votes(&self) -> ElectionResult {
        let granted = self.votes.values().filter(|granted| **granted).count();
        let rejected = self.votes.len() - granted;
        if granted >= self.quorum() {
            ElectionResult::Won
        } else if self.voters.len().saturating_sub(rejected) < self.quorum() {
            ElectionResult::Lost
        } else {
            ElectionResult::Pending
        }
    }

    fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Every other node, voter or observer: campaigns ask all (observers refuse), and a leader
    /// replicates to all so that new storage can catch up and be added.
    fn peers(&self) -> Vec<NodeId> {
        self.config.nodes.iter().copied().filter(|node| *node != self.config.id).collect()
    }

    fn is_voter_key(&self, id: NodeId, directory: DirectoryId) -> bool {
        self.voters.get(&id) == Some(&directory)
    }

    fn reset_randomized_election_timeout(&mut self) {
        let spread = self.config.election_ticks_max - self.config.election_ticks_min;
        let offset = if spread == 0 { 0 } else { self.random.next_u32() % spread };
        self.randomized_election_timeout = self.config.election_ticks_min + offset;
    }

    fn send(&mut self, to: NodeId, message: RaftMessage<C>) {
        self.pending.messages.push((to, message));
    }

    fn take_ready(&mut self) -> Ready<C> {
        let mut ready = std::mem::take(&mut self.pending);
        if self.hard_state != self.reported_hard_state {
            assert!(self.hard_state.term >= self.reported_hard_state.term, "term never decreases");
            ready.hard_state = Some(self.hard_state.clone());
            self.reported_hard_state = self.hard_state.clone();
        }
        if self.commit_index > self.delivered_index {
            ready.committed = self.log[self.delivered_index as usize..self.commit_index as usize].to_vec();
            self.delivered_index = self.commit_index;
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Command = u64;

    fn test_config(id: NodeId, voters: &[NodeId], seed: u64) -> Config {
        timed_config(id, voters, seed, ClusterTiming::default())
    }

    #[derive(Clone, Copy, Debug)]
    struct ClusterTiming {
        election_ticks_min: u32,
        election_ticks_max: u32,
        max_entries_per_append: usize,
    }

    impl Default for ClusterTiming {
        fn default() -> Self {
            ClusterTiming { election_ticks_min: 10, election_ticks_max: 20, max_entries_per_append: 3 }
        }
    }

    fn timed_config(id: NodeId, voters: &[NodeId], seed: u64, timing: ClusterTiming) -> Config {
        Config {
            id,
            directory: id as DirectoryId,
            nodes: voters.to_vec(),
            bootstrap_voters: Some(voters.iter().map(|voter| (*voter, *voter as DirectoryId)).collect()),
            election_ticks_min: timing.election_ticks_min,
            election_ticks_max: timing.election_ticks_max,
            heartbeat_ticks: 1,
            max_entries_per_append: timing.max_entries_per_append,
            seed,
        }
    }

    /// One simulated server: the state machine, the disk the harness keeps for it by applying
    /// `Ready` exactly as the contract says, and the commands it applied in this lifetime.
    struct SimulatedNode {
        raft: Raft<Command>,
        disk: PersistentState<Command>,
        applied: Vec<Entry<Command>>,
        restarts: u64,
        /// How the storage was formatted: its directory id and bootstrap voters.
        directory: DirectoryId,
        bootstrap_voters: Option<VoterSet>,
    }

    /// An entry some node reported as committed, and that node's term at the time: every
    /// leader of that term or later must hold it (leader completeness).
    #[derive(Clone, Debug)]
    struct CommittedRecord {
        entry: Entry<Command>,
        known_at_term: u64,
    }

    struct Cluster {
        ids: Vec<NodeId>,
        seed: u64,
        nodes: BTreeMap<NodeId, SimulatedNode>,
        /// (from, to, message), in send order; delivery may pick any of them (reordering).
        /// The sender's storage travels with each message (the transport's envelope).
        in_flight: Vec<(NodeId, NodeId, RaftMessage<Command>, DirectoryId)>,
        /// When set, nodes in this set only talk among themselves, and so do the others.
        partition: Option<BTreeSet<NodeId>>,
        leaders_by_term: BTreeMap<u64, NodeId>,
        committed: BTreeMap<u64, CommittedRecord>,
        next_command: Command,
        timing: ClusterTiming,
        /// How often a `Ready` truncated a log: shows the simulation reaches conflicts.
        truncations: u64,
        /// Disk losses so far (each gives new storage a new directory id).
        wipes: u64,
        /// The planted bug: a node that lost its disk formats itself as it was first formatted
        /// (same directory id, the bootstrap voters), so it votes with an empty log and no
        /// memory of its vote. The behaviour before storage identity; the checkers must catch it.
        amnesia: bool,
    }

    impl Cluster {
        fn new(size: usize, seed: u64) -> Self {
            Self::with_timing(size, seed, ClusterTiming::default())
        }

        fn with_timing(size: usize, seed: u64, timing: ClusterTiming) -> Self {
            let ids: Vec<NodeId> = (1..=size as NodeId).collect();
            let nodes = ids
                .iter()
                .map(|id| {
                    let config = timed_config(*id, &ids, Self::node_seed(seed, *id, 0), timing);
                    let (directory, bootstrap_voters) = (config.directory, config.bootstrap_voters.clone());
                    let raft = Raft::new(config, PersistentState::default());
                    (
                        *id,
                        SimulatedNode {
                            raft,
                            disk: PersistentState::default(),
                            applied: Vec::new(),
                            restarts: 0,
                            directory,
                            bootstrap_voters,
                        },
                    )
                })
                .collect();
            Cluster {
                ids,
                seed,
                nodes,
                in_flight: Vec::new(),
                partition: None,
                leaders_by_term: BTreeMap::new(),
                committed: BTreeMap::new(),
                next_command: 1,
                timing,
                truncations: 0,
                wipes: 0,
                amnesia: false,
            }
        }

        fn node_seed(seed: u64, id: NodeId, restarts: u64) -> u64 {
            seed.wrapping_mul(1_000_003).wrapping_add(id as u64 * 7919).wrapping_add(restarts * 104_729)
        }

        fn raft(&self, id: NodeId) -> &Raft<Command> {
            &self.nodes[&id].raft
        }

        fn raft_mut(&mut self, id: NodeId) -> &mut Raft<Command> {
            &mut self.nodes.get_mut(&id).unwrap().raft
        }

        /// Persist, then send, then apply: the order the `Ready` contract demands.
        fn handle_ready(&mut self, id: NodeId, ready: Ready<Command>) {
            let node = self.nodes.get_mut(&id).unwrap();
            if let Some(hard_state) = ready.hard_state {
                node.disk.hard_state = hard_state;
            }
            if let Some(index) = ready.truncate_after {
                self.truncations += 1;
                node.disk.log.truncate(index as usize);
            }
            node.disk.log.extend(ready.append);
            for (to, message) in ready.messages {
                self.in_flight.push((id, to, message, node.raft.config.directory));
            }
            let known_at_term = node.raft.term();
            for entry in ready.committed {
                node.applied.push(entry.clone());
                self.committed.entry(entry.index).or_insert(CommittedRecord { entry, known_at_term });
            }
        }

        fn tick(&mut self, id: NodeId) {
            let ready = self.raft_mut(id).tick();
            self.handle_ready(id, ready);
        }

        fn can_communicate(&self, from: NodeId, to: NodeId) -> bool {
            match &self.partition {
                None => true,
                Some(group) => group.contains(&from) == group.contains(&to),
            }
        }

        fn deliver_at(&mut self, position: usize) {
            let (from, to, message, directory) = self.in_flight.remove(position);
            if !self.can_communicate(from, to) {
                return;
            }
            let ready = self.raft_mut(to).step(from, directory, message);
            self.handle_ready(to, ready);
        }

        /// Delivers everything in flight, including what the deliveries produce, in FIFO order.
        fn deliver_all(&mut self) {
            let mut budget = 100_000;
            while !self.in_flight.is_empty() && budget > 0 {
                self.deliver_at(0);
                budget -= 1;
            }
            assert!(self.in_flight.is_empty(), "message storm: delivery did not quiesce");
        }

        /// Delivers (in FIFO order) only the in-flight messages the filter picks, once.
        fn deliver_matching(&mut self, filter: impl Fn(NodeId, NodeId, &RaftMessage<Command>) -> bool) {
            let mut position = 0;
            while position < self.in_flight.len() {
                let (from, to, message, _) = &self.in_flight[position];
                if filter(*from, *to, message) {
                    self.deliver_at(position);
                } else {
                    position += 1;
                }
            }
        }

        fn propose(&mut self, id: NodeId) -> Option<Command> {
            let command = self.next_command;
            match self.raft_mut(id).propose(command) {
                Ok((ready, _index)) => {
                    self.next_command += 1;
                    self.handle_ready(id, ready);
                    Some(command)
                }
                Err(_) => None,
            }
        }

        /// Crash and restart: everything volatile is lost, the disk survives.
        fn restart(&mut self, id: NodeId) {
            let seed = self.seed;
            let ids = self.ids.clone();
            let timing = self.timing;
            let node = self.nodes.get_mut(&id).unwrap();
            node.restarts += 1;
            let mut config = timed_config(id, &ids, Self::node_seed(seed, id, node.restarts), timing);
            config.directory = node.directory;
            config.bootstrap_voters = node.bootstrap_voters.clone();
            node.raft = Raft::new(config, node.disk.clone());
            node.applied.clear();
        }

        /// Disk loss: the node restarts with empty storage, formatted anew to join the
        /// cluster (a new directory id, no bootstrap voters), unless `amnesia` is planted.
        fn wipe(&mut self, id: NodeId) {
            self.wipes += 1;
            let (wipes, amnesia) = (self.wipes, self.amnesia);
            let node = self.nodes.get_mut(&id).unwrap();
            node.disk = PersistentState::default();
            if !amnesia {
                node.directory = 1_000 * wipes + id as DirectoryId;
                node.bootstrap_voters = None;
            }
            self.restart(id);
        }

        /// Every node uses, and has committed, a voter set naming every node's current
        /// storage: one more disk loss then leaves a majority with its promises intact.
        fn voters_settled(&self) -> bool {
            let current: VoterSet = self.nodes.iter().map(|(id, node)| (*id, node.directory)).collect();
            self.nodes
                .values()
                .all(|node| node.raft.voters == current && node.raft.voters_index <= node.raft.commit_index)
        }

        fn leaders(&self) -> Vec<NodeId> {
            self.ids.iter().copied().filter(|id| self.raft(*id).is_leader()).collect()
        }

        /// One round: every node ticks once, then all messages are delivered.
        fn round(&mut self) {
            for id in self.ids.clone() {
                self.tick(id);
            }
            self.deliver_all();
        }

        fn run_until_single_leader(&mut self, max_rounds: usize) -> Option<NodeId> {
            for _ in 0..max_rounds {
                self.round();
                self.check_all().unwrap();
                let leaders = self.leaders();
                if leaders.len() == 1 {
                    let leader = leaders[0];
                    let term = self.raft(leader).term();
                    if self
                        .ids
                        .iter()
                        .all(|id| self.raft(*id).term() == term && self.raft(*id).leader() == Some(leader))
                    {
                        return Some(leader);
                    }
                }
            }
            None
        }

        // ---- safety checkers: each returns the first violation found ----

        fn check_all(&mut self) -> Result<(), String> {
            self.check_disk_matches_memory()?;
            self.check_election_safety()?;
            self.check_log_matching()?;
            self.check_leader_completeness()?;
            self.check_state_machine_safety()
        }

        /// The harness applied every `Ready`; if that reproduces the in-memory state, the
        /// `Ready` contract (hard state, truncation, append) is complete.
        fn check_disk_matches_memory(&self) -> Result<(), String> {
            for (id, node) in &self.nodes {
                if node.disk.log != node.raft.log {
                    return Err(format!("node {id}: persisted log differs from memory"));
                }
                if node.disk.hard_state != node.raft.hard_state {
                    return Err(format!("node {id}: persisted hard state differs from memory"));
                }
            }
            Ok(())
        }

        /// At most one leader per term, over the whole history (thesis 3.4).
        fn check_election_safety(&mut self) -> Result<(), String> {
            for id in self.ids.clone() {
                let raft = self.raft(id);
                if raft.is_leader() {
                    let term = raft.term();
                    let recorded = *self.leaders_by_term.entry(term).or_insert(id);
                    if recorded != id {
                        return Err(format!("election safety: nodes {recorded} and {id} both led term {term}"));
                    }
                }
            }
            Ok(())
        }

        /// If two logs hold an entry with the same index and term, they are identical up to it.
        fn check_log_matching(&self) -> Result<(), String> {
            for (position, left_id) in self.ids.iter().enumerate() {
                for right_id in &self.ids[position + 1..] {
                    let left = &self.raft(*left_id).log;
                    let right = &self.raft(*right_id).log;
                    let shared = left.len().min(right.len());
                    let Some(highest_same_term) = (0..shared).rev().find(|at| left[*at].term == right[*at].term) else {
                        continue;
                    };
                    if left[..=highest_same_term] != right[..=highest_same_term] {
                        return Err(format!(
                            "log matching: nodes {left_id} and {right_id} agree on the term at index {} but differ before it",
                            highest_same_term + 1
                        ));
                    }
                }
            }
            Ok(())
        }

        /// Every committed entry is in the log of every leader of a later (or the same) term.
        fn check_leader_completeness(&self) -> Result<(), String> {
            for id in &self.ids {
                let raft = self.raft(*id);
                if !raft.is_leader() {
                    continue;
                }
                for (index, record) in &self.committed {
                    if raft.term() >= record.known_at_term && raft.log.get(*index as usize - 1) != Some(&record.entry) {
                        return Err(format!(
                            "leader completeness: leader {id} of term {} lacks committed entry {:?}",
                            raft.term(),
                            record.entry
                        ));
                    }
                }
            }
            Ok(())
        }

        /// Every node applies the same sequence: each applied sequence is gapless from index 1,
        /// agrees with every entry anyone else reported committed at that index, and so all
        /// applied sequences are prefixes of one another.
        fn check_state_machine_safety(&self) -> Result<(), String> {
            for (id, node) in &self.nodes {
                for (position, entry) in node.applied.iter().enumerate() {
                    if entry.index != position as u64 + 1 {
                        return Err(format!(
                            "state machine safety: node {id} applied index {} out of order",
                            entry.index
                        ));
                    }
                    if self.committed.get(&entry.index).map(|record| &record.entry) != Some(entry) {
                        return Err(format!(
                            "state machine safety: node {id} applied {entry:?}, others committed otherwise"
                        ));
                    }
                }
            }
            for (position, left_id) in self.ids.iter().enumerate() {
                for right_id in &self.ids[position + 1..] {
                    let left = &self.nodes[left_id].applied;
                    let right = &self.nodes[right_id].applied;
                    let shared = left.len().min(right.len());
                    if left[..shared] != right[..shared] {
                        return Err(format!(
                            "state machine safety: nodes {left_id} and {right_id} applied diverging sequences"
                        ));
                    }
                }
            }
            Ok(())
        }
    }

    // ---- unit tests ----

    #[test]
    fn single_node_elects_itself_and_commits() {
        let mut raft: Raft<Command> = Raft::new(test_config(1, &[1], 7), PersistentState::default());
        assert_eq!(raft.propose(5).unwrap_err(), None);
        let mut became_leader_after = None;
        for tick in 1..=20 {
            let ready = raft.tick();
            if raft.is_leader() {
                // The no-op is appended and committed at once: a quorum of one.
                assert_eq!(ready.hard_state, Some(HardState { term: 1, voted_for: Some(1) }));
                assert_eq!(ready.append.len(), 1);
                assert_eq!(ready.committed, vec![Entry { term: 1, index: 1, command: 0, voters: None }]);
                became_leader_after = Some(tick);
                break;
            }
        }
        assert!(became_leader_after.unwrap() >= 10, "must wait at least the minimum election timeout");
        assert_eq!(raft.leader(), Some(1));
        let (ready, index) = raft.propose(42).unwrap();
        assert_eq!(index, 2);
        assert_eq!(ready.append, vec![Entry { term: 1, index: 2, command: 42, voters: None }]);
        assert_eq!(ready.committed, vec![Entry { term: 1, index: 2, command: 42, voters: None }]);
        assert!(ready.messages.is_empty());
        assert_eq!(raft.commit_index(), 2);

        // Restart from what was persisted: term rises, and the log is re-delivered from 1.
        let persisted =
            PersistentState { hard_state: HardState { term: 1, voted_for: Some(1) }, log: raft.log.clone() };
        let mut restarted: Raft<Command> = Raft::new(test_config(1, &[1], 7), persisted);
        let mut committed = Vec::new();
        for _ in 0..20 {
            committed.extend(restarted.tick().committed);
        }
        assert!(restarted.is_leader());
        assert_eq!(restarted.term(), 2);
        let commands: Vec<Command> = committed.iter().map(|entry| entry.command).collect();
        assert_eq!(commands, vec![0, 42, 0]);
    }

    #[test]
    fn three_nodes_elect_exactly_one_leader() {
        for seed in 0..20 {
            let mut cluster = Cluster::new(3, seed);
            let leader = cluster.run_until_single_leader(100).expect("a leader is elected");
            for _ in 0..50 {
                cluster.round();
                cluster.check_all().unwrap();
                assert_eq!(cluster.leaders(), vec![leader], "a healthy leader keeps its job");
            }
            let command = cluster.propose(leader).unwrap();
            cluster.round();
            cluster.round();
            for id in &cluster.ids {
                assert!(cluster.nodes[id].applied.iter().any(|entry| entry.command == command));
            }
        }
    }

    #[test]
    fn follower_with_conflicting_log_is_truncated() {
        let entry = |term, index, command| Entry { term, index, command, voters: None };
        let persisted = PersistentState {
            hard_state: HardState { term: 2, voted_for: Some(2) },
            log: vec![entry(1, 1, 10), entry(2, 2, 20), entry(2, 3, 30)],
        };
        let mut follower: Raft<Command> = Raft::new(test_config(2, &[1, 2, 3], 1), persisted);

        // A mismatch at prev_log_index is rejected with a hint below it.
        let ready = follower.step(
            1,
            1 as DirectoryId,
            RaftMessage::AppendEntries {
                term: 3,
                prev_log_index: 3,
                prev_log_term: 3,
                entries: vec![],
                leader_commit: 0,
            },
        );
        assert_eq!(ready.hard_state, Some(HardState { term: 3, voted_for: None }));
        assert_eq!(ready.messages, vec![(1, RaftMessage::AppendResponse { term: 3, success: false, match_index: 2 })]);
        assert_eq!(follower.leader(), Some(1));

        // The leader backs up; the follower drops its term-2 suffix for the leader's entries.
        let ready = follower.step(
            1,
            1 as DirectoryId,
            RaftMessage::AppendEntries {
                term: 3,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![entry(3, 2, 99), entry(3, 3, 100), entry(3, 4, 101)],
                leader_commit: 3,
            },
        );
        assert_eq!(ready.truncate_after, Some(1));
        assert_eq!(ready.append, vec![entry(3, 2, 99), entry(3, 3, 100), entry(3, 4, 101)]);
        assert_eq!(ready.committed, vec![entry(1, 1, 10), entry(3, 2, 99), entry(3, 3, 100)]);
        assert_eq!(ready.messages, vec![(1, RaftMessage::AppendResponse { term: 3, success: true, match_index: 4 })]);
        assert_eq!(follower.log, vec![entry(1, 1, 10), entry(3, 2, 99), entry(3, 3, 100), entry(3, 4, 101)]);

        // A stale duplicate of a shorter append must not truncate what came after it.
        let ready = follower.step(
            1,
            1 as DirectoryId,
            RaftMessage::AppendEntries {
                term: 3,
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![entry(3, 2, 99)],
                leader_commit: 2,
            },
        );
        assert_eq!(ready.truncate_after, None);
        assert!(ready.append.is_empty());
        assert_eq!(follower.last_index(), 4);
        assert_eq!(follower.commit_index(), 3);
    }

    #[test]
    fn stale_term_leader_steps_down_on_higher_term() {
        let mut cluster = Cluster::new(3, 11);
        let old_leader = cluster.run_until_single_leader(100).unwrap();
        let old_term = cluster.raft(old_leader).term();
        // Cut the leader off without ticking it, so check-quorum does not fire first.
        cluster.partition = Some(BTreeSet::from([old_leader]));
        let others: Vec<NodeId> = cluster.ids.iter().copied().filter(|id| *id != old_leader).collect();
        let mut new_leader = None;
        for _ in 0..100 {
            for id in &others {
                cluster.tick(*id);
            }
            cluster.deliver_all();
            cluster.check_all().unwrap();
            if let Some(leader) = others.iter().copied().find(|id| cluster.raft(*id).is_leader()) {
                new_leader = Some(leader);
                break;
            }
        }
        let new_leader = new_leader.expect("the majority elects a new leader");
        assert!(cluster.raft(new_leader).term() > old_term);
        assert!(cluster.raft(old_leader).is_leader(), "the old leader has not noticed yet");

        cluster.partition = None;
        // The old leader's heartbeat reaches a follower of the new term and is refused.
        cluster.tick(old_leader);
        cluster.deliver_matching(|from, _, _| from == old_leader);
        cluster.deliver_matching(|_, to, _| to == old_leader);
        assert!(!cluster.raft(old_leader).is_leader());
        assert_eq!(cluster.raft(old_leader).term(), cluster.raft(new_leader).term());
        cluster.check_all().unwrap();
        cluster.round();
        assert_eq!(cluster.raft(old_leader).leader(), Some(new_leader));
    }

    #[test]
    fn partitioned_node_rejoining_does_not_raise_leader_term() {
        let mut cluster = Cluster::new(3, 5);
        let leader = cluster.run_until_single_leader(100).unwrap();
        let term = cluster.raft(leader).term();
        let isolated = *cluster.ids.iter().find(|id| **id != leader).unwrap();
        cluster.partition = Some(BTreeSet::from([isolated]));
        for _ in 0..200 {
            cluster.round();
            cluster.check_all().unwrap();
        }
        // Without pre-vote it would be at a much higher term by now.
        assert_eq!(cluster.raft(isolated).term(), term, "pre-vote keeps the isolated node's term");
        cluster.partition = None;
        for _ in 0..50 {
            cluster.round();
            cluster.check_all().unwrap();
        }
        assert_eq!(cluster.leaders(), vec![leader]);
        assert_eq!(cluster.raft(leader).term(), term);
        assert_eq!(cluster.raft(isolated).leader(), Some(leader));
    }

    #[test]
    fn leader_without_quorum_steps_down() {
        let mut cluster = Cluster::new(3, 3);
        let leader = cluster.run_until_single_leader(100).unwrap();
        cluster.partition = Some(BTreeSet::from([leader]));
        for _ in 0..25 {
            cluster.tick(leader);
            cluster.deliver_all();
        }
        assert!(!cluster.raft(leader).is_leader());
        assert_eq!(cluster.raft(leader).leader(), None);
        assert_eq!(cluster.raft_mut(leader).propose(9).unwrap_err(), None);
    }

    #[test]
    fn follower_in_lease_rejects_pre_vote_and_ignores_vote() {
        let mut cluster = Cluster::new(3, 4);
        let leader = cluster.run_until_single_leader(100).unwrap();
        let follower = *cluster.ids.iter().find(|id| **id != leader).unwrap();
        let other = *cluster.ids.iter().find(|id| **id != leader && **id != follower).unwrap();
        let term = cluster.raft(follower).term();
        let last_log_index = 100;
        let last_log_term = term;
        let ready = cluster.raft_mut(follower).step(
            other,
            other as DirectoryId,
            RaftMessage::PreVote { term: term + 1, last_log_index, last_log_term },
        );
        assert_eq!(ready.messages, vec![(other, RaftMessage::PreVoteResponse { term, granted: false })]);
        let ready = cluster.raft_mut(follower).step(
            other,
            other as DirectoryId,
            RaftMessage::RequestVote { term: term + 1, last_log_index, last_log_term },
        );
        assert!(ready.is_empty());
        assert_eq!(cluster.raft(follower).term(), term);
    }

    // ---- the checkers can fail ----

    fn cluster_with_committed_entries() -> (Cluster, NodeId) {
        let mut cluster = Cluster::new(3, 21);
        let leader = cluster.run_until_single_leader(100).unwrap();
        cluster.propose(leader).unwrap();
        cluster.propose(leader).unwrap();
        cluster.round();
        cluster.round();
        cluster.check_all().unwrap();
        assert!(cluster.ids.iter().all(|id| cluster.nodes[id].applied.len() == 3));
        (cluster, leader)
    }

    #[test]
    fn election_safety_checker_detects_two_leaders_in_a_term() {
        let (mut cluster, leader) = cluster_with_committed_entries();
        let impostor = *cluster.ids.iter().find(|id| **id != leader).unwrap();
        cluster.raft_mut(impostor).role = Role::Leader;
        let error = cluster.check_election_safety().unwrap_err();
        assert!(error.starts_with("election safety"), "{error}");
    }

    #[test]
    fn election_safety_checker_catches_double_voting() {
        // Nodes 1 and 2 both run for term 1; node 3 is rigged to vote for both.
        let mut cluster = Cluster::new(3, 0);
        cluster.raft_mut(3).fault_grant_every_vote = true;
        let is_pre_vote_traffic = |message: &RaftMessage<Command>| {
            matches!(message, RaftMessage::PreVote { .. } | RaftMessage::PreVoteResponse { .. })
        };
        for candidate in [1, 2] {
            while cluster.raft(candidate).role() == Role::Follower {
                cluster.tick(candidate);
            }
            cluster.deliver_matching(|from, to, message| is_pre_vote_traffic(message) && (from == 3 || to == 3));
            assert_eq!(cluster.raft(candidate).role(), Role::Candidate);
            assert_eq!(cluster.raft(candidate).term(), 1);
        }
        let is_vote_traffic = |message: &RaftMessage<Command>| {
            matches!(message, RaftMessage::RequestVote { .. } | RaftMessage::VoteResponse { .. })
        };
        cluster.deliver_matching(|from, to, message| is_vote_traffic(message) && (from == 3 || to == 3));
        assert!(cluster.raft(1).is_leader() && cluster.raft(2).is_leader());
        let error = cluster.check_all().unwrap_err();
        assert!(error.starts_with("election safety"), "{error}");
    }

    #[test]
    fn log_matching_checker_detects_divergent_prefix() {
        let (mut cluster, leader) = cluster_with_committed_entries();
        let follower = *cluster.ids.iter().find(|id| **id != leader).unwrap();
        // Same term at index 3, different command at index 2.
        cluster.raft_mut(follower).log[1].command = 777;
        let error = cluster.check_log_matching().unwrap_err();
        assert!(error.starts_with("log matching"), "{error}");
    }

    #[test]
    fn leader_completeness_checker_detects_missing_committed_entry() {
        let (mut cluster, leader) = cluster_with_committed_entries();
        cluster.raft_mut(leader).log.truncate(2);
        let error = cluster.check_leader_completeness().unwrap_err();
        assert!(error.starts_with("leader completeness"), "{error}");
    }

    #[test]
    fn state_machine_safety_checker_detects_divergent_application() {
        let (mut cluster, leader) = cluster_with_committed_entries();
        let follower = *cluster.ids.iter().find(|id| **id != leader).unwrap();
        cluster.nodes.get_mut(&follower).unwrap().applied[2].command = 555;
        let error = cluster.check_state_machine_safety().unwrap_err();
        assert!(error.starts_with("state machine safety"), "{error}");
    }

    /// A voter acknowledged an entry with the leader, then lost its disk; the leader is cut
    /// off and the third voter (which never saw the entry) campaigns with the wiped one.
    fn lost_disk_then_campaign(amnesia: bool) -> Result<Cluster, String> {
        let mut cluster = Cluster::new(3, 7);
        cluster.amnesia = amnesia;
        let leader = cluster.run_until_single_leader(200).expect("a leader");
        let others: Vec<NodeId> = cluster.ids.iter().copied().filter(|id| *id != leader).collect();
        let (acker, stale) = (others[0], others[1]);
        cluster.partition = Some([leader, acker].into_iter().collect());
        let command = cluster.propose(leader).expect("the leader takes a proposal");
        for _ in 0..5 {
            cluster.round();
            cluster.check_all()?;
        }
        assert!(
            cluster.committed.values().any(|record| record.entry.command == command),
            "committed on the leader and {acker}"
        );
        cluster.wipe(acker);
        cluster.partition = Some([stale, acker].into_iter().collect());
        for _ in 0..200 {
            cluster.round();
            cluster.check_all()?;
        }
        cluster.partition = None;
        for _ in 0..200 {
            cluster.round();
            cluster.check_all()?;
        }
        Ok(cluster)
    }

    #[test]
    fn a_voter_back_with_new_storage_observes_until_the_quorum_replaces_it() {
        // KIP-853: the wiped voter is an observer, so the stale voter cannot win; once the
        // leader is back it removes the old directory and adds the new one, one at a time.
        let mut cluster = lost_disk_then_campaign(false).unwrap();
        let current: VoterSet = cluster.nodes.iter().map(|(id, node)| (*id, node.directory)).collect();
        assert!(
            cluster.voters_settled(),
            "voters {:?}, want {current:?} everywhere",
            cluster.nodes.values().map(|n| n.raft.voters.clone()).collect::<Vec<_>>()
        );
        assert!(cluster.wipes == 1 && current.values().any(|directory| *directory >= 1_000));
        let leader = cluster.run_until_single_leader(200).expect("a leader after healing");
        let command = cluster.propose(leader).unwrap();
        for _ in 0..20 {
            cluster.round();
        }
        cluster.check_all().unwrap();
        assert!(
            cluster.nodes.values().all(|node| node.applied.iter().any(|entry| entry.command == command)),
            "the replaced voter applies new entries"
        );
    }

    #[test]
    fn planted_amnesia_loses_a_committed_entry() {
        // The old behaviour: the wiped node votes with an empty log and no memory of its vote.
        let error = lost_disk_then_campaign(true).err().expect("amnesia must break a safety property");
        assert!(error.contains("leader completeness") || error.contains("election safety"), "{error}");
    }

    #[test]
    fn randomized_checkers_catch_planted_amnesia() {
        use proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner};
        let config =
            RunnerConfig { cases: 500, failure_persistence: None, max_shrink_iters: 0, ..RunnerConfig::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let strategy = (any::<u64>(), proptest::collection::vec(action_strategy(), 0..3000));
        let outcome = runner.run(&strategy, |(seed, actions)| run_simulation_with(3, seed, 1, &actions, true));
        let failure = format!("{:?}", outcome.expect_err("500 random cases with planted amnesia must violate safety"));
        assert!(!failure.contains("liveness"), "caught by a safety checker, not by liveness: {failure}");
    }

    // ---- randomized cluster simulation ----

    #[derive(Clone, Debug)]
    enum Action {
        Tick(usize),
        Deliver(usize),
        Drop(usize),
        Duplicate(usize),
        Propose(usize),
        Restart(usize),
        /// Disk loss and restart, when the voter set is settled (two losses before the first
        /// is replaced lose the quorum's memory for good, in any Raft).
        WipeDisk(usize),
        /// Bit i set: node i+1 is on one side.
        Partition(u8),
        Heal,
    }

    fn action_strategy() -> impl Strategy<Value = Action> {
        prop_oneof![
            30 => any::<usize>().prop_map(Action::Tick),
            40 => any::<usize>().prop_map(Action::Deliver),
            8 => any::<usize>().prop_map(Action::Drop),
            3 => any::<usize>().prop_map(Action::Duplicate),
            12 => any::<usize>().prop_map(Action::Propose),
            1 => any::<usize>().prop_map(Action::Restart),
            1 => any::<usize>().prop_map(Action::WipeDisk),
            2 => any::<u8>().prop_map(Action::Partition),
            1 => Just(Action::Heal),
        ]
    }

    fn run_simulation(
        size: usize,
        seed: u64,
        max_entries_per_append: usize,
        actions: &[Action],
    ) -> Result<(), TestCaseError> {
        run_simulation_with(size, seed, max_entries_per_append, actions, false)
    }

    fn run_simulation_with(
        size: usize,
        seed: u64,
        max_entries_per_append: usize,
        actions: &[Action],
        amnesia: bool,
    ) -> Result<(), TestCaseError> {
        // Short timeouts so that the actions see many elections; one entry per append makes
        // partially replicated suffixes (the thesis's figure 3.7 scenario) common.
        let timing = ClusterTiming { election_ticks_min: 3, election_ticks_max: 6, max_entries_per_append };
        let mut cluster = Cluster::with_timing(size, seed, timing);
        cluster.amnesia = amnesia;
        for action in actions {
            match action {
                Action::Tick(node) => cluster.tick(cluster.ids[node % size]),
                Action::Deliver(which) if !cluster.in_flight.is_empty() => {
                    let position = which % cluster.in_flight.len();
                    cluster.deliver_at(position);
                }
                Action::Drop(which) if !cluster.in_flight.is_empty() => {
                    let position = which % cluster.in_flight.len();
                    cluster.in_flight.remove(position);
                }
                Action::Duplicate(which) if !cluster.in_flight.is_empty() => {
                    let position = which % cluster.in_flight.len();
                    let copy = cluster.in_flight[position].clone();
                    cluster.in_flight.push(copy);
                }
                Action::Deliver(_) | Action::Drop(_) | Action::Duplicate(_) => {}
                Action::Propose(node) => {
                    cluster.propose(cluster.ids[node % size]);
                }
                Action::Restart(node) => cluster.restart(cluster.ids[node % size]),
                Action::WipeDisk(node) if amnesia || cluster.voters_settled() => cluster.wipe(cluster.ids[node % size]),
                Action::WipeDisk(_) => {}
                Action::Partition(mask) => {
                    let group = cluster.ids.iter().copied().filter(|id| mask & (1 << (id - 1)) != 0).collect();
                    cluster.partition = Some(group);
                }
                Action::Heal => cluster.partition = None,
            }
            cluster.check_all().map_err(TestCaseError::fail)?;
        }

        if std::env::var("RAFT_SIMULATION_STATS").is_ok() {
            let max_term = cluster.ids.iter().map(|id| cluster.raft(*id).term()).max().unwrap();
            let truncations = cluster.truncations;
            eprintln!("STATS size={size} actions={} max_term={max_term} leaders_seen={} committed={} restarts={} wipes={} truncations={truncations}",
                actions.len(), cluster.leaders_by_term.len(), cluster.committed.len(),
                cluster.nodes.values().map(|node| node.restarts).sum::<u64>(), cluster.wipes);
        }
        // Liveness: once the network is healthy, a leader emerges and a proposal commits everywhere.
        cluster.partition = None;
        let mut proposed: Option<Command> = None;
        for _ in 0..400 {
            cluster.round();
            cluster.check_all().map_err(TestCaseError::fail)?;
            match proposed {
                None => {
                    let leaders = cluster.leaders();
                    if leaders.len() == 1 {
                        proposed = cluster.propose(leaders[0]);
                    }
                }
                Some(command) => {
                    let everywhere = cluster
                        .ids
                        .iter()
                        .all(|id| cluster.nodes[id].applied.iter().any(|entry| entry.command == command));
                    if everywhere {
                        return Ok(());
                    }
                }
            }
        }
        Err(TestCaseError::fail(format!(
            "liveness: no proposal committed on all nodes after healing (proposed: {proposed:?}, leaders: {:?})",
            cluster.leaders()
        )))
    }

    /// 1000 cases per cluster size in release builds, 200 in debug builds (about 12x slower);
    /// `PROPTEST_CASES` overrides both.
    fn simulation_cases() -> u32 {
        let default_cases = if cfg!(debug_assertions) { 200 } else { 1000 };
        std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default_cases)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: simulation_cases(), ..ProptestConfig::default() })]

        #[test]
        fn simulation_three_nodes(
            seed in any::<u64>(),
            max_entries_per_append in 1usize..=3,
            actions in proptest::collection::vec(action_strategy(), 0..3000),
        ) {
            run_simulation(3, seed, max_entries_per_append, &actions)?;
        }

        #[test]
        fn simulation_five_nodes(
            seed in any::<u64>(),
            max_entries_per_append in 1usize..=3,
            actions in proptest::collection::vec(action_strategy(), 0..3000),
        ) {
            run_simulation(5, seed, max_entries_per_append, &actions)?;
        }
    }
}
