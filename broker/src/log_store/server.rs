//! One replica of the log store: HTTPS on `LOG_STORE_PORT`, principals authenticated by HTTP
//! Basic with a role each.
//!
//! - `POST /v1/events` `{"events": [...]}`: sources ship events (only their own: the source must
//!   be `<principal>@...`); answered once the entries are synced.
//! - `GET /v1/entries?after=N&limit=M`: readers page through the chain.
//! - `GET /v1/verify`: the replica verifies its whole disk image now.
//! - `DELETE /v1/entries?before_ms=T`: the custodian deletes the segments older than `T`.
//! - Altering (`PUT`/`PATCH /v1/entries/N`) and truncating (`POST /v1/truncate`) are refused to
//!   everyone, as is deleting to anyone but the custodian.
//!
//! Every refusal, deletion and purge is itself an entry. A replica whose image fails
//! verification fails closed: it answers 503 to everything but `verify` and tells its peers.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::json;

use super::chain::{Chain, ChainError, Signer, TrustedKeys};
use super::shipper::{LogShipper, LogStoreLink, Outbox, SecurityEvents};
use super::{Event, Role, LOG_STORE_PORT, MAINTENANCE_INTERVAL, RETENTION};
use crate::log::Disk;
use crate::net::http::{bind_https, wall_clock_ms, ApiRequest, ApiResponse, Responder};
use crate::net::https_client::HttpsClient;
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::security::tls::{CryptoProvider, TlsMaterial};

/// Shipped batches are at most this large.
const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Entries per read page (and per repair request).
/// Entries per page of `GET /v1/entries`.
pub const PAGE_MAX: usize = 1_000;

/// A principal of the store: the SHA-256 (hex) of its token, and its role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_hash: String,
    pub role: Role,
}

pub struct LogStoreConfig {
    /// This replica's name (its signer name and its principal at its peers).
    pub name: String,
    /// This life's id, so that its own events never reuse an earlier life's names.
    pub life: String,
    pub principals: BTreeMap<String, Principal>,
    /// Every replica's checkpoint key (this one's included).
    pub trusted: TrustedKeys,
    pub bugs: PlantedBugs,
}

pub struct LogStore {
    name: String,
    /// The store's own events: appended here, and shipped to the peers by `maintain_forever`.
    own: SecurityEvents,
    outbox: Mutex<Option<Outbox>>,
    /// `Err`: the image failed verification; the replica serves nothing from it.
    chain: Mutex<Result<Chain, ChainError>>,
    principals: BTreeMap<String, Principal>,
    trusted: TrustedKeys,
    disk: Arc<dyn Disk>,
    bugs: PlantedBugs,
    /// Per peer: the last of its positions copied, in this life.
    cursors: Mutex<BTreeMap<String, u64>>,
}

impl LogStore {
    /// Opens (and verifies) the replica's image.
    pub fn open(config: LogStoreConfig, signer: Signer, disk: Arc<dyn Disk>) -> Arc<LogStore> {
        let chain = Chain::open(disk.clone(), signer, &config.trusted);
        if let Err(error) = &chain {
            tracing::error!(replica = config.name, %error, "log store: the chain does not verify; serving nothing");
        }
        let (own, outbox) = SecurityEvents::channel(&config.name, &config.life);
        let store = Arc::new(LogStore {
            own,
            outbox: Mutex::new(Some(outbox)),
            name: config.name,
            chain: Mutex::new(chain),
            principals: config.principals,
            trusted: config.trusted,
            disk,
            bugs: config.bugs,
            cursors: Mutex::default(),
        });
        store.note("started", "log-store", "success", "");
        store
    }

    /// Records one of the store's own events (refusals, purges): here, and on the peers.
    fn note(&self, action: &str, actor: &str, outcome: &str, detail: &str) {
        let event = self.own.event("log-store", action, actor, outcome, "", detail);
        tracing::info!(replica = self.name, action, actor, outcome, detail, "log store event");
        if let Ok(chain) = self.chain.lock().unwrap().as_mut() {
            if let Err(error) = chain.append(vec![event.clone()], wall_clock_ms()) {
                tracing::error!(replica = self.name, %error, "log store: cannot record its own event");
            }
        }
        self.own.send(event);
    }

