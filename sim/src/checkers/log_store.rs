//! The security log store's promises (C12), judged from what its sources were told and from
//! the replicas' disk images as the run ends:
//! - every event acknowledged to its source (a quorum stored it) and younger than the
//!   retention is on some replica, as its source shipped it;
//! - nothing younger than the retention was purged (every replica's oldest entry younger than
//!   an acknowledged event that is gone means a purge went past it), and nothing older than the
//!   retention and its purge bound is left;
//! - every replica's image verifies (hashes, links, signed checkpoints);
//! - no attempt to alter, delete or truncate was carried out for anyone but the custodian, and
//!   every refused attempt younger than the retention is itself an entry.

use std::collections::BTreeMap;

use broker::log_store::chain::{ChainError, Entry};
use broker::log_store::{Event, EventId};

const DAY_MS: f64 = 86_400_000.0;

/// A replica's image as the run ends.
pub struct ReplicaImage {
    pub name: String,
    pub entries: Vec<Entry>,
    /// Its verification (hashes, links, checkpoints).
    pub verified: Result<(), ChainError>,
}

/// An event the store acknowledged to the harness's source.
#[derive(Debug, Clone)]
pub struct Acked {
    pub event: Event,
    /// Simulated ms from t = 0.
    pub acked_ms: u64,
}

/// A tampering attempt and its answer (`None`: no replica answered).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at_ms: u64,
    pub replica: String,
    /// `PUT /v1/entries/3?attempt=tamper-000007`, ...
    pub request: String,
    /// Unique to the attempt: what its refusal entry must name.
    pub marker: String,
    pub status: Option<u16>,
}

/// The times the judgement needs, in wall-clock ms (what entries carry).
pub struct Clock {
    /// Wall-clock ms at simulated t = 0 (to date findings in the run's time).
    pub zero_wall_ms: u64,
    pub end_wall_ms: u64,
    pub retention_ms: u64,
    pub purge_bound_ms: u64,
}

#[derive(Debug, Default)]
pub struct LogFindings {
    pub lost: Vec<(u64, String)>,
    pub purged_early: Vec<(u64, String)>,
    pub overdue: Vec<(u64, String)>,
    pub altered: Vec<(u64, String)>,
    pub performed: Vec<(u64, String)>,
    pub unlogged: Vec<(u64, String)>,
    pub checked: u64,
    pub attempts: u64,
    pub purges: u64,
}

fn days(ms: u64) -> String {
    format!("{:.2} days", ms as f64 / DAY_MS)
}

