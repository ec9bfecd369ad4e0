//! The incident desk's service, on HTTPS:
//!
//! - `POST /v1/alerts` (detection): opens an incident, or adds to the open one about the same
//!   actor or network; an alert id it holds is taken again without change.
//! - `GET /v1/incidents`, `GET /v1/incidents/<id>` (responders).
//! - `POST /v1/incidents/<id>/acknowledge`, `.../confirm` `{"clusters", "data", "summary"}`,
//!   `.../close` `{"reason"}` (responders): confirmation is the explicit step that starts the
//!   72 hours and queues the notice.
//! - `POST /v1/notices/<id>/acknowledge` (the customer's security contact).
//!
//! `run_forever` pages and escalates through the rota and delivers notices. The records are
//! written durably before any answer, so an acknowledged step survives a crash.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;

use super::calendar::Calendar;
use super::{
    Closing, Confirmation, Delivery, Incident, Notice, Page, Status, Step, DESK_TICK, ESCALATE_AFTER, NOTICE_RETRY_MAX,
};
use crate::detection::Alert;
use crate::log::Disk;
use crate::log_store::shipper::SecurityEvents;
use crate::net::http::{wall_clock_ms, ApiRequest, ApiResponse, Responder};
use crate::net::https_client::HttpsClient;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

const RECORDS_FILE: &str = "incidents.json";
const BODY_BYTES_MAX: usize = 64 * 1024;

/// Who may call the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Detection,
    /// A person on the security rota.
    Responder,
    /// The customer's registered security contact.
    Contact,
}

/// Where written notices go.
pub enum NoticeChannel {
    /// The contact's inbox, over HTTPS (`POST /v1/notices`).
    Https { to: String, inbox: HttpsClient },
    /// A mail spool on disk, one file per notice (the dev cluster's).
    Spool { to: String, disk: Arc<dyn Disk> },
}

impl NoticeChannel {
    fn to(&self) -> &str {
        match self {
            NoticeChannel::Https { to, .. } | NoticeChannel::Spool { to, .. } => to,
        }
    }

    async fn deliver(&self, notice: &Notice) -> Result<(), String> {
        let body = serde_json::to_vec_pretty(notice).expect("JSON");
        match self {
            NoticeChannel::Https { inbox, .. } => match inbox.call("POST", "/v1/notices", Some(body)).await {
                Ok((200..=299, _)) => Ok(()),
                Ok((status, _)) => Err(format!("the inbox answered {status}")),
                Err(error) => Err(error.to_string()),
            },
            NoticeChannel::Spool { disk, .. } => {
                disk.replace_durably(&format!("notices/{}.json", notice.id), &body).map_err(|e| e.to_string())
            }
        }
    }
}

pub struct DeskConfig {
    /// name -> (SHA-256 of its token, what it is).
    pub principals: BTreeMap<String, (String, Caller)>,
    /// The on-call rota, one person a week in turn; escalation goes down the list.
    pub rota: Vec<String>,
    pub calendar: Calendar,
    pub pager: Option<HttpsClient>,
    pub contact: NoticeChannel,
    pub events: SecurityEvents,
    pub bugs: PlantedBugs,
}

#[derive(Default, serde::Serialize, Deserialize)]
struct Records {
    incidents: Vec<Incident>,
}

pub struct Desk {
    config: DeskConfig,
    disk: Arc<dyn Disk>,
    records: Mutex<Records>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    clusters: Vec<String>,
    data: String,
    #[serde(default)]
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    reason: String,
}

