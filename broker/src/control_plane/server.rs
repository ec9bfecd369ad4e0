//! The control plane's process: HTTPS on port 443 only (C01), the same TLS policy as the
//! brokers, HTTP/1.1 by hyper, the state machine behind a lock, and its records written
//! durably after every change and before the answer (an acknowledged change survives a crash).
//! It listens; it never dials a broker (C14).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::api::{self, ApiRequest, ApiResponse, BODY_BYTES_MAX};
use super::audit::{AuditResult, CONTROL_PLANE_SOURCE};
use super::backup;
use super::state::{ControlPlane, ControlPlaneConfig, Records};
use crate::log::Disk;
use crate::net::http::{accept_https_forever, wall_clock_ms, Responder};
use crate::net::Dialer;
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::security::tls::{self, CryptoProvider, TlsMaterial};

/// The control plane's only port (C01).
pub const CONTROL_PLANE_PORT: u16 = 443;
pub const RECORDS_FILE: &str = "control-plane/records.json";

pub struct ControlPlaneServerConfig {
    pub listen_ip: IpAddr,
    pub tls: TlsMaterial,
    pub crypto: Arc<CryptoProvider>,
    pub plane: ControlPlaneConfig,
    /// Makes ids, secrets, salts and session tokens ([`crate::entropy::os`] in real mode).
    pub random: crate::entropy::Generator,
    /// Only the planted bug `control-plane-dials-broker` ever uses it.
    pub dialer: Dialer,
    /// Where the brokers listen (only for the planted bug).
    pub broker_addresses: Vec<SocketAddr>,
    pub bugs: PlantedBugs,
    /// Storage in another zone for backups (C21).
    pub backup_disk: Arc<dyn Disk>,
    /// Where its audit events also go (C12); `None`: nowhere.
    pub log_store: Option<crate::log_store::shipper::ShippingConfig>,
    /// The security incident desk, served under `/v1/alerts`, `/v1/incidents` and
    /// `/v1/notices` with its own principals (C23); `None`: not here.
    pub desk: Option<Arc<crate::incidents::desk::Desk>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneServerError {
    /// TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// Port 443 could not be bound.
    #[error("cannot listen on {address}: {source}{hint}")]
    Bind { address: SocketAddr, source: std::io::Error, hint: &'static str },
    /// The records could not be read or written.
    #[error("control-plane storage: {0}")]
    Storage(#[from] std::io::Error),
    /// The stored records are not ours or are damaged.
    #[error("control-plane records are unreadable: {0}")]
    Records(#[from] serde_json::Error),
}

pub struct ControlPlaneServer {
    plane: Mutex<ControlPlane>,
    disk: Arc<dyn Disk>,
    backup_disk: Arc<dyn Disk>,
    pub address: SocketAddr,
    dialer: Dialer,
    broker_addresses: Vec<SocketAddr>,
    bugs: PlantedBugs,
    /// Its own audit events, for the security log store (C12).
    security_events: crate::log_store::shipper::SecurityEvents,
    desk: Option<Arc<crate::incidents::desk::Desk>>,
}

impl ControlPlaneServer {
    /// Loads the records from `disk` (empty on first start), binds 443 and serves.
    pub async fn start(
        config: ControlPlaneServerConfig,
        disk: Arc<dyn Disk>,
    ) -> Result<Arc<ControlPlaneServer>, ControlPlaneServerError> {
        let (records, restored) = match disk.read(RECORDS_FILE)? {
            Some(bytes) => (serde_json::from_slice(&bytes)?, false),
            // Planted: start afresh as if there were no backup.
            None if config.bugs.is_on(PlantedBug::RestoreSkipsBackup) => (Records::default(), false),
            // Its own storage is gone (a lost zone): restore from the backup in another zone.
            None => match backup::latest(config.backup_disk.as_ref()) {
                Some(records) => (records, true),
                None => (Records::default(), false),
            },
        };
        if restored {
            let records: &Records = &records;
            tracing::warn!(
                events = records.audit.len(),
                clusters = records.clusters.len(),
                "control-plane storage empty: restored from the backup"
            );
            disk.replace_durably(RECORDS_FILE, &serde_json::to_vec(records)?)?;
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&config.tls, &config.crypto)?);
        let address = SocketAddr::new(config.listen_ip, CONTROL_PLANE_PORT);
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|source| {
            let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
                " (ports below 1024 need privilege: run as root, or allow it once with `sudo setcap cap_net_bind_service=+ep target/release/broker`, or lower `net.ipv4.ip_unprivileged_port_start`; the port stays 443)"
            } else {
                ""
            };
            ControlPlaneServerError::Bind { address, source, hint }
        })?;
        let security_events = crate::log_store::shipper::ShippingConfig::events(
            config.log_store.as_ref(),
            &config.tls.ca_cert_pem,
            &config.crypto,
        )?;
        let server = Arc::new(ControlPlaneServer {
            security_events,
            desk: config.desk,
            plane: Mutex::new(ControlPlane::new(config.plane, records, config.random)),
            disk,
            backup_disk: config.backup_disk,
            address,
            dialer: config.dialer,
            broker_addresses: config.broker_addresses,
            bugs: config.bugs,
        });
        tracing::info!(%address, "control plane listening");
        if server.bugs.is_on(PlantedBug::AdminListenerOpen) {
            // Planted: a plaintext "health" listener beside 443.
            let health =
                tokio::net::TcpListener::bind(SocketAddr::new(address.ip(), 8080)).await.map_err(|source| {
                    ControlPlaneServerError::Bind { address: SocketAddr::new(address.ip(), 8080), source, hint: "" }
                })?;
            tokio::spawn(async move {
                while let Ok((stream, _)) = health.accept().await {
                    // Waits for a request that is never parsed.
                    tokio::spawn(async move {
                        let _held = stream;
                        std::future::pending::<()>().await;
                    });
                }
            });
        }
        tokio::spawn(server.clone().snapshot_forever());
        accept_https_forever(listener, acceptor, server.clone(), "control plane");
        Ok(server)
    }

    /// Runs `change` on the state machine and persists the records if it changed them (for
    /// bootstrapping an organization; requests go through the API).
    pub fn with_plane<T>(&self, change: impl FnOnce(&mut ControlPlane) -> T) -> Result<T, ControlPlaneServerError> {
        let mut plane = self.plane.lock().unwrap();
        let before = plane.records().audit.len();
        let outcome = change(&mut plane);
        if plane.records().audit.len() != before {
            self.persist(&plane)?;
        }
        Ok(outcome)
    }

    /// Its own disk, then the continuous backup in the other zone, before any answer.
    fn persist(&self, plane: &ControlPlane) -> Result<(), ControlPlaneServerError> {
        let bytes = serde_json::to_vec(plane.records())?;
        self.disk.replace_durably(RECORDS_FILE, &bytes)?;
        backup::write_continuous(self.backup_disk.as_ref(), &bytes)?;
        Ok(())
    }

    /// A point-in-time snapshot every `SNAPSHOT_INTERVAL` when something changed.
    async fn snapshot_forever(self: Arc<Self>) {
        let mut snapshotted = None;
        loop {
            tokio::time::sleep(backup::SNAPSHOT_INTERVAL).await;
            let (length, bytes) = {
                let plane = self.plane.lock().unwrap();
                (plane.records().audit.len(), serde_json::to_vec(plane.records()))
            };
            if snapshotted == Some(length) {
                continue;
            }
            let written = bytes
                .map_err(ControlPlaneServerError::from)
                .and_then(|bytes| Ok(backup::write_snapshot(self.backup_disk.as_ref(), &bytes, wall_clock_ms())?));
            match written {
                Ok(()) => snapshotted = Some(length),
                Err(error) => tracing::warn!(%error, "control-plane snapshot not written; retrying"),
            }
        }
    }
}

impl Responder for ControlPlaneServer {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    /// Runs the request on the state machine; a change is on disk before the answer leaves.
    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        if let Some(desk) = &self.desk {
            if ["/v1/alerts", "/v1/incidents", "/v1/notices"].iter().any(|p| request.path.starts_with(p)) {
                return desk.respond(request);
            }
        }
        let mut plane = self.plane.lock().unwrap();
        let (audit_before, version_before) = (plane.records().audit.len(), plane.data_plane_version());
        let response = api::handle(&mut plane, request, wall_clock_ms());
        if plane.records().audit.len() != audit_before {
            if let Err(error) = self.persist(&plane) {
                tracing::error!(%error, "control plane: cannot persist records");
                return ApiResponse::problem(503, "Service Unavailable", "the change could not be made durable; retry");
            }
            // Its own decisions (the brokers ship theirs themselves).
            for event in plane.records().audit[audit_before..].iter().filter(|e| e.source == CONTROL_PLANE_SOURCE) {
                let outcome = match event.result {
                    AuditResult::Success => "success",
                    AuditResult::Failure => "failure",
                    AuditResult::Denied => "refused",
                };
                let action = event.kind.strip_prefix("io.faultline.").unwrap_or(&event.kind);
                self.security_events.record("control-plane", action, &event.principal, outcome, "", &event.subject);
            }
        }
        if plane.data_plane_version() != version_before && self.bugs.is_on(PlantedBug::ControlPlaneDialsBroker) {
            // Planted: "nudge" the brokers to pull now, by opening connections to them.
            for address in self.broker_addresses.clone() {
                let dial = (self.dialer)(address);
                tokio::spawn(async move {
                    let _ = crate::clock::timeout(Duration::from_secs(5), dial).await;
                });
            }
        }
        response
    }
}
