//! Planted bugs: named defects that prove the harness's checkers can fail. The set is private
//! and can only be built in the simulation build (`--cfg madsim`) or the broker's own unit
//! tests; in a real-mode build `PlantedBugs::is_on` is false for every bug, whatever the bytes.

/// One planted defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlantedBug {
    /// The controller elects a leader outside the ISR.
    UncleanLeaderElection,
    /// acks=all is answered right after the leader's local append.
    AckBeforeReplication,
    /// A follower ignores the leader's diverging epoch instead of truncating (KIP-101).
    SkipTruncation,
    /// A follower joins the ISR before it has the high watermark, which then moves back.
    HighWatermarkRegression,
    /// A broker back from a restart (maybe with an empty disk) is taken for its previous life:
    /// no new broker epoch, no fencing, it keeps its leaderships and ISR seats (the behaviour
    /// before KIP-841 broker epochs were added here).
    RestartedBrokerKeepsLeadership,
    /// The controller commits a decision's records one Raft entry at a time, so a broker can
    /// see its new registration before the fencing of its old leaderships.
    NonAtomicMetadataBatches,
    /// Followers fetch over a plaintext listener on port 9093 (Kafka's
    /// `security.inter.broker.protocol=PLAINTEXT`): record data and the inter-broker secret
    /// cross the zones' links in clear.
    PlaintextInterBroker,
    /// Kafka's `unclean.leader.election.enable=true`: when no in-sync (or eligible) replica is
    /// live, an out-of-sync replica is elected, and what only the in-sync replicas held is lost.
    UncleanLeaderElectionEnabled,
    /// A prefixed ACL matches every resource name, as if its prefix were empty.
    PrefixedAclMatchesAny,
    /// A broker trusts its cache of verified API keys before the control plane's current key
    /// list, so a deleted key keeps working on new connections and old ones stay open.
    StaleCredentialCache,
    /// The control plane opens connections to brokers (to "nudge" them after a change)
    /// instead of only ever being dialed by them (C14).
    ControlPlaneDialsBroker,
    /// The audit topic's shipper resumes one event past the last one it wrote, so every round
    /// after the first loses an event (C18).
    AuditEventDropped,
    /// A control plane that finds its storage empty starts a new, empty organization instead
    /// of restoring from its backup (C21).
    RestoreSkipsBackup,
    /// The control plane logs a new API key's secret with its id (C15).
    SecretInLog,
    /// The control plane also listens on port 8080 (a plaintext health endpoint), beside 443 (C01).
    AdminListenerOpen,
    /// A tenant's Metadata listing shows the topics of every tenant on the physical cluster,
    /// under their internal names (C28).
    MetadataListsAllTenants,
    /// A tenant over its quota is told to wait (`throttle_time_ms`) but the broker keeps
    /// reading its connection, so a client that ignores the hint streams past the limit (C03).
    ThrottleWithoutMute,
    /// The control plane forgets "at most one schema registry per environment" (C04).
    SecondSchemaRegistryAllowed,
    /// The control plane accepts an identity provider's assertion again (C16).
    SsoReplayAccepted,
    /// The control plane connects a customer VPC whose routes overlap the network's CIDR or a
    /// range already connected to it (C05).
    CidrOverlapAccepted,
    /// The DNS service gives every client the same answer (public addresses when the cluster
    /// has them), whichever network the query came from (C06).
    DnsIgnoresSourceNetwork,
    /// The control plane programs a route from the cluster network into a PrivateLink
    /// customer's VPC, as if PrivateLink were two-way (C05).
    PrivatelinkAllowsReverse,
    /// Brokers admit every source, whatever the hosted clusters' networking (C05).
    PrivateClusterAcceptsPublic,
    /// The control plane places a cluster (its replicas, its data) on a broker cluster of
    /// another region when no broker cluster of the chosen region is reporting (C07).
    ReplicaPlacedCrossRegion,
    /// The partition log spills each appended batch, in clear, to a staging file beside its
    /// segment (a temporary file someone forgot to encrypt) (C08).
    PlaintextSegment,
    /// A segment recovered after a crash, or cut by a truncation, takes new frames again with
    /// its counter rewound to the frames kept: a nonce is reused under the same key (C08).
    NonceReuse,
    /// The key service's rotation replaces the key's material instead of adding a version:
    /// every root key wrapped before the rotation no longer unwraps (C09).
    RotationDropsOldVersion,
    /// A broker's keyring takes a refusal from the key service (key disabled, grant removed)
    /// for an outage and keeps serving with the roots it holds (C09).
    StaleDataKeyAfterRevoke,
    /// After a rotation the brokers re-wrap old roots at the key service but never rewrite the
    /// key files that hold them: old segments keep depending on the old version (C09).
    RewrapSkipsKeyFiles,
    /// The brokers ignore the tombstones of deleted clusters: the cluster is gone from the
    /// control plane, but its logs, key files and master key stay on the service (C13).
    DeletedClusterStillReadable,
    /// The client's field serializer reads an unset "encrypt" setting as off and writes
    /// protected fields in clear (and reads them back, so the application notices nothing, C26).
    ProtectedFieldInClear,
    /// A recovered segment's age for retention counts from the restart, not from its key
    /// file: every restart gives old records a new lease on the disk (C13).
    RetentionClockRestarts,
    /// A region's brokers are configured with the key service of another region: their keys,
    /// and so their data's protection, live outside the customer's region (C07). Planted in the
    /// simulated deployment (`sim/src/world/sites.rs`), as an operator's misconfiguration.
    KeyServiceCrossRegion,
    /// The log store performs an alteration (`PUT /v1/entries/N`) for any principal, re-hashing
    /// the chain and re-signing its checkpoints so that the replica still verifies (C12).
    LogEntryRewritable,
    /// The log store's retention counts twelve months of thirty days: entries go five or six
    /// days before their twelve months are up (C12).
    RetentionPurgesEarly,
    /// The bastion opens a session once the directory says the operator holds the role, without
    /// checking the password or the second factor (C10).
    BastionSkipsMfa,
    /// The bastion checks an operator's role when a session opens, never after: a session
    /// outlives the operator's offboarding (C10).
    OperatorAccessSurvivesOffboarding,
    /// The incident desk holds a breach notice until the next business hour of its calendar
    /// (a legal review that only happens in office hours): a confirmation on a Friday evening
    /// before a holiday waits out the long weekend and misses the 72 hours (C23).
    LateBreachNotice,
    /// The detection pipeline's new-network rule never fires: a leaked key used from a network
    /// it never came from goes unnoticed (C23).
    DetectionIgnoresNewNetworks,
    /// A write counts as durable as soon as it is in the page cache: the leader counts its log
    /// end towards the high watermark and a follower fetches on before the group commit's
    /// fsync, so acks=all answers before any replica synced. A power loss of the zones that
    /// hold it loses an acknowledged write.
    AckBeforeSync,
    /// A Metadata request before SASL authentication is answered (the brokers and the
    /// cluster's id, no topics), as a listener that allows anonymous metadata would (C15).
    MetadataBeforeSasl,
    /// Log maintenance holds a broker's append path for the first 8 s of every 10 minutes of
    /// the wall clock (a full index rebuild under the partition lock): produce stalls with no
    /// fault anywhere, downtime that an SLA month counting quiet time as up would hide (C03).
    ProduceStallsInMaintenance,
    /// Files are created and renamed over without syncing their directory (what `FileDisk` did):
    /// a power loss can take a new segment, or put back the high watermark, keys or metadata a
    /// rename had replaced, though every byte was synced.
    RenameWithoutDirectorySync,
    /// The bastion compares the role it was asked for, in its Debug form, with the directory's
    /// JSON answer: every legitimate operator is refused (C10's other side).
    BastionRefusesEveryone,
    /// The authorizer's deny pass ignores the binding's permission: an allow for the operation
    /// refuses it as a deny would (C17's other side).
    AclDeniesEverything,
    /// The DNS service looks a moved public endpoint up by position, taking `b<id>`'s id for an
    /// index: after a move a broker's name answers another broker's address (C06's other side).
    DnsAnswersAnotherBroker,
    /// Retention dates a segment by when it was begun, not by when it last took a record: the
    /// newest records of every segment go up to a roll age before their `retention.ms` (C13's
    /// other side).
    RetentionDeletesEarly,
    /// A tenant without a key of its own is sealed under the broker cluster's key ("service
    /// managed" read as "the service's"): every such tenant, and the service's own topics,
    /// share one master key (C08).
    TenantsShareAMasterKey,
    /// Each partition directory caches its current root key, base64 in a JSON file, so that a
    /// broker restarted while the key service is unreachable can open its newest segment: the
    /// key lies on the disk beside the data it protects (C08).
    RootKeyInJson,
}

