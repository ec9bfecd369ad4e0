//! What a scenario expects of a run: a name the harness can measure, a comparison and a bound.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything the harness can observe. Adding one means adding it here, where the compiler then
/// asks for its measurement (`runner::observed`) and whether it is a liveness figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ExpectationName {
    LostAckedWrites,
    Duplicates,
    InconsistentOffsets,
    Reorders,
    PollSkips,
    NonmonotonicPolls,
    CommittedOffsetRegressions,
    UnseenAckedWrites,
    PhantomWrites,
    ProduceAvailabilityBefore,
    ProduceAvailabilityDuring,
    ProduceAvailabilityAfter,
    PollAvailabilityDuring,
    /// The longest time a partition accepted no acknowledged write while producers tried (s).
    MaxProduceGapS,
    /// The longest time a consumer polled without success (s).
    MaxPollGapS,
    ProduceUptimeBefore,
    ProduceUptimeDuring,
    ProduceUptimeAfter,
    PollUptimeDuring,
    Converged,
    AckedWrites,
    AckedWritesDuring,
    /// Records consumers polled (re-reads counted): consumers did work.
    PolledRecords,
    PlaintextLeaks,
    DivergentReplicas,
    HighWatermarkRegressions,
    /// Connections the control plane opened to a broker (C14).
    ControlPlaneDials,
    /// Successes of an ACL-limited client that its ACLs deny (C17).
    UnauthorizedSuccesses,
    /// Denials of an ACL-limited client that its ACLs allow, while its key and cluster live
    /// (C17's other side: an authorizer that denies everything is no authorizer).
    AuthorizedDenials,
    /// Attempts of ACL-limited clients that were answered (allowed or denied): work done.
    AuthorizationAnswers,
    /// Successful uses of a deleted key past the revocation bound (C15).
    RevocationViolations,
    /// Key deletions observed past the bound: work done.
    RevocationsChecked,
    /// The longest time from a deletion's acknowledgement to the key's last success (s).
    RevocationPropagationS,
    /// Audit events missing, duplicated, reordered or altered in the audit topic, and changes
    /// without exactly one event (C18).
    AuditViolations,
    /// Audit topic events checked: work done.
    AuditEventsChecked,
    /// Backup files holding customer record data (the run's canary) (C21).
    BackupCanaries,
    /// Backup files scanned: work done.
    BackupsScanned,
    /// What a restore after the control plane's zone was lost did not bring back (C21).
    RestoreLosses,
    /// Restores checked (control-plane zone losses): work done.
    RestoresChecked,
    /// API-key secrets found on a disk, in a later control-plane response or in a log line (C15).
    SecretExposures,
    /// Files, responses and log lines searched for secrets: work done.
    SecretScans,
    /// Ports other than 9092 (brokers) and 443 (control plane) that accepted a connection (C01).
    UnexpectedListeners,
    /// Ports tried by the listener probe: work done (the probe runs only when a scenario
    /// names one of these two).
    ListenerProbes,
    /// Requests answered before SASL authentication, and sessions a made-up API key got (C15).
    UnauthenticatedAnswers,
    /// Probes of the authentication check that reached a broker: work done (the probe runs only
    /// when a scenario names one of these two).
    UnauthenticatedProbes,
    /// Answers to one tenant that show something of another, or differ (in content or time)
    /// between a name of another tenant and a name that exists nowhere (C28).
    TenantLeaks,
    /// Tenant probers' questions answered: work done.
    TenantProbes,
    /// Brokers that accepted more of a greedy tenant's bytes in a window than their share of
    /// its stream limit allows (C03).
    QuotaViolations,
    /// Greedy clients' connections that closed under them (quotas delay; they do not drop).
    QuotaDisconnects,
    /// Answers to greedy clients that carried a throttle time: work done.
    ThrottledResponses,
    /// Cluster and schema-registry requests answered otherwise than the paper's matrix says
    /// (C03, C04).
    ProvisioningViolations,
    /// Provisioning requests answered and judged: work done.
    ProvisioningAnswers,
    /// Sign-ins and session calls answered otherwise than C16 allows.
    SignInViolations,
    /// Sign-in attempts answered and judged: work done.
    SignInAnswers,
    /// DNS answers that gave a client another network's addresses (C06).
    DnsViolations,
    /// DNS answers from a server, judged: work done.
    DnsAnswers,
    /// Expired answers a client used because no DNS server answered (RFC 8767).
    DnsStaleAnswers,
    /// Answers that differed from the client's previous one for the name: a DNS change arrived.
    DnsChangedAnswers,
    /// Connects the fabric had no route for (they hang): a route fault was felt.
    UnroutableConnects,
    /// Connections the fabric carried from the service side into a PrivateLink VPC, or from a
    /// PrivateLink client without the DNS override to the service (C05, C06).
    PrivatelinkReverseConnects,
    /// Probing dials judged for the above: work done.
    PrivatelinkProbes,
    /// TLS handshakes an internet host completed with a broker of a cluster without public
    /// networking (C05: the brokers refuse such sources before TLS).
    EndpointAdmissions,
    /// The internet host's attempts: work done.
    EndpointProbes,
    /// Record canaries on a disk of another region, topics of a cluster in another region's
    /// metadata, connections between regions (C07).
    RegionViolations,
    /// Canaries found on a disk of their own region: the disk search sees record data.
    RegionCanariesAtHome,
    /// The customer's requests for a cluster in its region answered 503 (the region down).
    RegionUnavailableAnswers,
    /// That cluster placed and written to.
    RegionPlacements,
    /// Record data written in clear to any service disk (seen as it was written), or a key's
    /// material on one as the run ends (C08).
    AtRestViolations,
    /// Sealed frames written to disks: the encryption was exercised.
    FramesSealed,
    /// Two different frames sealed under one segment key with one counter (C08).
    NonceReuses,
    /// Master keys that seal a logical cluster's data and the service's own, or two clusters'
    /// data that their customer did not give one key (C08: every tenant's data under its own
    /// master key). Not tested on disks without a tenant's segment.
    SharedMasterKeys,
    /// Segments on broker disks at the end whose root key the key service no longer unwraps
    /// (C09: a rotation leaves everything written before readable).
    UnreadableSegments,
    /// Segments started well after a rotation under an older version of the key (C09).
    StaleKeyVersions,
    /// Rotations of the cluster's master key carried out: work done.
    KeyRotations,
    /// Records served (polled, or acknowledged) past the bound after the key was revoked or
    /// the key service went down (C09: fail closed).
    ServedPastKeyBound,
    /// Client requests refused with a storage error while the key was unusable: the service
    /// said no, as it must (work done).
    KeyRefusals,
    /// Requests of a deleted cluster's own clients that succeeded past the bound after the
    /// deletion was acknowledged (C13: unavailable at once).
    ServedAfterClusterDelete,
    /// Files of deleted clusters left on any service disk as the run ends (C13: gone within 7
    /// days; a run checks the stronger "gone by the end").
    DeletedClusterFiles,
    /// Key files of deleted clusters whose data key the key service would still unwrap at the
    /// end (C13: crypto-shredding; nothing decryptable with what the service holds).
    DeletedClusterDecryptable,
    /// The protected field's canary in clear anywhere the service holds data: in its segments
    /// opened with its own keys, or any other file of its disks and backups (C26).
    ProtectedFieldsInClear,
    /// Protected fields consumers opened intact with the customer's key (work done).
    ProtectedFieldsOpened,
    /// Protected fields that did not open, or opened to something else (C26: intact).
    ProtectedFieldsBroken,
    /// Segments of topics with a retention removed later than, or still on a disk past, their
    /// deadline: `retention.ms`, a tenth more, and one retention pass after their last write
    /// (C13: per-topic maximum retention).
    OverdueSegments,
    /// Segments retention deleted (work done).
    RetentionDeletions,
    /// Acknowledged records of a topic with a retention that a leader's log start had passed
    /// less than `retention.ms` after they were sent (C13's other side: readable until then).
    EarlyDeletions,
    /// Acknowledged records of a topic with a retention that its client saw retention take
    /// (work done).
    RecordsExpired,
    /// Events the log store acknowledged to their source (a quorum stored them) that no
    /// replica holds at the end, though younger than the store's retention (C12).
    LogEntriesLost,
    /// Acknowledged events younger than the retention gone from every replica because a purge
    /// went past them: every replica's oldest entry is younger (C12: never before 12 months).
    LogEntriesPurgedEarly,
    /// Entries still on a replica past the retention and its purge bound (C12: purged after
    /// 12 months).
    LogEntriesOverdue,
    /// Entries that differ from what their source shipped, and replica images that fail the
    /// chain's verification (C12: immutable).
    LogEntriesAltered,
    /// Attempts to alter, delete or truncate the log that a replica carried out for someone
    /// other than the custodian (C12).
    LogTamperingPerformed,
    /// Refused tampering attempts that no replica's log records (C12: itself logged).
    LogTamperingUnlogged,
    /// Acknowledged events judged (work done).
    LogEntriesChecked,
    /// Tampering attempts made (work done).
    LogTamperAttempts,
    /// Purges the replicas recorded in their logs (work done).
    LogPurges,
    /// Bastion sessions opened without a valid password and fresh code or after the role
    /// ended, actions outside the role or past the revocation bound (30 s) after it ended, and
    /// the bastions' key admitted from outside a bastion (C10).
    OperatorAccessViolations,
    /// Operators whose refused attempts outnumber their refusals in the security log (C10).
    OperatorRefusalsUnlogged,
    /// Operator attempts answered (work done).
    OperatorAttempts,
    /// The latest success after a role ended, in seconds after the end (C10: prompt revocation).
    OperatorRevocationS,
    /// Confirmed breaches whose written notice reached the customer's inbox more than 72 hours
    /// after the confirmation, or not at all with the 72 hours over, or misstating the
    /// incident, the clusters or the confirmation time (C23).
    BreachNoticesLate,
    /// Injected breaches (an attacker that got access) that no alert named by the run's end (C23).
    BreachesUndetected,
    /// Confirmed breaches whose notice was judged (work done).
    BreachNoticesChecked,
    /// Breaches injected that got access (work done).
    BreachesInjected,
}

