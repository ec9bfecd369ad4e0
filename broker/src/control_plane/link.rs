//! A broker's link to the control plane (C14): it pulls the data-plane snapshot (keys, ACLs,
//! hosted clusters) over a connection it opens, every `PULL_INTERVAL`, and keeps serving with
//! the last one it had while the control plane is unreachable. Kafka's CreateAcls and
//! DeleteAcls are relayed up the same connection. Nothing is ever pushed down.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::api::RelayedAclCreation;
use super::audit::{AuditEvent, Decision, DecisionBatch};
use super::snapshot::DataPlaneSnapshot;
use crate::control_plane::access::{Authenticator, DataPlaneAccess};
use crate::log::Disk;
use crate::net::https_client::{HttpsClient, HttpsClientError, HttpsEndpoint};
use crate::planted_bugs::PlantedBugs;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::sasl::{CredentialStore, Principal};

/// How often a broker asks for changes. With the client's 5 s request timeout this bounds how
/// long a deleted key or removed ACL keeps working once the control plane is reachable:
/// `REVOCATION_BOUND`.
pub const PULL_INTERVAL: Duration = Duration::from_secs(1);
/// The stated bound (C14, C15): a change reaches every broker within this once the control
/// plane is reachable from it. Runs measure it.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(10);

/// Where a broker pulls from and which broker cluster it is.
#[derive(Debug, Clone)]
pub struct ControlPlaneLinkConfig {
    pub endpoint: HttpsEndpoint,
    pub physical_cluster_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No control plane is configured for this broker.
    #[error("this broker has no control plane")]
    NotConfigured,
    /// The control plane could not be reached.
    #[error(transparent)]
    Unreachable(#[from] HttpsClientError),
    /// The control plane answered with an error.
    #[error("control plane answered {status}: {detail}")]
    Refused { status: u16, detail: String },
    /// The answer was not what the API promises.
    #[error("control plane answer unreadable: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Decisions waiting for the control plane; beyond this the oldest are dropped (and counted),
/// so an unreachable control plane costs a bounded amount of memory.
const PENDING_DECISIONS_MAX: usize = 10_000;
const DECISIONS_PER_BATCH_MAX: usize = 500;

/// The last snapshot, on the broker's own disk: a broker that restarts while the control
/// plane is unreachable still knows its customers.
const SNAPSHOT_FILE: &str = "control-plane-snapshot.json";

pub struct ControlPlaneLink {
    access: RwLock<Arc<DataPlaneAccess>>,
    disk: Arc<dyn Disk>,
    authenticator: Authenticator,
    client: Option<(HttpsClient, String)>,
    bugs: PlantedBugs,
    /// Simulated or real time of the last successful pull.
    last_pull: Mutex<Option<tokio::time::Instant>>,
    /// This process's name in the audit log.
    source: String,
    /// The same decisions, for the central log store (C12).
    security_events: crate::log_store::shipper::SecurityEvents,
    pending: Mutex<VecDeque<Decision>>,
    /// The batch being sent (kept as it was, so a retry is the same batch).
    in_flight: tokio::sync::Mutex<Option<DecisionBatch>>,
    next_batch: std::sync::atomic::AtomicU64,
    dropped_decisions: std::sync::atomic::AtomicU64,
}

impl ControlPlaneLink {
    /// `client`: how to reach the control plane (authenticated as this broker), if there is one.
    /// `source`: this broker process in the audit log (`crn://faultline/broker=<id>/process=<n>`).
    pub fn new(
        client: Option<(HttpsClient, ControlPlaneLinkConfig)>,
        disk: Arc<dyn Disk>,
        source: String,
        bugs: PlantedBugs,
    ) -> Self {
        let stored = match disk.read(SNAPSHOT_FILE) {
            Ok(Some(bytes)) => serde_json::from_slice::<DataPlaneSnapshot>(&bytes)
                .inspect_err(
                    |error| tracing::warn!(%error, "stored data-plane snapshot unreadable; waiting for a pull"),
                )
                .ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "cannot read the stored data-plane snapshot; waiting for a pull");
                None
            }
        };
        let access = stored.map(|snapshot| DataPlaneAccess::from_snapshot(snapshot, bugs)).unwrap_or_default();
        ControlPlaneLink {
            access: RwLock::new(Arc::new(access)),
            disk,
            authenticator: Authenticator::new(bugs),
            client: client.map(|(client, config)| (client, config.physical_cluster_id)),
            bugs,
            last_pull: Mutex::new(None),
            source,
            pending: Mutex::new(VecDeque::new()),
            in_flight: tokio::sync::Mutex::new(None),
            next_batch: std::sync::atomic::AtomicU64::new(1),
            dropped_decisions: std::sync::atomic::AtomicU64::new(0),
            security_events: crate::log_store::shipper::SecurityEvents::disabled(),
        }
    }

