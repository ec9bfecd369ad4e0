//! Kafka framing: a 4-byte big-endian size, then the request or response.

use std::io::IoSlice;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// `socket.request.max.bytes`: larger frames close the connection.
pub(crate) const FRAME_BYTES_MAX: usize = 100 * 1024 * 1024;
/// `sasl.server.max.receive.size`: before a connection has authenticated, nothing larger than
/// this is read (Kafka's default), so an anonymous peer cannot make the broker hold 100 MiB.
pub(crate) const UNAUTHENTICATED_FRAME_BYTES_MAX: usize = 512 * 1024;
/// What a frame's buffer starts at: it grows as bytes arrive, never ahead of them to the size
/// the peer announced.
const FRAME_BUFFER_START: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// A size prefix beyond the connection's maximum, or negative.
    #[error("frame size {0} out of range")]
    SizeOutOfRange(i64),
    /// Transport failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The next frame, if its size is at most `bytes_max`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, bytes_max: usize) -> Result<Bytes, FrameError> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(error) => return Err(error.into()),
    }
    let size = i32::from_be_bytes(size);
    if size < 4 || size as usize > bytes_max {
        return Err(FrameError::SizeOutOfRange(size as i64));
    }
    // Read into spare capacity rather than a zeroed buffer: zeroing showed up in profiles.
    let size = size as usize;
    let mut frame = BytesMut::with_capacity(size.min(FRAME_BUFFER_START));
    while frame.len() < size {
        let mut limited = (&mut *reader).take((size - frame.len()) as u64);
        if limited.read_buf(&mut frame).await? == 0 {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(frame.freeze())
}

/// Writes one frame: its size, then `body`, as one write (`write_vectored`: TLS puts both in the
/// same records, as if they were one buffer), so the body is not copied behind a prefix first.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, body: &[u8]) -> Result<(), FrameError> {
    let size = (body.len() as i32).to_be_bytes();
    let mut parts = [IoSlice::new(&size), IoSlice::new(body)];
    let mut unwritten = &mut parts[..];
    while unwritten.iter().any(|part| !part.is_empty()) {
        let written = writer.write_vectored(unwritten).await?;
        if written == 0 {
            return Err(FrameError::Io(std::io::ErrorKind::WriteZero.into()));
        }
        IoSlice::advance_slices(&mut unwritten, written);
    }
    // The simulated network sends on flush; real TLS streams need it too.
    writer.flush().await?;
    Ok(())
}
