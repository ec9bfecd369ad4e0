//! The sign-in client (C16): an organization admin creates a local user (bcrypt password) and
//! a password-less user of the identity provider; then, every interval, the client signs in
//! with the right and a wrong password, with a fresh assertion and that assertion again, and
//! with expired, forged and misaddressed ones, and uses the granted session to read and to try
//! a change. One attempt each, never retried. Evidence for `checkers::sign_in`.

use std::time::Duration;

use broker::control_plane::identity::{sign_assertion, AssertionClaims, ASSERTION_AUDIENCE};
use broker::net::https_client::HttpsClient;
use ring::signature::Ed25519KeyPair;
use serde_json::json;

use super::Recorder;
use crate::checkers::sign_in::{SignInAttempt, SignInKind, SignInLog};

const LOCAL_USER: &str = "ada@sim";
const SSO_USER: &str = "grace@sim";

/// Keys and names the client signs with.
pub struct IdentityProvider {
    pub issuer: String,
    pub key: Ed25519KeyPair,
    /// A key that is not the identity provider's.
    pub forger: Ed25519KeyPair,
}

/// Builds a REST client that sends the given `Authorization` header (or none).
pub type Clients = Box<dyn Fn(Option<String>) -> HttpsClient + Send>;

async fn once(
    client: &HttpsClient,
    method: &str,
    target: &str,
    body: serde_json::Value,
) -> (Option<u16>, serde_json::Value) {
    match client.call(method, target, Some(body.to_string().into_bytes())).await {
        Ok((status, bytes)) => (Some(status), serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(_) => (None, serde_json::Value::Null),
    }
}

pub async fn run(
    admin: HttpsClient,
    clients: Clients,
    idp: IdentityProvider,
    password: String,
    recorder: Recorder,
    log: SignInLog,
    interval: Duration,
) {
    // The users, created once (a lost answer is retried; 409 means an earlier try worked).
    for (email, password) in [(LOCAL_USER, Some(password.as_str())), (SSO_USER, None)] {
        let body = json!({ "email": email, "full_name": email, "password": password });
        loop {
            if recorder.stopping() {
                return;
            }
            if let (Some(201 | 409), _) = once(&admin, "POST", "/iam/v2/users", body.clone()).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let anonymous = clients(None);
    let note = |kind, status| {
        log.attempts.lock().unwrap().push(SignInAttempt { at_ms: recorder.now_ms(), kind, status });
    };
    let mut round = 0u64;
    while !recorder.stopping() {
        let (status, _) =
            once(&anonymous, "POST", "/api/sessions", json!({ "email": LOCAL_USER, "password": password })).await;
        note(SignInKind::Password, status);
        let wrong = format!("{password}-wrong");
        let (status, _) =
            once(&anonymous, "POST", "/api/sessions", json!({ "email": LOCAL_USER, "password": wrong })).await;
        note(SignInKind::WrongPassword, status);

        let now_s = broker::net::http::wall_clock_ms() / 1000;
        let claims = |jti: &str, iat: u64, exp: u64, aud: &str| AssertionClaims {
            iss: idp.issuer.clone(),
            sub: SSO_USER.into(),
            aud: aud.into(),
            iat,
            exp,
            jti: jti.into(),
        };
        let sign_in = |assertion: String| {
            let anonymous = &anonymous;
            async move { once(anonymous, "POST", "/api/sessions/sso", json!({ "assertion": assertion })).await }
        };
        let fresh = sign_assertion(&claims(&format!("jti-{round}"), now_s, now_s + 300, ASSERTION_AUDIENCE), &idp.key);
        let (status, session) = sign_in(fresh.clone()).await;
        note(SignInKind::Assertion, status);
        if status == Some(201) {
            let (status, _) = sign_in(fresh).await;
            note(SignInKind::ReplayedAssertion, status);
            if let Some(token) = session["token"].as_str() {
                let user = clients(Some(format!("Bearer {token}")));
                let (status, _) = match user.call("GET", "/org/v2/environments", None).await {
                    Ok((status, _)) => (Some(status), ()),
                    Err(_) => (None, ()),
                };
                note(SignInKind::SessionRead, status);
                let (status, _) =
                    once(&user, "POST", "/org/v2/environments", json!({ "display_name": "not-mine" })).await;
                note(SignInKind::SessionChange, status);
            }
        }
        let expired = sign_assertion(
            &claims(
                &format!("jti-expired-{round}"),
                now_s.saturating_sub(900),
                now_s.saturating_sub(600),
                ASSERTION_AUDIENCE,
            ),
            &idp.key,
        );
        note(SignInKind::ExpiredAssertion, sign_in(expired).await.0);
        let forged = sign_assertion(
            &claims(&format!("jti-forged-{round}"), now_s, now_s + 300, ASSERTION_AUDIENCE),
            &idp.forger,
        );
        note(SignInKind::ForgedAssertion, sign_in(forged).await.0);
        let elsewhere =
            sign_assertion(&claims(&format!("jti-elsewhere-{round}"), now_s, now_s + 300, "another-service"), &idp.key);
        note(SignInKind::WrongAudience, sign_in(elsewhere).await.0);
        round += 1;
        tokio::time::sleep(interval).await;
    }
}
