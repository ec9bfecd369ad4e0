//! HTTP/1.1 (hyper) over the runtime's own streams and timers, so that the control plane's API
//! runs unchanged on tokio and on madsim: hyper's own tokio helpers would call real tokio's
//! runtime, which does not exist in the simulation.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub use super::api::{ApiRequest, ApiResponse};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

/// hyper's timer on `tokio::time` (simulated time under madsim). hyper needs it for the
/// header-read timeout that stops a client holding a connection open with half a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeTimer;

struct RuntimeSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for RuntimeSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for RuntimeSleep {}

impl hyper::rt::Timer for RuntimeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RuntimeSleep(Box::pin(tokio::time::sleep(duration))))
    }

    #[allow(clippy::disallowed_methods, reason = "hyper hands a std deadline; madsim simulates std's clock too")]
    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(deadline.saturating_duration_since(std::time::Instant::now()))
    }
}

pub use crate::clock::wall_clock_ms;

/// A stream whose flush reaches the transport only after something was written. hyper flushes
/// on every turn of its connection loop; madsim's simulated TCP sends a message on every
/// flush, empty or not, so two idle kept-alive HTTP peers woke each other forever (measured:
/// 4 s of wall time per 600 simulated seconds instead of 0.9). Real TCP is unaffected.
pub struct QuietFlush<T> {
    inner: T,
    written: bool,
}

impl<T> QuietFlush<T> {
    pub fn new(inner: T) -> Self {
        QuietFlush { inner, written: false }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for QuietFlush<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for QuietFlush<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.written = true;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.written {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            self.written = false;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A client must finish sending a request's headers within this (no half-open slow clients).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A service that answers requests synchronously (its state sits behind a lock; a change is
/// made durable before the answer leaves).
pub trait Responder: Send + Sync + 'static {
    /// Bodies larger than this are refused (413) before they are parsed.
    const BODY_BYTES_MAX: usize;
    fn respond(&self, request: &ApiRequest<'_>) -> ApiResponse;

    /// For a service that must call others before it answers (the bastion asks the staff
    /// directory); by default the synchronous answer.
    fn respond_async<'a>(
        &'a self,
        request: &'a ApiRequest<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ApiResponse> + Send + 'a>> {
        Box::pin(std::future::ready(self.respond(request)))
    }
}

/// Binds `address` and serves `responder` there with `acceptor`'s TLS; returns the address.
pub async fn bind_https<R: Responder>(
    address: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    responder: Arc<R>,
    service: &'static str,
) -> Result<SocketAddr, String> {
    let listener =
        tokio::net::TcpListener::bind(address).await.map_err(|e| format!("{service}: cannot bind {address}: {e}"))?;
    tracing::info!(%address, "{service} listening");
    accept_https_forever(listener, acceptor, responder, service);
    Ok(address)
}

/// Accepts connections on `listener` forever (in a task of its own), serving each with
/// `responder`. `service` names the server in log lines.
pub fn accept_https_forever<R: Responder>(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    responder: Arc<R>,
    service: &'static str,
) {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    tokio::spawn(serve_https(responder.clone(), acceptor.clone(), stream, peer, service));
                }
                Err(error) => {
                    tracing::warn!(%error, "{service}: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
}

/// Serves one accepted connection: TLS under a timeout, then HTTP/1.1 requests until the client
/// goes away. `service` names the server in log lines.
pub async fn serve_https<R: Responder>(
    responder: Arc<R>,
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    service: &'static str,
) {
    let stream = match crate::clock::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(QuietFlush::new(stream))).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "{service}: refused connection: TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "{service}: refused connection: TLS handshake timed out");
            return;
        }
    };
    let handler = hyper::service::service_fn(move |request| {
        let responder = responder.clone();
        async move { Ok::<_, Infallible>(answer(responder.as_ref(), request).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(RuntimeTimer)
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(32 * 1024)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), handler);
    if let Err(error) = connection.await {
        tracing::debug!(%peer, %error, "{service}: connection ended");
    }
}

async fn answer<R: Responder>(
    responder: &R,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large =
        || ApiResponse::problem(413, "Content Too Large", &format!("bodies are at most {} bytes", R::BODY_BYTES_MAX));
    let response = if declared.is_some_and(|length| length > R::BODY_BYTES_MAX) {
        too_large()
    } else {
        match Limited::new(body, R::BODY_BYTES_MAX).collect().await {
            Err(_) => too_large(),
            Ok(body) => {
                let body = body.to_bytes();
                let authorization = parts.headers.get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
                let request = ApiRequest {
                    method: parts.method.as_str(),
                    path: parts.uri.path(),
                    query: parts.uri.query().unwrap_or(""),
                    authorization,
                    body: &body,
                };
                responder.respond_async(&request).await
            }
        }
    };
    let mut builder = hyper::Response::builder()
        .status(response.status)
        .header(hyper::header::CONTENT_TYPE, response.content_type)
        .header(hyper::header::CACHE_CONTROL, "no-store");
    if response.status == 401 {
        builder = builder.header(hyper::header::WWW_AUTHENTICATE, "Basic realm=\"faultline\"");
    }
    builder.body(Full::new(Bytes::from(response.body))).expect("a valid response")
}