impl ExpectationName {
    pub const ALL: [ExpectationName; 103] = [
        ExpectationName::LostAckedWrites,
        ExpectationName::Duplicates,
        ExpectationName::InconsistentOffsets,
        ExpectationName::Reorders,
        ExpectationName::PollSkips,
        ExpectationName::NonmonotonicPolls,
        ExpectationName::CommittedOffsetRegressions,
        ExpectationName::UnseenAckedWrites,
        ExpectationName::PhantomWrites,
        ExpectationName::ProduceAvailabilityBefore,
        ExpectationName::ProduceAvailabilityDuring,
        ExpectationName::ProduceAvailabilityAfter,
        ExpectationName::PollAvailabilityDuring,
        ExpectationName::MaxProduceGapS,
        ExpectationName::MaxPollGapS,
        ExpectationName::ProduceUptimeBefore,
        ExpectationName::ProduceUptimeDuring,
        ExpectationName::ProduceUptimeAfter,
        ExpectationName::PollUptimeDuring,
        ExpectationName::Converged,
        ExpectationName::AckedWrites,
        ExpectationName::AckedWritesDuring,
        ExpectationName::PolledRecords,
        ExpectationName::PlaintextLeaks,
        ExpectationName::DivergentReplicas,
        ExpectationName::HighWatermarkRegressions,
        ExpectationName::ControlPlaneDials,
        ExpectationName::UnauthorizedSuccesses,
        ExpectationName::AuthorizedDenials,
        ExpectationName::AuthorizationAnswers,
        ExpectationName::RevocationViolations,
        ExpectationName::RevocationsChecked,
        ExpectationName::RevocationPropagationS,
        ExpectationName::AuditViolations,
        ExpectationName::AuditEventsChecked,
        ExpectationName::BackupCanaries,
        ExpectationName::BackupsScanned,
        ExpectationName::RestoreLosses,
        ExpectationName::RestoresChecked,
        ExpectationName::SecretExposures,
        ExpectationName::SecretScans,
        ExpectationName::UnexpectedListeners,
        ExpectationName::ListenerProbes,
        ExpectationName::UnauthenticatedAnswers,
        ExpectationName::UnauthenticatedProbes,
        ExpectationName::TenantLeaks,
        ExpectationName::TenantProbes,
        ExpectationName::QuotaViolations,
        ExpectationName::QuotaDisconnects,
        ExpectationName::ThrottledResponses,
        ExpectationName::ProvisioningViolations,
        ExpectationName::ProvisioningAnswers,
        ExpectationName::SignInViolations,
        ExpectationName::SignInAnswers,
        ExpectationName::DnsViolations,
        ExpectationName::DnsAnswers,
        ExpectationName::DnsStaleAnswers,
        ExpectationName::DnsChangedAnswers,
        ExpectationName::UnroutableConnects,
        ExpectationName::PrivatelinkReverseConnects,
        ExpectationName::PrivatelinkProbes,
        ExpectationName::EndpointAdmissions,
        ExpectationName::EndpointProbes,
        ExpectationName::RegionViolations,
        ExpectationName::RegionCanariesAtHome,
        ExpectationName::RegionUnavailableAnswers,
        ExpectationName::RegionPlacements,
        ExpectationName::AtRestViolations,
        ExpectationName::FramesSealed,
        ExpectationName::NonceReuses,
        ExpectationName::SharedMasterKeys,
        ExpectationName::UnreadableSegments,
        ExpectationName::StaleKeyVersions,
        ExpectationName::KeyRotations,
        ExpectationName::ServedPastKeyBound,
        ExpectationName::KeyRefusals,
        ExpectationName::ServedAfterClusterDelete,
        ExpectationName::DeletedClusterFiles,
        ExpectationName::DeletedClusterDecryptable,
        ExpectationName::ProtectedFieldsInClear,
        ExpectationName::ProtectedFieldsOpened,
        ExpectationName::ProtectedFieldsBroken,
        ExpectationName::OverdueSegments,
        ExpectationName::RetentionDeletions,
        ExpectationName::EarlyDeletions,
        ExpectationName::RecordsExpired,
        ExpectationName::LogEntriesLost,
        ExpectationName::LogEntriesPurgedEarly,
        ExpectationName::LogEntriesOverdue,
        ExpectationName::LogEntriesAltered,
        ExpectationName::LogTamperingPerformed,
        ExpectationName::LogTamperingUnlogged,
        ExpectationName::LogEntriesChecked,
        ExpectationName::LogTamperAttempts,
        ExpectationName::LogPurges,
        ExpectationName::OperatorAccessViolations,
        ExpectationName::OperatorRefusalsUnlogged,
        ExpectationName::OperatorAttempts,
        ExpectationName::OperatorRevocationS,
        ExpectationName::BreachNoticesLate,
        ExpectationName::BreachesUndetected,
        ExpectationName::BreachNoticesChecked,
        ExpectationName::BreachesInjected,
    ];

