//! A client of the service's HTTPS APIs (the control plane's, the key service's): one
//! kept-alive HTTPS connection, redialed after any error, every step under a timeout so that a
//! partitioned server costs a timeout, not a hang.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;

use crate::net::http::QuietFlush;
use crate::net::Dialer;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A data-plane snapshot of a busy physical cluster fits well inside this.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Where a server listens and the name its certificate carries.
#[derive(Debug, Clone)]
pub struct HttpsEndpoint {
    pub address: SocketAddr,
    pub server_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpsClientError {
    /// The TCP connection could not be made (refused, or timed out across a partition).
    #[error("cannot reach {0}: {1}")]
    Connect(SocketAddr, String),
    /// The TLS handshake failed (wrong certificate, refused version).
    #[error("TLS: {0}")]
    Tls(String),
    /// The request did not complete in time or the connection broke.
    #[error("request failed: {0}")]
    Request(String),
}

pub struct HttpsClient {
    endpoint: HttpsEndpoint,
    connector: tokio_rustls::TlsConnector,
    dialer: Dialer,
    /// The `Authorization` header, if any (sign-ins send none).
    authorization: Option<String>,
    sender: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl HttpsClient {
    /// A client that authenticates with HTTP Basic (an API key id and secret).
    pub fn new(
        endpoint: HttpsEndpoint,
        tls: Arc<rustls::ClientConfig>,
        dialer: Dialer,
        key_id: &str,
        secret: &str,
    ) -> Self {
        let authorization =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key_id}:{secret}")));
        Self::with_authorization(endpoint, tls, dialer, Some(authorization))
    }

    /// A client that sends `authorization` as is (`Bearer <session token>`), or nothing.
    pub fn with_authorization(
        endpoint: HttpsEndpoint,
        tls: Arc<rustls::ClientConfig>,
        dialer: Dialer,
        authorization: Option<String>,
    ) -> Self {
        HttpsClient {
            endpoint,
            connector: tokio_rustls::TlsConnector::from(tls),
            dialer,
            authorization,
            sender: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, HttpsClientError> {
        let address = self.endpoint.address;
        let stream = crate::clock::timeout(CONNECT_TIMEOUT, (self.dialer)(address))
            .await
            .map_err(|_| HttpsClientError::Connect(address, "timed out".into()))?
            .map_err(|error| HttpsClientError::Connect(address, error.to_string()))?;
        let server_name = rustls::pki_types::ServerName::try_from(self.endpoint.server_name.clone())
            .map_err(|error| HttpsClientError::Tls(error.to_string()))?;
        let stream =
            crate::clock::timeout(CONNECT_TIMEOUT, self.connector.connect(server_name, QuietFlush::new(stream)))
                .await
                .map_err(|_| HttpsClientError::Tls("handshake timed out".into()))?
                .map_err(|error| HttpsClientError::Tls(error.to_string()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|error| HttpsClientError::Request(error.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends one request; returns the status and body. `target` is a path with its query.
    pub async fn call(
        &self,
        method: &str,
        target: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Bytes), HttpsClientError> {
        let mut slot = self.sender.lock().await;
        let outcome = crate::clock::timeout(REQUEST_TIMEOUT, async {
            let mut sender = match slot.take() {
                Some(sender) if !sender.is_closed() => sender,
                _ => self.connect().await?,
            };
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(target)
                .header(hyper::header::HOST, self.endpoint.server_name.as_str())
                .header(hyper::header::CONTENT_TYPE, "application/json");
            if let Some(authorization) = &self.authorization {
                request = request.header(hyper::header::AUTHORIZATION, authorization.as_str());
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|error| HttpsClientError::Request(error.to_string()))?;
            sender.ready().await.map_err(|error| HttpsClientError::Request(error.to_string()))?;
            let response =
                sender.send_request(request).await.map_err(|error| HttpsClientError::Request(error.to_string()))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map_err(|error| HttpsClientError::Request(error.to_string()))?
                .to_bytes();
            Ok((status, bytes, sender))
        })
        .await
        .map_err(|_| HttpsClientError::Request("timed out".into()))?;
        let (status, bytes, sender) = outcome?;
        *slot = Some(sender);
        Ok((status, bytes))
    }
}
