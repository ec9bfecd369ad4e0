//! Audit completeness (C18): the audit topic, read like any consumer reads it, must hold the
//! control plane's audit log exactly: every event once, in order, byte for byte as the control
//! plane recorded it; and every change the harness made through the API must have exactly one
//! event of its kind for its subject.

use std::collections::BTreeMap;

use broker::control_plane::audit::AuditEvent;

/// A change the harness made and the control plane acknowledged: (event kind without the
/// `io.faultline.` prefix, subject).
pub type Mutation = (String, String);

/// Violations (what) and how many topic events were checked. `covered`: how much of the log
/// the topic must hold (what the control plane had recorded before the harness waited for the
/// shipper to catch up; later events may still be on their way).
pub fn audit_violations(
    log: &[AuditEvent],
    covered: usize,
    topic: &[Vec<u8>],
    mutations: &[Mutation],
) -> (Vec<String>, usize) {
    let mut violations = Vec::new();
    let mut previous = 0u64;
    for (offset, bytes) in topic.iter().enumerate() {
        let Ok(event) = serde_json::from_slice::<AuditEvent>(bytes) else {
            violations.push(format!("audit topic offset {offset} is not an audit event"));
            continue;
        };
        if event.sequence != previous + 1 {
            violations.push(format!(
                "audit topic offset {offset} holds event {} after event {previous}: {}",
                event.sequence,
                if event.sequence <= previous { "a duplicate or reordering" } else { "events missing" }
            ));
        }
        previous = previous.max(event.sequence);
        match log.get(event.sequence as usize - 1).filter(|_| event.sequence > 0) {
            Some(recorded) if *recorded == event => {}
            Some(_) => {
                violations.push(format!("audit event {} differs from the control plane's record", event.sequence))
            }
            None => violations.push(format!("audit event {} is not in the control plane's log", event.sequence)),
        }
    }
    if (previous as usize) < covered {
        violations
            .push(format!("the audit topic ends at event {previous} but the control plane had recorded {covered}"));
    }
    let mut recorded: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for event in log {
        let kind = event.kind.strip_prefix("io.faultline.").unwrap_or(&event.kind);
        *recorded.entry((kind, event.subject.as_str())).or_default() += 1;
    }
    let mut made: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (kind, subject) in mutations {
        *made.entry((kind.as_str(), subject.as_str())).or_default() += 1;
    }
    for ((kind, subject), count) in made {
        let events = recorded.get(&(kind, subject)).copied().unwrap_or(0);
        if events != count {
            violations.push(format!("{count} {kind} of {subject} made, {events} audit event(s) recorded"));
        }
    }
    (violations, topic.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker::control_plane::audit::AuditResult;

    fn event(sequence: u64, kind: &str, subject: &str) -> AuditEvent {
        AuditEvent {
            specversion: "1.0".into(),
            id: format!("audit-{sequence}"),
            source: "crn://faultline/control-plane".into(),
            subject: subject.into(),
            kind: format!("io.faultline.{kind}"),
            time: "2022-01-01T00:00:00.000Z".into(),
            principal: "User:u-1".into(),
            result: AuditResult::Success,
            sequence,
        }
    }

    fn bytes(events: &[AuditEvent]) -> Vec<Vec<u8>> {
        events.iter().map(|e| serde_json::to_vec(e).unwrap()).collect()
    }

    #[test]
    fn a_complete_copy_passes_and_gaps_duplicates_alterations_and_unaudited_changes_fail() {
        let log = vec![
            event(1, "iam.service-account.created", "sa-1"),
            event(2, "iam.api-key.created", "K1"),
            event(3, "iam.api-key.deleted", "K1"),
        ];
        let mutations: Vec<Mutation> = vec![
            ("iam.service-account.created".into(), "sa-1".into()),
            ("iam.api-key.created".into(), "K1".into()),
            ("iam.api-key.deleted".into(), "K1".into()),
        ];
        assert_eq!(audit_violations(&log, 3, &bytes(&log), &mutations), (vec![], 3));
        let dropped = bytes(&[log[0].clone(), log[2].clone()]);
        assert_eq!(audit_violations(&log, 3, &dropped, &mutations).0.len(), 1, "a gap");
        let duplicated = bytes(&[log[0].clone(), log[1].clone(), log[1].clone(), log[2].clone()]);
        assert!(!audit_violations(&log, 3, &duplicated, &mutations).0.is_empty());
        let mut altered = log.clone();
        altered[1].principal = "User:someone-else".into();
        assert_eq!(audit_violations(&log, 3, &bytes(&altered), &mutations).0.len(), 1);
        let short = bytes(&log[..2]);
        assert_eq!(audit_violations(&log, 3, &short, &mutations).0.len(), 1, "the topic lags the log");
        let mut unaudited = mutations.clone();
        unaudited.push(("kafka.acl.created".into(), "lkc-1/acl/Topic:orders".into()));
        assert_eq!(audit_violations(&log, 3, &bytes(&log), &unaudited).0.len(), 1);
    }
}