impl PlantedBug {
    pub const ALL: [PlantedBug; 49] = [
        PlantedBug::UncleanLeaderElection,
        PlantedBug::AckBeforeReplication,
        PlantedBug::SkipTruncation,
        PlantedBug::HighWatermarkRegression,
        PlantedBug::RestartedBrokerKeepsLeadership,
        PlantedBug::NonAtomicMetadataBatches,
        PlantedBug::PlaintextInterBroker,
        PlantedBug::UncleanLeaderElectionEnabled,
        PlantedBug::PrefixedAclMatchesAny,
        PlantedBug::StaleCredentialCache,
        PlantedBug::ControlPlaneDialsBroker,
        PlantedBug::AuditEventDropped,
        PlantedBug::RestoreSkipsBackup,
        PlantedBug::SecretInLog,
        PlantedBug::AdminListenerOpen,
        PlantedBug::MetadataListsAllTenants,
        PlantedBug::ThrottleWithoutMute,
        PlantedBug::SecondSchemaRegistryAllowed,
        PlantedBug::SsoReplayAccepted,
        PlantedBug::CidrOverlapAccepted,
        PlantedBug::DnsIgnoresSourceNetwork,
        PlantedBug::PrivatelinkAllowsReverse,
        PlantedBug::PrivateClusterAcceptsPublic,
        PlantedBug::ReplicaPlacedCrossRegion,
        PlantedBug::PlaintextSegment,
        PlantedBug::NonceReuse,
        PlantedBug::RotationDropsOldVersion,
        PlantedBug::StaleDataKeyAfterRevoke,
        PlantedBug::RewrapSkipsKeyFiles,
        PlantedBug::DeletedClusterStillReadable,
        PlantedBug::ProtectedFieldInClear,
        PlantedBug::RetentionClockRestarts,
        PlantedBug::KeyServiceCrossRegion,
        PlantedBug::LogEntryRewritable,
        PlantedBug::RetentionPurgesEarly,
        PlantedBug::BastionSkipsMfa,
        PlantedBug::OperatorAccessSurvivesOffboarding,
        PlantedBug::LateBreachNotice,
        PlantedBug::DetectionIgnoresNewNetworks,
        PlantedBug::AckBeforeSync,
        PlantedBug::MetadataBeforeSasl,
        PlantedBug::ProduceStallsInMaintenance,
        PlantedBug::RenameWithoutDirectorySync,
        PlantedBug::BastionRefusesEveryone,
        PlantedBug::AclDeniesEverything,
        PlantedBug::DnsAnswersAnotherBroker,
        PlantedBug::RetentionDeletesEarly,
        PlantedBug::TenantsShareAMasterKey,
        PlantedBug::RootKeyInJson,
    ];

