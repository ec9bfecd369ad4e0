//! The key service: HTTPS on port 443 of its own machines, JSON calls shaped after AWS KMS's
//! (`POST /v1/Encrypt`, `/v1/Decrypt`, `/v1/RotateKey`, ...), callers authenticated by HTTP
//! Basic (principal and token, the token compared by its SHA-256). Keys are written durably
//! after every change and every call's audit record before its answer.
//!
//! `KeyService` is the store (the provider's replicated backend, whose durability is its
//! promise, not ours); `KmsServer` is one frontend machine serving it. Real mode runs one of
//! each; the simulation runs a frontend per zone over one store, so a zone outage takes a
//! frontend down, never the keys.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::keys::{KeyRecords, KeyStore, KmsError};
use crate::encryption::WrappedKey;
use crate::log::Disk;
use crate::net::http::{accept_https_forever, wall_clock_ms, ApiRequest, ApiResponse, Responder};
use crate::planted_bugs::PlantedBugs;
use crate::security::tls::{self, CryptoProvider, TlsMaterial};

/// The key service's only port (C01).
pub const KMS_PORT: u16 = 443;
pub const KEYS_FILE: &str = "kms/keys.json";
pub const AUDIT_FILE: &str = "kms/audit.jsonl";
const BODY_BYTES_MAX: usize = 16 * 1024;
/// How often scheduled deletions are carried out.
const DELETION_TICK: Duration = Duration::from_secs(60);

/// One frontend machine's listener.
pub struct KmsServerConfig {
    pub listen_ip: IpAddr,
    pub tls: TlsMaterial,
    pub crypto: Arc<CryptoProvider>,
    /// Where this frontend ships its refusals (C12); `None`: nowhere.
    pub log_store: Option<crate::log_store::shipper::ShippingConfig>,
}

/// A frontend: the store's answers, and every refusal also shipped to the security log.
struct Frontend {
    service: Arc<KeyService>,
    events: crate::log_store::shipper::SecurityEvents,
}

