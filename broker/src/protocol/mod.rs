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

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
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

/// Produce requests a connection may have appended and waiting for their acknowledgements at
/// once (a bound on what one client holds in the broker; reading stops at it). One at a time
/// bounded a connection to one request per acks=all round trip (a leader fsync, a follower
/// fetch and fsync): librdkafka sends a request per 5 ms linger, and once the round trip grew
/// past that on a busy disk the requests queued in the socket and acknowledgements took
/// seconds. librdkafka had up to 34 waiting at 20 MB/s; 5 still queued.
const PRODUCES_WAITING_MAX: usize = 64;

/// A read of the next frame, which owns the read half while it runs (so that it can wait
/// beside a produce's acknowledgement and keep what it has read).
type Reading<R> = Pin<Box<dyn Future<Output = (R, Result<Bytes, FrameError>)> + Send>>;

/// Requests and responses on an established (normally TLS) stream, in order. A request is
/// handled only after every request before it, except that consecutive produces are appended
/// in order while the earlier ones wait for their acknowledgements; the responses go out in
/// request order either way.
pub(crate) async fn serve_session(
    node: &Arc<Node>,
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    peer: std::net::SocketAddr,
) {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut session = Session { peer_host: peer.ip().to_string(), ..Session::default() };
    let mut capture = crate::net::capture::Capture::open(node.config.capture_requests.as_deref(), peer);
    let mut reader = Some(reader);
    let mut reading: Option<Reading<_>> = None;
    let mut waiting: VecDeque<WaitingProduce> = VecDeque::new();
    loop {
        if reading.is_none() && waiting.len() < PRODUCES_WAITING_MAX {
            let bytes_max = if session.principal.is_some() { FRAME_BYTES_MAX } else { UNAUTHENTICATED_FRAME_BYTES_MAX };
            let mut half = reader.take().expect("the read half is back when no read runs");
            reading = Some(Box::pin(async move {
                let frame = read_frame(&mut half, bytes_max).await;
                (half, frame)
            }));
        }
        let read = match (waiting.front_mut(), reading.as_mut()) {
            (Some(oldest), None) => Err((&mut oldest.acknowledging).await),
            (None, Some(read)) => Ok(read.await),
            (Some(oldest), Some(read)) => tokio::select! {
                biased;
                response = &mut oldest.acknowledging => Err(response),
                read = read => Ok(read),
            },
            (None, None) => unreachable!("a read starts whenever nothing waits"),
        };
        let frame = match read {
            Err(acknowledged) => {
                let produce = waiting.pop_front().expect("the oldest produce answered");
                if !answer(node, &mut session, &mut writer, peer, produce, acknowledged).await {
                    return;
                }
                continue;
            }
            Ok((half, frame)) => {
                reading = None;
                reader = Some(half);
                match frame {
                    Ok(frame) => frame,
                    Err(FrameError::Closed) => return,
                    Err(error) => {
                        tracing::info!(%peer, %error, "closing connection");
                        return;
                    }
                }
            }
        };
        capture.record(&frame);
        let produce = raw_api_key(&frame).map(ApiKey::try_from) == Some(Ok(ApiKey::Produce));
        if !produce && !answer_all(node, &mut session, &mut writer, peer, &mut waiting).await {
            return;
        }
        match handle_frame(node, &mut session, frame).await {
            Ok(Handled::Response(response)) => {
                if !respond(&mut session, &mut writer, peer, &response).await {
                    return;
                }
            }
            Ok(Handled::Produce(produce)) => waiting.push_back(produce),
            Err((error, response)) => {
                if !answer_all(node, &mut session, &mut writer, peer, &mut waiting).await {
                    return;
                }
                if let Some(response) = response {
                    let _ = write_frame(&mut writer, &response).await;
                }
                tracing::info!(%peer, %error, "closing connection");
                return;
            }
        }
    }
}

/// Writes a response (none at all if empty: produce with acks=0; an empty frame instead made
/// librdkafka drop the connection, "Invalid response size 0"), then serves the quota's mute.
/// False if the connection is lost.
async fn respond(
    session: &mut Session,
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    peer: std::net::SocketAddr,
    response: &Bytes,
) -> bool {
    if response.is_empty() {
        return true;
    }
    if let Err(error) = write_frame(writer, response).await {
        tracing::debug!(%peer, %error, "connection lost while responding");
        return false;
    }
    let muted = quotas::take_mute(session);
    if !muted.is_zero() {
        tokio::time::sleep(muted).await;
    }
    true
}