    /// The replica's verdict on its image now.
    pub fn verify(&self) -> Result<super::chain::Verified, ChainError> {
        super::chain::verify(self.disk.as_ref(), &self.trusted)
    }

    /// Events held (`None`: the image failed verification).
    pub fn held(&self) -> Option<usize> {
        self.chain.lock().unwrap().as_ref().ok().map(Chain::len)
    }

    /// Ships the store's own events to its peers, and fills gaps from them and purges expired
    /// segments now and every `MAINTENANCE_INTERVAL`, forever. A replica whose image fails
    /// verification only raises the alarm (its peers record it).
    pub async fn maintain_forever(self: Arc<Self>, peers: Vec<(String, HttpsClient)>, to_peers: LogShipper) {
        if let Some(outbox) = self.outbox.lock().unwrap().take() {
            // One copy is here already: one peer more makes two.
            tokio::spawn(outbox.ship_forever(to_peers.with_quorum(1)));
        }
        let broken = self.chain.lock().unwrap().as_ref().err().cloned();
        if let Some(error) = broken {
            self.own.record("log-store", "chain-verification-failed", &self.name, "failure", "", &error.to_string());
            return;
        }
        loop {
            for (peer, client) in &peers {
                if let Err(error) = self.copy_from(peer, client).await {
                    tracing::info!(replica = self.name, peer, %error, "log store: repair from a peer failed");
                }
            }
            self.purge_expired();
            tokio::time::sleep(MAINTENANCE_INTERVAL).await;
        }
    }

    async fn copy_from(&self, peer: &str, client: &HttpsClient) -> Result<(), String> {
        loop {
            let after = self.cursors.lock().unwrap().get(peer).copied();
            let entries = read_page(client, after).await?;
            let Some(last) = entries.last().map(|e| e.position) else { return Ok(()) };
            let full = entries.len() == PAGE_MAX;
            let now = wall_clock_ms();
            let events: Vec<Event> =
                entries.into_iter().map(|e| e.event).filter(|e| e.invalid(now).is_none()).collect();
            let copied = match self.chain.lock().unwrap().as_mut() {
                Ok(chain) => chain.append(events, now).map_err(|e| e.to_string())?,
                Err(error) => return Err(error.to_string()),
            };
            let copied = copied.iter().flatten().count();
            if copied > 0 {
                tracing::info!(replica = self.name, peer, copied, "log store: copied entries from a peer");
            }
            self.cursors.lock().unwrap().insert(peer.into(), last);
            if !full {
                return Ok(());
            }
        }
    }

    fn purge_expired(&self) {
        let now = wall_clock_ms();
        let retention = if self.bugs.is_on(PlantedBug::RetentionPurgesEarly) {
            // Twelve months of thirty days.
            360 * 24 * 3_600_000
        } else {
            RETENTION.as_millis() as u64
        };
        if let Err(error) = self.delete_before(now.saturating_sub(retention), "retention", "purged") {
            tracing::error!(replica = self.name, %error, "log store: cannot purge");
        }
    }

    /// Removes the segments older than `before_ms`, recording it as `actor`'s `action`.
    fn delete_before(&self, before_ms: u64, actor: &str, action: &str) -> Result<serde_json::Value, String> {
        let purged = match self.chain.lock().unwrap().as_mut() {
            Ok(chain) => chain.purge(before_ms, wall_clock_ms()).map_err(|e| e.to_string())?,
            Err(error) => return Err(error.to_string()),
        };
        let Some(purged) = purged else { return Ok(json!({ "entries": 0 })) };
        let detail = format!(
            "entries {}..={} ({} entries, {} segments), all older than {before_ms}",
            purged.first, purged.last, purged.entries, purged.segments
        );
        self.note(action, actor, "success", &detail);
        Ok(json!(purged))
    }

    fn authenticate(&self, authorization: Option<&str>) -> Option<(String, Role)> {
        let principal =
            crate::net::api::basic_principal(authorization, |p| self.principals.get(p).map(|p| &p.token_hash))?;
        let role = self.principals[&principal].role;
        Some((principal, role))
    }