    /// The name scenarios, capsules and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::UncleanLeaderElection => "unclean-leader-election",
            PlantedBug::AckBeforeReplication => "ack-before-replication",
            PlantedBug::SkipTruncation => "skip-truncation",
            PlantedBug::HighWatermarkRegression => "high-watermark-regression",
            PlantedBug::RestartedBrokerKeepsLeadership => "restarted-broker-keeps-leadership",
            PlantedBug::NonAtomicMetadataBatches => "non-atomic-metadata-batches",
            PlantedBug::PlaintextInterBroker => "plaintext-inter-broker",
            PlantedBug::UncleanLeaderElectionEnabled => "unclean-leader-election-enabled",
            PlantedBug::PrefixedAclMatchesAny => "prefixed-acl-matches-any",
            PlantedBug::StaleCredentialCache => "stale-credential-cache",
            PlantedBug::ControlPlaneDialsBroker => "control-plane-dials-broker",
            PlantedBug::AuditEventDropped => "audit-event-dropped",
            PlantedBug::RestoreSkipsBackup => "restore-skips-backup",
            PlantedBug::SecretInLog => "secret-in-log",
            PlantedBug::AdminListenerOpen => "admin-listener-open",
            PlantedBug::MetadataListsAllTenants => "metadata-lists-all-tenants",
            PlantedBug::ThrottleWithoutMute => "throttle-without-mute",
            PlantedBug::SecondSchemaRegistryAllowed => "second-schema-registry-allowed",
            PlantedBug::SsoReplayAccepted => "sso-replay-accepted",
            PlantedBug::CidrOverlapAccepted => "cidr-overlap-accepted",
            PlantedBug::DnsIgnoresSourceNetwork => "dns-ignores-source-network",
            PlantedBug::PrivatelinkAllowsReverse => "privatelink-allows-reverse",
            PlantedBug::PrivateClusterAcceptsPublic => "private-cluster-accepts-public",
            PlantedBug::ReplicaPlacedCrossRegion => "replica-placed-cross-region",
            PlantedBug::PlaintextSegment => "plaintext-segment",
            PlantedBug::NonceReuse => "nonce-reuse",
            PlantedBug::RotationDropsOldVersion => "rotation-drops-old-version",
            PlantedBug::StaleDataKeyAfterRevoke => "stale-data-key-after-revoke",
            PlantedBug::RewrapSkipsKeyFiles => "rewrap-skips-key-files",
            PlantedBug::DeletedClusterStillReadable => "deleted-cluster-still-readable",
            PlantedBug::ProtectedFieldInClear => "protected-field-in-clear",
            PlantedBug::RetentionClockRestarts => "retention-clock-restarts",
            PlantedBug::KeyServiceCrossRegion => "key-service-cross-region",
            PlantedBug::LogEntryRewritable => "log-entry-rewritable",
            PlantedBug::RetentionPurgesEarly => "retention-purges-early",
            PlantedBug::BastionSkipsMfa => "bastion-skips-mfa",
            PlantedBug::OperatorAccessSurvivesOffboarding => "operator-access-survives-offboarding",
            PlantedBug::LateBreachNotice => "late-breach-notice",
            PlantedBug::DetectionIgnoresNewNetworks => "detection-ignores-new-networks",
            PlantedBug::AckBeforeSync => "ack-before-sync",
            PlantedBug::MetadataBeforeSasl => "metadata-before-sasl",
            PlantedBug::ProduceStallsInMaintenance => "produce-stalls-in-maintenance",
            PlantedBug::RenameWithoutDirectorySync => "rename-without-directory-sync",
            PlantedBug::BastionRefusesEveryone => "bastion-refuses-everyone",
            PlantedBug::AclDeniesEverything => "acl-denies-everything",
            PlantedBug::DnsAnswersAnotherBroker => "dns-answers-another-broker",
            PlantedBug::RetentionDeletesEarly => "retention-deletes-early",
            PlantedBug::TenantsShareAMasterKey => "tenants-share-a-master-key",
            PlantedBug::RootKeyInJson => "root-key-in-json",
        }
    }

    #[cfg(any(madsim, test))]
    fn from_name(name: &str) -> Result<Self, UnknownPlantedBug> {
        Self::ALL.into_iter().find(|bug| bug.name() == name).ok_or_else(|| UnknownPlantedBug(name.to_string()))
    }

    fn bit(self) -> u64 {
        1 << self as u64
    }
}

