//! The control plane as a state machine: a caller's request and the time go in; a result and
//! the audit events it caused come out. No I/O: the server shell persists `Records` after every
//! mutation, before it answers, and backs them up.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

use super::audit::{acl_subject, rfc3339, AuditEvent, AuditResult, DecisionBatch, CONTROL_PLANE_SOURCE};
use super::identity::{self, ApiKey, ApiKeyScope, AssertionError, ServiceAccount, User};
use super::model::{
    Availability, Cluster, ClusterType, Environment, MatrixViolation, Networking, PhysicalCluster, SchemaRegistry,
    Tenancy,
};
use super::snapshot::{ClusterAcl, DataPlaneSnapshot, DeletedCluster, HostedCluster, KeyGrant};
use crate::entropy::Generator;
use crate::planted_bugs::PlantedBug;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::secrets::{SecretHash, VerifiedSecrets};

/// How long a signed-in user's session lasts.
const SESSION_TTL_MS: u64 = 8 * 60 * 60 * 1000;

/// Everything durable: written after every mutation, backed up, restored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Records {
    pub environments: BTreeMap<String, Environment>,
    pub clusters: BTreeMap<String, Cluster>,
    pub schema_registries: BTreeMap<String, SchemaRegistry>,
    pub users: BTreeMap<String, User>,
    pub service_accounts: BTreeMap<String, ServiceAccount>,
    pub api_keys: BTreeMap<String, ApiKey>,
    /// Per logical cluster.
    pub acls: BTreeMap<String, BTreeSet<AclBinding>>,
    pub audit: Vec<AuditEvent>,
    /// Assertion ids already used, with their expiry (Unix seconds): a replay is refused even
    /// after a restart.
    pub assertions_seen: BTreeMap<String, u64>,
    /// Grows with every change a broker must see.
    pub data_plane_version: u64,
    /// The last decision batch recorded per broker process (a retried batch is recorded once).
    #[serde(default)]
    pub decision_batches: BTreeMap<String, u64>,
    #[serde(default)]
    pub networks: BTreeMap<String, super::network::Network>,
    #[serde(default)]
    pub peerings: BTreeMap<String, super::network::Peering>,
    #[serde(default)]
    pub private_link_accesses: BTreeMap<String, super::network::PrivateLinkAccess>,
    #[serde(default)]
    pub transit_gateway_attachments: BTreeMap<String, super::network::TransitGatewayAttachment>,
    /// Broker cluster -> its public endpoints, once moved from the deployment's.
    #[serde(default)]
    pub public_endpoints: BTreeMap<String, Vec<super::network::PublicEndpoint>>,
    /// Deleted logical clusters, kept as tombstones (C13).
    #[serde(default)]
    pub deleted_clusters: BTreeMap<String, DeletedCluster>,
}

#[derive(Clone)]
pub struct ControlPlaneConfig {
    pub organization_id: String,
    pub physical_clusters: Vec<PhysicalCluster>,
    pub bcrypt_cost: u32,
    pub idp_issuer: String,
    /// Ed25519 public key of the identity provider.
    pub idp_public_key: Vec<u8>,
    /// The brokers' own keys (id, bcrypt hash): the only callers of the data-plane endpoints.
    pub broker_keys: BTreeMap<String, SecretHash>,
    pub bugs: crate::planted_bugs::PlantedBugs,
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    User {
        id: String,
        organization_admin: bool,
    },
    /// A key owned by `owner_id`; cluster-scoped keys reach only the ACL endpoints of their cluster.
    ApiKey {
        key_id: String,
        owner_id: String,
        scope: ApiKeyScope,
        organization_admin: bool,
    },
    Broker {
        key_id: String,
    },
}

impl Caller {
    /// The Kafka-style principal name.
    pub fn principal(&self) -> String {
        match self {
            Caller::User { id, .. } => format!("User:{id}"),
            Caller::ApiKey { owner_id, .. } => format!("User:{owner_id}"),
            Caller::Broker { key_id } => format!("Broker:{key_id}"),
        }
    }

    fn is_admin(&self) -> bool {
        match self {
            Caller::User { organization_admin, .. } => *organization_admin,
            Caller::ApiKey { scope: ApiKeyScope::Cloud, organization_admin, .. } => *organization_admin,
            Caller::ApiKey { scope: ApiKeyScope::Cluster(_), .. } | Caller::Broker { .. } => false,
        }
    }

    fn reaches_cloud_api(&self) -> bool {
        matches!(self, Caller::User { .. } | Caller::ApiKey { scope: ApiKeyScope::Cloud, .. })
    }
}