pub fn judge(replicas: &[ReplicaImage], acked: &[Acked], attempts: &[Attempt], clock: &Clock) -> LogFindings {
    let mut findings = LogFindings::default();
    let run_ms = |wall: u64| wall.saturating_sub(clock.zero_wall_ms);
    let end_ms = run_ms(clock.end_wall_ms);
    let mut held: BTreeMap<EventId, Vec<(&str, &Entry)>> = BTreeMap::new();
    for replica in replicas {
        for entry in &replica.entries {
            held.entry(entry.event.id()).or_default().push((&replica.name, entry));
        }
        if let Err(error) = &replica.verified {
            findings.altered.push((end_ms, format!("{}'s image does not verify: {error}", replica.name)));
        }
    }
    let oldest: Vec<Option<u64>> = replicas.iter().map(|r| r.entries.iter().map(|e| e.event.at_ms).min()).collect();
    for Acked { event, acked_ms } in acked {
        let age = clock.end_wall_ms.saturating_sub(event.at_ms);
        let name = format!("{}#{}", event.source, event.seq);
        match held.get(&event.id()) {
            Some(copies) => {
                findings.checked += 1;
                for (replica, entry) in copies {
                    if entry.event != *event {
                        findings.altered.push((
                            end_ms,
                            format!(
                                "{replica}: entry {} ({name}) reads {:?} where its source shipped {:?}",
                                entry.position, entry.event.detail, event.detail
                            ),
                        ));
                    }
                }
            }
            None if age < clock.retention_ms => {
                findings.checked += 1;
                let purged_past = oldest.iter().all(|o| o.is_none_or(|o| o > event.at_ms));
                let what = format!(
                    "{name}, acknowledged at {:.1} s and {} old at the end (retention {}), is on no replica",
                    *acked_ms as f64 / 1000.0,
                    days(age),
                    days(clock.retention_ms)
                );
                if purged_past {
                    findings.purged_early.push((*acked_ms, format!("{what}: a purge went past it")));
                } else {
                    findings.lost.push((*acked_ms, what));
                }
            }
            None => {}
        }
    }
    for replica in replicas {
        let overdue: Vec<&Entry> = replica
            .entries
            .iter()
            .filter(|e| e.event.at_ms + clock.retention_ms + clock.purge_bound_ms < clock.end_wall_ms)
            .collect();
        if let Some(first) = overdue.first() {
            findings.overdue.push((
                end_ms,
                format!(
                    "{}: {} entries past retention and purge bound; entry {} is {} old (retention {}, bound {})",
                    replica.name,
                    overdue.len(),
                    first.position,
                    days(clock.end_wall_ms - first.event.at_ms),
                    days(clock.retention_ms),
                    days(clock.purge_bound_ms)
                ),
            ));
        }
        findings.purges = findings.purges.max(
            replica.entries.iter().filter(|e| e.event.category == "log-store" && e.event.action == "purged").count()
                as u64,
        );
    }
    let refusals: Vec<&Entry> = replicas
        .iter()
        .flat_map(|r| &r.entries)
        .filter(|e| e.event.category == "log-store" && e.event.outcome == "refused")
        .collect();
    for attempt in attempts {
        let Some(status) = attempt.status else { continue };
        findings.attempts += 1;
        // A refusal older than the retention is rightly gone.
        let expired = clock.zero_wall_ms + attempt.at_ms + clock.retention_ms < clock.end_wall_ms;
        if (200..300).contains(&status) {
            findings.performed.push((
                attempt.at_ms,
                format!("{} carried out {} for a non-custodian (answered {status})", attempt.replica, attempt.request),
            ));
        } else if !expired && !refusals.iter().any(|e| e.event.detail.contains(&attempt.marker)) {
            findings.unlogged.push((
                attempt.at_ms,
                format!("{} refused {} ({status}) but no replica's log records it", attempt.replica, attempt.request),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn event(seq: u64, at_ms: u64, detail: &str) -> Event {
        Event {
            source: "ops-source@0".into(),
            seq,
            at_ms,
            category: "workload".into(),
            action: "heartbeat".into(),
            actor: "ops-source".into(),
            outcome: "success".into(),
            network: String::new(),
            detail: detail.into(),
        }
    }

    fn entry(position: u64, event: Event) -> Entry {
        Entry { position, stored_ms: event.at_ms, event, prev: String::new(), hash: String::new() }
    }

    fn clock(end_days: u64) -> Clock {
        Clock { zero_wall_ms: 0, end_wall_ms: end_days * DAY, retention_ms: 366 * DAY, purge_bound_ms: 2 * DAY }
    }

    #[test]
    fn a_gone_young_event_is_lost_or_purged_early_by_where_the_replicas_start() {
        let acked: Vec<Acked> = (0..4)
            .map(|i| Acked { event: event(i, (10 + i * 20) * DAY, "x"), acked_ms: (10 + i * 20) * DAY })
            .collect();
        // Event 0 (390 days old at day 400) expired; 1 (370) too; 2 (350 days) and 3 (330) not.
        let replicas = vec![ReplicaImage {
            name: "log-store-1".into(),
            entries: vec![entry(7, event(3, 70 * DAY, "x"))],
            verified: Ok(()),
        }];
        let findings = judge(&replicas, &acked, &[], &clock(400));
        assert!(findings.lost.is_empty(), "{:?}", findings.lost);
        assert_eq!(findings.purged_early.len(), 1, "{:?}", findings.purged_early);
        assert!(findings.purged_early[0].1.contains("ops-source@0#2"));
        // The same gap with an older entry kept: a hole, not a purge.
        let replicas = vec![ReplicaImage {
            name: "log-store-1".into(),
            entries: vec![entry(1, event(9, 45 * DAY, "y")), entry(7, event(3, 70 * DAY, "x"))],
            verified: Ok(()),
        }];
        let findings = judge(&replicas, &acked, &[], &clock(400));
        assert_eq!((findings.lost.len(), findings.purged_early.len()), (1, 0));
    }

    #[test]
    fn an_altered_copy_an_overdue_entry_and_unlogged_or_performed_tampering_are_found() {
        let acked = vec![Acked { event: event(0, 300 * DAY, "x"), acked_ms: 0 }];
        let replicas = vec![ReplicaImage {
            name: "log-store-2".into(),
            entries: vec![entry(0, event(5, DAY, "old")), entry(1, event(0, 300 * DAY, "nothing happened"))],
            verified: Ok(()),
        }];
        let attempts = vec![
            Attempt {
                at_ms: 300 * DAY,
                replica: "log-store-2".into(),
                request: "PUT /v1/entries/1".into(),
                marker: "tamper-000001".into(),
                status: Some(200),
            },
            Attempt {
                at_ms: 300 * DAY,
                replica: "log-store-2".into(),
                request: "POST /v1/truncate".into(),
                marker: "tamper-000002".into(),
                status: Some(403),
            },
            Attempt {
                at_ms: 300 * DAY,
                replica: "log-store-2".into(),
                request: "POST /v1/truncate".into(),
                marker: "tamper-000003".into(),
                status: None,
            },
        ];
        let findings = judge(&replicas, &acked, &attempts, &clock(400));
        assert_eq!(findings.altered.len(), 1);
        assert_eq!(findings.overdue.len(), 1);
        assert_eq!((findings.performed.len(), findings.unlogged.len(), findings.attempts), (1, 1, 2));
    }
}
