//! The REST API (C01, C15-C17), shaped after the public APIs people script against:
//! `/org/v2/environments`, `/cmk/v2/clusters`, `/srcm/v2/clusters`, `/networking/v1/networks`
//! and `/peerings`, `/iam/v2/users`,
//! `/iam/v2/service-accounts`, `/iam/v2/api-keys`, `/kafka/v3/clusters/{id}/acls`, sign-in under
//! `/api/sessions`, and the brokers' own pull endpoints under `/internal/v1`. Pure: a request
//! and the time in, a response out; `server` does the HTTP and the persistence.
//! The published contract is `broker/openapi.yaml`.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::identity::{ApiKey, ApiKeyScope};
use super::model::{Availability, Cluster, ClusterType, Networking};
use super::state::{Caller, ClusterRequest, ControlPlane, ControlPlaneError, CreatedKey, Credentials};
use crate::security::acl::{AclBinding, AclFilter};

/// Bodies larger than this are refused (413) before they are parsed.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
const PAGE_SIZE_DEFAULT: usize = 10;
const PAGE_SIZE_MAX: usize = 100;
/// Audit events per pull.
const AUDIT_PAGE_MAX: usize = 500;

pub use crate::net::api::{ApiRequest, ApiResponse};

/// Why a request failed before or after it reached the state machine.
enum Failure {
    Plane(ControlPlaneError),
    BadRequest(String),
    NotFound,
    MethodNotAllowed,
}

impl From<ControlPlaneError> for Failure {
    fn from(error: ControlPlaneError) -> Self {
        Failure::Plane(error)
    }
}

impl Failure {
    fn response(&self) -> ApiResponse {
        match self {
            Failure::Plane(error) => {
                let (status, title) = match error {
                    ControlPlaneError::Unauthenticated | ControlPlaneError::Assertion(_) => (401, "Unauthorized"),
                    ControlPlaneError::Forbidden => (403, "Forbidden"),
                    ControlPlaneError::NotFound { .. } => (404, "Not Found"),
                    ControlPlaneError::Conflict(_) | ControlPlaneError::NoCapacity(_) => (409, "Conflict"),
                    ControlPlaneError::Invalid { .. } | ControlPlaneError::Matrix(_) => (400, "Bad Request"),
                    ControlPlaneError::RegionUnavailable(_) => (503, "Service Unavailable"),
                };
                ApiResponse::problem(status, title, &error.to_string())
            }
            Failure::BadRequest(detail) => ApiResponse::problem(400, "Bad Request", detail),
            Failure::NotFound => ApiResponse::problem(404, "Not Found", "no such endpoint"),
            Failure::MethodNotAllowed => ApiResponse::problem(405, "Method Not Allowed", "method not allowed here"),
        }
    }
}

type Outcome = Result<ApiResponse, Failure>;

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|error| Failure::BadRequest(format!("request body: {error}")))
}

fn credentials<'a>(authorization: Option<&'a str>, decoded: &'a mut Vec<u8>) -> Result<Credentials<'a>, Failure> {
    let Some(header) = authorization else { return Ok(Credentials::None) };
    if let Some(token) = header.strip_prefix("Bearer ") {
        return Ok(Credentials::Bearer(token.trim()));
    }
    let Some(encoded) = header.strip_prefix("Basic ") else {
        return Err(Failure::Plane(ControlPlaneError::Unauthenticated));
    };
    *decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Failure::Plane(ControlPlaneError::Unauthenticated))?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or(Failure::Plane(ControlPlaneError::Unauthenticated))?;
    let (id, secret) = decoded.split_at(colon);
    let id = std::str::from_utf8(id).map_err(|_| Failure::Plane(ControlPlaneError::Unauthenticated))?;
    Ok(Credentials::Basic { id, secret: &secret[1..] })
}

