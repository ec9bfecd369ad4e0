//! Access checks on the evidence of the control-plane clients (C15, C17): what each key was
//! allowed to do, against the scenario's own ACLs (a model written here, independent of the
//! broker's authorizer), and whether a deleted key stopped working within the bound.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use broker::security::acl::{Operation, PatternType, ResourceType};
use serde::{Deserialize, Serialize};

use crate::scenario::AclSpec;

/// What the cluster answered one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The operation succeeded.
    Allowed,
    /// An authorization error (TOPIC_AUTHORIZATION_FAILED and the like).
    Denied,
    /// SASL refused the key (or the connection was closed for a revoked key).
    AuthenticationFailed,
    /// No answer that says either way (timeouts, leadership errors).
    Unknown(String),
}

/// One attempt by a control-plane client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at_ms: u64,
    pub service_account: String,
    pub operation: Operation,
    pub topic: String,
    pub outcome: Outcome,
}

/// A key deletion the harness asked for, and when the control plane acknowledged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revocation {
    pub service_account: String,
    pub requested_ms: u64,
    pub acknowledged_ms: Option<u64>,
}

/// A cluster deletion the harness asked for, and when the control plane acknowledged it (C13:
/// the deletion revokes every key of the cluster's accounts at once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterDeletion {
    pub tenant: String,
    pub cluster_id: String,
    /// The tenant's service accounts (whose attempts must fail from the deletion on).
    pub service_accounts: Vec<String>,
    pub requested_ms: u64,
    pub acknowledged_ms: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct AccessLog {
    pub attempts: Arc<Mutex<Vec<Attempt>>>,
    pub revocations: Arc<Mutex<Vec<Revocation>>>,
    /// Changes the control plane acknowledged to the harness (for the audit check).
    pub mutations: Arc<Mutex<Vec<crate::checkers::audit::Mutation>>>,
    /// Cluster deletions the harness asked for (C13).
    pub cluster_deletions: Arc<Mutex<Vec<ClusterDeletion>>>,
}

/// Kafka's rule on the scenario's allow-only ACLs: a matching binding for the operation, for
/// All, or (for Describe) for Read, Write, Delete or Alter.
pub fn model_allows(acls: &[AclSpec], operation: Operation, topic: &str) -> bool {
    acls.iter().any(|acl| {
        let name_matches = match acl.pattern_type {
            PatternType::Literal => acl.resource_name == "*" || acl.resource_name == topic,
            PatternType::Prefixed => topic.starts_with(&acl.resource_name),
        };
        let operation_matches = acl.operation == operation
            || acl.operation == Operation::All
            || (operation == Operation::Describe
                && matches!(acl.operation, Operation::Read | Operation::Write | Operation::Delete | Operation::Alter));
        acl.resource_type == ResourceType::Topic && name_matches && operation_matches
    })
}

/// Successes the ACLs deny: (at_ms, what). Also the number of attempts that got an answer.
pub fn unauthorized_successes(
    attempts: &[Attempt],
    acls: &BTreeMap<String, Vec<AclSpec>>,
) -> (Vec<(u64, String)>, usize) {
    let answered = attempts.iter().filter(|a| matches!(a.outcome, Outcome::Allowed | Outcome::Denied)).count();
    let violations = attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Allowed)
        .filter(|a| !model_allows(acls.get(&a.service_account).map_or(&[][..], Vec::as_slice), a.operation, &a.topic))
        .map(|a| {
            (
                a.at_ms,
                format!(
                    "{} was allowed {:?} on topic {} at {} ms; its ACLs deny it",
                    a.service_account, a.operation, a.topic, a.at_ms
                ),
            )
        })
        .collect();
    (violations, answered)
}

/// The other side: denials the ACLs allow, of a key not deleted and a cluster not deleted at
/// the time (a deleted key or cluster is refused on purpose): (at_ms, what).
pub fn authorized_denials(
    attempts: &[Attempt],
    acls: &BTreeMap<String, Vec<AclSpec>>,
    revocations: &[Revocation],
    deletions: &[ClusterDeletion],
) -> Vec<(u64, String)> {
    let gone_since = |account: &str| {
        let revoked = revocations.iter().filter(|r| r.service_account == account).map(|r| r.requested_ms);
        let deleted =
            deletions.iter().filter(|d| d.service_accounts.iter().any(|a| a == account)).map(|d| d.requested_ms);
        revoked.chain(deleted).min()
    };
    attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Denied)
        .filter(|a| gone_since(&a.service_account).is_none_or(|since| a.at_ms < since))
        .filter(|a| model_allows(acls.get(&a.service_account).map_or(&[][..], Vec::as_slice), a.operation, &a.topic))
        .map(|a| {
            (
                a.at_ms,
                format!(
                    "{} was denied {:?} on topic {} at {} ms; its ACLs allow it",
                    a.service_account, a.operation, a.topic, a.at_ms
                ),
            )
        })
        .collect()
}

