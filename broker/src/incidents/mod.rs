//! Incidents and breach notification (C23): the desk (`desk`) opens an incident for an alert
//! (or adds the alert to the open incident about the same actor or network), pages the on-call
//! rota and escalates, records the explicit, timestamped confirmation of unauthorized access,
//! and delivers a written notice to the customer's security contact right after it, retrying
//! until it is taken; the contact acknowledges it. Everything is timestamped by the desk's clock.

pub mod calendar;
pub mod desk;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::detection::Alert;

/// The promise: a confirmed unauthorized access is notified in writing within this.
pub const NOTICE_DEADLINE: Duration = Duration::from_secs(72 * 3600);
/// An unacknowledged page goes to the next person on the rota after this.
pub const ESCALATE_AFTER: Duration = Duration::from_secs(15 * 60);
/// How often the desk pages, escalates and delivers notices.
pub const DESK_TICK: Duration = Duration::from_secs(10);
/// A failed notice delivery is retried after 10 s, doubling, at most this apart.
pub const NOTICE_RETRY_MAX: Duration = Duration::from_secs(300);
pub const DESK_PORT: u16 = 443;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Open,
    Acknowledged,
    Confirmed,
    Closed,
}

/// Who did a step, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub by: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub to: String,
    pub at_ms: u64,
    /// False when the pager did not take it (or there is none): the page shows on the desk only.
    pub delivered: bool,
}

/// The explicit step that starts the 72 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub by: String,
    pub at_ms: u64,
    /// The affected clusters and data, as the responder established them.
    pub clusters: Vec<String>,
    pub data: String,
    pub summary: String,
}

/// The written notice, as delivered to the customer's security contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub id: String,
    pub incident: String,
    pub to: String,
    pub clusters: Vec<String>,
    pub data: String,
    pub summary: String,
    pub confirmed_ms: u64,
    /// The confirmation time in the desk's time zone, as the reader reads it.
    pub confirmed_local: String,
    pub sent_ms: u64,
}

/// A notice's delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub notice: Notice,
    /// When it may first go out (the confirmation, unless a planted bug holds it).
    pub due_ms: u64,
    pub attempts: u32,
    pub next_attempt_ms: u64,
    pub last_error: Option<String>,
    pub delivered_ms: Option<u64>,
    pub acknowledged: Option<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub opened_ms: u64,
    pub status: Status,
    pub alerts: Vec<Alert>,
    pub pages: Vec<Page>,
    pub acknowledged: Option<Step>,
    pub confirmation: Option<Confirmation>,
    pub delivery: Option<Delivery>,
    pub closed: Option<Closing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    pub by: String,
    pub at_ms: u64,
    pub reason: String,
}

impl Incident {
    /// Whether `alert` is about this incident's actor or network (and it is still open).
    fn concerns(&self, alert: &Alert) -> bool {
        self.status != Status::Closed
            && self
                .alerts
                .iter()
                .any(|a| a.actor == alert.actor || (!a.network.is_empty() && a.network == alert.network))
    }
}
