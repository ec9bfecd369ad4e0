//! Planted bugs: named defects that prove the harness's checkers can fail. They can only be
//! switched on in the simulation build (`--cfg madsim`); a real-mode build has no way to
//! construct a `PlantedBugs` with any of them set.

/// Which defects are active. All false outside the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    /// The controller elects a leader outside the ISR.
    pub unclean_leader_election: bool,
    /// acks=all is answered right after the leader's local append.
    pub ack_before_replication: bool,
    /// A follower ignores the leader's diverging epoch instead of truncating (KIP-101).
    pub skip_truncation: bool,
    /// A follower joins the ISR before it has the high watermark, which then moves back.
    pub high_watermark_regression: bool,
    /// A broker back from a restart (maybe with an empty disk) is taken for its previous life:
    /// no new broker epoch, no fencing, it keeps its leaderships and ISR seats (the behaviour
    /// before KIP-841 broker epochs were added here).
    pub restarted_broker_keeps_leadership: bool,
    /// The controller commits a decision's records one Raft entry at a time, so a broker can
    /// see its new registration before the fencing of its old leaderships.
    pub non_atomic_metadata_batches: bool,
}

impl PlantedBugs {
    pub const NAMES: [&'static str; 6] = ["unclean-leader-election", "ack-before-replication", "skip-truncation", "high-watermark-regression", "restarted-broker-keeps-leadership", "non-atomic-metadata-batches"];

    pub fn none() -> Self {
        Self::default()
    }

    /// Enables the named bugs. Only exists in the simulation build.
    #[cfg(madsim)]
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut bugs = Self::none();
        for name in names {
            match name {
                "unclean-leader-election" => bugs.unclean_leader_election = true,
                "ack-before-replication" => bugs.ack_before_replication = true,
                "skip-truncation" => bugs.skip_truncation = true,
                "high-watermark-regression" => bugs.high_watermark_regression = true,
                "restarted-broker-keeps-leadership" => bugs.restarted_broker_keeps_leadership = true,
                "non-atomic-metadata-batches" => bugs.non_atomic_metadata_batches = true,
                other => return Err(format!("unknown planted bug {other:?}; known: {}", Self::NAMES.join(", "))),
            }
        }
        Ok(bugs)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let flags = [self.unclean_leader_election, self.ack_before_replication, self.skip_truncation, self.high_watermark_regression, self.restarted_broker_keeps_leadership, self.non_atomic_metadata_batches];
        Self::NAMES.iter().zip(flags).filter(|(_, on)| *on).map(|(name, _)| *name).collect()
    }
}
