//! What can go wrong in the log, as expected failures (a broken invariant panics instead).

use super::batch::BatchError;
use crate::encryption::{EnvelopeError, KeyUnavailable};

/// Expected failures of log operations.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The payload is not a valid v2 record batch.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// An idempotent producer skipped or repeated a sequence out of order.
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {received}")]
    OutOfOrderSequence { producer_id: i64, expected: i32, received: i32 },
    /// A producer epoch older than the one already seen.
    #[error("producer {producer_id} epoch {received} is fenced by epoch {current}")]
    ProducerFenced { producer_id: i64, current: i16, received: i16 },
    /// The disk refused the write.
    #[error("storage error: {0}")]
    Storage(#[from] std::io::Error),
    /// The data's key may not be used now: nothing is served (fail closed).
    #[error("{0}")]
    KeyUnavailable(#[from] KeyUnavailable),
    /// A frame on disk does not authenticate (a flipped bit, a short tag, another key's frame).
    #[error("{file} at {position}: {error}")]
    Corrupt { file: String, position: u64, error: EnvelopeError },
    /// A segment's key file is damaged.
    #[error("unreadable key file: {0}")]
    KeyFile(#[from] EnvelopeError),
    /// A segment without its key file: unreadable.
    #[error("{0} has no key file")]
    MissingKeyFile(String),
}
