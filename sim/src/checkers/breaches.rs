//! Breach detection and notification (C23), judged after the run from what the attacker, the
//! customer's inbox and the desk's records say:
//!
//! - **Detection:** an attacker that got access must be named (its network) by an alert of
//!   some incident by the run's end; otherwise it is undetected, reported with its seed.
//! - **Notification deadline:** every confirmed incident's notice must arrive in the customer's
//!   inbox (the harness's clock, not the desk's word) within 72 hours of the confirmation, and
//!   say the incident, the clusters and the confirmation time the desk recorded. A confirmation
//!   whose 72 hours are not over at the end, without a notice, is not judged.

use broker::incidents::calendar::Calendar;
use broker::incidents::{Incident, Notice};

/// The attacker's record.
#[derive(Debug, Clone, Default)]
pub struct Injected {
    /// The leaked key, and where the attacker came from.
    pub key: String,
    pub network: String,
    pub started_ms: u64,
    pub guesses: u64,
    /// Fetches the brokers answered with data access (wall ms of the first).
    pub first_access_ms: Option<u64>,
    pub accesses: u64,
}

/// A notice as it arrived in the customer's inbox (wall ms).
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at_ms: u64,
    pub notice: Notice,
}

/// One confirmed incident's notification, for the report's distribution (its seed is set by
/// the summary).
pub use reports::BreachNotice as NoticeTime;

#[derive(Debug, Default)]
pub struct BreachFindings {
    /// (simulated ms from t = 0, what) per late or misstated notice.
    pub late: Vec<(u64, String)>,
    pub undetected: Vec<(u64, String)>,
    pub checked: u64,
    /// 1 when the attacker got access, else 0.
    pub injected: u64,
    pub notices: Vec<NoticeTime>,
}

const HOUR_MS: f64 = 3_600_000.0;

fn hours(ms: u64) -> f64 {
    ms as f64 / HOUR_MS
}