/// What a request presented.
#[derive(Debug, Clone, Copy)]
pub enum Credentials<'a> {
    None,
    /// HTTP Basic: an API key id and secret.
    Basic {
        id: &'a str,
        secret: &'a [u8],
    },
    /// A session token from a sign-in.
    Bearer(&'a str),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlPlaneError {
    /// No credentials, or wrong ones (one answer for both: nothing to enumerate).
    #[error("authentication required: invalid or missing credentials")]
    Unauthenticated,
    /// Authenticated, but the caller may not do this.
    #[error("the caller may not do this")]
    Forbidden,
    /// No such resource (or none the caller may see).
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// The request contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// A field is missing or out of range.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The cluster type does not allow this combination.
    #[error("{0}")]
    Matrix(#[from] MatrixViolation),
    /// No physical cluster can host the request.
    #[error("no capacity: {0}")]
    NoCapacity(String),
    /// The chosen region has no broker cluster reporting now (its zones are down): retry later.
    /// Never answered by placing the cluster in another region (C07).
    #[error("region unavailable: {0}")]
    RegionUnavailable(String),
    /// A single sign-on assertion was refused.
    #[error("sign-on refused: {0}")]
    Assertion(#[from] AssertionError),
}

/// A new cluster's specification.
#[derive(Debug, Clone)]
pub struct ClusterRequest {
    pub display_name: String,
    pub environment_id: String,
    pub cluster_type: ClusterType,
    pub availability: Availability,
    pub networking: Networking,
    /// Required for private networking: the network the cluster lives in.
    pub network_id: Option<String>,
    /// The region the customer chose: one that a physical cluster runs in.
    pub region: String,
    /// The customer's own master key (Dedicated only); it must have been checked to grant the
    /// brokers' principal (`key_grantee`, then `note_key_checked`) within `KEY_CHECK_VALID_MS`.
    pub encryption_key: Option<String>,
}

/// A key and the secret that is shown only now.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

#[derive(Clone)]
struct SessionRecord {
    user_id: String,
    expires_ms: u64,
}

/// Clone: a harness starts many runs from one prepared state.
#[derive(Clone)]
pub struct ControlPlane {
    config: ControlPlaneConfig,
    records: Records,
    /// SHA-256 of a session token -> its session (tokens are never stored).
    sessions: BTreeMap<[u8; 32], SessionRecord>,
    verified: VerifiedSecrets,
    random: Generator,
    /// Physical cluster -> when its brokers last pulled the data-plane snapshot (this
    /// process's knowledge only: after a restart every cluster is presumed up until it is seen
    /// to stop reporting).
    last_pull_ms: BTreeMap<String, u64>,
    /// (customer key, grantee) -> when the key service last confirmed the grant.
    checked_keys: BTreeMap<(String, String), u64>,
}

const BYOK_DEDICATED_ONLY: &str = "bring-your-own-key is offered on Dedicated clusters only";

/// How long a confirmed grant counts for a cluster creation (C09).
pub const KEY_CHECK_VALID_MS: u64 = 60_000;

/// A physical cluster that has not pulled for this long (ten pull intervals) is down: no
/// cluster is placed on it.
pub const REPORTING_WINDOW_MS: u64 = 10_000;

type Result<T> = std::result::Result<T, ControlPlaneError>;

fn invalid(field: &'static str, reason: impl Into<String>) -> ControlPlaneError {
    ControlPlaneError::Invalid { field, reason: reason.into() }
}

fn not_found(kind: &'static str, id: &str) -> ControlPlaneError {
    ControlPlaneError::NotFound { kind, id: id.to_string() }
}

fn check_name(field: &'static str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(invalid(field, "1 to 64 printable characters"));
    }
    Ok(())
}

fn token_digest(token: &str) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().try_into().expect("32 bytes")
}

impl ControlPlane {
    /// `records`: what was persisted or restored (empty for a new organization). `random` makes
    /// ids, secrets, salts and session tokens ([`crate::entropy::os`] in real mode).
    pub fn new(config: ControlPlaneConfig, records: Records, random: Generator) -> Self {
        ControlPlane {
            config,
            records,
            sessions: BTreeMap::new(),
            verified: VerifiedSecrets::default(),
            random,
            last_pull_ms: BTreeMap::new(),
            checked_keys: BTreeMap::new(),
        }
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    pub fn organization_id(&self) -> &str {
        &self.config.organization_id
    }

    fn random_string(&mut self, alphabet: &[u8], length: usize) -> String {
        (0..length).map(|_| alphabet[(self.random.next_u32() as usize) % alphabet.len()] as char).collect()
    }

    fn new_id(&mut self, prefix: &str) -> String {
        loop {
            let id = format!("{prefix}-{}", self.random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 6));
            let taken = self.records.environments.contains_key(&id)
                || self.records.clusters.contains_key(&id)
                || self.records.schema_registries.contains_key(&id)
                || self.records.users.contains_key(&id)
                || self.records.service_accounts.contains_key(&id);
            if !taken {
                return id;
            }
        }
    }

    fn salt(&mut self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.random.fill_bytes(&mut salt);
        salt
    }

    fn audit(&mut self, principal: String, subject: &str, kind: &str, result: AuditResult, now_ms: u64) {
        self.audit_from(CONTROL_PLANE_SOURCE, principal, subject, kind, result, now_ms);
    }

    fn audit_from(
        &mut self,
        source: &str,
        principal: String,
        subject: &str,
        kind: &str,
        result: AuditResult,
        now_ms: u64,
    ) {
        let sequence = self.records.audit.len() as u64 + 1;
        self.records.audit.push(AuditEvent {
            specversion: "1.0".into(),
            id: format!("audit-{sequence}"),
            source: source.into(),
            subject: subject.to_string(),
            kind: format!("io.faultline.{kind}"),
            time: rfc3339(now_ms),
            principal,
            result,
            sequence,
        });
    }

