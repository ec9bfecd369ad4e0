//! The `[breach]` section's people and parties (C23): the attacker with the leaked key, the
//! on-call rota answering pages (after delays drawn from the scenario's distributions, slower
//! outside working hours), and the customer's security contact, whose inbox takes notices and
//! who acknowledges them. Each records what happened, by the simulated wall clock, so that the
//! checker can judge the desk against it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::incidents::calendar::Calendar;
use broker::incidents::{Incident, Notice};
use broker::net::api::{ApiRequest, ApiResponse};
use broker::net::http::Responder;
use broker::net::https_client::HttpsClient;
use rand_core::RngCore;
use serde_json::json;

use super::client::ClusterClient;
use crate::checkers::breaches::{Arrival, Injected};
use crate::scenario::{BreachSpec, Delay};

/// A person's step on an incident: (wall ms, incident, person, what).
pub type Step = (u64, String, String, String);

#[derive(Default, Clone)]
pub struct BreachLog {
    pub injected: Arc<Mutex<Option<Injected>>>,
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
    /// Pages answered or missed, and decisions.
    pub steps: Arc<Mutex<Vec<Step>>>,
}

fn wall_ms() -> u64 {
    broker::clock::wall_clock_ms()
}

/// The attacker: `guesses` wrong secrets, then `reads` fetches of the first topic with the
/// leaked key, one a second.
pub async fn attacker(
    spec: BreachSpec,
    wrong: ClusterClient,
    mut leaked: ClusterClient,
    key: String,
    network: String,
    topic: String,
    log: BreachLog,
) {
    *log.injected.lock().unwrap() = Some(Injected { key, network, started_ms: wall_ms(), ..Injected::default() });
    let mut wrong = wrong;
    for _ in 0..spec.guesses {
        let _ = wrong.refresh_metadata().await;
        log.injected.lock().unwrap().as_mut().expect("set").guesses += 1;
    }
    for attempt in 0..spec.reads as u64 {
        if leaked.leader(&topic, 0).is_none() {
            let _ = leaked.refresh_metadata().await;
        }
        let broker = leaked.leader(&topic, 0).unwrap_or(1 + (attempt % 3) as i32);
        if let Ok(response) = leaked.send(broker, super::access::fetch_request(&topic, 0, 0, 16 * 1024), 11).await {
            let code = response.responses.first().and_then(|t| t.partitions.first()).map_or(-1, |p| p.error_code);
            if code == 0 {
                let mut injected = log.injected.lock().unwrap();
                let injected = injected.as_mut().expect("set");
                injected.first_access_ms.get_or_insert(wall_ms());
                injected.accesses += 1;
            } else {
                let _ = leaked.refresh_metadata().await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The paging provider's and the inbox's front: takes the desk's POST and hands it on.
pub struct Mailbox {
    path: &'static str,
    sender: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
}

impl Mailbox {
    pub fn new(path: &'static str) -> (Arc<Mailbox>, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        (Arc::new(Mailbox { path, sender }), receiver)
    }
}

impl Responder for Mailbox {
    const BODY_BYTES_MAX: usize = 64 * 1024;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        if (request.method, request.path) != ("POST", self.path) {
            return ApiResponse::problem(404, "Not Found", "no such endpoint");
        }
        match serde_json::from_slice(request.body) {
            Ok(value) => {
                let _ = self.sender.send(value);
                ApiResponse::empty(202)
            }
            Err(error) => ApiResponse::problem(400, "Bad Request", &error.to_string()),
        }
    }
}

/// Draws for the people: one seeded generator, shared (the simulation runs tasks in a seeded order).
pub type Draws = Arc<Mutex<rand_chacha::ChaCha8Rng>>;

/// A uniform draw in [0, 1).
fn uniform(draws: &Draws) -> f64 {
    (draws.lock().unwrap().next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn delay(draws: &Draws, delay: &Delay) -> Duration {
    // Box-Muller: a standard normal from two uniforms.
    let (u1, u2) = (uniform(draws).max(f64::EPSILON), uniform(draws));
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    Duration::from_secs_f64(delay.draw(z).min(30.0 * 86_400.0))
}

/// Calls the desk until it answers (a person retries a failing call every 30 s).
async fn desk_call(
    client: &HttpsClient,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    loop {
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).expect("JSON"));
        match client.call(method, path, bytes).await {
            Ok((status, body)) if status < 500 => return (status, serde_json::from_slice(&body).unwrap_or_default()),
            _ => tokio::time::sleep(Duration::from_secs(30)).await,
        }
    }
}

/// The rota: answers each page (or misses it), acknowledges, investigates, and confirms an
/// incident whose alerts point at the attacker when the attacker got access (what the logs
/// show an investigator), else closes it as no access.
pub struct Rota {
    pub spec: BreachSpec,
    pub calendar: Calendar,
    /// Each person's client of the desk.
    pub people: Vec<(String, Arc<HttpsClient>)>,
    pub cluster_id: String,
    pub draws: Draws,
    pub log: BreachLog,
}

pub async fn rota(rota: Rota, mut pages: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
    let rota = Arc::new(rota);
    let taken: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    while let Some(page) = pages.recv().await {
        let (Some(incident), Some(to)) = (page["incident"].as_str(), page["to"].as_str()) else { continue };
        let Some(client) = rota.people.iter().find(|(name, _)| name == to).map(|(_, c)| c.clone()) else { continue };
        let (rota, taken, incident, to) = (rota.clone(), taken.clone(), incident.to_string(), to.to_string());
        tokio::spawn(async move {
            let step = |what: &str| {
                rota.log.steps.lock().unwrap().push((wall_ms(), incident.clone(), to.clone(), what.into()))
            };
            if uniform(&rota.draws) < rota.spec.oncall.miss {
                step("missed the page");
                return;
            }
            let in_hours = rota.calendar.is_working_time(wall_ms());
            let ack = if in_hours { &rota.spec.oncall.ack_s } else { &rota.spec.oncall.ack_off_hours_s };
            tokio::time::sleep(delay(&rota.draws, ack)).await;
            if !taken.lock().unwrap().insert(incident.clone()) {
                step("found it taken");
                return;
            }
            let (status, _) = desk_call(&client, "POST", &format!("/v1/incidents/{incident}/acknowledge"), None).await;
            step(&format!("acknowledged ({status})"));
            tokio::time::sleep(delay(&rota.draws, &rota.spec.oncall.investigate_s)).await;
            let (_, body) = desk_call(&client, "GET", &format!("/v1/incidents/{incident}"), None).await;
            let Ok(seen) = serde_json::from_value::<Incident>(body) else { return };
            let injected = rota.log.injected.lock().unwrap().clone();
            let access =
                injected.filter(|i| i.first_access_ms.is_some() && seen.alerts.iter().any(|a| a.network == i.network));
            let (path, body, what) = match access {
                Some(injected) => (
                    "confirm",
                    json!({
                        "clusters": [rota.cluster_id],
                        "data": format!("topics read with API key {} from {}", injected.key, injected.network),
                        "summary": format!("{} fetches with a leaked API key from the internet", injected.accesses),
                    }),
                    "confirmed unauthorized access",
                ),
                None => ("close", json!({ "reason": "no unauthorized access found" }), "closed as no access"),
            };
            let (status, _) = desk_call(&client, "POST", &format!("/v1/incidents/{incident}/{path}"), Some(body)).await;
            step(&format!("{what} ({status})"));
        });
    }
}

/// The customer's contact: records each notice as it arrives and acknowledges it after a draw.
pub async fn contact(
    spec: BreachSpec,
    client: Arc<HttpsClient>,
    draws: Draws,
    log: BreachLog,
    mut notices: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) {
    while let Some(notice) = notices.recv().await {
        let Ok(notice) = serde_json::from_value::<Notice>(notice) else { continue };
        let mut arrivals = log.arrivals.lock().unwrap();
        let first = !arrivals.iter().any(|a| a.notice.id == notice.id);
        arrivals.push(Arrival { at_ms: wall_ms(), notice: notice.clone() });
        drop(arrivals);
        if first {
            let (client, wait) = (client.clone(), delay(&draws, &spec.contact_ack_s));
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                desk_call(&client, "POST", &format!("/v1/notices/{}/acknowledge", notice.id), None).await;
            });
        }
    }
}
