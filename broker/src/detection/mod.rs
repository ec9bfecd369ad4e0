//! Detection (C23): rules over the security log store's entries that raise alerts, and the
//! pipeline that reads the store and hands its alerts to the incident desk. The pipeline is a
//! service of its own: when it is slow, partitioned or down, events wait in the store and are
//! read when it is back (alerts late, none lost).

pub mod pipeline;
pub mod rules;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the pipeline reads the store.
pub const POLL_INTERVAL: Duration = Duration::from_secs(60);
/// Authentication failures from one network within `BURST_WINDOW` that make a burst.
pub const AUTH_FAILURE_BURST: usize = 10;
pub const BURST_WINDOW: Duration = Duration::from_secs(60);
/// Distinct topics one principal was refused within `SCAN_WINDOW` that make a scan.
pub const SCAN_TOPICS: usize = 5;
pub const SCAN_WINDOW: Duration = Duration::from_secs(300);

/// What a rule saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Many authentication failures from one network.
    AuthFailureBurst,
    /// A key signed in from a network it never came from.
    NewNetwork,
    /// A deleted key was presented.
    RevokedKey,
    /// A principal was refused many topics it may not read.
    TopicScan,
    /// The operators' (bastions') key was presented somewhere other than a bastion.
    OutsideBastion,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::AuthFailureBurst => "auth-failure-burst",
            Rule::NewNetwork => "new-network",
            Rule::RevokedKey => "revoked-key",
            Rule::TopicScan => "topic-scan",
            Rule::OutsideBastion => "outside-bastion",
        }
    }
}

/// An alert: what a rule saw, about whom and from where, and the events' times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Names it across pipeline restarts (a re-read raises the same id; the desk keeps one).
    pub id: String,
    pub rule: Rule,
    /// The principal or key involved.
    pub actor: String,
    /// Where it came from (an address), if known.
    pub network: String,
    /// When the first event it rests on happened, and the one that tripped the rule.
    pub first_ms: u64,
    pub tripped_ms: u64,
    pub events: u64,
    pub detail: String,
}