    /// Refuses `request`, recording who asked for what.
    fn refuse(
        &self,
        request: &ApiRequest<'_>,
        principal: &str,
        action: &str,
        status: u16,
        title: &str,
        detail: &str,
    ) -> ApiResponse {
        let target = if request.query.is_empty() {
            request.path.to_string()
        } else {
            format!("{}?{}", request.path, request.query)
        };
        self.note(action, principal, "refused", &format!("{} {target}: {detail}", request.method));
        ApiResponse::problem(status, title, detail)
    }

    fn ship(&self, request: &ApiRequest<'_>, principal: &str, role: Role) -> ApiResponse {
        let body = request.body;
        if !role.ships() {
            return self.refuse(
                request,
                principal,
                "refused-ship",
                403,
                "Forbidden",
                "this principal does not ship events",
            );
        }
        let batch: ShippedBatch = match serde_json::from_slice(body) {
            Ok(batch) => batch,
            Err(error) => {
                let detail = format!("malformed batch: {error}");
                return self.refuse(request, principal, "refused-malformed", 400, "Bad Request", &detail);
            }
        };
        let now = wall_clock_ms();
        let own = format!("{principal}@");
        for (index, event) in batch.events.iter().enumerate() {
            if !event.source.starts_with(&own) {
                let detail = format!("event {index}: source {:?} is not {principal}'s", event.source);
                return self.refuse(request, principal, "refused-forged-source", 403, "Forbidden", &detail);
            }
            if let Some(why) = event.invalid(now) {
                let detail = format!("event {index}: {why}");
                return self.refuse(request, principal, "refused-malformed", 400, "Bad Request", &detail);
            }
        }
        let appended = match self.chain.lock().unwrap().as_mut() {
            Ok(chain) => chain.append(batch.events, now),
            Err(error) => return ApiResponse::problem(503, "Service Unavailable", &error.to_string()),
        };
        match appended {
            Ok(positions) => ApiResponse::json(200, json!({ "positions": positions })),
            Err(error) => {
                tracing::error!(replica = self.name, %error, "log store: cannot append");
                ApiResponse::problem(503, "Service Unavailable", "the events could not be made durable; retry")
            }
        }
    }

