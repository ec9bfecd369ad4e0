//! A bastion host: the only way an operator reaches the brokers.
//!
//! - `POST /v1/sessions` `{"operator", "password", "code", "role"}`: the directory checks the
//!   password, the TOTP code and the role; then a session of at most `SESSION_TTL`.
//! - `POST /v1/sessions/<id>/actions` `{"action"}`: done on a broker with the bastion's key if
//!   the session is open, its role permits the action and the directory confirmed the role less
//!   than `REVOCATION_BOUND` ago.
//! - `DELETE /v1/sessions/<id>`.
//!
//! `revalidate_forever` asks the directory about every open session's role every
//! `REVALIDATE_INTERVAL` and closes the sessions whose role ended. Every decision is an event in
//! the security log store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::MetadataRequest;
use serde::Deserialize;
use serde_json::json;

use super::{OperatorAction, OperatorRole, REVALIDATE_INTERVAL, REVOCATION_BOUND, SESSION_TTL};
use crate::client::{ClientCredentials, Connection};
use crate::log_store::shipper::SecurityEvents;
use crate::net::http::{wall_clock_ms, ApiRequest, ApiResponse, Responder};
use crate::net::https_client::HttpsClient;
use crate::net::Dialer;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

const BODY_BYTES_MAX: usize = 4 * 1024;
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);

pub struct BastionConfig {
    pub name: String,
    /// The staff directory, as this bastion.
    pub directory: HttpsClient,
    /// (address, TLS name) of each broker.
    pub brokers: Vec<(SocketAddr, String)>,
    /// The bastion's key at the brokers.
    pub credentials: ClientCredentials,
    pub dialer: Dialer,
    pub events: SecurityEvents,
    pub bugs: PlantedBugs,
}

#[derive(Debug, Clone)]
struct Session {
    operator: String,
    role: OperatorRole,
    expires_ms: u64,
    /// When the directory last said the role holds.
    confirmed_ms: u64,
}

pub struct Bastion {
    config: BastionConfig,
    sessions: Mutex<BTreeMap<String, Session>>,
    /// Session ids ([`crate::entropy::os`] in real mode).
    ids: Mutex<crate::entropy::Generator>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    operator: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    role: OperatorRole,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    action: OperatorAction,
}

impl Bastion {
    pub fn new(config: BastionConfig, session_ids: crate::entropy::Generator) -> Arc<Bastion> {
        Arc::new(Bastion { config, sessions: Mutex::default(), ids: Mutex::new(session_ids) })
    }

    fn record(&self, action: &str, operator: &str, outcome: &str, detail: &str) {
        tracing::info!(bastion = self.config.name, action, operator, outcome, detail, "bastion");
        self.config.events.record("operator", action, operator, outcome, &self.config.name, detail);
    }

    fn refuse(&self, action: &str, operator: &str, status: u16, detail: &str) -> ApiResponse {
        self.record(action, operator, "refused", detail);
        let title = if status == 403 { "Forbidden" } else { "Bad Request" };
        ApiResponse::problem(status, title, detail)
    }

