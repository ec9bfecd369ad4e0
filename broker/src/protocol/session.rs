//! A connection's state and why it closes, and the only APIs allowed before authentication:
//! ApiVersions, SaslHandshake and SaslAuthenticate.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::net::frame::FrameError;
use crate::node::Node;
use crate::security::sasl::{self, Principal};

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    /// Framing or transport failure.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A request that cannot be decoded.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// An API key this broker does not serve.
    #[error("unsupported API key {0}")]
    UnsupportedApi(i16),
    /// A request other than ApiVersions/SaslHandshake/SaslAuthenticate before authentication.
    #[error("{0:?} before SASL authentication")]
    Unauthenticated(ApiKey),
    /// A wrong API key or secret (after the error response was sent).
    #[error("SASL authentication failed for {0:?}")]
    AuthenticationFailed(String),
    /// A response this broker cannot encode at the requested version (a bug, logged).
    #[error("cannot encode the response: {0}")]
    Encode(String),
    /// The connection's API key was deleted (or its owner changed) since it authenticated.
    #[error("API key {0:?} was revoked")]
    CredentialRevoked(String),
    /// A request naming more topics, partitions or ACL entries than one request may.
    #[error("{0:?} names {1} topics, partitions or ACL entries (at most {max} per request)", max = super::bounds::ENTRIES_PER_REQUEST_MAX)]
    TooManyEntries(ApiKey, usize),
    /// Internal API from a principal that is not a broker.
    #[error("internal API refused for a client principal")]
    Forbidden,
}

/// Per-connection state.
#[derive(Debug, Default)]
pub(super) struct Session {
    /// The client's address, for ACLs that name a host.
    pub peer_host: String,
    pub handshake_mechanism: Option<String>,
    pub principal: Option<Principal>,
    /// A follower's broker id and epoch, from `IdentifyReplica` (KIP-903).
    pub replica: Option<(crate::controller::metadata::BrokerId, i64)>,
    /// How long to stop reading after the current response: a tenant over its quota (KIP-219).
    pub muted_for: std::time::Duration,
    /// This connection's place in its API key's count (customer keys only).
    pub principal_slot: Option<crate::net::connections::ConnectionSlot<String>>,
}

pub(super) fn api_versions(error_code: i16) -> ApiVersionsResponse {
    let api_keys = super::versions::all()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(key as i16).with_min_version(min).with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys)
}

pub(super) fn sasl_handshake(session: &mut Session, request: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let mechanisms = vec![StrBytes::from_static_str("PLAIN")];
    if request.mechanism.as_str() != "PLAIN" {
        return SaslHandshakeResponse::default()
            .with_error_code(ResponseError::UnsupportedSaslMechanism.code())
            .with_mechanisms(mechanisms);
    }
    session.handshake_mechanism = Some("PLAIN".into());
    SaslHandshakeResponse::default().with_mechanisms(mechanisms)
}

/// Returns the response and, on failure, the API key that failed (the caller closes).
pub(super) fn sasl_authenticate(
    node: &Node,
    session: &mut Session,
    request: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, Option<String>) {
    let fail = |message: &str, key: String| {
        (
            SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(StrBytes::from_string(message.to_string()))),
            Some(key),
        )
    };
    if session.handshake_mechanism.is_none() || session.principal.is_some() {
        let response = SaslAuthenticateResponse::default().with_error_code(ResponseError::IllegalSaslState.code());
        return (response, Some(String::new()));
    }
    let Some((api_key, secret)) = sasl::parse_plain(&request.auth_bytes) else {
        return fail("Authentication failed: malformed PLAIN message", String::new());
    };
    match node.control_plane().authenticate(node.credentials(), &api_key, &secret) {
        Some(_) if !node.key_admitted_from(&api_key, &session.peer_host) => {
            node.control_plane().report(crate::control_plane::audit::Decision {
                subject: format!("kafka/sasl/{api_key} from {}", session.peer_host),
                kind: "kafka.operator.outside-bastion".into(),
                principal: api_key.clone(),
                result: crate::control_plane::audit::AuditResult::Denied,
                time_ms: crate::net::http::wall_clock_ms(),
                network: session.peer_host.clone(),
            });
            fail("Authentication failed: Invalid username or password", api_key)
        }
        Some(principal) => {
            if principal.role == sasl::Role::Client {
                let Some(slot) = node.connections_per_principal.acquire(api_key.clone()) else {
                    tracing::warn!(api_key, max = crate::net::connections::CONNECTIONS_PER_PRINCIPAL_MAX, peer = %session.peer_host, "authentication refused: the API key holds the most connections a broker takes");
                    return fail("Authentication failed: too many connections for this API key", api_key);
                };
                session.principal_slot = Some(slot);
            }
            // For the security log only (detection learns each key's networks), not the audit log.
            node.control_plane().record_sign_in(&api_key, &session.peer_host);
            session.principal = Some(principal);
            (SaslAuthenticateResponse::default(), None)
        }
        // One message for unknown keys and wrong secrets: nothing to enumerate.
        None => {
            node.control_plane().report(crate::control_plane::audit::Decision {
                subject: format!("kafka/sasl/{api_key}"),
                kind: "kafka.authentication.failed".into(),
                principal: api_key.clone(),
                result: crate::control_plane::audit::AuditResult::Failure,
                time_ms: crate::net::http::wall_clock_ms(),
                network: session.peer_host.clone(),
            });
            fail("Authentication failed: Invalid username or password", api_key)
        }
    }
}