impl Desk {
    pub fn open(config: DeskConfig, disk: Arc<dyn Disk>) -> Result<Arc<Desk>, String> {
        let records = match disk.read(RECORDS_FILE).map_err(|e| format!("{RECORDS_FILE}: {e}"))? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{RECORDS_FILE} is unreadable: {e}"))?,
            None => Records::default(),
        };
        Ok(Arc::new(Desk { config, disk, records: Mutex::new(records) }))
    }

    fn persist(&self, records: &Records) -> Result<(), ApiResponse> {
        self.disk.replace_durably(RECORDS_FILE, &serde_json::to_vec(records).expect("JSON")).map_err(|error| {
            tracing::error!(%error, "incident desk: cannot write its records");
            ApiResponse::problem(503, "Service Unavailable", "the desk cannot write its records")
        })
    }

    fn record(&self, action: &str, actor: &str, outcome: &str, detail: &str) {
        tracing::info!(action, actor, outcome, detail, "incident desk");
        self.config.events.record("incident", action, actor, outcome, "", detail);
    }

    fn authenticate(&self, request: &ApiRequest<'_>) -> Option<(String, Caller)> {
        let name =
            crate::net::api::basic_principal(request.authorization, |p| self.config.principals.get(p).map(|(h, _)| h))?;
        let caller = self.config.principals[&name].1;
        Some((name, caller))
    }

    fn take_alert(&self, body: &[u8]) -> ApiResponse {
        let alert: Alert = match serde_json::from_slice(body) {
            Ok(alert) => alert,
            Err(error) => return ApiResponse::problem(400, "Bad Request", &format!("alert: {error}")),
        };
        let now = wall_clock_ms();
        let mut records = self.records.lock().unwrap();
        if let Some(incident) = records.incidents.iter().find(|i| i.alerts.iter().any(|a| a.id == alert.id)) {
            return ApiResponse::json(200, json!({ "incident": incident.id, "new": false }));
        }
        let (id, new) = match records.incidents.iter_mut().find(|i| i.concerns(&alert)) {
            Some(incident) => {
                incident.alerts.push(alert.clone());
                (incident.id.clone(), false)
            }
            None => {
                let id = format!("INC-{:04}", records.incidents.len() + 1);
                records.incidents.push(Incident {
                    id: id.clone(),
                    opened_ms: now,
                    status: Status::Open,
                    alerts: vec![alert.clone()],
                    pages: Vec::new(),
                    acknowledged: None,
                    confirmation: None,
                    delivery: None,
                    closed: None,
                });
                (id, true)
            }
        };
        if let Err(response) = self.persist(&records) {
            return response;
        }
        drop(records);
        let what = if new { "incident-opened" } else { "alert-added" };
        self.record(what, &alert.actor, "success", &format!("{id}: {} {}", alert.rule.name(), alert.detail));
        ApiResponse::json(201, json!({ "incident": id, "new": new }))
    }

    /// A responder's step on an incident.
    fn step(&self, by: &str, id: &str, step: &str, body: &[u8]) -> ApiResponse {
        let now = wall_clock_ms();
        let mut records = self.records.lock().unwrap();
        let Some(incident) = records.incidents.iter_mut().find(|i| i.id == id) else {
            return ApiResponse::problem(404, "Not Found", &format!("no incident {id}"));
        };
        if incident.status == Status::Closed {
            return ApiResponse::problem(409, "Conflict", &format!("{id} is closed"));
        }
        match step {
            "acknowledge" => {
                if incident.acknowledged.is_none() {
                    incident.acknowledged = Some(Step { by: by.into(), at_ms: now });
                    incident.status = Status::Acknowledged;
                }
            }
            "confirm" => {
                let asked: ConfirmRequest = match serde_json::from_slice(body) {
                    Ok(asked) => asked,
                    Err(error) => return ApiResponse::problem(400, "Bad Request", &format!("confirmation: {error}")),
                };
                if asked.clusters.is_empty() || asked.data.trim().is_empty() {
                    return ApiResponse::problem(
                        400,
                        "Bad Request",
                        "a confirmation names the affected clusters and data",
                    );
                }
                if incident.confirmation.is_some() {
                    return ApiResponse::problem(409, "Conflict", &format!("{id} is already confirmed"));
                }
                let confirmation = Confirmation {
                    by: by.into(),
                    at_ms: now,
                    clusters: asked.clusters,
                    data: asked.data,
                    summary: asked.summary,
                };
                incident.acknowledged.get_or_insert(Step { by: by.into(), at_ms: now });
                incident.status = Status::Confirmed;
                incident.delivery = Some(self.delivery(&incident.id, &confirmation));
                incident.confirmation = Some(confirmation);
            }
            "close" => {
                let asked: CloseRequest = match serde_json::from_slice(body) {
                    Ok(asked) => asked,
                    Err(error) => return ApiResponse::problem(400, "Bad Request", &format!("closing: {error}")),
                };
                if incident.delivery.as_ref().is_some_and(|d| d.delivered_ms.is_none()) {
                    return ApiResponse::problem(409, "Conflict", &format!("{id}'s notice is not delivered yet"));
                }
                incident.closed = Some(Closing { by: by.into(), at_ms: now, reason: asked.reason });
                incident.status = Status::Closed;
            }
            _ => return ApiResponse::problem(404, "Not Found", &format!("no step {step:?}")),
        }
        let answer = json!(incident);
        if let Err(response) = self.persist(&records) {
            return response;
        }
        drop(records);
        self.record(&format!("incident-{step}"), by, "success", id);
        ApiResponse::json(200, answer)
    }

    fn delivery(&self, incident: &str, confirmation: &Confirmation) -> Delivery {
        let due_ms = if self.config.bugs.is_on(PlantedBug::LateBreachNotice) {
            // Planted: legal review only in office hours.
            self.config.calendar.next_working_time(confirmation.at_ms)
        } else {
            confirmation.at_ms
        };
        let notice = Notice {
            id: format!("{incident}-notice"),
            incident: incident.into(),
            to: self.config.contact.to().into(),
            clusters: confirmation.clusters.clone(),
            data: confirmation.data.clone(),
            summary: confirmation.summary.clone(),
            confirmed_ms: confirmation.at_ms,
            confirmed_local: self.config.calendar.describe(confirmation.at_ms),
            sent_ms: 0,
        };
        Delivery {
            notice,
            due_ms,
            attempts: 0,
            next_attempt_ms: due_ms,
            last_error: None,
            delivered_ms: None,
            acknowledged: None,
        }
    }

    fn acknowledge_notice(&self, by: &str, id: &str) -> ApiResponse {
        let now = wall_clock_ms();
        let mut records = self.records.lock().unwrap();
        let delivery = records
            .incidents
            .iter_mut()
            .filter_map(|i| i.delivery.as_mut())
            .find(|d| d.notice.id == id && d.delivered_ms.is_some());
        let Some(delivery) = delivery else {
            return ApiResponse::problem(404, "Not Found", &format!("no delivered notice {id}"));
        };
        delivery.acknowledged.get_or_insert(Step { by: by.into(), at_ms: now });
        let answer = json!(delivery);
        if let Err(response) = self.persist(&records) {
            return response;
        }
        drop(records);
        self.record("notice-acknowledged", by, "success", id);
        ApiResponse::json(200, answer)
    }

    /// Pages, escalates and delivers notices every `DESK_TICK`.
    pub async fn run_forever(self: Arc<Self>) {
        loop {
            self.page_due().await;
            self.deliver_due().await;
            tokio::time::sleep(DESK_TICK).await;
        }
    }

    async fn page_due(&self) {
        let now = wall_clock_ms();
        let rota = &self.config.rota;
        if rota.is_empty() {
            return;
        }
        let due: Vec<(String, String, String)> = {
            let records = self.records.lock().unwrap();
            records
                .incidents
                .iter()
                .filter(|i| i.status == Status::Open)
                .filter(|i| i.pages.last().is_none_or(|p| p.at_ms + ESCALATE_AFTER.as_millis() as u64 <= now))
                .map(|i| {
                    let primary = self.config.calendar.week(now) as usize % rota.len();
                    let to = rota[(primary + i.pages.len()) % rota.len()].clone();
                    let what = i.alerts.iter().map(|a| a.rule.name()).collect::<Vec<_>>().join(", ");
                    (i.id.clone(), to, what)
                })
                .collect()
        };
        for (id, to, what) in due {
            let outcome = match &self.config.pager {
                Some(pager) => {
                    let body = serde_json::to_vec(&json!({ "incident": id, "to": to, "alerts": what })).expect("JSON");
                    match pager.call("POST", "/v1/pages", Some(body)).await {
                        Ok((200..=299, _)) => Ok(()),
                        Ok((status, _)) => Err(format!("the pager answered {status}")),
                        Err(error) => Err(error.to_string()),
                    }
                }
                None => Err("no pager: shown on the desk".to_string()),
            };
            let delivered = outcome.is_ok();
            let mut records = self.records.lock().unwrap();
            if let Some(incident) = records.incidents.iter_mut().find(|i| i.id == id && i.status == Status::Open) {
                incident.pages.push(Page { to: to.clone(), at_ms: now, delivered });
                if self.persist(&records).is_ok() {
                    drop(records);
                    match &outcome {
                        Ok(()) => self.record("incident-paged", &to, "success", &id),
                        Err(error) => self.record("incident-paged", &to, "failure", &format!("{id}: {error}")),
                    }
                }
            }
        }
    }

    async fn deliver_due(&self) {
        let now = wall_clock_ms();
        let due: Vec<Notice> = {
            let records = self.records.lock().unwrap();
            records
                .incidents
                .iter()
                .filter_map(|i| i.delivery.as_ref())
                .filter(|d| d.delivered_ms.is_none() && d.next_attempt_ms <= now)
                .map(|d| Notice { sent_ms: now, ..d.notice.clone() })
                .collect()
        };
        for notice in due {
            let outcome = self.config.contact.deliver(&notice).await;
            let done = wall_clock_ms();
            let mut records = self.records.lock().unwrap();
            let Some(delivery) =
                records.incidents.iter_mut().filter_map(|i| i.delivery.as_mut()).find(|d| d.notice.id == notice.id)
            else {
                continue;
            };
            delivery.attempts += 1;
            match &outcome {
                Ok(()) => {
                    delivery.delivered_ms = Some(done);
                    delivery.notice = notice.clone();
                    delivery.last_error = None;
                }
                Err(error) => {
                    let backoff = (10_000u64 << delivery.attempts.min(10)).min(NOTICE_RETRY_MAX.as_millis() as u64);
                    delivery.next_attempt_ms = done + backoff;
                    delivery.last_error = Some(error.clone());
                }
            }
            if self.persist(&records).is_ok() {
                drop(records);
                match outcome {
                    Ok(()) => self.record("notice-delivered", &notice.to, "success", &notice.id),
                    Err(error) => {
                        self.record("notice-delivery-failed", &notice.to, "failure", &format!("{}: {error}", notice.id))
                    }
                }
            }
        }
    }
}

