//! The Kafka wire protocol at the edge: TLS, framing, SASL, and dispatch to one handler file
//! per API family. Bad input of any kind closes that connection with a log line; it never
//! takes the broker down.

mod acls;
mod authorize;
mod bounds;
pub(crate) mod errors;
mod fetch;
mod groups;
mod internal;
mod metadata;
mod produce;
mod quotas;
mod session;
mod tenancy;
pub(crate) mod versions;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};

use crate::messages::INTERNAL_API_KEY;
use crate::net::frame::{read_frame, write_frame, FrameError, FRAME_BYTES_MAX, UNAUTHENTICATED_FRAME_BYTES_MAX};
use crate::node::Node;
use session::{ConnectionError, Session};

/// Serves one accepted TCP connection until it closes or misbehaves.
pub(crate) async fn serve_connection(node: Arc<Node>, stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
    let handshake = crate::clock::timeout(std::time::Duration::from_secs(10), node.tls_acceptor().accept(stream)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            node.counters.tls_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(%peer, %error, "refused connection: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "refused connection: TLS handshake timed out");
            return;
        }
    };
    let (_, connection) = stream.get_ref();
    let version = connection.protocol_version();
    assert!(
        matches!(version, Some(rustls::ProtocolVersion::TLSv1_2) | Some(rustls::ProtocolVersion::TLSv1_3)),
        "rustls negotiated {version:?}"
    );
    node.counters.tls_accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    serve_session(&node, stream, peer).await;
}

/// Serves a connection of the plaintext inter-broker listener that only the planted bug
/// `plaintext-inter-broker` opens.
pub(crate) async fn serve_plaintext(node: Arc<Node>, stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
    serve_session(&node, stream, peer).await;
}

/// Requests and responses on an established (normally TLS) stream.
pub(crate) async fn serve_session(
    node: &Arc<Node>,
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite,
    peer: std::net::SocketAddr,
) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut session = Session { peer_host: peer.ip().to_string(), ..Session::default() };
    let mut capture = crate::net::capture::Capture::open(node.config.capture_requests.as_deref(), peer);
    loop {
        let bytes_max = if session.principal.is_some() { FRAME_BYTES_MAX } else { UNAUTHENTICATED_FRAME_BYTES_MAX };
        let frame = match read_frame(&mut reader, bytes_max).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return,
            Err(error) => {
                tracing::info!(%peer, %error, "closing connection");
                return;
            }
        };
        capture.record(&frame);
        let response = match handle_frame(node, &mut session, frame).await {
            Ok(response) => response,
            Err((error, response)) => {
                if let Some(response) = response {
                    let _ = write_frame(&mut writer, &response).await;
                }
                tracing::info!(%peer, %error, "closing connection");
                return;
            }
        };
        // Empty: a request answered by no response at all (produce with acks=0). An empty
        // frame instead made librdkafka drop the connection ("Invalid response size 0").
        if response.is_empty() {
            continue;
        }
        if let Err(error) = write_frame(&mut writer, &response).await {
            tracing::debug!(%peer, %error, "connection lost while responding");
            return;
        }
        let muted = quotas::take_mute(&mut session);
        if !muted.is_zero() {
            tokio::time::sleep(muted).await;
        }
    }
}

type HandleResult = Result<Bytes, (ConnectionError, Option<Bytes>)>;