/// The query string as pairs; unknown parameters are refused so that typos do not widen a
/// filter (a DELETE with a misspelt filter must not delete more).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str, allowed: &[&str]) -> Result<Self, Failure> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        if let Some((name, _)) = pairs.iter().find(|(name, _)| !allowed.contains(&name.as_str())) {
            return Err(Failure::BadRequest(format!("unknown query parameter {name:?}; allowed: {allowed:?}")));
        }
        Ok(Query(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    fn enum_value<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Failure> {
        self.get(name)
            .map(|value| {
                serde_json::from_value(Value::String(value.to_uppercase()))
                    .map_err(|_| Failure::BadRequest(format!("{name}: unknown value {value:?}")))
            })
            .transpose()
    }
}

const PAGE_PARAMETERS: [&str; 2] = ["page_size", "page_token"];

/// A page of a list sorted by id: `page_token` is the opaque (base64url) id of the last item
/// of the previous page.
fn page<'a, T>(
    items: Vec<&'a T>,
    id: impl Fn(&T) -> &str,
    query: &Query,
    path: &str,
) -> Result<(Vec<&'a T>, Value), Failure> {
    let size = match query.get("page_size") {
        None => PAGE_SIZE_DEFAULT,
        Some(text) => match text.parse::<usize>() {
            Ok(size) if (1..=PAGE_SIZE_MAX).contains(&size) => size,
            _ => return Err(Failure::BadRequest(format!("page_size: an integer from 1 to {PAGE_SIZE_MAX}"))),
        },
    };
    let after = match query.get("page_token") {
        None => None,
        Some(token) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| Failure::BadRequest("page_token: not a token this API issued".into()))?,
        ),
    };
    let total = items.len();
    let remaining: Vec<&T> = items.into_iter().filter(|item| after.as_deref().is_none_or(|a| id(item) > a)).collect();
    let more = remaining.len() > size;
    let served: Vec<&T> = remaining.into_iter().take(size).collect();
    let next = match served.last() {
        Some(last) if more => {
            let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id(last));
            Value::String(format!("{path}?page_size={size}&page_token={token}"))
        }
        _ => Value::Null,
    };
    Ok((served, json!({ "next": next, "total_size": total })))
}

fn list(api_version: &str, kind: &str, metadata: Value, data: Vec<Value>) -> ApiResponse {
    ApiResponse::json(200, json!({ "api_version": api_version, "kind": kind, "metadata": metadata, "data": data }))
}

fn environment_view(environment: &super::model::Environment) -> Value {
    json!({
        "api_version": "org/v2",
        "kind": "Environment",
        "id": environment.id,
        "display_name": environment.display_name,
        "metadata": { "created_at": super::audit::rfc3339(environment.created_at_ms) },
    })
}

fn cluster_view(plane: &ControlPlane, cluster: &Cluster) -> Value {
    let bootstrap = plane.physical_cluster(&cluster.physical_cluster_id).map(|p| p.bootstrap.clone());
    json!({
        "api_version": "cmk/v2",
        "kind": "Cluster",
        "id": cluster.id,
        "spec": {
            "display_name": cluster.display_name,
            "availability": cluster.availability,
            "networking": cluster.networking,
            "network": cluster.network_id.as_ref().map(|id| json!({ "id": id })),
            "config": { "kind": cluster.cluster_type },
            "environment": { "id": cluster.environment_id },
            "region": cluster.region,
            "kafka_bootstrap_endpoint": bootstrap.map(|b| format!("SASL_SSL://{b}")),
        },
        "status": {
            "phase": "PROVISIONED",
            "sla_target_percent": cluster.sla_target_percent(),
            "tenancy": cluster.cluster_type.tenancy(),
            "limits": cluster.cluster_type.limits(),
        },
        "metadata": { "created_at": super::audit::rfc3339(cluster.created_at_ms) },
    })
}