/// The incidents a desk wrote to `disk` (for a harness that judges them after the run).
pub fn stored_incidents(disk: &dyn Disk) -> Result<Vec<Incident>, String> {
    match disk.read(RECORDS_FILE).map_err(|e| e.to_string())? {
        Some(bytes) => Ok(serde_json::from_slice::<Records>(&bytes).map_err(|e| e.to_string())?.incidents),
        None => Ok(Vec::new()),
    }
}

impl Responder for Desk {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        let Some((principal, caller)) = self.authenticate(request) else {
            self.record("sign-in", "unknown", "failure", &format!("{} {}", request.method, request.path));
            return ApiResponse::problem(401, "Unauthorized", "a known principal and its token are required");
        };
        let parts: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        let allowed = match (caller, request.method, parts.as_slice()) {
            (Caller::Detection, "POST", ["v1", "alerts"]) => return self.take_alert(request.body),
            (Caller::Responder, "GET", ["v1", "incidents"]) => {
                let records = self.records.lock().unwrap();
                return ApiResponse::json(200, json!({ "incidents": records.incidents }));
            }
            (Caller::Responder, "GET", ["v1", "incidents", id]) => {
                let records = self.records.lock().unwrap();
                return match records.incidents.iter().find(|i| i.id == *id) {
                    Some(incident) => ApiResponse::json(200, json!(incident)),
                    None => ApiResponse::problem(404, "Not Found", &format!("no incident {id}")),
                };
            }
            (Caller::Responder, "POST", ["v1", "incidents", id, step]) => {
                return self.step(&principal, id, step, request.body)
            }
            (Caller::Contact, "POST", ["v1", "notices", id, "acknowledge"]) => {
                return self.acknowledge_notice(&principal, id)
            }
            (_, "GET" | "POST", ["v1", "alerts" | "incidents" | "notices", ..]) => false,
            _ => true,
        };
        if allowed {
            return ApiResponse::problem(404, "Not Found", &format!("no {} {}", request.method, request.path));
        }
        self.record("refused", &principal, "refused", &format!("{} {}", request.method, request.path));
        ApiResponse::problem(403, "Forbidden", &format!("{principal} may not {} {}", request.method, request.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryDisk;
    use crate::net::api::token_hash;

    fn desk(bugs: PlantedBugs, spool: &MemoryDisk) -> Arc<Desk> {
        let principals =
            [("detection", Caller::Detection), ("ana", Caller::Responder), ("ciso@customer", Caller::Contact)]
                .into_iter()
                .map(|(name, caller)| (name.to_string(), (token_hash(&format!("t-{name}")), caller)))
                .collect();
        let config = DeskConfig {
            principals,
            rota: vec!["ana".into()],
            calendar: Calendar::new("Europe/Berlin", &["2027-03-29".into()]).unwrap(),
            pager: None,
            contact: NoticeChannel::Spool { to: "ciso@customer".into(), disk: Arc::new(spool.clone()) },
            events: SecurityEvents::disabled(),
            bugs,
        };
        Desk::open(config, Arc::new(MemoryDisk::new())).unwrap()
    }

    fn call(desk: &Desk, who: &str, method: &str, path: &str, body: &str) -> ApiResponse {
        use base64::Engine;
        let authorization =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{who}:t-{who}")));
        desk.respond(&ApiRequest {
            method,
            path,
            query: "",
            authorization: Some(&authorization),
            body: body.as_bytes(),
        })
    }

    fn alert(id: &str, actor: &str, network: &str) -> String {
        format!(
            r#"{{"id":"{id}","rule":"new-network","actor":"{actor}","network":"{network}","first_ms":1,"tripped_ms":2,"events":1,"detail":"d"}}"#
        )
    }

    #[tokio::test]
    async fn an_alert_opens_an_incident_whose_confirmation_sends_the_notice() {
        let spool = MemoryDisk::new();
        let desk = desk(PlantedBugs::none(), &spool);
        assert_eq!(call(&desk, "detection", "POST", "/v1/alerts", &alert("a1", "key", "198.51.100.7")).status, 201);
        assert_eq!(
            call(&desk, "detection", "POST", "/v1/alerts", &alert("a1", "key", "198.51.100.7")).status,
            200,
            "again"
        );
        assert_eq!(call(&desk, "detection", "POST", "/v1/alerts", &alert("a2", "other", "198.51.100.7")).status, 201);
        assert_eq!(desk.records.lock().unwrap().incidents.len(), 1, "same network, same incident");
        assert_eq!(call(&desk, "ana", "POST", "/v1/alerts", &alert("a3", "x", "y")).status, 403, "not detection");
        assert_eq!(
            call(&desk, "ana", "POST", "/v1/incidents/INC-0001/confirm", r#"{"clusters":[],"data":"x"}"#).status,
            400
        );
        let body = r#"{"clusters":["lkc-1"],"data":"topic orders, read","summary":"leaked key"}"#;
        assert_eq!(call(&desk, "ana", "POST", "/v1/incidents/INC-0001/confirm", body).status, 200);
        assert_eq!(call(&desk, "ana", "POST", "/v1/incidents/INC-0001/confirm", body).status, 409);
        assert_eq!(
            call(&desk, "ana", "POST", "/v1/incidents/INC-0001/close", r#"{"reason":"r"}"#).status,
            409,
            "not notified"
        );
        desk.deliver_due().await;
        let written: Notice =
            serde_json::from_slice(&spool.read("notices/INC-0001-notice.json").unwrap().unwrap()).unwrap();
        assert_eq!((written.clusters.as_slice(), written.to.as_str()), (&["lkc-1".to_string()][..], "ciso@customer"));
        let acknowledged = call(&desk, "ciso@customer", "POST", "/v1/notices/INC-0001-notice/acknowledge", "");
        assert_eq!(acknowledged.status, 200);
        let incident = desk.records.lock().unwrap().incidents[0].clone();
        let delivery = incident.delivery.unwrap();
        assert!(delivery.delivered_ms.unwrap() >= incident.confirmation.unwrap().at_ms);
        assert_eq!(delivery.acknowledged.unwrap().by, "ciso@customer");
    }

    #[test]
    fn the_planted_late_notice_waits_for_office_hours() {
        let spool = MemoryDisk::new();
        let friday_evening: u64 =
            "2027-03-26T18:30[Europe/Berlin]".parse::<jiff::Zoned>().unwrap().timestamp().as_millisecond() as u64;
        let confirmation = Confirmation {
            by: "ana".into(),
            at_ms: friday_evening,
            clusters: vec!["c".into()],
            data: "d".into(),
            summary: String::new(),
        };
        assert_eq!(desk(PlantedBugs::none(), &spool).delivery("INC-1", &confirmation).due_ms, friday_evening);
        let late =
            desk(PlantedBugs::from_names(["late-breach-notice"]).unwrap(), &spool).delivery("INC-1", &confirmation);
        assert_eq!((late.due_ms - friday_evening) / 3_600_000, 85, "Tuesday 09:00, past the 72 hours");
    }
}