    fn read(&self, request: &ApiRequest<'_>, principal: &str, role: Role) -> ApiResponse {
        let query = request.query;
        if !role.reads() {
            return self.refuse(
                request,
                principal,
                "refused-read",
                403,
                "Forbidden",
                "this principal does not read the log",
            );
        }
        let mut after = None;
        let mut limit = PAGE_MAX;
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match (name.as_ref(), value.parse::<u64>()) {
                ("after", Ok(value)) => after = Some(value),
                ("limit", Ok(value)) => limit = (value as usize).clamp(1, PAGE_MAX),
                _ => return ApiResponse::problem(400, "Bad Request", &format!("unknown or bad parameter {name}")),
            }
        }
        let chain = self.chain.lock().unwrap();
        match chain.as_ref().map_err(Clone::clone).and_then(|c| c.read_after(after, limit)) {
            Ok(entries) => ApiResponse::json(200, json!({ "entries": entries })),
            Err(error) => ApiResponse::problem(503, "Service Unavailable", &error.to_string()),
        }
    }

    fn delete(&self, request: &ApiRequest<'_>, principal: &str, role: Role) -> ApiResponse {
        let query = request.query;
        if role != Role::Custodian {
            let detail = "deletion is the custodian's alone";
            return self.refuse(request, principal, "refused-delete", 403, "Forbidden", detail);
        }
        let before = form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "before_ms")
            .and_then(|(_, value)| value.parse::<u64>().ok());
        let Some(before) = before else {
            return self.refuse(
                request,
                principal,
                "refused-delete",
                400,
                "Bad Request",
                "before_ms=<ms since the epoch> is required",
            );
        };
        match self.delete_before(before, principal, "deleted") {
            Ok(value) => ApiResponse::json(200, value),
            Err(error) => ApiResponse::problem(503, "Service Unavailable", &error),
        }
    }

    fn alter(&self, request: &ApiRequest<'_>, principal: &str) -> ApiResponse {
        let (path, body) = (request.path, request.body);
        let position = path.strip_prefix("/v1/entries/").and_then(|p| p.parse::<u64>().ok());
        if let (true, Some(position)) = (self.bugs.is_on(PlantedBug::LogEntryRewritable), position) {
            let detail = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["detail"].as_str().map(String::from))
                .unwrap_or_default();
            let rewritten = match self.chain.lock().unwrap().as_mut() {
                Ok(chain) => chain.rewrite(position, &detail).unwrap_or(false),
                Err(_) => false,
            };
            if rewritten {
                return ApiResponse::json(200, json!({ "position": position }));
            }
        }
        self.refuse(request, principal, "refused-alter", 403, "Forbidden", "entries are immutable")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippedBatch {
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct EntriesPage {
    entries: Vec<super::chain::Entry>,
}

/// One page (at most `PAGE_MAX`) of a replica's entries after position `after`, as a reader.
pub async fn read_page(client: &HttpsClient, after: Option<u64>) -> Result<Vec<super::chain::Entry>, String> {
    let query = after.map_or(String::new(), |a| format!("after={a}&"));
    let (status, body) =
        client.call("GET", &format!("/v1/entries?{query}limit={PAGE_MAX}"), None).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let page: EntriesPage = serde_json::from_slice(&body).map_err(|e| format!("bad page: {e}"))?;
    Ok(page.entries)
}

impl Responder for LogStore {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        let Some((principal, role)) = self.authenticate(request.authorization) else {
            self.note(
                "sign-in",
                "unknown",
                "failure",
                &format!("{} {} without valid credentials", request.method, request.path),
            );
            return ApiResponse::problem(401, "Unauthorized", "a known principal and its token are required");
        };
        if request.path == "/v1/verify" && request.method == "GET" {
            return match self.verify() {
                Ok(verified) => ApiResponse::json(
                    200,
                    json!({
                        "verified": true,
                        "entries": verified.entries,
                        "checkpoints": verified.checkpoints,
                        "segments": verified.segments.len(),
                        "last_position": verified.last.map(|(p, _)| p),
                    }),
                ),
                Err(error) => ApiResponse::json(200, json!({ "verified": false, "error": error.to_string() })),
            };
        }
        if self.chain.lock().unwrap().is_err() {
            return ApiResponse::problem(503, "Service Unavailable", "this replica's chain failed verification");
        }
        match (request.method, request.path) {
            ("POST", "/v1/events") => self.ship(request, &principal, role),
            ("GET", "/v1/entries") => self.read(request, &principal, role),
            ("DELETE", "/v1/entries") => self.delete(request, &principal, role),
            ("PUT" | "PATCH", path) if path.starts_with("/v1/entries/") => self.alter(request, &principal),
            ("POST", "/v1/truncate") => {
                self.refuse(request, &principal, "refused-truncate", 403, "Forbidden", "the log is never truncated")
            }
            (method, path) => ApiResponse::problem(404, "Not Found", &format!("no {method} {path}")),
        }
    }
}

pub struct LogStoreServerConfig {
    pub listen_ip: IpAddr,
    pub tls: TlsMaterial,
    pub crypto: Arc<CryptoProvider>,
}

/// Binds `listen_ip:LOG_STORE_PORT` and serves `store` there.
pub async fn start(config: LogStoreServerConfig, store: Arc<LogStore>) -> Result<SocketAddr, String> {
    let address = SocketAddr::new(config.listen_ip, LOG_STORE_PORT);
    tracing::info!(replica = store.name, entries = ?store.held(), "log store replica opened");
    let acceptor =
        crate::security::tls::acceptor(&config.tls, &config.crypto).map_err(|e| format!("log store: {e}"))?;
    bind_https(address, acceptor, store, "log store").await
}

