//! Operator access (C10), judged from what the people tried (with what they knew to be true:
//! whether their factors were good, whether their role had ended, whether the role permits the
//! action) and from the security log store's entries:
//! - no session opened without a valid password and a fresh code, or after the role ended;
//! - and the other side: no session refused to the valid password and a fresh code of an
//!   operator whose role holds (a bastion that refuses everyone is no bastion);
//! - no session opened, even with the right factors, after `claims::OPERATOR_LOCKOUT_FAILURES`
//!   failed guesses within `claims::OPERATOR_LOCKOUT_WINDOW` (a guesser cannot wear MFA down);
//! - no action outside the role, and none more than the revocation bound after the role ended;
//! - no success with the bastions' key from anywhere but a bastion;
//! - every refusal is in the log (refusal events of that actor at least as many as refusals).

use std::collections::BTreeMap;

use broker::log_store::chain::Entry;

use crate::claims::{OPERATOR_LOCKOUT_FAILURES, OPERATOR_LOCKOUT_WINDOW};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// Opening a session; `factors_valid`: the right password and a code not used before.
    Open { factors_valid: bool },
    /// The right password and code, after `failed_guesses` failed verifications of the same
    /// operator within the lockout window.
    AfterGuesses { failed_guesses: usize },
    /// An action on an open session; `permitted`: the role permits it.
    Act { permitted: bool },
    /// The bastions' key, directly at a broker from a non-bastion machine.
    Direct,
}

#[derive(Debug, Clone)]
pub struct OperatorAttempt {
    /// Simulated ms from t = 0, when the attempt was sent.
    pub at_ms: u64,
    /// The operator, or the bastions' key for `Direct`.
    pub actor: String,
    pub tried: Tried,
    /// When the operator's role was ended (acknowledged by the directory), if before.
    pub role_ended_ms: Option<u64>,
    /// `None`: nothing answered (no judgement).
    pub succeeded: Option<bool>,
}

#[derive(Debug, Default)]
pub struct OperatorFindings {
    pub violations: Vec<(u64, String)>,
    pub unlogged: Vec<(u64, String)>,
    pub attempts: u64,
    /// The latest success after a role ended, in seconds after the end (`None`: no role ended).
    pub revocation_s: Option<f64>,
}