fn key_view(key: &ApiKey, secret: Option<&str>) -> Value {
    let resource = match &key.scope {
        ApiKeyScope::Cluster(cluster) => json!({ "id": cluster, "kind": "Cluster" }),
        ApiKeyScope::Cloud => json!({ "id": "cloud", "kind": "Cloud" }),
    };
    let mut spec = json!({
        "display_name": key.display_name,
        "owner": { "id": key.owner_id },
        "resource": resource,
        "rotated_from": key.rotated_from,
    });
    if let Some(secret) = secret {
        // The only response that ever carries it (C15).
        spec["secret"] = Value::String(secret.to_string());
    }
    json!({
        "api_version": "iam/v2",
        "kind": "ApiKey",
        "id": key.id,
        "spec": spec,
        "metadata": { "created_at": super::audit::rfc3339(key.created_at_ms) },
    })
}

fn created_key(created: CreatedKey) -> ApiResponse {
    ApiResponse::json(201, key_view(&created.key, Some(&created.secret)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    display_name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdRef {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterConfig {
    kind: ClusterType,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterSpec {
    display_name: String,
    availability: Availability,
    config: ClusterConfig,
    environment: IdRef,
    #[serde(default = "public")]
    networking: Networking,
    /// The network of a PRIVATE cluster.
    #[serde(default)]
    network: Option<IdRef>,
    /// Where the cluster and all of its data live (C07).
    region: String,
}

fn public() -> Networking {
    Networking::Public
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec<T> {
    spec: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrySpec {
    environment: IdRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    #[serde(default)]
    display_name: String,
    owner: IdRef,
    resource: IdRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    email: String,
    full_name: String,
    password: Option<String>,
    #[serde(default)]
    organization_admin: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SsoSignIn {
    assertion: String,
}

/// What a broker relays from Kafka's CreateAcls (after checking Alter on the cluster).
#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedAclCreation {
    pub principal: String,
    pub bindings: Vec<AclBinding>,
}

const ACL_FILTER_PARAMETERS: [&str; 7] =
    ["resource_type", "resource_name", "pattern_type", "principal", "host", "operation", "permission"];

fn acl_filter(query: &Query) -> Result<AclFilter, Failure> {
    Ok(AclFilter {
        principal: query.get("principal").map(str::to_string),
        host: query.get("host").map(str::to_string),
        resource_type: query.enum_value("resource_type")?,
        resource_name: query.get("resource_name").map(str::to_string),
        pattern_type: query.enum_value("pattern_type")?,
        operation: query.enum_value("operation")?,
        permission: query.enum_value("permission")?,
    })
}

fn acl_view(cluster_id: &str, binding: &AclBinding) -> Value {
    let mut value = serde_json::to_value(binding).expect("JSON");
    value["kind"] = Value::String("KafkaAcl".into());
    value["cluster_id"] = Value::String(cluster_id.to_string());
    value
}

/// Serves one request. Refusals (401, 403) are audited here, for every endpoint alike.
pub fn handle(plane: &mut ControlPlane, request: &ApiRequest<'_>, now_ms: u64) -> ApiResponse {
    let mut decoded = Vec::new();
    let parsed = credentials(request.authorization, &mut decoded);
    let claimed = match &parsed {
        Ok(Credentials::Basic { id, .. }) => id.to_string(),
        Ok(Credentials::Bearer(_)) => "session".into(),
        Ok(Credentials::None) => "anonymous".into(),
        Err(_) => "malformed-credentials".into(),
    };
    let outcome = parsed.and_then(|credentials| route(plane, request, credentials, now_ms));
    // Sign-in audits its own outcomes (with the email it was given).
    let signing_in = request.path.starts_with("/api/sessions");
    if let Err(Failure::Plane(error @ (ControlPlaneError::Unauthenticated | ControlPlaneError::Forbidden))) = &outcome {
        if !signing_in {
            plane.audit_refusal(&claimed, request.path, error, now_ms);
        }
    }
    outcome.unwrap_or_else(|failure| failure.response())
}

fn route(plane: &mut ControlPlane, request: &ApiRequest<'_>, credentials: Credentials<'_>, now_ms: u64) -> Outcome {
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').skip(1).collect();
    let method = request.method;
    // Sign-in needs no credentials; everything else does.
    match (method, segments.as_slice()) {
        ("POST", ["api", "sessions"]) => {
            let body: SignIn = parse_body(request.body)?;
            let token = plane.sign_in(&body.email, &body.password, now_ms)?;
            return Ok(ApiResponse::json(201, json!({ "kind": "Session", "token": token })));
        }
        ("POST", ["api", "sessions", "sso"]) => {
            let body: SsoSignIn = parse_body(request.body)?;
            let token = plane.sign_in_with_assertion(&body.assertion, now_ms)?;
            return Ok(ApiResponse::json(201, json!({ "kind": "Session", "token": token })));
        }
        (_, ["api", "sessions", ..]) => return Err(Failure::MethodNotAllowed),
        _ => {}
    }
    let caller = plane.authenticate(credentials, now_ms)?;
    match segments.as_slice() {
        ["org", "v2", "environments"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) =
                    page(plane.list_environments(&caller)?, |e| &e.id, &query, "/org/v2/environments")?;
                Ok(list("org/v2", "EnvironmentList", metadata, items.into_iter().map(environment_view).collect()))
            }
            "POST" => {
                let body: NameBody = parse_body(request.body)?;
                Ok(ApiResponse::json(
                    201,
                    environment_view(&plane.create_environment(&caller, &body.display_name, now_ms)?),
                ))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["org", "v2", "environments", id] => match method {
            "GET" => Ok(ApiResponse::json(200, environment_view(plane.environment(&caller, id)?))),
            "DELETE" => {
                plane.delete_environment(&caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["cmk", "v2", "clusters"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &["environment", "page_size", "page_token"])?;
                let clusters = plane.list_clusters(&caller, query.get("environment"))?;
                let (items, metadata) = page(clusters, |c| &c.id, &query, "/cmk/v2/clusters")?;
                let data = items.into_iter().map(|c| cluster_view(plane, c)).collect();
                Ok(list("cmk/v2", "ClusterList", metadata, data))
            }
            "POST" => {
                let body: Spec<ClusterSpec> = parse_body(request.body)?;
                let spec = body.spec;
                let cluster = plane.create_cluster(
                    &caller,
                    ClusterRequest {
                        display_name: spec.display_name,
                        environment_id: spec.environment.id,
                        cluster_type: spec.config.kind,
                        availability: spec.availability,
                        networking: spec.networking,
                        network_id: spec.network.map(|n| n.id),
                        region: spec.region,
                        // The customer's own key needs the key service's word first, which
                        // this API cannot ask yet: bring-your-own-key is set at bootstrap.
                        encryption_key: None,
                    },
                    now_ms,
                )?;
                Ok(ApiResponse::json(201, cluster_view(plane, &cluster)))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["cmk", "v2", "clusters", id] => match method {
            "GET" => {
                let cluster = plane.cluster(&caller, id)?.clone();
                Ok(ApiResponse::json(200, cluster_view(plane, &cluster)))
            }
            "DELETE" => {
                plane.delete_cluster(&caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["srcm", "v2", "clusters"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) =
                    page(plane.list_schema_registries(&caller)?, |r| &r.id, &query, "/srcm/v2/clusters")?;
                let data = items
                    .into_iter()
                    .map(|r| json!({ "api_version": "srcm/v2", "kind": "Cluster", "id": r.id, "spec": { "environment": { "id": r.environment_id } } }))
                    .collect();
                Ok(list("srcm/v2", "ClusterList", metadata, data))
            }
            "POST" => {
                let body: Spec<RegistrySpec> = parse_body(request.body)?;
                let registry = plane.create_schema_registry(&caller, &body.spec.environment.id, now_ms)?;
                Ok(ApiResponse::json(
                    201,
                    json!({ "api_version": "srcm/v2", "kind": "Cluster", "id": registry.id, "spec": { "environment": { "id": registry.environment_id } } }),
                ))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "users"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) = page(plane.list_users(&caller)?, |u| &u.id, &query, "/iam/v2/users")?;
                let data = items
                    .into_iter()
                    .map(|u| json!({ "api_version": "iam/v2", "kind": "User", "id": u.id, "email": u.email, "full_name": u.full_name, "organization_admin": u.organization_admin, "auth_type": if u.password_hash.is_some() { "AUTH_TYPE_LOCAL" } else { "AUTH_TYPE_SSO" } }))
                    .collect();
                Ok(list("iam/v2", "UserList", metadata, data))
            }
            "POST" => {
                let body: UserBody = parse_body(request.body)?;
                let user = plane.create_user(
                    &caller,
                    &body.email,
                    &body.full_name,
                    body.password.as_deref(),
                    body.organization_admin,
                    now_ms,
                )?;
                Ok(ApiResponse::json(
                    201,
                    json!({ "api_version": "iam/v2", "kind": "User", "id": user.id, "email": user.email, "full_name": user.full_name, "organization_admin": user.organization_admin }),
                ))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "service-accounts"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) =
                    page(plane.list_service_accounts(&caller)?, |a| &a.id, &query, "/iam/v2/service-accounts")?;
                let data = items
                    .into_iter()
                    .map(|a| json!({ "api_version": "iam/v2", "kind": "ServiceAccount", "id": a.id, "display_name": a.display_name, "description": a.description }))
                    .collect();
                Ok(list("iam/v2", "ServiceAccountList", metadata, data))
            }
            "POST" => {
                let body: NameBody = parse_body(request.body)?;
                let account = plane.create_service_account(&caller, &body.display_name, &body.description, now_ms)?;
                Ok(ApiResponse::json(
                    201,
                    json!({ "api_version": "iam/v2", "kind": "ServiceAccount", "id": account.id, "display_name": account.display_name, "description": account.description }),
                ))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "service-accounts", id] => match method {
            "DELETE" => {
                plane.delete_service_account(&caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "api-keys"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &["owner", "page_size", "page_token"])?;
                let keys = plane.list_api_keys(&caller, query.get("owner"))?;
                let (items, metadata) = page(keys, |k| &k.id, &query, "/iam/v2/api-keys")?;
                Ok(list("iam/v2", "ApiKeyList", metadata, items.into_iter().map(|k| key_view(k, None)).collect()))
            }
            "POST" => {
                let body: Spec<KeySpec> = parse_body(request.body)?;
                let scope = match body.spec.resource.id.as_str() {
                    "cloud" => ApiKeyScope::Cloud,
                    cluster => ApiKeyScope::Cluster(cluster.to_string()),
                };
                Ok(created_key(plane.create_api_key(
                    &caller,
                    &body.spec.owner.id,
                    scope,
                    &body.spec.display_name,
                    now_ms,
                )?))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "api-keys", id] => match method {
            "GET" => Ok(ApiResponse::json(200, key_view(plane.api_key(&caller, id)?, None))),
            "DELETE" => {
                plane.delete_api_key(&caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["iam", "v2", "api-keys", id, "rotate"] => match method {
            "POST" => Ok(created_key(plane.rotate_api_key(&caller, id, now_ms)?)),
            _ => Err(Failure::MethodNotAllowed),
        },
        ["kafka", "v3", "clusters", cluster, "acls"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &ACL_FILTER_PARAMETERS)?;
                let bindings = plane.list_acls(&caller, cluster, &acl_filter(&query)?)?;
                let data: Vec<Value> = bindings.into_iter().map(|b| acl_view(cluster, b)).collect();
                Ok(ApiResponse::json(200, json!({ "kind": "KafkaAclList", "data": data })))
            }
            "POST" => {
                let binding: AclBinding = parse_body(request.body)?;
                plane.create_acls(&caller, caller.principal(), cluster, vec![binding.clone()], now_ms)?;
                Ok(ApiResponse::json(201, acl_view(cluster, &binding)))
            }
            "DELETE" => {
                let query = Query::parse(request.query, &ACL_FILTER_PARAMETERS)?;
                if query.get("resource_type").is_none() {
                    return Err(Failure::BadRequest("resource_type is required to delete ACLs".into()));
                }
                let deleted = plane.delete_acls(&caller, caller.principal(), cluster, &acl_filter(&query)?, now_ms)?;
                let data: Vec<Value> = deleted.iter().map(|b| acl_view(cluster, b)).collect();
                Ok(ApiResponse::json(200, json!({ "kind": "KafkaAclList", "data": data })))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["internal", "v1", "data-plane", physical] => match method {
            "GET" => {
                let query = Query::parse(request.query, &["known_version"])?;
                let snapshot = plane.data_plane_snapshot(&caller, physical)?;
                plane.note_pull(physical, now_ms);
                if query.get("known_version").and_then(|v| v.parse::<u64>().ok()) == Some(snapshot.version) {
                    return Ok(ApiResponse::empty(304));
                }
                Ok(ApiResponse::json(200, serde_json::to_value(snapshot).expect("JSON")))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["internal", "v1", "physical-clusters", physical, "public-endpoints"] => match method {
            "PUT" => {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Moved {
                    endpoints: Vec<super::network::PublicEndpoint>,
                }
                let moved: Moved = parse_body(request.body)?;
                plane.move_public_endpoints(&caller, physical, moved.endpoints, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["internal", "v1", "audit"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &["after", "limit"])?;
                let after = query.get("after").map(str::parse::<u64>).transpose();
                let limit = query.get("limit").map(str::parse::<usize>).transpose();
                let (Ok(after), Ok(limit)) = (after, limit) else {
                    return Err(Failure::BadRequest("after and limit are integers".into()));
                };
                let events = plane.audit_events(
                    &caller,
                    after.unwrap_or(0),
                    limit.unwrap_or(AUDIT_PAGE_MAX).min(AUDIT_PAGE_MAX),
                )?;
                Ok(ApiResponse::json(200, json!({ "kind": "AuditEventList", "data": events })))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["internal", "v1", "audit", "decisions"] => match method {
            "POST" => {
                let batch: super::audit::DecisionBatch = parse_body(request.body)?;
                plane.record_decisions(&caller, batch)?;
                Ok(ApiResponse::json(200, json!({ "recorded": true })))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["internal", "v1", "clusters", cluster, "acls"] if matches!(caller, Caller::Broker { .. }) => match method {
            "POST" => {
                let body: RelayedAclCreation = parse_body(request.body)?;
                plane.create_acls(&caller, body.principal, cluster, body.bindings, now_ms)?;
                Ok(ApiResponse::json(200, json!({ "data_plane_version": plane.data_plane_version() })))
            }
            "DELETE" => {
                let query = Query::parse(request.query, &[&ACL_FILTER_PARAMETERS[..], &["relayed_for"]].concat())?;
                let principal = query.get("relayed_for").unwrap_or("unknown").to_string();
                let deleted = plane.delete_acls(&caller, principal, cluster, &acl_filter(&query)?, now_ms)?;
                Ok(ApiResponse::json(200, json!({ "data": deleted, "data_plane_version": plane.data_plane_version() })))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["networking", "v1", rest @ ..] => networking::route(plane, &caller, method, rest, request, now_ms),
        ["internal", ..] => Err(Failure::Plane(ControlPlaneError::Forbidden)),
        _ => Err(Failure::NotFound),
    }
}

mod networking;

#[cfg(test)]
mod tests;