/// A replica's links: to each peer as a reader (repair), and to the peers as a source (the
/// alarm of a broken image).
pub fn peer_links(
    name: &str,
    token: &str,
    replicas: &[(String, crate::net::https_client::HttpsEndpoint)],
    tls: Arc<rustls::ClientConfig>,
    dialer: crate::net::Dialer,
) -> (Vec<(String, HttpsClient)>, LogShipper) {
    let peers: Vec<_> = replicas.iter().filter(|(peer, _)| peer != name).collect();
    let readers = peers
        .iter()
        .map(|(peer, endpoint)| {
            (peer.clone(), HttpsClient::new(endpoint.clone(), tls.clone(), dialer.clone(), name, token))
        })
        .collect();
    let link = LogStoreLink {
        endpoints: peers.iter().map(|(_, endpoint)| endpoint.clone()).collect(),
        principal: name.into(),
        token: token.into(),
    };
    (readers, LogShipper::new(&link, tls, dialer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryDisk;
    use base64::Engine;

    fn store(bugs: PlantedBugs) -> Arc<LogStore> {
        let signer = Signer::from_seed("log-store-1", &[1; 32]);
        let trusted = TrustedKeys::from([(signer.name.clone(), signer.public_key())]);
        let principals = [("broker-1", Role::Source), ("detection", Role::Reader), ("custodian", Role::Custodian)]
            .into_iter()
            .map(|(name, role)| {
                (
                    name.to_string(),
                    Principal { token_hash: crate::net::api::token_hash(&format!("{name}-token")), role },
                )
            })
            .collect();
        let config = LogStoreConfig { name: "log-store-1".into(), life: "0".into(), principals, trusted, bugs };
        LogStore::open(config, signer, Arc::new(MemoryDisk::new()))
    }

    fn call(
        store: &LogStore,
        principal: &str,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{principal}-token"))
        );
        let response = store.respond(&ApiRequest {
            method,
            path,
            query,
            authorization: Some(&authorization),
            body: body.as_bytes(),
        });
        (response.status, serde_json::from_slice(&response.body).unwrap_or_default())
    }

    fn actions(store: &LogStore) -> Vec<String> {
        let (_, page) = call(store, "detection", "GET", "/v1/entries", "", "");
        page["entries"].as_array().unwrap().iter().map(|e| e["event"]["action"].as_str().unwrap().to_string()).collect()
    }

    const EVENT: &str = r#"{"events":[{"source":"broker-1@x","seq":0,"at_ms":0,"category":"authentication","action":"sasl-plain","actor":"key-1","outcome":"failure"}]}"#;

    #[test]
    fn tampering_is_refused_and_logged_and_only_the_custodian_deletes() {
        let store = store(PlantedBugs::none());
        assert_eq!(call(&store, "broker-1", "POST", "/v1/events", "", EVENT).0, 200);
        assert_eq!(call(&store, "broker-1", "PUT", "/v1/entries/1", "", r#"{"detail":"x"}"#).0, 403);
        assert_eq!(call(&store, "detection", "DELETE", "/v1/entries", "before_ms=99", "").0, 403);
        assert_eq!(call(&store, "broker-1", "POST", "/v1/truncate", "", "").0, 403);
        // Another component's name, and garbage.
        let forged = EVENT.replace("broker-1@x", "kms@x");
        assert_eq!(call(&store, "broker-1", "POST", "/v1/events", "", &forged).0, 403);
        let (status, problem) = call(&store, "broker-1", "POST", "/v1/events", "", r#"{"events":[{"seq":1}]}"#);
        assert_eq!(status, 400);
        assert!(problem["detail"].as_str().unwrap().contains("malformed batch"), "{problem}");
        assert_eq!(
            actions(&store),
            [
                "started",
                "sasl-plain",
                "refused-alter",
                "refused-delete",
                "refused-truncate",
                "refused-forged-source",
                "refused-malformed"
            ]
        );
        let (status, deleted) =
            call(&store, "custodian", "DELETE", "/v1/entries", &format!("before_ms={}", u64::MAX), "");
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(actions(&store), ["deleted"]);
        assert_eq!(call(&store, "detection", "GET", "/v1/verify", "", "").1["verified"], true);
    }

    #[test]
    fn planted_log_entry_rewritable_alters_an_entry() {
        let store = store(PlantedBugs::from_names(["log-entry-rewritable"]).unwrap());
        call(&store, "broker-1", "POST", "/v1/events", "", EVENT);
        assert_eq!(call(&store, "broker-1", "PUT", "/v1/entries/1", "", r#"{"detail":"x"}"#).0, 200);
    }
}
