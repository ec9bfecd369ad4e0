//! The central security log store (C12): every component of the service ships its
//! security-relevant events here over TLS. Three replicas, one per zone; each keeps its own
//! append-only, hash-chained copy with signed checkpoints (`chain`), fills its gaps from its
//! peers, purges what is older than `RETENTION` and refuses every attempt to alter, delete or
//! truncate (logging the attempt), except a deletion by the one restricted role, the custodian.
//!
//! Shippers count an event as stored once a quorum of replicas (two of three) made it durable
//! (`shipper`), so a zone loss never takes an acknowledged event with it.

pub mod chain;
pub mod server;
pub mod shipper;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Entries are kept twelve months: 366 days, so that a year with a leap day is covered too.
pub const RETENTION: Duration = Duration::from_secs(366 * 24 * 3600);
/// A segment holds events of at most one day (of event time): a segment is purged whole, so an
/// entry outlives `RETENTION` by at most this plus `MAINTENANCE_INTERVAL`.
pub const SEGMENT_SPAN: Duration = Duration::from_secs(24 * 3600);
/// How often a replica fills its gaps from its peers and purges expired segments (and once as
/// it starts).
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(3600);
/// The longest an expired entry may stay: one segment span and one maintenance pass.
pub const PURGE_BOUND: Duration = Duration::from_secs(SEGMENT_SPAN.as_secs() + MAINTENANCE_INTERVAL.as_secs());
/// Events stamped further in the future than this are refused (a clock that far off, or a lie).
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(300);
/// The replicas an event must reach before its shipper counts it as stored.
pub const QUORUM: usize = 2;
/// Syslog over TLS's port (RFC 5425).
pub const LOG_STORE_PORT: u16 = 6514;

/// One security-relevant event, as its source ships it. Entries store it verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The shipping component and its life: `<principal>@<boot id>`.
    pub source: String,
    /// The source's sequence number, from 0 in each life: `(source, seq)` names the event.
    pub seq: u64,
    /// When it happened, by the source's clock (ms since the epoch).
    pub at_ms: u64,
    /// `authentication`, `authorization`, `log-store`, `operator`, ...
    pub category: String,
    pub action: String,
    /// Who did it (a principal, an API key, an operator).
    pub actor: String,
    /// `success`, `failure` or `refused`.
    pub outcome: String,
    /// Where the actor came from (an address), if known.
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub detail: String,
}

/// What names an event across replicas (copies are recognised by it).
pub type EventId = (String, u64);

impl Event {
    pub fn id(&self) -> EventId {
        (self.source.clone(), self.seq)
    }

    /// Why the store refuses this event, if it does.
    pub fn invalid(&self, now_ms: u64) -> Option<String> {
        let fields = [
            ("source", &self.source, 128),
            ("category", &self.category, 64),
            ("action", &self.action, 128),
            ("actor", &self.actor, 256),
            ("outcome", &self.outcome, 32),
            ("network", &self.network, 128),
            ("detail", &self.detail, 4096),
        ];
        for (name, value, max) in fields {
            if value.len() > max {
                return Some(format!("{name} is {} bytes; at most {max}", value.len()));
            }
            if value.chars().any(char::is_control) {
                return Some(format!("{name} holds control characters"));
            }
        }
        if self.source.is_empty() || self.category.is_empty() || self.action.is_empty() {
            return Some("source, category and action must not be empty".into());
        }
        if !matches!(self.outcome.as_str(), "success" | "failure" | "refused") {
            return Some(format!("outcome {:?} is not success, failure or refused", self.outcome));
        }
        if self.at_ms > now_ms + CLOCK_SKEW_MAX.as_millis() as u64 {
            return Some(format!("at_ms {} is more than {CLOCK_SKEW_MAX:?} in the future", self.at_ms));
        }
        None
    }
}

/// What a principal of the store may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Ships events whose source is itself (`<principal>@...`).
    Source,
    /// Reads entries (detection, auditors).
    Reader,
    /// Another replica: reads, and ships its own events.
    Replica,
    /// The restricted role: reads, and deletes (logged). Nobody alters or truncates.
    Custodian,
}

impl Role {
    pub fn ships(self) -> bool {
        matches!(self, Role::Source | Role::Replica)
    }

    pub fn reads(self) -> bool {
        matches!(self, Role::Reader | Role::Replica | Role::Custodian)
    }
}