pub fn judge(attempts: &[OperatorAttempt], entries: &[Entry], bound_ms: u64) -> OperatorFindings {
    let mut findings = OperatorFindings::default();
    let mut refused: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for attempt in attempts {
        let Some(succeeded) = attempt.succeeded else { continue };
        findings.attempts += 1;
        let actor = &attempt.actor;
        let ended = attempt.role_ended_ms.filter(|end| attempt.at_ms > *end);
        if let Some(end) = ended {
            let since = (attempt.at_ms - end) as f64 / 1000.0;
            if succeeded {
                findings.revocation_s = Some(findings.revocation_s.map_or(since, |s: f64| s.max(since)));
            } else {
                findings.revocation_s.get_or_insert(0.0);
            }
        }
        if !succeeded {
            if attempt.tried == (Tried::Open { factors_valid: true }) && ended.is_none() {
                let at = attempt.at_ms as f64 / 1000.0;
                let what = format!(
                    "{actor}'s valid password and fresh code opened no session at {at:.3}s while the role held"
                );
                findings.violations.push((attempt.at_ms, what));
            }
            let (count, first) = refused.entry(actor).or_insert((0, attempt.at_ms));
            *count += 1;
            *first = (*first).min(attempt.at_ms);
            continue;
        }
        let at = attempt.at_ms as f64 / 1000.0;
        let violation = match (&attempt.tried, ended) {
            (Tried::Open { factors_valid: false }, _) => {
                Some(format!("{actor} opened a bastion session at {at:.3}s without a valid password and fresh code"))
            }
            (Tried::Open { .. }, Some(end)) => Some(format!(
                "{actor} opened a bastion session at {at:.3}s, {:.3}s after the role ended",
                (attempt.at_ms - end) as f64 / 1000.0
            )),
            (Tried::Act { permitted: false }, _) => {
                Some(format!("{actor} did at {at:.3}s an action the role does not permit"))
            }
            (Tried::Act { .. }, Some(end)) if attempt.at_ms > end + bound_ms => Some(format!(
                "{actor} acted through a bastion at {at:.3}s, {:.3}s after the role ended (bound {} s)",
                (attempt.at_ms - end) as f64 / 1000.0,
                bound_ms / 1000
            )),
            (Tried::AfterGuesses { failed_guesses }, _) if *failed_guesses >= OPERATOR_LOCKOUT_FAILURES => {
                Some(format!("{actor} opened a session at {at:.3}s after {failed_guesses} failed guesses within {} minutes (no lockout)", OPERATOR_LOCKOUT_WINDOW.as_secs() / 60))
            }
            (Tried::Direct, _) => {
                Some(format!("the bastions' key was admitted at a broker from outside a bastion at {at:.3}s"))
            }
            _ => None,
        };
        findings.violations.extend(violation.map(|what| (attempt.at_ms, what)));
    }
    for (actor, (count, first)) in refused {
        let logged = entries
            .iter()
            .filter(|e| {
                e.event.actor == actor && e.event.outcome == "refused" && e.event.category == "operator"
                    || e.event.actor == actor && e.event.action == "kafka.operator.outside-bastion"
            })
            .count() as u64;
        if logged < count {
            findings
                .unlogged
                .push((first, format!("{actor}: {count} refused attempts, {logged} refusals in the security log")));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(at_ms: u64, tried: Tried, role_ended_ms: Option<u64>, succeeded: bool) -> OperatorAttempt {
        OperatorAttempt { at_ms, actor: "mallory".into(), tried, role_ended_ms, succeeded: Some(succeeded) }
    }

    #[test]
    fn a_bypassed_factor_an_escalation_a_late_action_and_a_direct_key_are_violations() {
        let attempts = vec![
            attempt(1_000, Tried::Open { factors_valid: false }, None, true),
            attempt(2_000, Tried::Act { permitted: false }, None, true),
            attempt(50_000, Tried::Act { permitted: true }, Some(10_000), true),
            attempt(20_000, Tried::Act { permitted: true }, Some(10_000), true),
            attempt(3_000, Tried::Direct, None, true),
        ];
        let findings = judge(&attempts, &[], 30_000);
        assert_eq!(findings.violations.len(), 4, "{:?}", findings.violations);
        assert_eq!(findings.revocation_s, Some(40.0));
    }

    #[test]
    fn a_refused_legitimate_operator_and_a_guesser_not_locked_out_are_violations() {
        let attempts = vec![
            attempt(1_000, Tried::Open { factors_valid: true }, None, false),
            attempt(2_000, Tried::Open { factors_valid: true }, Some(1_500), false), // after the role ended: right
            attempt(3_000, Tried::AfterGuesses { failed_guesses: 5 }, None, true),
            attempt(4_000, Tried::AfterGuesses { failed_guesses: 4 }, None, true), // under the limit: fine
            attempt(5_000, Tried::AfterGuesses { failed_guesses: 5 }, None, false), // locked out: right
        ];
        let findings = judge(&attempts, &[], 30_000);
        let what: Vec<&str> = findings.violations.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(what.len(), 2, "{what:?}");
        assert!(what[0].contains("opened no session") && what[1].contains("no lockout"), "{what:?}");
    }

    #[test]
    fn refusals_must_be_in_the_log() {
        let attempts = vec![attempt(1_000, Tried::Open { factors_valid: false }, None, false)];
        let findings = judge(&attempts, &[], 30_000);
        assert!(findings.violations.is_empty());
        assert_eq!(findings.unlogged.len(), 1);
    }
}
