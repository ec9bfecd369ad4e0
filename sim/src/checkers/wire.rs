//! The wire tap: every byte on every simulated connection, in order, hashed so two runs of one
//! seed can be compared byte for byte (`--check-determinism`), and searched for secrets that
//! must never cross a link in clear (C02: the SASL secret and the client id only ever travel
//! inside TLS). Each connection is tapped on the side that dialed it, both directions, which
//! covers every link exactly once.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Clone)]
pub struct WireHasher {
    state: Arc<Mutex<(ring::digest::Context, u64)>>,
    /// Byte strings that must never appear on a link, each with what it is (the report names
    /// that, never the bytes: a leaked secret is not repeated in the report).
    /// Searchers built once: building one per chunk cost 3 % of a saturated run.
    needles: Arc<Vec<(&'static str, memchr::memmem::Finder<'static>)>>,
    leaks: Arc<Mutex<Vec<String>>>,
}

impl WireHasher {
    pub fn new(needles: Vec<(&'static str, Vec<u8>)>) -> Self {
        WireHasher {
            state: Arc::new(Mutex::new((ring::digest::Context::new(&ring::digest::SHA256), 0))),
            needles: Arc::new(
                needles
                    .into_iter()
                    .filter(|(_, bytes)| !bytes.is_empty())
                    .map(|(what, bytes)| (what, memchr::memmem::Finder::new(&bytes).into_owned()))
                    .collect(),
            ),
            leaks: Arc::default(),
        }
    }

    fn record(&self, label: &str, direction: u8, bytes: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state.0.update(label.as_bytes());
        state.0.update(&[direction]);
        state.0.update(&(bytes.len() as u64).to_le_bytes());
        state.0.update(bytes);
        state.1 += bytes.len() as u64;
    }

    /// Plaintext found on the wire: one line per sighting (link and what leaked).
    pub fn leaks(&self) -> Vec<String> {
        self.leaks.lock().unwrap().clone()
    }

    fn longest_needle(&self) -> usize {
        self.needles.iter().map(|(_, needle)| needle.needle().len()).max().unwrap_or(0)
    }

    /// Searches the previous chunk's tail followed by `chunk` for every needle, without joining
    /// them: a needle is either inside the chunk or starts in the tail and ends within the
    /// chunk's first `longest_needle() - 1` bytes (the seam). Copying every chunk into a joined
    /// window was most of the tap's cost.
    fn scan(&self, label: &str, tail: &[u8], chunk: &[u8]) {
        let seam = [tail, &chunk[..chunk.len().min(self.longest_needle().saturating_sub(1))]].concat();
        for (what, needle) in self.needles.iter() {
            if needle.find(chunk).is_some() || (!tail.is_empty() && needle.find(&seam).is_some()) {
                self.leaks.lock().unwrap().push(format!("{label}: {what} in clear"));
            }
        }
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
    /// The last bytes of each direction, so a needle split across chunks is still found.
    tails: [Vec<u8>; 2],
}

impl<S> WiretapStream<S> {
    pub fn new(inner: S, wire: WireHasher, label: String) -> Self {
        WiretapStream { inner, wire, label, tails: [Vec::new(), Vec::new()] }
    }

    fn observe(&mut self, direction: u8, bytes: &[u8]) {
        self.wire.record(&self.label, direction, bytes);
        let keep = self.wire.longest_needle().saturating_sub(1);
        if keep == 0 {
            return;
        }
        let tail = &mut self.tails[usize::from(direction == b'>')];
        self.wire.scan(&self.label, tail, bytes);
        // The last `keep` bytes of tail + bytes.
        if bytes.len() >= keep {
            tail.clear();
        } else {
            tail.drain(..tail.len().saturating_sub(keep - bytes.len()));
        }
        tail.extend_from_slice(&bytes[bytes.len().saturating_sub(keep)..]);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WiretapStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                self.observe(b'<', read);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WiretapStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(written)) = &poll {
            self.observe(b'>', &data[..*written]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn plaintext_secrets_are_caught_even_split_across_writes_and_ciphertext_is_not() {
        // The checker's planted bug: a client that sends its SASL secret in clear.
        madsim::runtime::Runtime::new().block_on(async {
            let wire = WireHasher::new(vec![("a secret", b"workload-secret".to_vec())]);
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let mut tapped = WiretapStream::new(client, wire.clone(), "client-1->broker-1".into());
            tapped.write_all(b"\0workload\0workload-se").await.unwrap();
            tapped.write_all(b"cret").await.unwrap();
            let mut received = [0u8; 25];
            server.read_exact(&mut received).await.unwrap();
            assert_eq!(wire.leaks().len(), 1, "{:?}", wire.leaks());
            // One byte per write: the needle only ever meets the tap across seams.
            let bytewise = WireHasher::new(vec![("a secret", b"workload-secret".to_vec())]);
            let (client, _server) = tokio::io::duplex(1 << 16);
            let mut tapped = WiretapStream::new(client, bytewise.clone(), "client-1->broker-1".into());
            for byte in b"xx workload-secret yy" {
                tapped.write_all(&[*byte]).await.unwrap();
            }
            assert_eq!(bytewise.leaks().len(), 1, "{:?}", bytewise.leaks());
            let clean = WireHasher::new(vec![("a secret", b"workload-secret".to_vec())]);
            let (client, _server) = tokio::io::duplex(1 << 16);
            let mut tapped = WiretapStream::new(client, clean.clone(), "client-1->broker-1".into());
            tapped.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20, 0x8a, 0x11, 0x5c]).await.unwrap();
            assert!(clean.leaks().is_empty());
        });
    }
}