/// A name that is not a planted bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown planted bug {0:?}; known: {known}", known = PlantedBug::ALL.map(PlantedBug::name).join(", "))]
pub struct UnknownPlantedBug(pub String);

/// Which defects are active: none, outside the simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantedBugs {
    on: u64,
}

impl PlantedBugs {
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether `bug` is planted. Always false in a real-mode build.
    pub fn is_on(&self, bug: PlantedBug) -> bool {
        cfg!(any(madsim, test)) && self.on & bug.bit() != 0
    }

    /// Plants the named bugs. Only exists in the simulation build and the broker's unit tests.
    #[cfg(any(madsim, test))]
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, UnknownPlantedBug> {
        let mut bugs = Self::none();
        for name in names {
            bugs.on |= PlantedBug::from_name(name)?.bit();
        }
        Ok(bugs)
    }

    /// The planted bugs' names, in `PlantedBug::ALL` order.
    pub fn names(&self) -> Vec<&'static str> {
        PlantedBug::ALL.into_iter().filter(|bug| self.is_on(*bug)).map(PlantedBug::name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for bug in PlantedBug::ALL {
            assert_eq!(PlantedBug::from_name(bug.name()), Ok(bug));
            let bugs = PlantedBugs::from_names([bug.name()]).unwrap();
            assert!(bugs.is_on(bug) && bugs.names() == vec![bug.name()]);
        }
        assert_eq!(PlantedBugs::from_names(["no-such-bug"]), Err(UnknownPlantedBug("no-such-bug".into())));
        assert!(PlantedBug::ALL.iter().all(|bug| !PlantedBugs::none().is_on(*bug)));
    }
}