impl Responder for Frontend {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        let response = self.service.respond(request);
        if matches!(response.status, 401 | 403 | 409) {
            let answer: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
            let principal = crate::net::api::basic_principal(request.authorization, |p| self.service.principals.get(p))
                .unwrap_or_else(|| "unknown".into());
            let detail =
                format!("{} {}: {}", request.method, request.path, answer["detail"].as_str().unwrap_or_default());
            let action = answer["title"].as_str().unwrap_or("refused");
            self.events.record("key-service", action, &principal, "refused", "", &detail);
        }
        response
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KmsServerError {
    /// TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The port could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The key records could not be read or written.
    #[error("key-service storage: {0}")]
    Storage(#[from] std::io::Error),
    /// The stored key records are damaged.
    #[error("key records are unreadable: {0}")]
    Records(#[from] serde_json::Error),
}

/// The keys of a region and who may call.
pub struct KeyService {
    store: Mutex<KeyStore>,
    disk: Arc<dyn Disk>,
    /// Principal name to the SHA-256 (hex) of its token.
    principals: BTreeMap<String, String>,
}

/// A frontend serving a `KeyService`.
pub struct KmsServer {
    pub address: SocketAddr,
}

pub use crate::net::api::token_hash;

impl KeyService {
    /// Loads the keys from `disk` (none on first start) and runs the scheduled deletions.
    /// `random` makes master keys, ids and nonces ([`crate::entropy::os`] in real mode).
    pub fn open(
        region: &str,
        principals: BTreeMap<String, String>,
        random: crate::entropy::Generator,
        disk: Arc<dyn Disk>,
        bugs: PlantedBugs,
    ) -> Result<Arc<KeyService>, KmsServerError> {
        let records: KeyRecords = match disk.read(KEYS_FILE)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => KeyRecords::default(),
        };
        Ok(Arc::new(KeyService { store: Mutex::new(KeyStore::new(region, records, random, bugs)), disk, principals }))
    }

    /// Carries out due deletions every `DELETION_TICK`, forever.
    pub async fn delete_due_keys_forever(self: Arc<Self>) {
        loop {
            tokio::time::sleep(DELETION_TICK).await;
            let mut store = self.store.lock().unwrap();
            let destroyed = store.tick(wall_clock_ms());
            for key in &destroyed {
                tracing::warn!(key, "key material destroyed (scheduled deletion)");
            }
            if let Err(error) = self.persist(&mut store, !destroyed.is_empty()) {
                tracing::error!(%error, "key service: cannot persist a deletion; retrying");
            }
        }
    }

    /// The store itself, for a harness that must look at what it holds.
    pub fn with_store<T>(&self, look: impl FnOnce(&KeyStore) -> T) -> T {
        look(&self.store.lock().unwrap())
    }

    /// The audit records first (appended and synced), then the keys if they changed.
    fn persist(&self, store: &mut KeyStore, keys_changed: bool) -> Result<(), KmsServerError> {
        let mut lines = Vec::new();
        for record in store.take_audit() {
            lines.extend_from_slice(&serde_json::to_vec(&record)?);
            lines.push(b'\n');
        }
        if !lines.is_empty() {
            self.disk.append(AUDIT_FILE, &lines)?;
            self.disk.sync(AUDIT_FILE)?;
        }
        if keys_changed {
            self.disk.replace_durably(KEYS_FILE, &serde_json::to_vec(store.records())?)?;
        }
        Ok(())
    }

    fn authenticate(&self, authorization: Option<&str>) -> Option<String> {
        crate::net::api::basic_principal(authorization, |principal| self.principals.get(principal))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCall {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantCall {
    key_id: String,
    grantee: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletionCall {
    key_id: String,
    wait_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptCall {
    key_id: String,
    /// Base64.
    plaintext: String,
    context: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecryptCall {
    wrapped: WrappedKey,
    context: String,
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, KmsError> {
    serde_json::from_slice(body).map_err(|error| KmsError::Invalid(error.to_string()))
}

/// The error's name (AWS KMS's exception names) and its HTTP status.
fn status_of(error: &KmsError) -> (u16, &'static str) {
    match error {
        KmsError::NotFound(_) => (404, "NotFoundException"),
        KmsError::AccessDenied { .. } => (403, "AccessDeniedException"),
        KmsError::Disabled(_) => (409, "DisabledException"),
        KmsError::PendingDeletion(_) | KmsError::Destroyed(_) => (409, "KMSInvalidStateException"),
        KmsError::NoSuchVersion { .. } | KmsError::InvalidCiphertext(_) => (400, "InvalidCiphertextException"),
        KmsError::Invalid(_) => (400, "ValidationException"),
    }
}

impl KmsServer {
    /// Binds `config.listen_ip:443` and serves `service` there.
    pub async fn start(config: KmsServerConfig, service: Arc<KeyService>) -> Result<KmsServer, KmsServerError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls::server_config(&config.tls, &config.crypto)?);
        let address = SocketAddr::new(config.listen_ip, KMS_PORT);
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| KmsServerError::Bind(address, e))?;
        tracing::info!(%address, keys = service.store.lock().unwrap().records().keys.len(), "key service listening");
        let events = crate::log_store::shipper::ShippingConfig::events(
            config.log_store.as_ref(),
            &config.tls.ca_cert_pem,
            &config.crypto,
        )?;
        accept_https_forever(listener, acceptor, Arc::new(Frontend { service, events }), "key service");
        Ok(KmsServer { address })
    }
}

impl Responder for KeyService {
    const BODY_BYTES_MAX: usize = BODY_BYTES_MAX;

    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse {
        let Some(principal) = self.authenticate(request.authorization) else {
            return ApiResponse::problem(401, "Unauthorized", "a known principal and its token are required");
        };
        let Some(action) = request.path.strip_prefix("/v1/").filter(|_| request.method == "POST") else {
            return ApiResponse::problem(404, "Not Found", "calls are POST /v1/<Action>");
        };
        let now = wall_clock_ms();
        let mut store = self.store.lock().unwrap();
        let body = request.body;
        let described = |outcome: Result<super::KeyDescription, KmsError>| outcome.map(|d| json!(d));
        let (outcome, keys_changed) = match action {
            "CreateKey" => (Ok(json!(store.create_key(now, &principal))), true),
            "DescribeKey" => {
                (parse::<KeyCall>(body).and_then(|c| described(store.describe(now, &principal, &c.key_id))), false)
            }
            "RotateKey" => {
                (parse::<KeyCall>(body).and_then(|c| described(store.rotate(now, &principal, &c.key_id))), true)
            }
            "DisableKey" => {
                (parse::<KeyCall>(body).and_then(|c| described(store.disable(now, &principal, &c.key_id))), true)
            }
            "EnableKey" => {
                (parse::<KeyCall>(body).and_then(|c| described(store.enable(now, &principal, &c.key_id))), true)
            }
            "CancelKeyDeletion" => (
                parse::<KeyCall>(body).and_then(|c| described(store.cancel_deletion(now, &principal, &c.key_id))),
                true,
            ),
            "ScheduleKeyDeletion" => (
                parse::<DeletionCall>(body)
                    .and_then(|c| described(store.schedule_deletion(now, &principal, &c.key_id, c.wait_days))),
                true,
            ),
            "CreateGrant" => (
                parse::<GrantCall>(body).and_then(|c| described(store.grant(now, &principal, &c.key_id, &c.grantee))),
                true,
            ),
            "CheckGrant" => (
                parse::<GrantCall>(body)
                    .and_then(|c| described(store.check_grant(now, &principal, &c.key_id, &c.grantee))),
                false,
            ),
            "RevokeGrant" => (
                parse::<GrantCall>(body)
                    .and_then(|c| described(store.revoke_grant(now, &principal, &c.key_id, &c.grantee))),
                true,
            ),
            // Wrapping may create a service alias's key on first use.
            "Encrypt" => (
                parse::<EncryptCall>(body).and_then(|c| {
                    let plaintext = zeroize::Zeroizing::new(
                        base64::engine::general_purpose::STANDARD
                            .decode(&c.plaintext)
                            .map_err(|e| KmsError::Invalid(format!("plaintext: {e}")))?,
                    );
                    store.wrap(now, &principal, &c.key_id, &plaintext, &c.context).map(|w| json!(w))
                }),
                true,
            ),
            "Decrypt" => (
                parse::<DecryptCall>(body).and_then(|c| {
                    store.unwrap(now, &principal, &c.wrapped, &c.context).map(|u| {
                        json!({
                            "plaintext": base64::engine::general_purpose::STANDARD.encode(u.plaintext.as_slice()),
                            "current_version": u.current_version,
                        })
                    })
                }),
                false,
            ),
            "ReEncrypt" => (
                parse::<DecryptCall>(body)
                    .and_then(|c| store.rewrap(now, &principal, &c.wrapped, &c.context).map(|w| json!(w))),
                false,
            ),
            _ => return ApiResponse::problem(404, "Not Found", &format!("no action {action}")),
        };
        if let Err(error) = self.persist(&mut store, keys_changed && outcome.is_ok()) {
            tracing::error!(%error, "key service: cannot persist");
            return ApiResponse::problem(503, "Service Unavailable", "the call could not be made durable; retry");
        }
        match outcome {
            Ok(value) => ApiResponse::json(200, value),
            Err(error) => {
                let (status, code) = status_of(&error);
                ApiResponse::problem(status, code, &error.to_string())
            }
        }
    }
}