    /// Records a refused request (the REST layer calls this for every 401 and 403).
    pub fn audit_refusal(&mut self, claimed: &str, path: &str, error: &ControlPlaneError, now_ms: u64) {
        let (kind, result) = match error {
            ControlPlaneError::Unauthenticated | ControlPlaneError::Assertion(_) => {
                ("authentication.failed", AuditResult::Failure)
            }
            _ => ("authorization.denied", AuditResult::Denied),
        };
        self.audit(claimed.to_string(), path, kind, result, now_ms);
    }

    fn mutated_data_plane(&mut self) {
        self.records.data_plane_version += 1;
    }

    // ---- authentication ----

    pub fn authenticate(&mut self, credentials: Credentials<'_>, now_ms: u64) -> Result<Caller> {
        match credentials {
            Credentials::None => Err(ControlPlaneError::Unauthenticated),
            Credentials::Bearer(token) => {
                let session = self.sessions.get(&token_digest(token)).ok_or(ControlPlaneError::Unauthenticated)?;
                if now_ms >= session.expires_ms {
                    return Err(ControlPlaneError::Unauthenticated);
                }
                let user = self.records.users.get(&session.user_id).ok_or(ControlPlaneError::Unauthenticated)?;
                Ok(Caller::User { id: user.id.clone(), organization_admin: user.organization_admin })
            }
            Credentials::Basic { id, secret } => {
                if let Some(hash) = self.config.broker_keys.get(id) {
                    return if self.verified.verify(id, hash, secret) {
                        Ok(Caller::Broker { key_id: id.to_string() })
                    } else {
                        Err(ControlPlaneError::Unauthenticated)
                    };
                }
                let key = self.records.api_keys.get(id).ok_or(ControlPlaneError::Unauthenticated)?;
                if !self.verified.verify(id, &key.secret_hash, secret) {
                    return Err(ControlPlaneError::Unauthenticated);
                }
                let organization_admin = self.records.users.get(&key.owner_id).is_some_and(|u| u.organization_admin);
                Ok(Caller::ApiKey {
                    key_id: key.id.clone(),
                    owner_id: key.owner_id.clone(),
                    scope: key.scope.clone(),
                    organization_admin,
                })
            }
        }
    }

    fn start_session(&mut self, user_id: String, now_ms: u64) -> String {
        let mut bytes = [0u8; 32];
        self.random.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        self.sessions.retain(|_, session| session.expires_ms > now_ms);
        self.sessions.insert(token_digest(&token), SessionRecord { user_id, expires_ms: now_ms + SESSION_TTL_MS });
        token
    }

    /// A local sign-in; returns a session token.
    pub fn sign_in(&mut self, email: &str, password: &str, now_ms: u64) -> Result<String> {
        let user = self.records.users.values().find(|u| u.email == email).cloned();
        let verified = user.as_ref().is_some_and(|user| {
            user.password_hash.as_ref().is_some_and(|hash| self.verified.verify(&user.id, hash, password.as_bytes()))
        });
        match user {
            Some(user) if verified => {
                self.audit(format!("User:{}", user.id), &user.id, "session.created", AuditResult::Success, now_ms);
                Ok(self.start_session(user.id, now_ms))
            }
            _ => {
                self.audit(email.to_string(), "sessions", "authentication.failed", AuditResult::Failure, now_ms);
                Err(ControlPlaneError::Unauthenticated)
            }
        }
    }

    /// A sign-in with the identity provider's signed assertion: expired, wrongly signed and
    /// replayed assertions are refused.
    pub fn sign_in_with_assertion(&mut self, assertion: &str, now_ms: u64) -> Result<String> {
        let now_s = now_ms / 1000;
        let outcome =
            identity::verify_assertion(assertion, &self.config.idp_issuer, &self.config.idp_public_key, now_s)
                .and_then(|claims| {
                    // Planted: used assertion ids are not looked up (C16).
                    let remembered = !self.config.bugs.is_on(PlantedBug::SsoReplayAccepted);
                    if remembered && self.records.assertions_seen.contains_key(&claims.jti) {
                        Err(AssertionError::Replayed)
                    } else {
                        Ok(claims)
                    }
                });
        let claims = match outcome {
            Ok(claims) => claims,
            Err(error) => {
                self.audit("sso".into(), "sessions/sso", "authentication.failed", AuditResult::Failure, now_ms);
                return Err(error.into());
            }
        };
        self.records.assertions_seen.retain(|_, exp| *exp > now_s);
        self.records.assertions_seen.insert(claims.jti.clone(), claims.exp);
        let Some(user) = self.records.users.values().find(|u| u.email == claims.sub).cloned() else {
            self.audit(claims.sub.clone(), "sessions/sso", "authentication.failed", AuditResult::Failure, now_ms);
            return Err(ControlPlaneError::Unauthenticated);
        };
        self.audit(format!("User:{}", user.id), &user.id, "session.created", AuditResult::Success, now_ms);
        Ok(self.start_session(user.id, now_ms))
    }

    fn require_admin(&self, caller: &Caller) -> Result<()> {
        if caller.is_admin() {
            Ok(())
        } else {
            Err(ControlPlaneError::Forbidden)
        }
    }