    async fn open_session(&self, body: &[u8]) -> ApiResponse {
        let asked: SessionRequest = match serde_json::from_slice(body) {
            Ok(asked) => asked,
            Err(error) => return self.refuse("session-open", "unknown", 400, &format!("malformed: {error}")),
        };
        let answer = if self.config.bugs.is_on(PlantedBug::BastionSkipsMfa) {
            // Planted: the role is checked, the password and the second factor are not.
            self.config.directory.call("GET", &format!("/v1/operators/{}/role", asked.operator), None).await
        } else {
            let body = json!({
                "operator": asked.operator,
                "password": asked.password,
                "code": asked.code,
                "role": asked.role,
            });
            self.config.directory.call("POST", "/v1/verify", Some(serde_json::to_vec(&body).expect("JSON"))).await
        };
        let granted = match answer {
            Ok((200, bytes)) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            Ok((status, bytes)) => {
                let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let why = problem["detail"].as_str().unwrap_or("refused").to_string();
                let status = if status == 403 { 403 } else { 503 };
                return self.refuse("session-open", &asked.operator, status, &format!("the directory said no: {why}"));
            }
            // Fail closed: no directory, no session.
            Err(error) => {
                return self.refuse(
                    "session-open",
                    &asked.operator,
                    503,
                    &format!("the directory is unreachable: {error}"),
                )
            }
        };
        // BUG (planted): the asked role compared in its Debug form ("Observer") with what the
        // directory's JSON says ("observer"): no role ever matches.
        let asked_role = if self.config.bugs.is_on(PlantedBug::BastionRefusesEveryone) {
            json!(format!("{:?}", asked.role))
        } else {
            json!(asked.role)
        };
        if granted["role"] != asked_role {
            return self.refuse("session-open", &asked.operator, 403, "the operator does not hold that role");
        }
        let now = wall_clock_ms();
        let until = granted["until_ms"].as_u64().unwrap_or(now);
        let id: String = {
            let mut bytes = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut *self.ids.lock().unwrap(), &mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        let session = Session {
            operator: asked.operator.clone(),
            role: asked.role,
            expires_ms: (now + SESSION_TTL.as_millis() as u64).min(until),
            confirmed_ms: now,
        };
        let expires_ms = session.expires_ms;
        self.sessions.lock().unwrap().insert(id.clone(), session);
        self.record("session-open", &asked.operator, "success", &format!("{:?} until {expires_ms}", asked.role));
        ApiResponse::json(201, json!({ "session": id, "role": asked.role, "expires_ms": expires_ms }))
    }

    /// The session if it may act now, or why not.
    fn usable(&self, id: &str, now: u64) -> Result<Session, (String, &'static str)> {
        let sessions = self.sessions.lock().unwrap();
        let session = sessions.get(id).ok_or_else(|| ("unknown".to_string(), "no such session"))?;
        if session.expires_ms <= now {
            return Err((session.operator.clone(), "the session expired"));
        }
        let stale = now > session.confirmed_ms + REVOCATION_BOUND.as_millis() as u64;
        if stale && !self.config.bugs.is_on(PlantedBug::OperatorAccessSurvivesOffboarding) {
            return Err((session.operator.clone(), "the directory has not confirmed the role lately"));
        }
        Ok(session.clone())
    }

    async fn act(&self, id: &str, body: &[u8]) -> ApiResponse {
        let now = wall_clock_ms();
        let session = match self.usable(id, now) {
            Ok(session) => session,
            Err((operator, why)) => return self.refuse("operator-action", &operator, 403, why),
        };
        let asked: ActionRequest = match serde_json::from_slice(body) {
            Ok(asked) => asked,
            Err(error) => {
                return self.refuse("operator-action", &session.operator, 400, &format!("malformed: {error}"))
            }
        };
        if !session.role.permits(asked.action) {
            let detail = format!("{:?} is not {:?}'s to do", asked.action, session.role);
            return self.refuse("operator-action", &session.operator, 403, &detail);
        }
        match self.on_a_broker(asked.action).await {
            Ok(result) => {
                self.record("operator-action", &session.operator, "success", &format!("{:?}: {result}", asked.action));
                ApiResponse::json(200, json!({ "action": asked.action, "result": result }))
            }
            Err(error) => {
                self.record("operator-action", &session.operator, "failure", &error);
                ApiResponse::problem(503, "Service Unavailable", &error)
            }
        }
    }

    /// Does `action` on the first broker that answers.
    async fn on_a_broker(&self, action: OperatorAction) -> Result<String, String> {
        let mut last = "no brokers".to_string();
        for (address, host) in &self.config.brokers {
            let connected =
                Connection::connect(&self.config.dialer, *address, host, &self.config.credentials, BROKER_TIMEOUT)
                    .await;
            let mut connection = match connected {
                Ok(connection) => connection,
                Err(error) => {
                    last = error.to_string();
                    continue;
                }
            };
            let request = match action {
                OperatorAction::DescribeCluster => MetadataRequest::default().with_topics(Some(Vec::new())),
                OperatorAction::ListTopics => MetadataRequest::default().with_topics(None),
            };
            match connection.send(request, 12).await {
                Ok(metadata) => {
                    return Ok(match action {
                        OperatorAction::DescribeCluster => format!("{} brokers", metadata.brokers.len()),
                        OperatorAction::ListTopics => format!("{} topics", metadata.topics.len()),
                    })
                }
                Err(error) => last = error.to_string(),
            }
        }
        Err(format!("no broker answered: {last}"))
    }

    fn close(&self, id: &str) -> ApiResponse {
        match self.sessions.lock().unwrap().remove(id) {
            Some(session) => {
                self.record("session-close", &session.operator, "success", "closed by the operator");
                ApiResponse::empty(204)
            }
            None => ApiResponse::problem(404, "Not Found", "no such session"),
        }
    }

    /// Confirms every open session's role with the directory, forever; closes those whose role
    /// ended and those past their time.
    pub async fn revalidate_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(REVALIDATE_INTERVAL).await;
            if self.config.bugs.is_on(PlantedBug::OperatorAccessSurvivesOffboarding) {
                // Planted: roles are checked when a session opens, never after.
                continue;
            }
            let open: Vec<(String, Session)> =
                self.sessions.lock().unwrap().iter().map(|(id, s)| (id.clone(), s.clone())).collect();
            for (id, session) in open {
                let now = wall_clock_ms();
                if session.expires_ms <= now {
                    self.sessions.lock().unwrap().remove(&id);
                    self.record("session-close", &session.operator, "success", "expired");
                    continue;
                }
                let path = format!("/v1/operators/{}/role", session.operator);
                match self.config.directory.call("GET", &path, None).await {
                    Ok((200, bytes)) => {
                        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                        if answer["role"] == json!(session.role) {
                            if let Some(open) = self.sessions.lock().unwrap().get_mut(&id) {
                                open.confirmed_ms = now;
                            }
                            continue;
                        }
                        self.sessions.lock().unwrap().remove(&id);
                        self.record("session-close", &session.operator, "success", "the role changed");
                    }
                    Ok((403, _)) => {
                        self.sessions.lock().unwrap().remove(&id);
                        self.record("session-close", &session.operator, "success", "the role ended");
                    }
                    // Unconfirmed: `usable` stops the session once the bound passes.
                    _ => {}
                }
            }
        }
    }
}

impl Responder for Bastion {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, _request: &ApiRequest<'_>) -> ApiResponse {
        ApiResponse::problem(500, "Internal Server Error", "the bastion answers asynchronously")
    }

    fn respond_async<'a>(
        &'a self,
        request: &'a ApiRequest<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ApiResponse> + Send + 'a>> {
        Box::pin(async move {
            let path = request.path;
            let session_path = path.strip_prefix("/v1/sessions/");
            match (request.method, path, session_path) {
                ("POST", "/v1/sessions", _) => self.open_session(request.body).await,
                ("POST", _, Some(rest)) if rest.ends_with("/actions") => {
                    self.act(&rest[..rest.len() - "/actions".len()], request.body).await
                }
                ("DELETE", _, Some(id)) => self.close(id),
                (method, path, _) => ApiResponse::problem(404, "Not Found", &format!("no {method} {path}")),
            }
        })
    }
}
