//! Our own Kafka client: TLS, SASL/PLAIN, one request at a time. The broker uses it for
//! replication and controller traffic, and the harness's workload uses it as its producer and
//! consumer, so the same wire protocol is exercised end to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::messages::{self, InternalRequest, InternalResponse};
use crate::net::frame::{read_frame, write_frame, FrameError};
use crate::net::Dialer;
use crate::security::sasl;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// TCP connect failed or timed out.
    #[error("connect to {0}: {1}")]
    Connect(SocketAddr, String),
    /// TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(std::io::Error),
    /// SASL refused (error code from the broker).
    #[error("SASL authentication failed (error {0})")]
    Authentication(i16),
    /// No response within the request timeout.
    #[error("request timed out")]
    Timeout,
    /// Transport failure or connection closed.
    #[error("transport: {0}")]
    Transport(#[from] FrameError),
    /// Bytes that do not decode.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The broker's name did not resolve.
    #[error("resolve: {0}")]
    Resolve(String),
}

/// Who we are and whom we trust.
#[derive(Clone)]
pub struct ClientCredentials {
    pub tls: Arc<rustls::ClientConfig>,
    pub api_key: String,
    pub secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials").field("api_key", &self.api_key).field("secret", &"<redacted>").finish()
    }
}

pub struct Connection {
    reader: Box<dyn AsyncRead + Unpin + Send>,
    writer: Box<dyn AsyncWrite + Unpin + Send>,
    correlation_id: i32,
    request_timeout: Duration,
}

/// The client id of the service's own Kafka clients (replica fetchers, the harness's workload).
pub const CLIENT_ID: &str = "faultline";

/// A TCP connection to `address` within `timeout`.
async fn dial(
    dialer: &Dialer,
    address: SocketAddr,
    timeout: Duration,
) -> Result<crate::net::BoxedTransport, ClientError> {
    crate::clock::timeout(timeout, dialer(address))
        .await
        .map_err(|_| ClientError::Connect(address, "timed out".into()))?
        .map_err(|e| ClientError::Connect(address, e.to_string()))
}

impl Connection {
    /// Connects, completes TLS (server name `host`) and SASL/PLAIN.
    pub async fn connect(
        dialer: &Dialer,
        address: SocketAddr,
        host: &str,
        credentials: &ClientCredentials,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let tls = Self::tls(dialer, address, host, credentials.tls.clone(), timeout).await?;
        Self::authenticate(tls, credentials, timeout).await
    }

    async fn tls(
        dialer: &Dialer,
        address: SocketAddr,
        host: &str,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<tokio_rustls::client::TlsStream<crate::net::BoxedTransport>, ClientError> {
        let tcp = dial(dialer, address, timeout).await?;
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ClientError::Connect(address, e.to_string()))?;
        crate::clock::timeout(timeout, tokio_rustls::TlsConnector::from(tls).connect(server_name, tcp))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(ClientError::Tls)
    }

    /// Connects and completes TLS, and no SASL: what a client that skips authentication has
    /// (the harness's probes of C15 send requests on it).
    pub async fn connect_unauthenticated(
        dialer: &Dialer,
        address: SocketAddr,
        host: &str,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let (reader, writer) = tokio::io::split(Self::tls(dialer, address, host, tls, timeout).await?);
        Ok(Connection {
            reader: Box::new(reader),
            writer: Box::new(writer),
            correlation_id: 0,
            request_timeout: timeout,
        })
    }

    /// Connects without TLS: only the planted bug `plaintext-inter-broker` does this (Kafka's
    /// `security.inter.broker.protocol=PLAINTEXT`), so the wire checker can be shown to fail.
    pub(crate) async fn connect_plaintext(
        dialer: &Dialer,
        address: SocketAddr,
        credentials: &ClientCredentials,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Self::authenticate(dial(dialer, address, timeout).await?, credentials, timeout).await
    }

    /// SASL/PLAIN on an established stream.
    async fn authenticate(
        stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
        credentials: &ClientCredentials,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let (reader, writer) = tokio::io::split(stream);
        let mut connection = Connection {
            reader: Box::new(reader),
            writer: Box::new(writer),
            correlation_id: 0,
            request_timeout: timeout,
        };
        let handshake = connection
            .send(SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")), 1)
            .await?;
        if handshake.error_code != 0 {
            return Err(ClientError::Authentication(handshake.error_code));
        }
        let message = sasl::plain_message(&credentials.api_key, &credentials.secret);
        let authenticate =
            connection.send(SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message)), 2).await?;
        if authenticate.error_code != 0 {
            return Err(ClientError::Authentication(authenticate.error_code));
        }
        Ok(connection)
    }

    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Sends one request at `version` and waits for its response.
    pub async fn send<R: Request>(&mut self, request: R, version: i16) -> Result<R::Response, ClientError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let api_key = ApiKey::try_from(R::KEY).map_err(|_| ClientError::Malformed("unknown api key".into()))?;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let header_version = api_key.request_header_version(version);
        // Sized up front (a produce carries its records): no regrowth, no second copy of them.
        let size = header.compute_size(header_version).unwrap_or(0) + request.compute_size(version).unwrap_or(0);
        let mut buffer = BytesMut::with_capacity(size);
        header.encode(&mut buffer, header_version).map_err(|e| ClientError::Malformed(e.to_string()))?;
        request.encode(&mut buffer, version).map_err(|e| ClientError::Malformed(e.to_string()))?;
        let mut frame = self.round_trip(&buffer).await?;
        let response_header = ResponseHeader::decode(&mut frame, R::Response::header_version(version))
            .map_err(|e| ClientError::Malformed(e.to_string()))?;
        if response_header.correlation_id != self.correlation_id {
            return Err(ClientError::Malformed(format!(
                "correlation id {} != {}",
                response_header.correlation_id, self.correlation_id
            )));
        }
        R::Response::decode(&mut frame, version).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// Sends a broker-to-broker request (replication control and Raft).
    pub(crate) async fn send_internal(&mut self, request: &InternalRequest) -> Result<InternalResponse, ClientError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = self.round_trip(&messages::encode_request(self.correlation_id, request)).await?;
        let (correlation_id, response) =
            messages::decode_response(&frame).map_err(|e| ClientError::Malformed(e.to_string()))?;
        if correlation_id != self.correlation_id {
            return Err(ClientError::Malformed(format!(
                "internal correlation id {correlation_id} != {}",
                self.correlation_id
            )));
        }
        Ok(response)
    }

    async fn round_trip(&mut self, request: &[u8]) -> Result<Bytes, ClientError> {
        let exchange = async {
            write_frame(&mut self.writer, request).await?;
            read_frame(&mut self.reader, crate::net::frame::FRAME_BYTES_MAX).await
        };
        crate::clock::timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(ClientError::from)
    }
}