    fn require_cloud(&self, caller: &Caller) -> Result<()> {
        if caller.reaches_cloud_api() {
            Ok(())
        } else {
            Err(ControlPlaneError::Forbidden)
        }
    }

    // ---- users and service accounts ----

    /// The first organization admin (bootstrap: no caller yet).
    pub fn bootstrap_admin(
        &mut self,
        email: &str,
        full_name: &str,
        password: Option<&str>,
        now_ms: u64,
    ) -> Result<User> {
        if self.records.users.values().any(|u| u.organization_admin) {
            return Err(ControlPlaneError::Conflict("the organization already has an admin".into()));
        }
        self.insert_user(email, full_name, password, true, "bootstrap".into(), now_ms)
    }

    pub fn create_user(
        &mut self,
        caller: &Caller,
        email: &str,
        full_name: &str,
        password: Option<&str>,
        organization_admin: bool,
        now_ms: u64,
    ) -> Result<User> {
        self.require_admin(caller)?;
        self.insert_user(email, full_name, password, organization_admin, caller.principal(), now_ms)
    }

    fn insert_user(
        &mut self,
        email: &str,
        full_name: &str,
        password: Option<&str>,
        organization_admin: bool,
        principal: String,
        now_ms: u64,
    ) -> Result<User> {
        if !email.contains('@') || email.len() > 254 {
            return Err(invalid("email", "an email address"));
        }
        check_name("full_name", full_name)?;
        if self.records.users.values().any(|u| u.email == email) {
            return Err(ControlPlaneError::Conflict(format!("a user with email {email} exists")));
        }
        let password_hash = match password {
            Some(password) if password.len() < 12 => return Err(invalid("password", "at least 12 characters")),
            Some(password) => {
                let salt = self.salt();
                Some(
                    SecretHash::new(password, self.config.bcrypt_cost, salt)
                        .map_err(|e| invalid("password", e.to_string()))?,
                )
            }
            None => None,
        };
        let user = User {
            id: self.new_id("u"),
            email: email.to_string(),
            full_name: full_name.to_string(),
            password_hash,
            organization_admin,
            created_at_ms: now_ms,
        };
        self.records.users.insert(user.id.clone(), user.clone());
        self.audit(principal, &user.id, "iam.user.created", AuditResult::Success, now_ms);
        if organization_admin {
            // Admins are super-users of every cluster: brokers must learn it.
            self.mutated_data_plane();
        }
        Ok(user)
    }

    pub fn list_users(&self, caller: &Caller) -> Result<Vec<&User>> {
        self.require_cloud(caller)?;
        Ok(self.records.users.values().collect())
    }

    pub fn create_service_account(
        &mut self,
        caller: &Caller,
        display_name: &str,
        description: &str,
        now_ms: u64,
    ) -> Result<ServiceAccount> {
        self.require_admin(caller)?;
        check_name("display_name", display_name)?;
        if description.len() > 256 {
            return Err(invalid("description", "at most 256 characters"));
        }
        if self.records.service_accounts.values().any(|a| a.display_name == display_name) {
            return Err(ControlPlaneError::Conflict(format!("a service account named {display_name:?} exists")));
        }
        let account = ServiceAccount {
            id: self.new_id("sa"),
            display_name: display_name.to_string(),
            description: description.to_string(),
            created_at_ms: now_ms,
        };
        self.records.service_accounts.insert(account.id.clone(), account.clone());
        self.audit(caller.principal(), &account.id, "iam.service-account.created", AuditResult::Success, now_ms);
        Ok(account)
    }

    pub fn list_service_accounts(&self, caller: &Caller) -> Result<Vec<&ServiceAccount>> {
        self.require_cloud(caller)?;
        Ok(self.records.service_accounts.values().collect())
    }

    /// Deletes the account and every key it owns (each deletion audited).
    pub fn delete_service_account(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        self.records.service_accounts.remove(id).ok_or_else(|| not_found("service account", id))?;
        self.audit(caller.principal(), id, "iam.service-account.deleted", AuditResult::Success, now_ms);
        let owned: Vec<String> =
            self.records.api_keys.values().filter(|k| k.owner_id == id).map(|k| k.id.clone()).collect();
        for key in owned {
            self.remove_key(caller, &key, now_ms);
        }
        Ok(())
    }

    // ---- environments, clusters, schema registries ----

    pub fn create_environment(&mut self, caller: &Caller, display_name: &str, now_ms: u64) -> Result<Environment> {
        self.require_admin(caller)?;
        check_name("display_name", display_name)?;
        let environment =
            Environment { id: self.new_id("env"), display_name: display_name.to_string(), created_at_ms: now_ms };
        self.records.environments.insert(environment.id.clone(), environment.clone());
        self.audit(caller.principal(), &environment.id, "org.environment.created", AuditResult::Success, now_ms);
        Ok(environment)
    }

    pub fn list_environments(&self, caller: &Caller) -> Result<Vec<&Environment>> {
        self.require_cloud(caller)?;
        Ok(self.records.environments.values().collect())
    }