    /// Also ships every decision to the log store.
    pub fn with_security_events(mut self, events: crate::log_store::shipper::SecurityEvents) -> Self {
        self.security_events = events;
        self
    }

    /// A successful sign-in: an event for the security log store, where detection learns which
    /// networks each key comes from (C23). Not an audit decision: the customer's audit log
    /// records refusals and changes, and a sign-in per connection would drown them.
    pub(crate) fn record_sign_in(&self, api_key: &str, network: &str) {
        let detail = format!("kafka/sasl/{api_key}");
        self.security_events.record(
            "authentication",
            "kafka.authentication.succeeded",
            api_key,
            "success",
            network,
            &detail,
        );
    }

    /// Queues a decision for the audit log (C18).
    pub(crate) fn report(&self, decision: Decision) {
        let category = decision.kind.split('.').nth(1).unwrap_or("kafka");
        let outcome = match decision.result {
            super::audit::AuditResult::Denied => "refused",
            super::audit::AuditResult::Failure => "failure",
            super::audit::AuditResult::Success => "success",
        };
        let (kind, principal, subject) = (&decision.kind, &decision.principal, &decision.subject);
        self.security_events.record(category, kind, principal, outcome, &decision.network, subject);
        if self.client.is_none() {
            return;
        }
        let mut pending = self.pending.lock().unwrap();
        if pending.len() >= PENDING_DECISIONS_MAX {
            pending.pop_front();
            let dropped = self.dropped_decisions.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "audit decisions dropped: the control plane has been unreachable too long");
            }
        }
        pending.push_back(decision);
    }

    /// Sends queued decisions, one batch at a time, each until the control plane has it.
    async fn ship_decisions(&self) -> Result<(), LinkError> {
        let (client, _) = self.client.as_ref().ok_or(LinkError::NotConfigured)?;
        loop {
            let mut in_flight = self.in_flight.lock().await;
            if in_flight.is_none() {
                let decisions: Vec<Decision> = {
                    let mut pending = self.pending.lock().unwrap();
                    let count = pending.len().min(DECISIONS_PER_BATCH_MAX);
                    pending.drain(..count).collect()
                };
                if decisions.is_empty() {
                    return Ok(());
                }
                let batch = self.next_batch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *in_flight = Some(DecisionBatch { source: self.source.clone(), batch, decisions });
            }
            let body = serde_json::to_vec(in_flight.as_ref().expect("set above"))?;
            let (status, answer) = client.call("POST", "/internal/v1/audit/decisions", Some(body)).await?;
            if status != 200 {
                return Err(LinkError::Refused { status, detail: String::from_utf8_lossy(&answer).into_owned() });
            }
            *in_flight = None;
        }
    }

    /// Audit events after `after` (the audit topic's shipper).
    pub async fn audit_events(&self, after: u64, limit: usize) -> Result<Vec<AuditEvent>, LinkError> {
        let (client, _) = self.client.as_ref().ok_or(LinkError::NotConfigured)?;
        let (status, body) =
            client.call("GET", &format!("/internal/v1/audit?after={after}&limit={limit}"), None).await?;
        if status != 200 {
            return Err(LinkError::Refused { status, detail: String::from_utf8_lossy(&body).into_owned() });
        }
        #[derive(serde::Deserialize)]
        struct Events {
            data: Vec<AuditEvent>,
        }
        Ok(serde_json::from_slice::<Events>(&body)?.data)
    }

    pub fn access(&self) -> Arc<DataPlaneAccess> {
        self.access.read().unwrap().clone()
    }

    pub(crate) fn authenticate(
        &self,
        service_keys: &CredentialStore,
        api_key: &str,
        secret: &[u8],
    ) -> Option<Principal> {
        self.authenticator.authenticate(service_keys, &self.access(), api_key, secret)
    }

    pub(crate) fn still_valid(&self, access: &DataPlaneAccess, principal: &Principal) -> bool {
        self.authenticator.still_valid(access, principal)
    }

    /// One pull; true if the snapshot changed. The control plane is the authority: any version
    /// other than ours replaces ours (a restored control plane may count from lower).
    pub async fn pull(&self) -> Result<bool, LinkError> {
        let (client, physical) = self.client.as_ref().ok_or(LinkError::NotConfigured)?;
        let known = self.access().version;
        let (status, body) =
            client.call("GET", &format!("/internal/v1/data-plane/{physical}?known_version={known}"), None).await?;
        let changed = match status {
            304 => false,
            200 => {
                let snapshot: DataPlaneSnapshot = serde_json::from_slice(&body)?;
                let version = snapshot.version;
                if let Err(error) = self.disk.replace_durably(SNAPSHOT_FILE, &body) {
                    tracing::warn!(%error, "cannot store the data-plane snapshot (serving it from memory)");
                }
                *self.access.write().unwrap() = Arc::new(DataPlaneAccess::from_snapshot(snapshot, self.bugs));
                tracing::debug!(version, "data-plane snapshot installed");
                true
            }
            status => return Err(LinkError::Refused { status, detail: String::from_utf8_lossy(&body).into_owned() }),
        };
        *self.last_pull.lock().unwrap() = Some(tokio::time::Instant::now());
        Ok(changed)
    }

    /// Pulls (and sends queued decisions) every `PULL_INTERVAL`, forever.
    pub async fn pull_forever(self: Arc<Self>) {
        loop {
            if let Err(error) = self.pull().await {
                tracing::debug!(%error, "control-plane pull failed; serving with the last snapshot");
            }
            if let Err(error) = self.ship_decisions().await {
                tracing::debug!(%error, "audit decisions not delivered yet; kept for the next round");
            }
            tokio::time::sleep(PULL_INTERVAL).await;
        }
    }

    /// Relays Kafka's CreateAcls (the caller checked Alter on the cluster), then pulls so that
    /// this broker's next DescribeAcls sees the change.
    pub(crate) async fn create_acls(
        &self,
        principal: &str,
        cluster_id: &str,
        bindings: Vec<AclBinding>,
    ) -> Result<(), LinkError> {
        let (client, _) = self.client.as_ref().ok_or(LinkError::NotConfigured)?;
        let body = serde_json::to_vec(&RelayedAclCreation { principal: principal.to_string(), bindings })?;
        let (status, answer) =
            client.call("POST", &format!("/internal/v1/clusters/{cluster_id}/acls"), Some(body)).await?;
        if status != 200 {
            return Err(LinkError::Refused { status, detail: String::from_utf8_lossy(&answer).into_owned() });
        }
        self.pull().await.map(|_| ())
    }

    /// Relays Kafka's DeleteAcls; returns the bindings deleted.
    pub(crate) async fn delete_acls(
        &self,
        principal: &str,
        cluster_id: &str,
        filter: &AclFilter,
    ) -> Result<Vec<AclBinding>, LinkError> {
        let (client, _) = self.client.as_ref().ok_or(LinkError::NotConfigured)?;
        // The serializer is not Send: build the target before the first await.
        let target = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("relayed_for", principal);
            fn name(value: &impl serde::Serialize) -> String {
                serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
            }
            if let Some(value) = &filter.principal {
                query.append_pair("principal", value);
            }
            if let Some(value) = &filter.host {
                query.append_pair("host", value);
            }
            if let Some(value) = &filter.resource_name {
                query.append_pair("resource_name", value);
            }
            if let Some(value) = &filter.resource_type {
                query.append_pair("resource_type", &name(value));
            }
            if let Some(value) = &filter.pattern_type {
                query.append_pair("pattern_type", &name(value));
            }
            if let Some(value) = &filter.operation {
                query.append_pair("operation", &name(value));
            }
            if let Some(value) = &filter.permission {
                query.append_pair("permission", &name(value));
            }
            format!("/internal/v1/clusters/{cluster_id}/acls?{}", query.finish())
        };
        let (status, answer) = client.call("DELETE", &target, None).await?;
        if status != 200 {
            return Err(LinkError::Refused { status, detail: String::from_utf8_lossy(&answer).into_owned() });
        }
        #[derive(serde::Deserialize)]
        struct Deleted {
            data: Vec<AclBinding>,
        }
        let deleted: Deleted = serde_json::from_slice(&answer)?;
        self.pull().await?;
        Ok(deleted.data)
    }
}
