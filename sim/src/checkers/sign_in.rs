//! Sign-in (C16): users sign in with a bcrypt-checked password or with the identity provider's
//! signed assertion, once; a wrong password, and a replayed, expired, forged or misaddressed
//! assertion are refused; a user who is not an organization admin may read but not change.
//! Every answer the sign-in client got is compared with that.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignInKind {
    Password,
    WrongPassword,
    Assertion,
    /// The assertion of an `Assertion` that was granted, sent again.
    ReplayedAssertion,
    ExpiredAssertion,
    /// Signed by a key that is not the identity provider's.
    ForgedAssertion,
    /// Addressed to another service.
    WrongAudience,
    /// A read with a granted session of a user who is not an admin.
    SessionRead,
    /// A change with that session.
    SessionChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub at_ms: u64,
    pub kind: SignInKind,
    /// The HTTP status, or `None` without an answer.
    pub status: Option<u16>,
}

#[derive(Debug, Clone, Default)]
pub struct SignInLog {
    pub attempts: Arc<Mutex<Vec<SignInAttempt>>>,
}

/// The answers C16 allows. Sessions live in the control plane's memory, so after it restarts
/// a session's calls may also get 401.
fn allowed(kind: SignInKind) -> &'static [u16] {
    match kind {
        SignInKind::Password | SignInKind::Assertion => &[201],
        SignInKind::WrongPassword
        | SignInKind::ReplayedAssertion
        | SignInKind::ExpiredAssertion
        | SignInKind::ForgedAssertion
        | SignInKind::WrongAudience => &[401],
        SignInKind::SessionRead => &[200, 401],
        SignInKind::SessionChange => &[403, 401],
    }
}

/// (at ms, what) for every answer C16 does not allow, and how many answers were judged
/// (server errors and lost answers decide nothing).
pub fn sign_in_violations(attempts: &[SignInAttempt]) -> (Vec<(u64, String)>, usize) {
    let mut violations = Vec::new();
    let mut judged = 0;
    for attempt in attempts {
        let Some(status) = attempt.status.filter(|s| *s < 500) else { continue };
        judged += 1;
        if !allowed(attempt.kind).contains(&status) {
            violations.push((
                attempt.at_ms,
                format!("{:?} was answered {status}; C16 allows {:?}", attempt.kind, allowed(attempt.kind)),
            ));
        }
    }
    (violations, judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(kind: SignInKind, status: Option<u16>) -> SignInAttempt {
        SignInAttempt { at_ms: 1, kind, status }
    }

    #[test]
    fn refusals_and_grants_as_c16_says_hold_and_anything_else_is_a_violation() {
        let good = vec![
            attempt(SignInKind::Password, Some(201)),
            attempt(SignInKind::WrongPassword, Some(401)),
            attempt(SignInKind::Assertion, Some(201)),
            attempt(SignInKind::ReplayedAssertion, Some(401)),
            attempt(SignInKind::SessionRead, Some(401)),
            attempt(SignInKind::SessionChange, Some(403)),
            attempt(SignInKind::ExpiredAssertion, None),
            attempt(SignInKind::ForgedAssertion, Some(503)),
        ];
        assert_eq!(sign_in_violations(&good), (Vec::new(), 6));
        let bad = vec![
            attempt(SignInKind::ReplayedAssertion, Some(201)),
            attempt(SignInKind::SessionChange, Some(201)),
            attempt(SignInKind::Password, Some(401)),
        ];
        let (violations, _) = sign_in_violations(&bad);
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].1.contains("ReplayedAssertion was answered 201"));
    }
}