    pub fn environment(&self, caller: &Caller, id: &str) -> Result<&Environment> {
        self.require_cloud(caller)?;
        self.records.environments.get(id).ok_or_else(|| not_found("environment", id))
    }

    pub fn delete_environment(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if !self.records.environments.contains_key(id) {
            return Err(not_found("environment", id));
        }
        if self.records.clusters.values().any(|c| c.environment_id == id) {
            return Err(ControlPlaneError::Conflict(format!("environment {id} still has clusters")));
        }
        self.records.environments.remove(id);
        self.records.schema_registries.retain(|_, registry| registry.environment_id != id);
        self.audit(caller.principal(), id, "org.environment.deleted", AuditResult::Success, now_ms);
        Ok(())
    }

    /// Places a cluster: the matrix first, then a physical cluster of the chosen region that
    /// reports and can host it (multi-tenant types share; a Dedicated cluster needs one of its
    /// own). A region whose broker clusters have all stopped reporting is unavailable: the
    /// request is refused for now, never placed elsewhere (C07).
    pub fn create_cluster(&mut self, caller: &Caller, request: ClusterRequest, now_ms: u64) -> Result<Cluster> {
        self.require_admin(caller)?;
        check_name("display_name", &request.display_name)?;
        if !self.records.environments.contains_key(&request.environment_id) {
            return Err(not_found("environment", &request.environment_id));
        }
        let regions: BTreeSet<&str> = self.config.physical_clusters.iter().map(|p| p.region.as_str()).collect();
        if !regions.contains(request.region.as_str()) {
            let offered = regions.into_iter().collect::<Vec<_>>().join(", ");
            return Err(invalid(
                "region",
                format!("{:?} is not a region of the service (offered: {offered})", request.region),
            ));
        }
        request.cluster_type.allows(request.availability, request.networking)?;
        self.check_cluster_network(&request)?;
        if request.encryption_key.is_some() && request.cluster_type != ClusterType::Dedicated {
            return Err(invalid("encryption_key", BYOK_DEDICATED_ONLY));
        }
        let physical = self.place(&request, now_ms)?;
        let (physical_cluster_id, grantee) = (physical.id.clone(), physical.key_principal.clone());
        if let Some(key) = &request.encryption_key {
            let checked = self.checked_keys.get(&(key.clone(), grantee.clone()));

            if checked.is_none_or(|at| now_ms.saturating_sub(*at) > KEY_CHECK_VALID_MS) {
                return Err(invalid(
                    "encryption_key",
                    format!("the key service has not confirmed that {key} grants {grantee} encrypt and decrypt; grant it, then retry"),
                ));
            }
        }
        let cluster = Cluster {
            id: self.new_id("lkc"),
            display_name: request.display_name,
            environment_id: request.environment_id,
            cluster_type: request.cluster_type,
            availability: request.availability,
            networking: request.networking,
            network_id: request.network_id,
            region: request.region,
            physical_cluster_id,
            created_at_ms: now_ms,
            encryption_key: request.encryption_key,
        };
        self.records.clusters.insert(cluster.id.clone(), cluster.clone());
        self.audit(caller.principal(), &cluster.id, "cmk.cluster.created", AuditResult::Success, now_ms);
        self.mutated_data_plane();
        Ok(cluster)
    }

    /// The physical cluster a request would be placed on now.
    fn place(&self, request: &ClusterRequest, now_ms: u64) -> Result<&PhysicalCluster> {
        let zones_needed = if request.availability == Availability::MultiZone { 2 } else { 1 };
        let can_host = |physical: &PhysicalCluster| -> bool {
            let hosted: Vec<&Cluster> =
                self.records.clusters.values().filter(|c| c.physical_cluster_id == physical.id).collect();
            physical.zone_count >= zones_needed
                && match request.cluster_type.tenancy() {
                    Tenancy::SingleTenant => hosted.is_empty(),
                    Tenancy::MultiTenant => hosted.iter().all(|c| c.cluster_type.tenancy() == Tenancy::MultiTenant),
                }
        };
        let reporting = |physical: &PhysicalCluster| {
            self.last_pull_ms.get(&physical.id).is_none_or(|at| now_ms.saturating_sub(*at) <= REPORTING_WINDOW_MS)
        };
        let in_region: Vec<&PhysicalCluster> =
            self.config.physical_clusters.iter().filter(|p| p.region == request.region && can_host(p)).collect();
        let mut placement = in_region.iter().copied().find(|p| reporting(p));
        if placement.is_none() && self.config.bugs.is_on(PlantedBug::ReplicaPlacedCrossRegion) {
            // BUG (planted): capacity anywhere beats no capacity here.
            placement = self.config.physical_clusters.iter().find(|p| can_host(p) && reporting(p));
        }
        let Some(physical) = placement else {
            if !in_region.is_empty() {
                return Err(ControlPlaneError::RegionUnavailable(format!(
                    "no broker cluster in {} is reporting; retry when the region is back",
                    request.region
                )));
            }
            return Err(ControlPlaneError::NoCapacity(format!(
                "no broker cluster in {} can host a {:?} {:?} cluster",
                request.region, request.cluster_type, request.availability
            )));
        };
        Ok(physical)
    }

