//! Secrets at rest (C15): an API secret or password is stored only as a bcrypt hash. bcrypt is
//! slow on purpose, so a verified (id, secret) pair is remembered under a SHA-256 of the secret,
//! never the secret itself; the caller decides whether the id still exists before asking.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A bcrypt hash of a secret. Its `Debug` form hides even the hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(<bcrypt>)")
    }
}

impl SecretHash {
    /// Hashes `secret`; the salt comes from the caller's random source (seeded in simulation).
    pub fn new(secret: &str, cost: u32, salt: [u8; 16]) -> Result<Self, bcrypt::BcryptError> {
        Ok(SecretHash(bcrypt::hash_with_salt(secret, cost, salt)?.to_string()))
    }

    /// A hash read back from storage; `None` unless it looks like bcrypt.
    pub fn parse(text: &str) -> Option<Self> {
        text.starts_with("$2").then(|| SecretHash(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A bcrypt check; any error counts as a mismatch (fail closed).
    pub fn verify(&self, secret: &[u8]) -> bool {
        let Ok(secret) = std::str::from_utf8(secret) else { return false };
        bcrypt::verify(secret, &self.0).unwrap_or(false)
    }
}

/// SHA-256 of a secret: what the cache keys on.
fn fingerprint(secret: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// (id, hash, fingerprint of a secret that matched it). Keyed by the hash too, so a rotated or
/// re-created id never inherits an old verification.
#[derive(Debug, Default)]
pub struct VerifiedSecrets {
    verified: Mutex<BTreeMap<(String, String), [u8; 32]>>,
}

impl Clone for VerifiedSecrets {
    fn clone(&self) -> Self {
        VerifiedSecrets { verified: Mutex::new(self.verified.lock().unwrap().clone()) }
    }
}

impl VerifiedSecrets {
    /// Whether `secret` matches `hash`, running bcrypt at most once per (id, hash, secret).
    pub fn verify(&self, id: &str, hash: &SecretHash, secret: &[u8]) -> bool {
        let key = (id.to_string(), hash.0.clone());
        let print = fingerprint(secret);
        if self.verified.lock().unwrap().get(&key) == Some(&print) {
            return true;
        }
        if hash.verify(secret) {
            self.verified.lock().unwrap().insert(key, print);
            true
        } else {
            false
        }
    }

    /// Whether `secret` was verified for `id` under any hash (the planted stale cache uses it).
    pub fn remembers(&self, id: &str, secret: &[u8]) -> bool {
        let print = fingerprint(secret);
        self.verified.lock().unwrap().iter().any(|((cached, _), cached_print)| cached == id && *cached_print == print)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_verifies_and_debug_hides_the_hash() {
        let hash = SecretHash::new("s3cret", 4, [7; 16]).unwrap();
        let cache = VerifiedSecrets::default();
        assert!(cache.verify("k", &hash, b"s3cret"));
        assert!(cache.verify("k", &hash, b"s3cret"), "cached");
        assert!(!cache.verify("k", &hash, b"wrong"));
        let other = SecretHash::new("other", 4, [8; 16]).unwrap();
        assert!(!cache.verify("k", &other, b"s3cret"), "a new hash for the id is checked afresh");
        assert_eq!(format!("{hash:?}"), "SecretHash(<bcrypt>)");
        assert!(SecretHash::parse("plain").is_none());
    }
}