/// Revocation evidence: successful uses of a deleted key later than `bound_ms` after the
/// control plane acknowledged the deletion (at_ms, what); how many deletions were checked
/// (acknowledged, with an attempt of that key after the bound); and the longest time from
/// acknowledgement to the key's last success.
pub fn revocation_violations(
    attempts: &[Attempt],
    revocations: &[Revocation],
    bound_ms: u64,
) -> (Vec<(u64, String)>, usize, Option<u64>) {
    let mut violations = Vec::new();
    let mut checked = 0;
    let mut propagation_max: Option<u64> = None;
    for revocation in revocations {
        let Some(acknowledged) = revocation.acknowledged_ms else { continue };
        let uses: Vec<&Attempt> = attempts.iter().filter(|a| a.service_account == revocation.service_account).collect();
        if !uses.iter().any(|a| a.at_ms > acknowledged + bound_ms) {
            continue; // Not observed past the bound: not tested.
        }
        checked += 1;
        let last_success = uses.iter().filter(|a| a.outcome == Outcome::Allowed).map(|a| a.at_ms).max();
        let propagation = last_success.map_or(0, |at| at.saturating_sub(acknowledged));
        propagation_max = Some(propagation_max.map_or(propagation, |m| m.max(propagation)));
        if let Some(late) = uses.iter().find(|a| a.outcome == Outcome::Allowed && a.at_ms > acknowledged + bound_ms) {
            violations.push((
                late.at_ms,
                format!(
                    "{}'s key was deleted at {acknowledged} ms and still {:?} {} at {} ms (bound {bound_ms} ms)",
                    revocation.service_account, late.operation, late.topic, late.at_ms
                ),
            ));
        }
    }
    (violations, checked, propagation_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at_ms: u64, account: &str, operation: Operation, topic: &str, outcome: Outcome) -> Attempt {
        Attempt { at_ms, service_account: account.into(), operation, topic: topic.into(), outcome }
    }

    fn prefixed_write() -> BTreeMap<String, Vec<AclSpec>> {
        [(
            "app".to_string(),
            vec![AclSpec {
                resource_type: ResourceType::Topic,
                resource_name: "orders-".into(),
                pattern_type: PatternType::Prefixed,
                operation: Operation::Write,
            }],
        )]
        .into()
    }

    #[test]
    fn a_success_the_acls_deny_is_a_violation_and_a_refusal_is_not() {
        let good = vec![
            attempt(1, "app", Operation::Write, "orders-eu", Outcome::Allowed),
            attempt(2, "app", Operation::Describe, "orders-eu", Outcome::Allowed),
            attempt(3, "app", Operation::Write, "payroll", Outcome::Denied),
            attempt(4, "app", Operation::Read, "orders-eu", Outcome::Denied),
            attempt(5, "app", Operation::Read, "payroll", Outcome::Unknown("timeout".into())),
        ];
        let (violations, answered) = unauthorized_successes(&good, &prefixed_write());
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(answered, 4);
        let mut bad = good.clone();
        bad.push(attempt(6, "app", Operation::Write, "payroll", Outcome::Allowed));
        let (violations, _) = unauthorized_successes(&bad, &prefixed_write());
        assert_eq!(violations.len(), 1);
        assert!(violations[0].1.contains("payroll"), "{}", violations[0].1);
    }

    #[test]
    fn a_denial_the_acls_allow_is_a_violation_unless_the_key_or_cluster_is_gone() {
        let attempts = vec![
            attempt(1, "app", Operation::Write, "orders-eu", Outcome::Denied),
            attempt(2, "app", Operation::Write, "payroll", Outcome::Denied),
            attempt(3, "app", Operation::Describe, "orders-eu", Outcome::Denied),
            attempt(9, "app", Operation::Write, "orders-eu", Outcome::Denied),
        ];
        let denied = authorized_denials(&attempts, &prefixed_write(), &[], &[]);
        assert_eq!(denied.iter().map(|(at, _)| *at).collect::<Vec<_>>(), vec![1, 3, 9]);
        assert!(denied[0].1.contains("its ACLs allow it"), "{}", denied[0].1);
        let revoked = [Revocation { service_account: "app".into(), requested_ms: 5, acknowledged_ms: Some(6) }];
        let denied = authorized_denials(&attempts, &prefixed_write(), &revoked, &[]);
        assert_eq!(denied.len(), 2, "the denial after the deletion was asked for is the service's right: {denied:?}");
    }

    #[test]
    fn a_deleted_key_working_past_the_bound_is_a_violation() {
        let revocations =
            vec![Revocation { service_account: "leaked".into(), requested_ms: 1_000, acknowledged_ms: Some(1_500) }];
        let within = vec![
            attempt(1_200, "leaked", Operation::Write, "orders", Outcome::Allowed),
            attempt(4_000, "leaked", Operation::Write, "orders", Outcome::Allowed),
            attempt(6_000, "leaked", Operation::Write, "orders", Outcome::AuthenticationFailed),
            attempt(20_000, "leaked", Operation::Write, "orders", Outcome::AuthenticationFailed),
        ];
        let (violations, checked, propagation) = revocation_violations(&within, &revocations, 10_000);
        assert!(violations.is_empty());
        assert_eq!((checked, propagation), (1, Some(2_500)));
        let mut late = within.clone();
        late.push(attempt(30_000, "leaked", Operation::Write, "orders", Outcome::Allowed));
        let (violations, _, _) = revocation_violations(&late, &revocations, 10_000);
        assert_eq!(violations.len(), 1);
        // No use after the bound: not tested, not "holds".
        let (_, checked, _) = revocation_violations(&within[..2], &revocations, 10_000);
        assert_eq!(checked, 0);
    }
}