    /// For a request with the customer's own key: (the key, the principal it must grant), after
    /// the checks that need no key service (Dedicated only, a placement exists).
    pub fn key_grantee(
        &self,
        caller: &Caller,
        request: &ClusterRequest,
        now_ms: u64,
    ) -> Result<Option<(String, String)>> {
        self.require_admin(caller)?;
        let Some(key) = &request.encryption_key else { return Ok(None) };
        if request.cluster_type != ClusterType::Dedicated {
            return Err(invalid("encryption_key", BYOK_DEDICATED_ONLY));
        }
        Ok(Some((key.clone(), self.place(request, now_ms)?.key_principal.clone())))
    }

    /// The key service confirmed that `key` grants `grantee` (asked by the caller of
    /// `key_grantee`, outside the control plane's lock).
    pub fn note_key_checked(&mut self, key: &str, grantee: &str, now_ms: u64) {
        self.checked_keys.insert((key.to_string(), grantee.to_string()), now_ms);
    }

    pub fn list_clusters(&self, caller: &Caller, environment_id: Option<&str>) -> Result<Vec<&Cluster>> {
        self.require_cloud(caller)?;
        Ok(self.records.clusters.values().filter(|c| environment_id.is_none_or(|e| c.environment_id == e)).collect())
    }

    pub fn cluster(&self, caller: &Caller, id: &str) -> Result<&Cluster> {
        self.require_cloud(caller)?;
        self.records.clusters.get(id).ok_or_else(|| not_found("cluster", id))
    }

    pub fn physical_cluster(&self, id: &str) -> Option<&PhysicalCluster> {
        self.config.physical_clusters.iter().find(|p| p.id == id)
    }

    /// Deletes a cluster with its keys and ACLs, and leaves a tombstone from which its brokers
    /// shred its data (C13).
    pub fn delete_cluster(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        let cluster = self.records.clusters.remove(id).ok_or_else(|| not_found("cluster", id))?;
        self.records.deleted_clusters.insert(
            id.to_string(),
            DeletedCluster {
                id: id.to_string(),
                physical_cluster_id: cluster.physical_cluster_id,
                deleted_at_ms: now_ms,
                encryption_key: cluster.encryption_key,
            },
        );
        self.audit(caller.principal(), id, "cmk.cluster.deleted", AuditResult::Success, now_ms);
        let keys: Vec<String> = self
            .records
            .api_keys
            .values()
            .filter(|k| k.scope == ApiKeyScope::Cluster(id.to_string()))
            .map(|k| k.id.clone())
            .collect();
        for key in keys {
            self.remove_key(caller, &key, now_ms);
        }
        self.records.acls.remove(id);
        self.mutated_data_plane();
        Ok(())
    }

    /// At most one schema registry per environment.
    pub fn create_schema_registry(
        &mut self,
        caller: &Caller,
        environment_id: &str,
        now_ms: u64,
    ) -> Result<SchemaRegistry> {
        self.require_admin(caller)?;
        if !self.records.environments.contains_key(environment_id) {
            return Err(not_found("environment", environment_id));
        }
        let existing = self.records.schema_registries.values().find(|r| r.environment_id == environment_id);
        // Planted: the rule is forgotten and an environment gets a second registry (C04).
        let existing = existing.filter(|_| !self.config.bugs.is_on(PlantedBug::SecondSchemaRegistryAllowed));
        if let Some(existing) = existing {
            return Err(ControlPlaneError::Conflict(format!(
                "environment {environment_id} already has schema registry {}: at most one per environment",
                existing.id
            )));
        }
        let registry = SchemaRegistry {
            id: self.new_id("lsrc"),
            environment_id: environment_id.to_string(),
            created_at_ms: now_ms,
        };
        self.records.schema_registries.insert(registry.id.clone(), registry.clone());
        self.audit(caller.principal(), &registry.id, "srcm.cluster.created", AuditResult::Success, now_ms);
        Ok(registry)
    }

    pub fn list_schema_registries(&self, caller: &Caller) -> Result<Vec<&SchemaRegistry>> {
        self.require_cloud(caller)?;
        Ok(self.records.schema_registries.values().collect())
    }

    // ---- API keys ----

    fn owner_exists(&self, owner_id: &str) -> bool {
        self.records.users.contains_key(owner_id) || self.records.service_accounts.contains_key(owner_id)
    }

    pub fn create_api_key(
        &mut self,
        caller: &Caller,
        owner_id: &str,
        scope: ApiKeyScope,
        display_name: &str,
        now_ms: u64,
    ) -> Result<CreatedKey> {
        self.require_admin(caller)?;
        if !self.owner_exists(owner_id) {
            return Err(not_found("owner", owner_id));
        }
        if let ApiKeyScope::Cluster(cluster) = &scope {
            if !self.records.clusters.contains_key(cluster) {
                return Err(not_found("cluster", cluster));
            }
        }
        if display_name.len() > 64 {
            return Err(invalid("display_name", "at most 64 characters"));
        }
        self.insert_key(caller, owner_id.to_string(), scope, display_name.to_string(), None, now_ms)
    }

