//! Calls to the key service, for brokers (wrap, unwrap), the control plane and the harness
//! (key administration). Several endpoints (one per zone in the simulation): a call that cannot
//! reach one tries the next, and the one that answered is tried first next time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::keys::KeyDescription;
use crate::encryption::WrappedKey;
use crate::net::https_client::{HttpsClient, HttpsEndpoint};
use crate::net::Dialer;

/// How a caller reaches the key service and who it is there.
#[derive(Clone)]
pub struct KmsLinkConfig {
    pub endpoints: Vec<HttpsEndpoint>,
    pub principal: String,
    pub token: String,
}

impl std::fmt::Debug for KmsLinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsLinkConfig").field("endpoints", &self.endpoints).field("principal", &self.principal).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsCallError {
    /// The service answered no: `code` is its exception name (`DisabledException`, ...).
    #[error("key service refused ({status} {code}): {detail}")]
    Refused { status: u16, code: String, detail: String },
    /// No endpoint answered.
    #[error("key service unreachable: {0}")]
    Unreachable(String),
}

impl KmsCallError {
    /// The key refuses this caller (disabled, not granted, deleted): fail closed. Not a
    /// malformed call or an overloaded service.
    pub fn is_refusal(&self) -> bool {
        matches!(self, KmsCallError::Refused { status: 403 | 404 | 409, .. })
    }
}

pub struct KmsClient {
    clients: Vec<HttpsClient>,
    preferred: AtomicUsize,
    principal: String,
}

impl KmsClient {
    pub fn new(link: &KmsLinkConfig, tls: Arc<rustls::ClientConfig>, dialer: Dialer) -> KmsClient {
        let clients = link
            .endpoints
            .iter()
            .map(|endpoint| {
                HttpsClient::new(endpoint.clone(), tls.clone(), dialer.clone(), &link.principal, &link.token)
            })
            .collect();
        KmsClient { clients, preferred: AtomicUsize::new(0), principal: link.principal.clone() }
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    async fn call<T: DeserializeOwned>(&self, action: &str, body: Value) -> Result<T, KmsCallError> {
        let body = serde_json::to_vec(&body).expect("JSON");
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = String::from("no endpoints");
        for step in 0..self.clients.len() {
            let index = (start + step) % self.clients.len();
            match self.clients[index].call("POST", &format!("/v1/{action}"), Some(body.clone())).await {
                Ok((200, bytes)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return serde_json::from_slice(&bytes)
                        .map_err(|e| KmsCallError::Unreachable(format!("bad answer: {e}")));
                }
                Ok((status @ (500..=599), _)) => last = format!("status {status}"),
                Ok((status, bytes)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    let problem: Value = serde_json::from_slice(&bytes).unwrap_or_default();
                    let text = |field: &str| problem.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
                    return Err(KmsCallError::Refused { status, code: text("title"), detail: text("detail") });
                }
                Err(error) => last = error.to_string(),
            }
        }
        Err(KmsCallError::Unreachable(last))
    }

    /// Wraps key material under the master key's current version (AWS `Encrypt`).
    pub async fn wrap(&self, key_id: &str, plaintext: &[u8], context: &str) -> Result<WrappedKey, KmsCallError> {
        let plaintext = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plaintext));
        self.call("Encrypt", json!({ "key_id": key_id, "plaintext": plaintext.as_str(), "context": context })).await
    }

    /// Unwraps (AWS `Decrypt`): the material and the master key's current version.
    pub async fn unwrap(&self, wrapped: &WrappedKey, context: &str) -> Result<(Zeroizing<Vec<u8>>, u32), KmsCallError> {
        #[derive(serde::Deserialize)]
        struct Answer {
            plaintext: String,
            current_version: u32,
        }
        let answer: Answer = self.call("Decrypt", json!({ "wrapped": wrapped, "context": context })).await?;
        let (encoded, current_version) = (Zeroizing::new(answer.plaintext), answer.current_version);
        let material = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| KmsCallError::Unreachable(format!("bad answer: {e}")))?;
        Ok((Zeroizing::new(material), current_version))
    }

    /// Wraps again under the current version without the material leaving the service.
    pub async fn rewrap(&self, wrapped: &WrappedKey, context: &str) -> Result<WrappedKey, KmsCallError> {
        self.call("ReEncrypt", json!({ "wrapped": wrapped, "context": context })).await
    }

    pub async fn create_key(&self) -> Result<KeyDescription, KmsCallError> {
        self.call("CreateKey", json!({})).await
    }

    /// `RotateKey`, `DisableKey`, `EnableKey`, `CancelKeyDeletion` or `DescribeKey`.
    pub async fn key_action(&self, action: &str, key_id: &str) -> Result<KeyDescription, KmsCallError> {
        self.call(action, json!({ "key_id": key_id })).await
    }

    /// `CreateGrant` or `RevokeGrant`.
    pub async fn grant_action(
        &self,
        action: &str,
        key_id: &str,
        grantee: &str,
    ) -> Result<KeyDescription, KmsCallError> {
        self.call(action, json!({ "key_id": key_id, "grantee": grantee })).await
    }

    pub async fn schedule_deletion(&self, key_id: &str, wait_days: u32) -> Result<KeyDescription, KmsCallError> {
        self.call("ScheduleKeyDeletion", json!({ "key_id": key_id, "wait_days": wait_days })).await
    }
}
