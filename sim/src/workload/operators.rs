//! The people of the `[operators]` section (C10), from the security-operations host: the
//! security admin creates them (and ends a role), and each tries what its kind tries, recording
//! what it knew to be true so that the checker can judge each answer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::client::{ClientCredentials, Connection};
use broker::net::https_client::HttpsClient;
use broker::net::Dialer;
use broker::operators::totp;
use serde_json::json;

use crate::checkers::operators::{OperatorAttempt, Tried};
use crate::scenario::{PersonKind, PersonSpec};

#[derive(Default, Clone)]
pub struct OperatorLog {
    pub attempts: Arc<Mutex<Vec<OperatorAttempt>>>,
}

/// What a person needs besides its spec.
pub struct Reach {
    pub admin: Arc<HttpsClient>,
    pub bastion: HttpsClient,
    /// The brokers and the bastions' stolen key, for the one without a second factor.
    pub direct: (Dialer, Vec<(SocketAddr, String)>, ClientCredentials),
}

async fn call(
    client: &HttpsClient,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let body = (!body.is_null()).then(|| serde_json::to_vec(&body).expect("JSON"));
    let (status, bytes) = client.call(method, path, body).await.ok()?;
    Some((status, serde_json::from_slice(&bytes).unwrap_or_default()))
}

pub async fn person(spec: PersonSpec, reach: Reach, log: OperatorLog, zero: tokio::time::Instant, end_ms: u64) {
    let now_ms = || zero.elapsed().as_millis() as u64;
    let new = json!({ "name": spec.name, "role": spec.role, "hours": 24 });
    let created = loop {
        match call(&reach.admin, "POST", "/v1/operators", new.clone()).await {
            Some((201, created)) => break created,
            _ if now_ms() >= end_ms => return,
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    let password = created["password"].as_str().unwrap_or_default().to_string();
    let secret = totp::base32_decode(created["totp_secret"].as_str().unwrap_or_default()).unwrap_or_default();
    // What someone without the device types: a code of another secret.
    let guessed = [spec.name.len() as u8; 20];
    // The guesser's failed verifications (ms) within the claim's lockout window.
    let mut failures: Vec<u64> = Vec::new();
    let interval = Duration::from_secs_f64(spec.interval_s);
    let (mut session, mut last_step, mut role_ended_ms, mut tick) = (None::<String>, 0u64, None::<u64>, 0u64);
    let record = |at_ms: u64, actor: &str, tried: Tried, ended: Option<u64>, succeeded: Option<bool>| {
        let attempt = OperatorAttempt { at_ms, actor: actor.into(), tried, role_ended_ms: ended, succeeded };
        log.attempts.lock().unwrap().push(attempt);
    };
    while now_ms() < end_ms {
        tokio::time::sleep(interval).await;
        tick += 1;
        let offboard = spec.offboard_at_s.map(|s| (s * 1000.0) as u64);
        if role_ended_ms.is_none() && offboard.is_some_and(|at| now_ms() >= at) {
            let path = format!("/v1/operators/{}/role", spec.name);
            if let Some((200, _)) = call(&reach.admin, "DELETE", &path, serde_json::Value::Null).await {
                role_ended_ms = Some(now_ms());
            }
            continue;
        }
        let wall = broker::clock::wall_clock_ms();
        if spec.kind == PersonKind::WithoutMfa {
            let at = now_ms();
            let body = json!({ "operator": spec.name, "password": password, "code": totp::code_at(&guessed, wall), "role": spec.role });
            let answer = call(&reach.bastion, "POST", "/v1/sessions", body).await;
            // A guess that happens to be right would be a valid factor.
            let valid = totp::matching_step(&secret, &totp::code_at(&guessed, wall), wall).is_some();
            let decided = answer.filter(|(status, _)| *status != 503).map(|(status, _)| status == 201);
            record(at, &spec.name, Tried::Open { factors_valid: valid }, None, decided);
            let window_ms = crate::claims::OPERATOR_LOCKOUT_WINDOW.as_millis() as u64;
            failures.retain(|failed| failed + window_ms > at);
            if decided == Some(false) {
                failures.push(at);
            }
            // Past the claim's limit the harness, which knows the secret, tries the right code:
            // a lockout refuses it too.
            if failures.len() >= crate::claims::OPERATOR_LOCKOUT_FAILURES && totp::step_at(wall) > last_step {
                let code = totp::code_at(&secret, wall);
                let body = json!({ "operator": spec.name, "password": password, "code": code, "role": spec.role });
                let at = now_ms();
                let answer = call(&reach.bastion, "POST", "/v1/sessions", body).await;
                let decided = answer.filter(|(status, _)| *status != 503).map(|(status, _)| status == 201);
                record(at, &spec.name, Tried::AfterGuesses { failed_guesses: failures.len() }, None, decided);
                last_step = totp::step_at(wall);
                if decided == Some(true) {
                    failures.clear();
                }
            }
            if tick % 3 == 0 {
                let at = now_ms();
                let (dialer, brokers, credentials) = &reach.direct;
                let (address, host) = &brokers[tick as usize % brokers.len()];
                let connected = Connection::connect(dialer, *address, host, credentials, Duration::from_secs(5)).await;
                let answered = match connected {
                    Ok(_) => Some(true),
                    Err(broker::client::ClientError::Authentication(_)) => Some(false),
                    Err(_) => None,
                };
                record(at, broker::operators::BASTION_API_KEY, Tried::Direct, None, answered);
            }
            continue;
        }
        match &session {
            None => {
                if totp::step_at(wall) <= last_step {
                    continue;
                }
                let code = totp::code_at(&secret, wall);
                let body = json!({ "operator": spec.name, "password": password, "code": code, "role": spec.role });
                let at = now_ms();
                let answer = call(&reach.bastion, "POST", "/v1/sessions", body.clone()).await;
                // 503: the bastion could not reach the directory (a fault), not a decision.
                let decided = answer.as_ref().filter(|(s, _)| *s != 503).map(|(s, _)| *s == 201);
                record(at, &spec.name, Tried::Open { factors_valid: true }, role_ended_ms, decided);
                // Used, whatever came back: an answer lost after the directory took the code
                // leaves that step spent, and sending it again would be a replay.
                last_step = totp::step_at(wall);
                if let Some((201, opened)) = answer {
                    session = opened["session"].as_str().map(String::from);
                    // The same code again: a replay.
                    let at = now_ms();
                    let again = call(&reach.bastion, "POST", "/v1/sessions", body).await;
                    let decided = again.filter(|(s, _)| *s != 503).map(|(s, _)| s == 201);
                    record(at, &spec.name, Tried::Open { factors_valid: false }, role_ended_ms, decided);
                }
            }
            Some(id) => {
                let action = if tick % 2 == 0 { "describe-cluster" } else { "list-topics" };
                let permitted = action == "describe-cluster" || spec.role == broker::operators::OperatorRole::Support;
                let at = now_ms();
                let answer =
                    call(&reach.bastion, "POST", &format!("/v1/sessions/{id}/actions"), json!({ "action": action }))
                        .await;
                // 503: the bastion could not reach a broker (a fault), not a decision.
                let succeeded = answer.as_ref().filter(|(s, _)| *s != 503).map(|(s, _)| *s == 200);
                record(at, &spec.name, Tried::Act { permitted }, role_ended_ms, succeeded);
                if permitted && answer.is_some_and(|(s, _)| s == 403) {
                    session = None;
                }
            }
        }
    }
}