    /// The name in scenario files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ExpectationName::LostAckedWrites => "lost_acked_writes",
            ExpectationName::Duplicates => "duplicates",
            ExpectationName::InconsistentOffsets => "inconsistent_offsets",
            ExpectationName::Reorders => "reorders",
            ExpectationName::PollSkips => "poll_skips",
            ExpectationName::NonmonotonicPolls => "nonmonotonic_polls",
            ExpectationName::CommittedOffsetRegressions => "committed_offset_regressions",
            ExpectationName::UnseenAckedWrites => "unseen_acked_writes",
            ExpectationName::PhantomWrites => "phantom_writes",
            ExpectationName::ProduceAvailabilityBefore => "produce_availability.before",
            ExpectationName::ProduceAvailabilityDuring => "produce_availability.during",
            ExpectationName::ProduceAvailabilityAfter => "produce_availability.after",
            ExpectationName::PollAvailabilityDuring => "poll_availability.during",
            ExpectationName::MaxProduceGapS => "max_produce_gap_s",
            ExpectationName::MaxPollGapS => "max_poll_gap_s",
            ExpectationName::ProduceUptimeBefore => "produce_uptime.before",
            ExpectationName::ProduceUptimeDuring => "produce_uptime.during",
            ExpectationName::ProduceUptimeAfter => "produce_uptime.after",
            ExpectationName::PollUptimeDuring => "poll_uptime.during",
            ExpectationName::Converged => "converged",
            ExpectationName::AckedWrites => "acked_writes",
            ExpectationName::AckedWritesDuring => "acked_writes.during",
            ExpectationName::PolledRecords => "polled_records",
            ExpectationName::PlaintextLeaks => "plaintext_leaks",
            ExpectationName::DivergentReplicas => "divergent_replicas",
            ExpectationName::HighWatermarkRegressions => "high_watermark_regressions",
            ExpectationName::ControlPlaneDials => "control_plane_dials",
            ExpectationName::UnauthorizedSuccesses => "unauthorized_successes",
            ExpectationName::AuthorizedDenials => "authorized_denials",
            ExpectationName::AuthorizationAnswers => "authorization_answers",
            ExpectationName::RevocationViolations => "revocation_violations",
            ExpectationName::RevocationsChecked => "revocations_checked",
            ExpectationName::RevocationPropagationS => "revocation_propagation_s",
            ExpectationName::AuditViolations => "audit_violations",
            ExpectationName::AuditEventsChecked => "audit_events_checked",
            ExpectationName::BackupCanaries => "backup_canaries",
            ExpectationName::BackupsScanned => "backups_scanned",
            ExpectationName::RestoreLosses => "restore_losses",
            ExpectationName::RestoresChecked => "restores_checked",
            ExpectationName::SecretExposures => "secret_exposures",
            ExpectationName::SecretScans => "secret_scans",
            ExpectationName::UnexpectedListeners => "unexpected_listeners",
            ExpectationName::ListenerProbes => "listener_probes",
            ExpectationName::UnauthenticatedAnswers => "unauthenticated_answers",
            ExpectationName::UnauthenticatedProbes => "unauthenticated_probes",
            ExpectationName::TenantLeaks => "tenant_leaks",
            ExpectationName::TenantProbes => "tenant_probes",
            ExpectationName::QuotaViolations => "quota_violations",
            ExpectationName::QuotaDisconnects => "quota_disconnects",
            ExpectationName::ThrottledResponses => "throttled_responses",
            ExpectationName::ProvisioningViolations => "provisioning_violations",
            ExpectationName::ProvisioningAnswers => "provisioning_answers",
            ExpectationName::SignInViolations => "sign_in_violations",
            ExpectationName::SignInAnswers => "sign_in_answers",
            ExpectationName::DnsViolations => "dns_violations",
            ExpectationName::DnsAnswers => "dns_answers",
            ExpectationName::DnsStaleAnswers => "dns_stale_answers",
            ExpectationName::DnsChangedAnswers => "dns_changed_answers",
            ExpectationName::UnroutableConnects => "unroutable_connects",
            ExpectationName::PrivatelinkReverseConnects => "privatelink_reverse_connects",
            ExpectationName::PrivatelinkProbes => "privatelink_probes",
            ExpectationName::EndpointAdmissions => "endpoint_admissions",
            ExpectationName::EndpointProbes => "endpoint_probes",
            ExpectationName::RegionViolations => "region_violations",
            ExpectationName::RegionCanariesAtHome => "region_canaries_at_home",
            ExpectationName::RegionUnavailableAnswers => "region_unavailable_answers",
            ExpectationName::RegionPlacements => "region_placements",
            ExpectationName::AtRestViolations => "at_rest_violations",
            ExpectationName::FramesSealed => "frames_sealed",
            ExpectationName::NonceReuses => "nonce_reuses",
            ExpectationName::SharedMasterKeys => "shared_master_keys",
            ExpectationName::UnreadableSegments => "unreadable_segments",
            ExpectationName::StaleKeyVersions => "stale_key_versions",
            ExpectationName::KeyRotations => "key_rotations",
            ExpectationName::ServedPastKeyBound => "served_past_key_bound",
            ExpectationName::KeyRefusals => "key_refusals",
            ExpectationName::ServedAfterClusterDelete => "served_after_cluster_delete",
            ExpectationName::DeletedClusterFiles => "deleted_cluster_files",
            ExpectationName::DeletedClusterDecryptable => "deleted_cluster_decryptable",
            ExpectationName::ProtectedFieldsInClear => "protected_fields_in_clear",
            ExpectationName::ProtectedFieldsOpened => "protected_fields_opened",
            ExpectationName::ProtectedFieldsBroken => "protected_fields_broken",
            ExpectationName::OverdueSegments => "overdue_segments",
            ExpectationName::RetentionDeletions => "retention_deletions",
            ExpectationName::EarlyDeletions => "early_deletions",
            ExpectationName::RecordsExpired => "records_expired",
            ExpectationName::LogEntriesLost => "log_entries_lost",
            ExpectationName::LogEntriesPurgedEarly => "log_entries_purged_early",
            ExpectationName::LogEntriesOverdue => "log_entries_overdue",
            ExpectationName::LogEntriesAltered => "log_entries_altered",
            ExpectationName::LogTamperingPerformed => "log_tampering_performed",
            ExpectationName::LogTamperingUnlogged => "log_tampering_unlogged",
            ExpectationName::LogEntriesChecked => "log_entries_checked",
            ExpectationName::LogTamperAttempts => "log_tamper_attempts",
            ExpectationName::LogPurges => "log_purges",
            ExpectationName::OperatorAccessViolations => "operator_access_violations",
            ExpectationName::OperatorRefusalsUnlogged => "operator_refusals_unlogged",
            ExpectationName::OperatorAttempts => "operator_attempts",
            ExpectationName::OperatorRevocationS => "operator_revocation_s",
            ExpectationName::BreachNoticesLate => "breach_notices_late",
            ExpectationName::BreachesUndetected => "breaches_undetected",
            ExpectationName::BreachNoticesChecked => "breach_notices_checked",
            ExpectationName::BreachesInjected => "breaches_injected",
        }
    }

    /// Liveness and availability figures (and work done): a planted safety bug caught only by
    /// one of these was not caught by the check it was planted for.
    pub fn is_liveness(self) -> bool {
        matches!(
            self,
            ExpectationName::ProduceAvailabilityBefore
                | ExpectationName::ProduceAvailabilityDuring
                | ExpectationName::ProduceAvailabilityAfter
                | ExpectationName::PollAvailabilityDuring
                | ExpectationName::MaxProduceGapS
                | ExpectationName::MaxPollGapS
                | ExpectationName::ProduceUptimeBefore
                | ExpectationName::ProduceUptimeDuring
                | ExpectationName::ProduceUptimeAfter
                | ExpectationName::PollUptimeDuring
                | ExpectationName::Converged
                | ExpectationName::AckedWrites
                | ExpectationName::AckedWritesDuring
                | ExpectationName::PolledRecords
                | ExpectationName::AuthorizationAnswers
                | ExpectationName::RevocationsChecked
                | ExpectationName::RevocationPropagationS
                | ExpectationName::AuditEventsChecked
                | ExpectationName::BackupsScanned
                | ExpectationName::RestoresChecked
                | ExpectationName::SecretScans
                | ExpectationName::ListenerProbes
                | ExpectationName::UnauthenticatedProbes
                | ExpectationName::TenantProbes
                | ExpectationName::ThrottledResponses
                | ExpectationName::ProvisioningAnswers
                | ExpectationName::SignInAnswers
                | ExpectationName::DnsAnswers
                | ExpectationName::DnsStaleAnswers
                | ExpectationName::DnsChangedAnswers
                | ExpectationName::UnroutableConnects
                | ExpectationName::PrivatelinkProbes
                | ExpectationName::EndpointProbes
                | ExpectationName::RegionCanariesAtHome
                | ExpectationName::RegionUnavailableAnswers
                | ExpectationName::RegionPlacements
                | ExpectationName::FramesSealed
                | ExpectationName::KeyRotations
                | ExpectationName::KeyRefusals
                | ExpectationName::ProtectedFieldsOpened
                | ExpectationName::RetentionDeletions
                | ExpectationName::RecordsExpired
                | ExpectationName::LogEntriesChecked
                | ExpectationName::LogTamperAttempts
                | ExpectationName::LogPurges
                | ExpectationName::OperatorAttempts
                | ExpectationName::OperatorRevocationS
                | ExpectationName::BreachNoticesChecked
                | ExpectationName::BreachesInjected
        )
    }
}

