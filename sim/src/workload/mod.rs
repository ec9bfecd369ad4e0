//! The workload: our own Kafka clients on the real wire protocol (TLS, SASL/PLAIN), producing
//! with acks=all and idempotence and consuming in a group. Every operation is recorded with its
//! simulated start and end and its outcome.

pub mod access;
pub mod breaches;
pub mod client;
pub mod consumer;
pub mod log_store;
pub mod operators;
pub mod privatelink;
pub mod producer;
pub mod provisioning;
pub mod quotas;
pub mod regions;
pub mod retention;
pub mod sign_in;
pub mod tenants;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::history::{History, Op, OpKind, TopicPartition};

/// Per-partition fetch results during the fault window (C20's two-zone read evidence).
#[derive(Debug, Clone, Default)]
pub struct ReadEvidence {
    pub successful_fetches: u64,
    pub failed_fetches: u64,
    pub last_error: Option<String>,
}

/// Bytes from the seed carried in every record value: if they are ever seen on a link in clear,
/// record data crossed it without TLS (C02 covers data, not only credentials).
pub type Canary = [u8; 16];

/// The run's canary: 16 bytes of the seed's workload stream.
pub fn canary(seed: u64) -> Canary {
    let mut canary = [0u8; 16];
    canary[..8].copy_from_slice(&crate::seeds::derive(seed, crate::seeds::Stream::Workload, 0).to_le_bytes());
    canary[8..].copy_from_slice(&crate::seeds::derive(seed, crate::seeds::Stream::Workload, 1).to_le_bytes());
    canary
}

#[derive(Clone)]
pub struct Recorder {
    pub history: Arc<Mutex<History>>,
    pub started: tokio::time::Instant,
    pub stop: Arc<AtomicBool>,
    pub fault_window_ms: (u64, u64),
    pub reads: Arc<Mutex<BTreeMap<TopicPartition, ReadEvidence>>>,
    /// Carried in every produced value.
    pub canary: Canary,
    /// Client-side field encryption, when the scenario's workload asks for it (C26).
    pub fields: Option<Arc<ProtectedFields>>,
}

impl Recorder {
    pub fn new(fault_window_ms: (u64, u64), canary: Canary) -> Self {
        Recorder {
            history: Arc::default(),
            started: tokio::time::Instant::now(),
            stop: Arc::default(),
            fault_window_ms,
            reads: Arc::default(),
            canary,
            fields: None,
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn record(&self, process: u32, start_ms: u64, kind: OpKind) {
        let end_ms = self.now_ms();
        self.history.lock().unwrap().ops.push(Op { process, start_ms, end_ms, kind });
    }

    pub fn note_read(&self, partition: &TopicPartition, at_ms: u64, error: Option<String>) {
        let (start, end) = self.fault_window_ms;
        if at_ms < start || at_ms >= end {
            return;
        }
        let mut reads = self.reads.lock().unwrap();
        let evidence = reads.entry(partition.clone()).or_default();
        match error {
            None => evidence.successful_fetches += 1,
            Some(error) => {
                evidence.failed_fetches += 1;
                evidence.last_error = Some(error);
            }
        }
    }
}

/// A record value: the unique value, then the run's canary.
pub fn encode_value(value: u64, canary: &Canary, fields: Option<&ProtectedFields>) -> bytes::Bytes {
    let mut bytes = Vec::with_capacity(8 + canary.len());
    bytes.extend_from_slice(&value.to_be_bytes());
    bytes.extend_from_slice(canary);
    if let Some(fields) = fields {
        bytes.extend_from_slice(&fields.seal(value));
    }
    bytes::Bytes::from(bytes)
}

/// The field client-side encryption protects in the workload's values (C26).
const PROTECTED_FIELD: &str = "card";

/// Client-side field encryption in the workload (C26): each value also carries a field sealed
/// under the customer's key (drawn from the seed, never given to the service) that holds the
/// field canary and the value; consumers open every one and check it.
pub struct ProtectedFields {
    cipher: broker::encryption::fields::FieldCipher,
    pub canary: Canary,
    /// Fields opened intact by consumers.
    pub opened: AtomicU64,
    /// Fields that did not open or held something else (the first few).
    pub broken: Mutex<Vec<String>>,
    pub broken_count: AtomicU64,
}

impl ProtectedFields {
    pub fn new(seed: u64, bugs: broker::planted_bugs::PlantedBugs) -> ProtectedFields {
        let draw = |index| crate::seeds::derive(seed, crate::seeds::Stream::Workload, index).to_le_bytes();
        let key: Vec<u8> = (10..14).flat_map(draw).collect();
        let key: [u8; 32] = key.try_into().expect("four 8-byte draws");
        ProtectedFields {
            cipher: broker::encryption::fields::FieldCipher::new(
                &key,
                crate::seeded::generator(u64::from_le_bytes(draw(14))),
                bugs,
            ),
            canary: field_canary(seed),
            opened: AtomicU64::new(0),
            broken: Mutex::default(),
            broken_count: AtomicU64::new(0),
        }
    }

    fn plaintext(&self, value: u64) -> Vec<u8> {
        [&self.canary[..], &value.to_be_bytes()].concat()
    }

    fn seal(&self, value: u64) -> Vec<u8> {
        self.cipher.seal(PROTECTED_FIELD, &self.plaintext(value))
    }

    /// Opens the field of a consumed value and checks it holds what was sealed.
    pub fn check(&self, offset: i64, bytes: &[u8]) {
        let Some(value) = decode_value(bytes) else { return };
        let sealed = bytes.get(8 + std::mem::size_of::<Canary>()..).unwrap_or_default();
        let problem = match self.cipher.open(PROTECTED_FIELD, sealed) {
            Ok(plaintext) if plaintext == self.plaintext(value) => None,
            Ok(_) => {
                Some(format!("offset {offset}: the protected field opened to something else than value {value}'s"))
            }
            Err(error) => Some(format!("offset {offset}: the protected field of value {value} does not open: {error}")),
        };
        match problem {
            None => {
                self.opened.fetch_add(1, Ordering::Relaxed);
            }
            Some(problem) => {
                if self.broken_count.fetch_add(1, Ordering::Relaxed) < 10 {
                    self.broken.lock().unwrap().push(problem);
                }
            }
        }
    }
}

/// The protected field's canary: found in clear anywhere the service holds data, it is a leak.
pub fn field_canary(seed: u64) -> Canary {
    let mut canary = [0u8; 16];
    canary[..8].copy_from_slice(&crate::seeds::derive(seed, crate::seeds::Stream::Workload, 20).to_le_bytes());
    canary[8..].copy_from_slice(&crate::seeds::derive(seed, crate::seeds::Stream::Workload, 21).to_le_bytes());
    canary
}

pub fn decode_value(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}
