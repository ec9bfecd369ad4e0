//! `broker dev --capture-requests DIR`: the request frames of every connection, one file per
//! connection, in the form the connection fuzz target reads (`fuzzing::steps`): size-prefixed
//! frames, with SASL replaced by the zero-size step that stands for authenticating, so that no
//! credential reaches the disk. `broker capture-seeds` turns a capture into fuzz seeds; real
//! clients' traffic (kcat, kafka-python) is what the fuzzers start from (`ci/capture-seeds.sh`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_protocol::messages::ApiKey;

/// A seed is a short session: frames past these bounds are not kept (followers fetch forever).
const FRAMES_MAX: usize = 64;
const BYTES_MAX: usize = 1 << 20;

static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// One connection's capture; inert without a capture directory.
#[derive(Default)]
pub(crate) struct Capture {
    file: Option<std::fs::File>,
    frames: usize,
    bytes: usize,
}

impl Capture {
    pub(crate) fn open(dir: Option<&Path>, peer: SocketAddr) -> Capture {
        let Some(dir) = dir else { return Capture::default() };
        let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{:05}-{}-{}.session", connection, peer.ip(), peer.port()));
        match std::fs::create_dir_all(dir).and_then(|()| std::fs::File::create(&path)) {
            Ok(file) => Capture { file: Some(file), ..Capture::default() },
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot capture this connection's requests");
                Capture::default()
            }
        }
    }

    /// Appends a request frame (without its size prefix) as it arrived.
    pub(crate) fn record(&mut self, frame: &[u8]) {
        let Some(file) = &mut self.file else { return };
        if self.frames >= FRAMES_MAX || self.bytes + frame.len() > BYTES_MAX {
            return;
        }
        let key = frame.get(..2).map(|k| i16::from_be_bytes([k[0], k[1]]));
        let step: &[u8] = match key.and_then(|k| ApiKey::try_from(k).ok()) {
            // The handshake and the credentials: one authenticate step, and never the bytes.
            Some(ApiKey::SaslHandshake) => return,
            Some(ApiKey::SaslAuthenticate) => &[],
            _ => frame,
        };
        self.frames += 1;
        self.bytes += step.len();
        let written = file.write_all(&(step.len() as u32).to_be_bytes()).and_then(|()| file.write_all(step));
        if let Err(error) = written {
            tracing::warn!(%error, "request capture stopped");
            self.file = None;
        }
    }
}