    fn insert_key(
        &mut self,
        caller: &Caller,
        owner_id: String,
        scope: ApiKeyScope,
        display_name: String,
        rotated_from: Option<String>,
        now_ms: u64,
    ) -> Result<CreatedKey> {
        let id = loop {
            let id = self.random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
            if !self.records.api_keys.contains_key(&id) && !self.config.broker_keys.contains_key(&id) {
                break id;
            }
        };
        let mut secret_bytes = [0u8; 32];
        self.random.fill_bytes(&mut secret_bytes);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
        let salt = self.salt();
        let secret_hash =
            SecretHash::new(&secret, self.config.bcrypt_cost, salt).map_err(|e| invalid("secret", e.to_string()))?;
        let key = ApiKey { id, display_name, owner_id, scope, secret_hash, rotated_from, created_at_ms: now_ms };
        if self.config.bugs.is_on(PlantedBug::SecretInLog) {
            tracing::info!(key = %key.id, owner = %key.owner_id, %secret, "API key created");
        } else {
            tracing::info!(key = %key.id, owner = %key.owner_id, "API key created");
        }
        self.records.api_keys.insert(key.id.clone(), key.clone());
        self.audit(caller.principal(), &key.id, "iam.api-key.created", AuditResult::Success, now_ms);
        if matches!(key.scope, ApiKeyScope::Cluster(_)) {
            self.mutated_data_plane();
        }
        Ok(CreatedKey { key, secret })
    }

    /// Lists keys without their secrets (there are none to give).
    pub fn list_api_keys(&self, caller: &Caller, owner_id: Option<&str>) -> Result<Vec<&ApiKey>> {
        self.require_cloud(caller)?;
        Ok(self.records.api_keys.values().filter(|k| owner_id.is_none_or(|o| k.owner_id == o)).collect())
    }

    pub fn api_key(&self, caller: &Caller, id: &str) -> Result<&ApiKey> {
        self.require_cloud(caller)?;
        self.records.api_keys.get(id).ok_or_else(|| not_found("API key", id))
    }