pub fn judge(
    injected: Option<&Injected>,
    incidents: &[Incident],
    arrivals: &[Arrival],
    zero_wall_ms: u64,
    end_wall_ms: u64,
    deadline_ms: u64,
    calendar: &Calendar,
) -> BreachFindings {
    let mut findings = BreachFindings::default();
    let at = |wall: u64| wall.saturating_sub(zero_wall_ms);
    if let Some(attack) = injected.filter(|i| i.first_access_ms.is_some()) {
        findings.injected = 1;
        let first = attack.first_access_ms.expect("filtered");
        let named = incidents.iter().any(|i| i.alerts.iter().any(|a| a.network == attack.network));
        if !named {
            findings.undetected.push((
                at(first),
                format!(
                    "the attacker at {} read with key {} ({} fetches, the first {}) and no alert named it by the end ({:.1} h later)",
                    attack.network,
                    attack.key,
                    attack.accesses,
                    calendar.describe(first),
                    hours(end_wall_ms - first)
                ),
            ));
        }
    }
    let started = injected.map(|i| i.started_ms);
    for incident in incidents {
        let Some(confirmation) = &incident.confirmation else { continue };
        let confirmed = confirmation.at_ms;
        let arrival = arrivals.iter().filter(|a| a.notice.incident == incident.id).min_by_key(|a| a.at_ms);
        let acknowledged = incident.delivery.as_ref().and_then(|d| d.acknowledged.as_ref()).map(|s| s.at_ms);
        findings.notices.push(NoticeTime {
            seed: 0,
            incident: incident.id.clone(),
            confirmed_local: calendar.describe(confirmed),
            hours: arrival.map(|a| hours(a.at_ms.saturating_sub(confirmed))),
            confirmed_after_h: started.map(|s| hours(confirmed.saturating_sub(s))),
            acknowledged_after_h: arrival.zip(acknowledged).map(|(a, k)| hours(k.saturating_sub(a.at_ms))),
        });
        let due = confirmed + deadline_ms;
        match arrival {
            None if end_wall_ms < due => continue,
            None => findings.late.push((
                at(due),
                format!(
                    "{} confirmed {} ({}): no notice in the customer's inbox {:.1} h later (deadline {:.0} h)",
                    incident.id,
                    calendar.describe(confirmed),
                    confirmation.by,
                    hours(end_wall_ms - confirmed),
                    hours(deadline_ms)
                ),
            )),
            Some(arrival) if arrival.at_ms > due => findings.late.push((
                at(arrival.at_ms),
                format!(
                    "{} confirmed {}: the notice arrived {}, {:.1} h after (deadline {:.0} h)",
                    incident.id,
                    calendar.describe(confirmed),
                    calendar.describe(arrival.at_ms),
                    hours(arrival.at_ms - confirmed),
                    hours(deadline_ms)
                ),
            )),
            Some(arrival)
                if arrival.notice.confirmed_ms != confirmed || arrival.notice.clusters != confirmation.clusters =>
            {
                findings.late.push((
                    at(arrival.at_ms),
                    format!(
                        "{}'s notice misstates the confirmation: says {} and clusters {:?}, the desk recorded {} and {:?}",
                        incident.id,
                        calendar.describe(arrival.notice.confirmed_ms),
                        arrival.notice.clusters,
                        calendar.describe(confirmed),
                        confirmation.clusters
                    ),
                ))
            }
            Some(_) => {}
        }
        findings.checked += 1;
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker::incidents::{Confirmation, Status};

    const H: u64 = 3_600_000;

    fn incident(confirmed_ms: u64) -> Incident {
        Incident {
            id: "INC-0001".into(),
            opened_ms: 0,
            status: Status::Confirmed,
            alerts: vec![],
            pages: vec![],
            acknowledged: None,
            confirmation: Some(Confirmation {
                by: "ana".into(),
                at_ms: confirmed_ms,
                clusters: vec!["lkc-1".into()],
                data: "d".into(),
                summary: String::new(),
            }),
            delivery: None,
            closed: None,
        }
    }

    fn arrival(at_ms: u64, confirmed_ms: u64) -> Arrival {
        let notice = Notice {
            id: "INC-0001-notice".into(),
            incident: "INC-0001".into(),
            to: "c".into(),
            clusters: vec!["lkc-1".into()],
            data: "d".into(),
            summary: String::new(),
            confirmed_ms,
            confirmed_local: String::new(),
            sent_ms: at_ms,
        };
        Arrival { at_ms, notice }
    }

    #[test]
    fn a_notice_is_judged_by_its_arrival_against_the_confirmation() {
        let calendar = Calendar::utc();
        let judge =
            |arrivals: &[Arrival], end: u64| judge(None, &[incident(10 * H)], arrivals, 0, end, 72 * H, &calendar);
        let on_time = judge(&[arrival(11 * H, 10 * H)], 200 * H);
        assert_eq!((on_time.late.len(), on_time.checked, on_time.notices[0].hours), (0, 1, Some(1.0)));
        let late = judge(&[arrival(83 * H, 10 * H)], 200 * H);
        assert!(late.late[0].1.contains("73.0 h after"), "{:?}", late.late);
        let missing = judge(&[], 200 * H);
        assert!(missing.late[0].1.contains("no notice"), "{:?}", missing.late);
        let pending = judge(&[], 50 * H);
        assert_eq!((pending.late.len(), pending.checked), (0, 0), "not judged before its deadline");
        let misstated = judge(&[arrival(11 * H, 9 * H)], 200 * H);
        assert!(misstated.late[0].1.contains("misstates"), "{:?}", misstated.late);
    }

    #[test]
    fn an_attacker_with_access_that_no_alert_names_is_undetected() {
        let attack = Injected {
            key: "k".into(),
            network: "192.0.2.66".into(),
            started_ms: 0,
            guesses: 0,
            first_access_ms: Some(H),
            accesses: 5,
        };
        let findings = judge(Some(&attack), &[], &[], 0, 10 * H, 72 * H, &Calendar::utc());
        assert_eq!((findings.injected, findings.undetected.len()), (1, 1));
        let without_access = Injected { first_access_ms: None, ..attack };
        let findings = judge(Some(&without_access), &[], &[], 0, 10 * H, 72 * H, &Calendar::utc());
        assert_eq!((findings.injected, findings.undetected.len()), (0, 0));
    }
}