async fn handle_frame(node: &Arc<Node>, session: &mut Session, mut frame: Bytes) -> HandleResult {
    let request_bytes = frame.len();
    if frame.len() < 8 {
        return Err((ConnectionError::Malformed("frame shorter than a request header".into()), None));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    if api_key == INTERNAL_API_KEY {
        return match &session.principal {
            Some(principal) if principal.role == crate::security::sasl::Role::Broker => {
                internal::handle(node, session, frame).await.map_err(|e| (e, None))
            }
            _ => Err((ConnectionError::Forbidden, None)),
        };
    }
    let Ok(key) = ApiKey::try_from(api_key) else {
        return Err((ConnectionError::UnsupportedApi(api_key), None));
    };
    // The crate's decoders index into buffers; a panic on hostile bytes must only cost this connection.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode_request(key, &mut frame)));
    let (header, request) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(error)) => return Err((error, None)),
        Err(_) => return Err((ConnectionError::Malformed("decoder panicked".into()), None)),
    };
    let version = header.request_api_version;
    if let Some(named) = request.as_ref().map(bounds::entries_named).filter(|n| *n > bounds::ENTRIES_PER_REQUEST_MAX) {
        return Err((ConnectionError::TooManyEntries(key, named), None));
    }
    let Some(request) = request else {
        // ApiVersions at an unknown version: a v0 body with UNSUPPORTED_VERSION and our ranges
        // (KIP-511); kafka-python relies on it. Other APIs at unsupported versions: close.
        if key == ApiKey::ApiVersions {
            let body = session::api_versions(kafka_protocol::ResponseError::UnsupportedVersion.code());
            return encode_response(header.correlation_id, ResponseKind::ApiVersions(body), 0).map_err(|e| (e, None));
        }
        return Err((ConnectionError::Malformed(format!("{key:?} v{version} is not supported")), None));
    };
    let auth = match (&request, &session.principal) {
        (RequestKind::ApiVersions(_) | RequestKind::SaslHandshake(_) | RequestKind::SaslAuthenticate(_), _) => None,
        // BUG (planted): anonymous metadata before SASL.
        (RequestKind::Metadata(_), None)
            if node.config.bugs.is_on(crate::planted_bugs::PlantedBug::MetadataBeforeSasl) =>
        {
            None
        }
        (_, None) => return Err((ConnectionError::Unauthenticated(key), None)),
        (_, Some(principal)) => {
            // One snapshot per request, for the validity check and every authorization.
            let access = node.control_plane().access();
            // A key deleted since the connection authenticated closes it at its next request.
            if !node.control_plane().still_valid(&access, principal) {
                return Err((ConnectionError::CredentialRevoked(principal.api_key.clone()), None));
            }
            Some(authorize::Authorizer::new(node, session, principal, access))
        }
    };
    let tenant = auth.as_ref().and_then(|auth| auth.tenant().cloned());
    let quota = auth.as_ref().and_then(|auth| auth.quota());
    let mut request = request;
    if let Some(tenant) = &tenant {
        tenant.inbound(&mut request);
    }
    let mut response = match (request, auth) {
        (RequestKind::ApiVersions(_), _) => ResponseKind::ApiVersions(session::api_versions(0)),
        (RequestKind::SaslHandshake(request), _) => {
            ResponseKind::SaslHandshake(session::sasl_handshake(session, request))
        }
        (RequestKind::SaslAuthenticate(request), _) => {
            let (response, failed) = session::sasl_authenticate(node, session, request);
            let encoded = encode_response(header.correlation_id, ResponseKind::SaslAuthenticate(response), version)
                .map_err(|e| (e, None))?;
            if let Some(api_key) = failed {
                return Err((ConnectionError::AuthenticationFailed(api_key), Some(encoded)));
            }
            return Ok(encoded);
        }
        (RequestKind::Metadata(_), None) => {
            let brokers_only = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(Vec::new()));
            ResponseKind::Metadata(metadata::metadata(node, brokers_only, version).await)
        }
        (_, None) => return Err((ConnectionError::Unauthenticated(key), None)),
        (RequestKind::Metadata(request), Some(auth)) => {
            ResponseKind::Metadata(authorize::metadata(node, &auth, request, version).await)
        }
        (RequestKind::CreateTopics(request), Some(auth)) => {
            ResponseKind::CreateTopics(authorize::create_topics(node, &auth, request, version).await)
        }
        (RequestKind::DeleteTopics(request), Some(auth)) => {
            ResponseKind::DeleteTopics(authorize::delete_topics(node, &auth, request, version).await)
        }
        (RequestKind::Produce(request), Some(auth)) => {
            let acks = request.acks;
            let refused = quota.as_ref().and_then(|quota| quota.storage_refusal(node, &request));
            let mut response = match refused {
                Some(refused) => refused,
                None => authorize::produce(node, &auth, request, version).await,
            };
            if let Some(quota) = &quota {
                quota.produced(node, session, request_bytes, &mut response);
            }
            if acks == 0 {
                // acks=0: the client expects no response at all.
                return Ok(Bytes::new());
            }
            ResponseKind::Produce(response)
        }
        (RequestKind::Fetch(request), Some(auth)) => {
            let mut response = authorize::fetch(node, &auth, session, request, version).await;
            if let Some(quota) = &quota {
                quota.fetched(node, session, &mut response);
            }
            ResponseKind::Fetch(response)
        }
        (RequestKind::ListOffsets(request), Some(auth)) => {
            ResponseKind::ListOffsets(authorize::list_offsets(node, &auth, request, version))
        }
        (RequestKind::InitProducerId(request), Some(auth)) => {
            ResponseKind::InitProducerId(authorize::init_producer_id(node, &auth, request).await)
        }
        (RequestKind::FindCoordinator(request), Some(auth)) => {
            ResponseKind::FindCoordinator(authorize::find_coordinator(node, &auth, request, version))
        }
        (RequestKind::JoinGroup(request), Some(auth)) => match authorize::group_denied(&auth, &request.group_id.0) {
            Some(code) => ResponseKind::JoinGroup(
                kafka_protocol::messages::JoinGroupResponse::default().with_error_code(code).with_generation_id(-1),
            ),
            None => ResponseKind::JoinGroup(groups::join_group(node, request, version).await),
        },
        (RequestKind::SyncGroup(request), Some(auth)) => match authorize::group_denied(&auth, &request.group_id.0) {
            Some(code) => {
                ResponseKind::SyncGroup(kafka_protocol::messages::SyncGroupResponse::default().with_error_code(code))
            }
            None => ResponseKind::SyncGroup(groups::sync_group(node, request, version).await),
        },
        (RequestKind::Heartbeat(request), Some(auth)) => match authorize::group_denied(&auth, &request.group_id.0) {
            Some(code) => {
                ResponseKind::Heartbeat(kafka_protocol::messages::HeartbeatResponse::default().with_error_code(code))
            }
            None => ResponseKind::Heartbeat(groups::heartbeat(node, request)),
        },
        (RequestKind::LeaveGroup(request), Some(auth)) => match authorize::group_denied(&auth, &request.group_id.0) {
            Some(code) => {
                ResponseKind::LeaveGroup(kafka_protocol::messages::LeaveGroupResponse::default().with_error_code(code))
            }
            None => ResponseKind::LeaveGroup(groups::leave_group(node, request, version)),
        },
        (RequestKind::OffsetCommit(request), Some(auth)) => {
            ResponseKind::OffsetCommit(authorize::offset_commit(node, &auth, request).await)
        }
        (RequestKind::OffsetFetch(request), Some(auth)) => {
            ResponseKind::OffsetFetch(authorize::offset_fetch(node, &auth, request, version))
        }
        (RequestKind::DescribeAcls(request), Some(auth)) => {
            ResponseKind::DescribeAcls(acls::describe_acls(node, &auth, request, version))
        }
        (RequestKind::CreateAcls(request), Some(auth)) => {
            ResponseKind::CreateAcls(acls::create_acls(node, &auth, request, version).await)
        }
        (RequestKind::DeleteAcls(request), Some(auth)) => {
            ResponseKind::DeleteAcls(acls::delete_acls(node, &auth, request, version).await)
        }
        _ => return Err((ConnectionError::UnsupportedApi(api_key), None)),
    };
    if let Some(tenant) = &tenant {
        tenant.outbound(&mut response);
    }
    encode_response(header.correlation_id, response, version).map_err(|e| (e, None))
}

