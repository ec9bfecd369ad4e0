//! HTTP/1.1 (hyper) over the runtime's own streams and timers, so that the control plane's API
//! runs unchanged on tokio and on madsim: hyper's own tokio helpers would call real tokio's
//! runtime, which does not exist in the simulation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

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

/// Wall-clock milliseconds since the Unix epoch, for timestamps people read (audit events,
/// creation times). Under madsim this is the simulated clock.
#[allow(clippy::disallowed_methods, reason = "wall time for records; madsim simulates it in simulation")]
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

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