/// A name that no measurement has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown expectation {0:?}")]
pub struct UnknownExpectation(pub String);

impl std::str::FromStr for ExpectationName {
    type Err = UnknownExpectation;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|e| e.name() == name).ok_or_else(|| UnknownExpectation(name.to_string()))
    }
}

impl TryFrom<String> for ExpectationName {
    type Error = UnknownExpectation;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<ExpectationName> for String {
    fn from(name: ExpectationName) -> String {
        name.name().to_string()
    }
}

impl fmt::Display for ExpectationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Equal,
    AtMost,
    AtLeast,
    Below,
    Above,
}

impl Comparison {
    /// Longest symbols first, so "<=" is not read as "<".
    const SYMBOLS: [(&'static str, Comparison); 5] = [
        ("<=", Comparison::AtMost),
        (">=", Comparison::AtLeast),
        ("=", Comparison::Equal),
        ("<", Comparison::Below),
        (">", Comparison::Above),
    ];

    pub fn symbol(self) -> &'static str {
        Self::SYMBOLS.iter().find(|(_, c)| *c == self).expect("every comparison has a symbol").0
    }

    /// "<= 3", ">= 0.99" or "= 0" as a comparison and its bound.
    pub fn parse(text: &str) -> Option<(Comparison, f64)> {
        let text = text.trim();
        let (symbol, comparison) = Self::SYMBOLS.into_iter().find(|(symbol, _)| text.starts_with(symbol))?;
        Some((comparison, text[symbol.len()..].trim().parse().ok()?))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub name: ExpectationName,
    pub comparison: Comparison,
    pub bound: f64,
}

impl Expectation {
    pub fn holds(&self, observed: f64) -> bool {
        match self.comparison {
            Comparison::Equal => (observed - self.bound).abs() < 1e-9,
            Comparison::AtMost => observed <= self.bound + 1e-9,
            Comparison::AtLeast => observed >= self.bound - 1e-9,
            Comparison::Below => observed < self.bound,
            Comparison::Above => observed > self.bound,
        }
    }

    pub fn expected(&self) -> String {
        format!("{} {}", self.comparison.symbol(), self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_comparisons_parse_longest_symbol_first() {
        for name in ExpectationName::ALL {
            assert_eq!(name.name().parse::<ExpectationName>(), Ok(name));
        }
        assert_eq!(Comparison::parse("<= 3"), Some((Comparison::AtMost, 3.0)));
        assert_eq!(Comparison::parse(">=0.99"), Some((Comparison::AtLeast, 0.99)));
        assert_eq!(Comparison::parse("< 1"), Some((Comparison::Below, 1.0)));
        assert_eq!(Comparison::parse("~ 1"), None);
        let at_least =
            Expectation { name: ExpectationName::AckedWrites, comparison: Comparison::AtLeast, bound: 100.0 };
        assert!(at_least.holds(100.0) && !at_least.holds(99.0));
        assert_eq!(at_least.expected(), ">= 100");
    }
}