/// The header and, at a version this broker decodes, the body of a request frame.
pub(crate) fn decode_request(
    key: ApiKey,
    frame: &mut Bytes,
) -> Result<(RequestHeader, Option<RequestKind>), ConnectionError> {
    fn malformed(error: impl std::fmt::Display) -> ConnectionError {
        ConnectionError::Malformed(error.to_string())
    }
    let header = decode_request_header_from_buffer(frame).map_err(malformed)?;
    if !versions::decodable(key, header.request_api_version) {
        return Ok((header, None));
    }
    let request = RequestKind::decode(key, frame, header.request_api_version).map_err(malformed)?;
    Ok((header, Some(request)))
}

/// Encodes a response. A failure is our bug (a field set that this version lacks): the caller
/// logs it and closes the connection rather than taking the broker down.
fn encode_response(correlation_id: i32, response: ResponseKind, version: i16) -> Result<Bytes, ConnectionError> {
    let mut buffer = BytesMut::new();
    // ApiVersions responses always use header v0 (KIP-511).
    let header_version =
        if matches!(response, ResponseKind::ApiVersions(_)) { 0 } else { response.header_version(version) };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buffer, header_version)
        .expect("response header encodes");
    let version = if matches!(&response, ResponseKind::ApiVersions(r) if r.error_code != 0) { 0 } else { version };
    response.encode(&mut buffer, version).map_err(|error| ConnectionError::Encode(format!("v{version}: {error}")))?;
    Ok(buffer.freeze())
}