    /// A new key with the same owner and scope; the old one works until it is deleted.
    pub fn rotate_api_key(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<CreatedKey> {
        self.require_admin(caller)?;
        let old = self.records.api_keys.get(id).cloned().ok_or_else(|| not_found("API key", id))?;
        self.insert_key(caller, old.owner_id, old.scope, old.display_name, Some(old.id), now_ms)
    }

    pub fn delete_api_key(&mut self, caller: &Caller, id: &str, now_ms: u64) -> Result<()> {
        self.require_admin(caller)?;
        if !self.records.api_keys.contains_key(id) {
            return Err(not_found("API key", id));
        }
        self.remove_key(caller, id, now_ms);
        Ok(())
    }

    fn remove_key(&mut self, caller: &Caller, id: &str, now_ms: u64) {
        if self.records.api_keys.remove(id).is_some() {
            self.audit(caller.principal(), id, "iam.api-key.deleted", AuditResult::Success, now_ms);
            self.mutated_data_plane();
        }
    }

    // ---- ACLs ----

    /// Cloud admins manage every cluster's ACLs; brokers relay Kafka's CreateAcls/DeleteAcls
    /// after checking Alter on the cluster themselves.
    fn require_acl_admin(&self, caller: &Caller, cluster_id: &str) -> Result<()> {
        if !self.records.clusters.contains_key(cluster_id) {
            return Err(not_found("cluster", cluster_id));
        }
        match caller {
            Caller::Broker { .. } => Ok(()),
            _ => self.require_admin(caller),
        }
    }

    fn check_binding(binding: &AclBinding) -> Result<()> {
        if !binding.principal.starts_with("User:") || binding.principal.len() <= 5 {
            return Err(invalid("principal", "User:<id> or User:*"));
        }
        if binding.resource_name.is_empty() || binding.resource_name.len() > 249 {
            return Err(invalid("resource_name", "1 to 249 characters"));
        }
        if binding.host.is_empty() {
            return Err(invalid("host", "an address or *"));
        }
        Ok(())
    }

    /// `principal`: who asked (the caller's own, or the Kafka principal a broker relays for).
    pub fn create_acls(
        &mut self,
        caller: &Caller,
        principal: String,
        cluster_id: &str,
        bindings: Vec<AclBinding>,
        now_ms: u64,
    ) -> Result<()> {
        self.require_acl_admin(caller, cluster_id)?;
        for binding in &bindings {
            Self::check_binding(binding)?;
        }
        for binding in bindings {
            let subject = acl_subject(cluster_id, &binding);
            if self.records.acls.entry(cluster_id.to_string()).or_default().insert(binding) {
                self.audit(principal.clone(), &subject, "kafka.acl.created", AuditResult::Success, now_ms);
                self.mutated_data_plane();
            }
        }
        Ok(())
    }

    pub fn list_acls(&self, caller: &Caller, cluster_id: &str, filter: &AclFilter) -> Result<Vec<&AclBinding>> {
        self.require_acl_admin(caller, cluster_id)?;
        Ok(self.records.acls.get(cluster_id).into_iter().flatten().filter(|b| filter.matches(b)).collect())
    }

    pub fn delete_acls(
        &mut self,
        caller: &Caller,
        principal: String,
        cluster_id: &str,
        filter: &AclFilter,
        now_ms: u64,
    ) -> Result<Vec<AclBinding>> {
        self.require_acl_admin(caller, cluster_id)?;
        let bindings = self.records.acls.entry(cluster_id.to_string()).or_default();
        let deleted: Vec<AclBinding> = bindings.iter().filter(|b| filter.matches(b)).cloned().collect();
        bindings.retain(|b| !filter.matches(b));
        for binding in &deleted {
            let subject = acl_subject(cluster_id, binding);
            self.audit(principal.clone(), &subject, "kafka.acl.deleted", AuditResult::Success, now_ms);
        }
        if !deleted.is_empty() {
            self.mutated_data_plane();
        }
        Ok(deleted)
    }

    // ---- what brokers pull ----

    /// A data-plane service of `physical_cluster_id` (a broker or its DNS) pulled its snapshot:
    /// the cluster is reporting (placement skips clusters that stopped).
    pub fn note_pull(&mut self, physical_cluster_id: &str, now_ms: u64) {
        self.last_pull_ms.insert(physical_cluster_id.to_string(), now_ms);
    }

    pub fn data_plane_version(&self) -> u64 {
        self.records.data_plane_version
    }

    /// The clusters, key hashes and ACLs of one physical cluster (brokers only).
    pub fn data_plane_snapshot(&self, caller: &Caller, physical_cluster_id: &str) -> Result<DataPlaneSnapshot> {
        if !matches!(caller, Caller::Broker { .. }) {
            return Err(ControlPlaneError::Forbidden);
        }
        if self.physical_cluster(physical_cluster_id).is_none() {
            return Err(not_found("physical cluster", physical_cluster_id));
        }
        let hosted: BTreeMap<&str, &Cluster> = self
            .records
            .clusters
            .values()
            .filter(|c| c.physical_cluster_id == physical_cluster_id)
            .map(|c| (c.id.as_str(), c))
            .collect();
        let api_keys = self
            .records
            .api_keys
            .values()
            .filter_map(|key| match &key.scope {
                ApiKeyScope::Cluster(cluster) if hosted.contains_key(cluster.as_str()) => Some(KeyGrant {
                    id: key.id.clone(),
                    secret_hash: key.secret_hash.clone(),
                    principal: format!("User:{}", key.owner_id),
                    cluster_id: cluster.clone(),
                    super_user: self.records.users.get(&key.owner_id).is_some_and(|u| u.organization_admin),
                }),
                _ => None,
            })
            .collect();
        let acls = self
            .records
            .acls
            .iter()
            .filter(|(cluster, _)| hosted.contains_key(cluster.as_str()))
            .flat_map(|(cluster, bindings)| {
                bindings.iter().map(|binding| ClusterAcl { cluster_id: cluster.clone(), binding: binding.clone() })
            })
            .collect();
        Ok(DataPlaneSnapshot {
            version: self.records.data_plane_version,
            physical_cluster_id: physical_cluster_id.to_string(),
            clusters: hosted
                .values()
                .map(|c| HostedCluster {
                    id: c.id.clone(),
                    cluster_type: c.cluster_type,
                    limits: c.cluster_type.limits(),
                    networking: c.networking,
                    network: c.network_id.as_deref().and_then(|id| self.network_view(id)),
                    encryption_key: c.encryption_key.clone(),
                })
                .collect(),
            api_keys,
            acls,
            public_endpoints: self.records.public_endpoints.get(physical_cluster_id).cloned().unwrap_or_default(),
            deleted_clusters: self
                .records
                .deleted_clusters
                .values()
                .filter(|c| c.physical_cluster_id == physical_cluster_id)
                .cloned()
                .collect(),
        })
    }

    /// Records a broker's decisions (brokers only). A batch already recorded is acknowledged
    /// again without a second copy.
    pub fn record_decisions(&mut self, caller: &Caller, batch: DecisionBatch) -> Result<()> {
        if !matches!(caller, Caller::Broker { .. }) {
            return Err(ControlPlaneError::Forbidden);
        }
        if !batch.source.starts_with("crn://faultline/broker=") || batch.decisions.len() > 1_000 {
            return Err(invalid("source", "a broker process's source and at most 1000 decisions"));
        }
        if self.records.decision_batches.get(&batch.source).is_some_and(|last| *last >= batch.batch) {
            return Ok(());
        }
        for decision in batch.decisions {
            self.audit_from(
                &batch.source,
                decision.principal,
                &decision.subject,
                &decision.kind,
                decision.result,
                decision.time_ms,
            );
        }
        self.records.decision_batches.insert(batch.source, batch.batch);
        Ok(())
    }

    /// Audit events after `after_sequence`, at most `limit` (brokers copy them to the audit topic).
    pub fn audit_events(&self, caller: &Caller, after_sequence: u64, limit: usize) -> Result<&[AuditEvent]> {
        if !matches!(caller, Caller::Broker { .. }) && !caller.is_admin() {
            return Err(ControlPlaneError::Forbidden);
        }
        let start = (after_sequence as usize).min(self.records.audit.len());
        let end = (start + limit).min(self.records.audit.len());
        Ok(&self.records.audit[start..end])
    }
}

mod networks;
pub use networks::NetworkRequest;

#[cfg(test)]
pub(crate) mod tests;