/// Answers a produce whose acknowledgements are in. False if the connection closes.
async fn answer(
    node: &Node,
    session: &mut Session,
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    peer: std::net::SocketAddr,
    produce: WaitingProduce<'_>,
    acknowledged: ProduceResponse,
) -> bool {
    match produce.response(node, session, acknowledged) {
        Ok(response) => respond(session, writer, peer, &response).await,
        Err(error) => {
            tracing::info!(%peer, %error, "closing connection");
            false
        }
    }
}

/// Answers every waiting produce, oldest first. False if the connection closes.
async fn answer_all(
    node: &Node,
    session: &mut Session,
    writer: &mut (impl tokio::io::AsyncWrite + Unpin),
    peer: std::net::SocketAddr,
    waiting: &mut VecDeque<WaitingProduce<'_>>,
) -> bool {
    while let Some(mut earlier) = waiting.pop_front() {
        let acknowledged = (&mut earlier.acknowledging).await;
        if !answer(node, session, writer, peer, earlier, acknowledged).await {
            return false;
        }
    }
    true
}

/// What a request frame came to.
enum Handled<'n> {
    /// Its response (empty: none at all).
    Response(Bytes),
    /// A produce, appended: its response once its acknowledgements are in.
    Produce(WaitingProduce<'n>),
}

/// A produce appended and waiting for what its acks promise.
struct WaitingProduce<'n> {
    acknowledging: produce::Acknowledging<'n>,
    correlation_id: i32,
    version: i16,
    acks: i16,
    request_bytes: usize,
    tenant: Option<tenancy::Tenant>,
    quota: Option<quotas::Quota>,
}

impl WaitingProduce<'_> {
    /// The response frame: throttled by the tenant's quota, none at all for acks=0.
    fn response(
        self,
        node: &Node,
        session: &mut Session,
        mut acknowledged: ProduceResponse,
    ) -> Result<Bytes, ConnectionError> {
        if let Some(quota) = &self.quota {
            quota.produced(node, session, self.request_bytes, &mut acknowledged);
        }
        if self.acks == 0 {
            // acks=0: the client expects no response at all.
            return Ok(Bytes::new());
        }
        let mut response = ResponseKind::Produce(acknowledged);
        if let Some(tenant) = &self.tenant {
            tenant.outbound(&mut response);
        }
        encode_response(self.correlation_id, response, self.version)
    }
}

/// The request header's first field, before anything else is decoded.
fn raw_api_key(frame: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(frame.get(..2)?.try_into().ok()?))
}

type HandleResult<'n> = Result<Handled<'n>, (ConnectionError, Option<Bytes>)>;

async fn handle_frame<'n>(node: &'n Arc<Node>, session: &mut Session, mut frame: Bytes) -> HandleResult<'n> {
    let request_bytes = frame.len();
    if frame.len() < 8 {
        return Err((ConnectionError::Malformed("frame shorter than a request header".into()), None));
    }
    let api_key = raw_api_key(&frame).expect("a header is longer than its API key");
    if api_key == INTERNAL_API_KEY {
        return match &session.principal {
            Some(principal) if principal.role == crate::security::sasl::Role::Broker => {
                internal::handle(node, session, frame).await.map(Handled::Response).map_err(|e| (e, None))
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
            return encode_response(header.correlation_id, ResponseKind::ApiVersions(body), 0)
                .map(Handled::Response)
                .map_err(|e| (e, None));
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
            return Ok(Handled::Response(encoded));
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
            let acknowledging: produce::Acknowledging = match refused {
                Some(refused) => Box::pin(std::future::ready(refused)),
                None => authorize::produce(node, &auth, request, version).await,
            };
            let correlation_id = header.correlation_id;
            return Ok(Handled::Produce(WaitingProduce {
                acknowledging,
                correlation_id,
                version,
                acks,
                request_bytes,
                tenant,
                quota,
            }));
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
    encode_response(header.correlation_id, response, version).map(Handled::Response).map_err(|e| (e, None))
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
    // A fetch response carries records: sized up front, its buffer is not regrown (and the
    // records copied again) as they go in. The header takes at most a few bytes past the id.
    let body_bytes = match &response {
        ResponseKind::Fetch(fetch) => fetch.compute_size(version).unwrap_or(0),
        _ => 0,
    };
    let mut buffer = BytesMut::with_capacity(8 + body_bytes);
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
