//! The wire hash: every byte on every simulated connection, in order, so two runs of one seed
//! can be compared byte for byte (`--check-determinism`). Each connection is tapped on the
//! side that dialed it, both directions, which covers every link exactly once.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Clone)]
pub struct WireHasher {
    state: Arc<Mutex<(ring::digest::Context, u64)>>,
}

impl Default for WireHasher {
    fn default() -> Self {
        WireHasher { state: Arc::new(Mutex::new((ring::digest::Context::new(&ring::digest::SHA256), 0))) }
    }
}

impl WireHasher {
    fn record(&self, label: &str, direction: u8, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.0.update(label.as_bytes());
        state.0.update(&[direction]);
        state.0.update(&(bytes.len() as u64).to_le_bytes());
        state.0.update(bytes);
        state.1 += bytes.len() as u64;
    }

    /// (hex SHA-256 so far, bytes seen).
    pub fn finish(&self) -> (String, u64) {
        let state = self.state.lock().unwrap();
        (crate::scenario::hex(state.0.clone().finish().as_ref()), state.1)
    }
}

pub struct WiretapStream<S> {
    inner: S,
    wire: WireHasher,
    label: String,
}

impl<S> WiretapStream<S> {
    pub fn new(inner: S, wire: WireHasher, label: String) -> Self {
        WiretapStream { inner, wire, label }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WiretapStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled()[before..].to_vec();
            if !read.is_empty() {
                self.wire.record(&self.label, b'<', &read);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WiretapStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = &poll {
            self.wire.record(&self.label, b'>', &data[..*written]);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
