//! Encryption at rest (C08, C09): envelope encryption of everything a broker writes.
//!
//! Three layers, as in AWS's S3 Bucket Keys and Google Tink's streaming AEAD:
//! - a **master key** lives only in the key management service (`kms/`): one per tenant by
//!   default (service-managed), or the customer's own (BYOK);
//! - a **root key** per broker process and master key version: random, wrapped by the KMS
//!   under the master key, kept unwrapped only in memory (`KeySource`);
//! - a **segment key** per log segment, derived from a root key and the segment's random salt
//!   (HKDF-SHA256). Every frame of a segment is sealed with AES-256-GCM under it, with a
//!   counter nonce: a segment is written by the one process that created it, so a counter
//!   never repeats for one key.
//!
//! On disk each segment has a `.key` file beside it: the wrapped root key and the salt, never
//! key material. Nothing is decryptable without the KMS.
//!
//! `fields` is the other side of the trust line: client-side field encryption (C26), under keys
//! the service never holds.

pub mod envelope;
pub mod fields;

pub use envelope::{EnvelopeError, Frame, RootKey, SegmentKey, SegmentKeyFile, WrappedKey, FRAME_OVERHEAD, KEY_BYTES};

use std::sync::Arc;

/// Why a key cannot be used now. A broker that gets one of these serves nothing of the data
/// it protects (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyUnavailable {
    /// No root key for this master key yet (it is being wrapped); retry shortly.
    #[error("the encryption key {0} is not ready yet")]
    NotReady(String),
    /// The KMS refused: the key is disabled, not granted to this service, scheduled for
    /// deletion or destroyed.
    #[error("the encryption key {master_key_id} is not usable: {reason}")]
    Revoked { master_key_id: String, reason: String },
    /// The KMS has not confirmed the key within its lease (unreachable, not revoked).
    #[error("the encryption key {0} could not be confirmed with the key service within its lease")]
    LeaseExpired(String),
    /// A root key this process never unwrapped (its `.key` file is not one the keyring knows).
    #[error("root key {0} is unknown to this process")]
    UnknownRoot(u64),
    /// The topic's tenant is not in this broker's data-plane snapshot (yet), so its key is not
    /// known: nothing of it is sealed under a guess.
    #[error("the key of topic {0}'s cluster is not known to this broker yet")]
    UnknownTenant(String),
}

/// Where the log gets its keys: the broker's keyring (`kms::keyring`), which talks to the KMS.
/// Synchronous: the log runs under a lock; the keyring's unwrapping happens in the background.
pub trait KeySource: Send + Sync + 'static {
    /// The root key new segments of `topic` are sealed under (the current version of the
    /// topic's tenant's master key), with its wrapped copy for the segment's `.key` file.
    fn current_root(&self, topic: &str) -> Result<(Arc<RootKey>, WrappedKey), KeyUnavailable>;
    /// A root key by id, for a segment written earlier (its wrapped copy in the `.key` file).
    fn root(&self, id: u64, wrapped: &WrappedKey) -> Result<Arc<RootKey>, KeyUnavailable>;
    /// Whether the root may be used now (its lease holds). Checked before anything is served.
    fn check(&self, id: u64) -> Result<(), KeyUnavailable>;
    /// Sixteen fresh random bytes (segment salts).
    fn salt(&self) -> [u8; 16];
}

/// Keys for tests of the log: one fixed root key in memory, no key service, revocable by a
/// switch. No node uses it.
#[derive(Default)]
pub struct FixedKeys {
    /// Set: every key is refused, as for a revoked tenant.
    pub revoked: std::sync::atomic::AtomicBool,
}

impl KeySource for FixedKeys {
    fn current_root(&self, _topic: &str) -> Result<(Arc<RootKey>, WrappedKey), KeyUnavailable> {
        self.check(1)?;
        let wrapped = WrappedKey { master_key_id: "fixed".into(), version: 1, nonce: vec![0; 12], ciphertext: vec![] };
        Ok((Arc::new(RootKey::new(1, [9; KEY_BYTES])), wrapped))
    }

    fn root(&self, id: u64, _wrapped: &WrappedKey) -> Result<Arc<RootKey>, KeyUnavailable> {
        self.check(id)?;
        Ok(Arc::new(RootKey::new(id, [9; KEY_BYTES])))
    }

    fn check(&self, _id: u64) -> Result<(), KeyUnavailable> {
        if self.revoked.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(KeyUnavailable::Revoked { master_key_id: "fixed".into(), reason: "revoked".into() });
        }
        Ok(())
    }

    fn salt(&self) -> [u8; 16] {
        // Unique across every instance of the process: a reopened log never repeats a salt.
        static SALTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let next = SALTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut salt = [0u8; 16];
        salt[..8].copy_from_slice(&next.to_be_bytes());
        salt
    }
}
