//! The key management service's state: master keys with versions, grants, their lifecycle, and
//! an audit record of every use. A state machine with no I/O (calls and time in, answers and
//! audit records out), in the style of `controller/raft.rs`; `server.rs` persists and serves it.
//!
//! Semantics follow AWS KMS where it has them: rotation adds a version and old versions still
//! unwrap; a disabled key or one pending deletion wraps and unwraps nothing; deletion waits at
//! least `DELETION_WAIT_DAYS_MIN` and then destroys every version's material; a key is
//! administered by its owner and used only by principals it is granted to.

use std::collections::{BTreeMap, BTreeSet};

use rand_core::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::encryption::{WrappedKey, KEY_BYTES};
use crate::entropy::Generator;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// The prefix of service-managed keys: created on first use by a service principal, one per
/// alias (AWS's `aws/<service>` keys). A logical cluster's default key is `tenant_key_alias`.
pub const SERVICE_ALIAS_PREFIX: &str = "alias/faultline/";

/// The key the service keeps for a logical cluster's data (created on first use).
pub fn tenant_key_alias(cluster_id: &str) -> String {
    format!("{SERVICE_ALIAS_PREFIX}tenant/{cluster_id}")
}

/// The principal a broker cluster's brokers use at the key service.
pub fn broker_principal(broker_cluster_id: &str) -> String {
    format!("service:broker/{broker_cluster_id}")
}
/// AWS KMS: a deletion is scheduled 7 to 30 days ahead.
pub const DELETION_WAIT_DAYS_MIN: u32 = 7;
pub const DELETION_WAIT_DAYS_MAX: u32 = 30;
const DAY_MS: u64 = 24 * 3600 * 1000;
/// Plaintext the KMS wraps is a key, not data (AWS: 4 KiB).
const WRAP_PLAINTEXT_MAX: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    #[error("no such key: {0}")]
    NotFound(String),
    #[error("{principal} may not {action} with key {key_id}")]
    AccessDenied { principal: String, action: &'static str, key_id: String },
    #[error("key {0} is disabled")]
    Disabled(String),
    #[error("key {0} is pending deletion")]
    PendingDeletion(String),
    #[error("key {0} was deleted")]
    Destroyed(String),
    #[error("key {key_id} has no version {version}")]
    NoSuchVersion { key_id: String, version: u32 },
    /// The ciphertext is not one this key made (tampered, or another context).
    #[error("the ciphertext does not authenticate under key {0}")]
    InvalidCiphertext(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl KmsError {
    /// Whether the key itself refuses (the caller must fail closed) rather than the request
    /// being malformed.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, KmsError::Invalid(_) | KmsError::InvalidCiphertext(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion {
        delete_at_ms: u64,
    },
    /// Every version's material is gone; only the record remains.
    Destroyed {
        destroyed_at_ms: u64,
    },
}

#[derive(Clone, Serialize, Deserialize)]
struct KeyVersion {
    created_ms: u64,
    #[serde(with = "material_base64")]
    material: Zeroizing<[u8; KEY_BYTES]>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct MasterKey {
    pub id: String,
    /// The principal that administers the key (rotate, disable, grant, delete).
    pub owner: String,
    pub state: KeyState,
    /// Principals that may wrap and unwrap with it.
    pub grants: BTreeSet<String>,
    pub created_ms: u64,
    /// Oldest first; version `n` is `versions[n - 1]`. Emptied when destroyed.
    versions: Vec<KeyVersion>,
    /// How many versions the key has had (kept when the material is destroyed).
    pub version_count: u32,
}

/// What callers see of a key (never its material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDescription {
    pub id: String,
    pub owner: String,
    #[serde(flatten)]
    pub state: KeyState,
    pub grants: BTreeSet<String>,
    pub current_version: u32,
    pub created_ms: u64,
}

/// One audited call (allowed or refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsAuditRecord {
    pub at_ms: u64,
    pub principal: String,
    pub action: String,
    pub key_id: String,
    /// `allowed`, or the refusal.
    pub outcome: String,
}

/// A wrap or unwrap answer: the key's current version rides along, so that a user of an old
/// version learns of a rotation at its next renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub current_version: u32,
}

/// The persistent part: the keys (the audit trail is appended separately).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct KeyRecords {
    pub keys: BTreeMap<String, MasterKey>,
}

pub struct KeyStore {
    records: KeyRecords,
    random: Generator,
    region: String,
    /// Audit records not yet taken by the server (it appends them to its audit file).
    audit: Vec<KmsAuditRecord>,
    bugs: PlantedBugs,
}

impl KeyStore {
    /// `random`: master keys, key ids and wrapping nonces ([`crate::entropy::os`] in real mode).
    pub fn new(region: &str, records: KeyRecords, random: Generator, bugs: PlantedBugs) -> KeyStore {
        KeyStore { records, random, region: region.into(), audit: Vec::new(), bugs }
    }

    pub fn records(&self) -> &KeyRecords {
        &self.records
    }

    /// Audit records since the last call, oldest first.
    pub fn take_audit(&mut self) -> Vec<KmsAuditRecord> {
        std::mem::take(&mut self.audit)
    }

    fn audit<T>(&mut self, now_ms: u64, principal: &str, action: &str, key_id: &str, outcome: &Result<T, KmsError>) {
        let outcome = match outcome {
            Ok(_) => "allowed".to_string(),
            Err(error) => format!("refused: {error}"),
        };
        self.audit.push(KmsAuditRecord {
            at_ms: now_ms,
            principal: principal.into(),
            action: action.into(),
            key_id: key_id.into(),
            outcome,
        });
    }

    fn new_material(&mut self) -> Zeroizing<[u8; KEY_BYTES]> {
        let mut material = Zeroizing::new([0u8; KEY_BYTES]);
        self.random.fill_bytes(material.as_mut());
        material
    }

    /// Creates a customer-managed key owned by `principal`, granted to nobody yet.
    pub fn create_key(&mut self, now_ms: u64, principal: &str) -> KeyDescription {
        let mut id_bytes = [0u8; 16];
        self.random.fill_bytes(&mut id_bytes);
        let hex: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let id = format!(
            "arn:faultline:kms:{}:key/{}-{}-{}-{}-{}",
            self.region,
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        let key = self.new_key(now_ms, &id, principal, BTreeSet::new());
        self.audit::<()>(now_ms, principal, "CreateKey", &id, &Ok(()));
        key
    }

    fn new_key(&mut self, now_ms: u64, id: &str, owner: &str, grants: BTreeSet<String>) -> KeyDescription {
        let material = self.new_material();
        let key = MasterKey {
            id: id.into(),
            owner: owner.into(),
            state: KeyState::Enabled,
            grants,
            created_ms: now_ms,
            versions: vec![KeyVersion { created_ms: now_ms, material }],
            version_count: 1,
        };
        let description = describe(&key);
        self.records.keys.insert(id.into(), key);
        description
    }

    /// A key by id or alias; a service alias is created on first use by a service principal
    /// (owned by it, granted to it).
    fn resolve(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<&mut MasterKey, KmsError> {
        if !self.records.keys.contains_key(key_id) {
            let service_alias = key_id.starts_with(SERVICE_ALIAS_PREFIX) && principal.starts_with("service:");
            if !service_alias {
                return Err(KmsError::NotFound(key_id.into()));
            }
            self.new_key(now_ms, key_id, principal, BTreeSet::from([principal.to_string()]));
        }
        Ok(self.records.keys.get_mut(key_id).expect("resolved above"))
    }

    pub fn describe(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<KeyDescription, KmsError> {
        let outcome = match self.records.keys.get(key_id) {
            None => Err(KmsError::NotFound(key_id.into())),
            Some(key) if key.owner != principal && !key.grants.contains(principal) => {
                Err(KmsError::AccessDenied { principal: principal.into(), action: "describe", key_id: key_id.into() })
            }
            Some(key) => Ok(describe(key)),
        };
        self.audit(now_ms, principal, "DescribeKey", key_id, &outcome);
        outcome
    }

    /// Runs an administrative change by the key's owner.
    fn administer(
        &mut self,
        now_ms: u64,
        principal: &str,
        action: &'static str,
        key_id: &str,
        change: impl FnOnce(&mut MasterKey, &mut Generator) -> Result<(), KmsError>,
    ) -> Result<KeyDescription, KmsError> {
        let outcome = match self.records.keys.get_mut(key_id) {
            None => Err(KmsError::NotFound(key_id.into())),
            Some(key) if key.owner != principal => {
                Err(KmsError::AccessDenied { principal: principal.into(), action, key_id: key_id.into() })
            }
            Some(key) => change(key, &mut self.random).map(|()| describe(key)),
        };
        self.audit(now_ms, principal, action, key_id, &outcome);
        outcome
    }

    /// A new version; wraps use it from now on, unwraps of older versions still work.
    pub fn rotate(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<KeyDescription, KmsError> {
        let drops_old = self.bugs.is_on(PlantedBug::RotationDropsOldVersion);
        self.administer(now_ms, principal, "RotateKey", key_id, |key, random| {
            usable(key)?;
            let mut material = Zeroizing::new([0u8; KEY_BYTES]);
            random.fill_bytes(material.as_mut());
            if drops_old {
                // BUG (planted): the new material replaces the old instead of joining it.
                for version in &mut key.versions {
                    version.material = material.clone();
                }
            }
            key.versions.push(KeyVersion { created_ms: now_ms, material });
            key.version_count += 1;
            Ok(())
        })
    }

    pub fn disable(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.set_enabled(now_ms, principal, key_id, false)
    }

    pub fn enable(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.set_enabled(now_ms, principal, key_id, true)
    }

    /// Disabling and enabling apply to keys that are neither pending deletion nor destroyed.
    fn set_enabled(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        enabled: bool,
    ) -> Result<KeyDescription, KmsError> {
        let (action, state) =
            if enabled { ("EnableKey", KeyState::Enabled) } else { ("DisableKey", KeyState::Disabled) };
        self.administer(now_ms, principal, action, key_id, move |key, _| match key.state {
            KeyState::Enabled | KeyState::Disabled => {
                key.state = state;
                Ok(())
            }
            _ => usable(key),
        })
    }

    pub fn grant(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        grantee: &str,
    ) -> Result<KeyDescription, KmsError> {
        let grantee = grantee.to_string();
        self.administer(now_ms, principal, "CreateGrant", key_id, move |key, _| {
            key.grants.insert(grantee);
            Ok(())
        })
    }

    pub fn revoke_grant(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        grantee: &str,
    ) -> Result<KeyDescription, KmsError> {
        self.administer(now_ms, principal, "RevokeGrant", key_id, |key, _| {
            key.grants.remove(grantee);
            Ok(())
        })
    }

    /// Deletion after `wait_days` (7 to 30); the key is unusable from now on.
    pub fn schedule_deletion(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        wait_days: u32,
    ) -> Result<KeyDescription, KmsError> {
        if !(DELETION_WAIT_DAYS_MIN..=DELETION_WAIT_DAYS_MAX).contains(&wait_days) {
            let error = Err(KmsError::Invalid(format!(
                "a deletion waits {DELETION_WAIT_DAYS_MIN} to {DELETION_WAIT_DAYS_MAX} days, not {wait_days}"
            )));
            self.audit(now_ms, principal, "ScheduleKeyDeletion", key_id, &error);
            return error;
        }
        self.administer(now_ms, principal, "ScheduleKeyDeletion", key_id, |key, _| match key.state {
            KeyState::Enabled | KeyState::Disabled => {
                key.state = KeyState::PendingDeletion { delete_at_ms: now_ms + wait_days as u64 * DAY_MS };
                Ok(())
            }
            _ => usable(key),
        })
    }

    /// Cancels a scheduled deletion; the key comes back disabled (as in AWS KMS).
    pub fn cancel_deletion(&mut self, now_ms: u64, principal: &str, key_id: &str) -> Result<KeyDescription, KmsError> {
        self.administer(now_ms, principal, "CancelKeyDeletion", key_id, |key, _| match key.state {
            KeyState::PendingDeletion { .. } => {
                key.state = KeyState::Disabled;
                Ok(())
            }
            _ => Err(KmsError::Invalid(format!("key {} is not pending deletion", key.id))),
        })
    }

    /// Destroys the keys whose deletion is due: every version's material is wiped.
    pub fn tick(&mut self, now_ms: u64) -> Vec<String> {
        let mut destroyed = Vec::new();
        for key in self.records.keys.values_mut() {
            if let KeyState::PendingDeletion { delete_at_ms } = key.state {
                if now_ms >= delete_at_ms {
                    key.versions.clear();
                    key.state = KeyState::Destroyed { destroyed_at_ms: now_ms };
                    destroyed.push(key.id.clone());
                }
            }
        }
        for id in &destroyed {
            self.audit::<()>(now_ms, "kms", "DeleteKeyMaterial", id, &Ok(()));
        }
        destroyed
    }

    /// Whether `grantee` may wrap and unwrap with `key_id` now: asked by the service (a
    /// `service:` principal) before it accepts a customer's key for a cluster (C09).
    pub fn check_grant(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        grantee: &str,
    ) -> Result<KeyDescription, KmsError> {
        let outcome = if !principal.starts_with("service:") {
            Err(KmsError::AccessDenied { principal: principal.into(), action: "check a grant", key_id: key_id.into() })
        } else {
            match self.records.keys.get(key_id) {
                None => Err(KmsError::NotFound(key_id.into())),
                Some(key) => may_use(key, grantee, "wrap and unwrap").map(|()| describe(key)),
            }
        };
        self.audit(now_ms, principal, "CheckGrant", key_id, &outcome);
        outcome
    }

    /// Wraps `plaintext` (a key) under the current version, bound to `context`.
    pub fn wrap(
        &mut self,
        now_ms: u64,
        principal: &str,
        key_id: &str,
        plaintext: &[u8],
        context: &str,
    ) -> Result<WrappedKey, KmsError> {
        let mut nonce = [0u8; 12];
        self.random.fill_bytes(&mut nonce);
        let outcome = if plaintext.len() > WRAP_PLAINTEXT_MAX {
            Err(KmsError::Invalid(format!("at most {WRAP_PLAINTEXT_MAX} bytes are wrapped")))
        } else {
            self.resolve(now_ms, principal, key_id).and_then(|key| {
                may_use(key, principal, "wrap")?;
                let version = key.versions.len() as u32;
                let material = &key.versions[version as usize - 1].material;
                let mut ciphertext = plaintext.to_vec();
                let aad = associated_data(key_id, version, context);
                cipher(material)
                    .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut ciphertext)
                    .expect("AES-GCM seals a key");
                Ok(WrappedKey { master_key_id: key_id.into(), version, nonce: nonce.to_vec(), ciphertext })
            })
        };
        self.audit(now_ms, principal, "Encrypt", key_id, &outcome);
        outcome
    }

    /// Unwraps what `wrap` made with the same `context`, whatever version it was made under.
    pub fn unwrap(
        &mut self,
        now_ms: u64,
        principal: &str,
        wrapped: &WrappedKey,
        context: &str,
    ) -> Result<Unwrapped, KmsError> {
        let key_id = wrapped.master_key_id.clone();
        let outcome = match self.records.keys.get(&key_id) {
            None => Err(KmsError::NotFound(key_id.clone())),
            Some(key) => may_use(key, principal, "unwrap").and_then(|()| {
                let index = (wrapped.version as usize).checked_sub(1).filter(|i| *i < key.versions.len());
                let Some(index) = index else {
                    return Err(KmsError::NoSuchVersion { key_id: key_id.clone(), version: wrapped.version });
                };
                let nonce: [u8; 12] =
                    wrapped.nonce.as_slice().try_into().map_err(|_| KmsError::InvalidCiphertext(key_id.clone()))?;
                let mut buffer = Zeroizing::new(wrapped.ciphertext.clone());
                let aad = associated_data(&key_id, wrapped.version, context);
                let length = cipher(&key.versions[index].material)
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buffer.as_mut_slice())
                    .map_err(|_| KmsError::InvalidCiphertext(key_id.clone()))?
                    .len();
                buffer.truncate(length);
                Ok(Unwrapped { plaintext: buffer, current_version: key.versions.len() as u32 })
            }),
        };
        self.audit(now_ms, principal, "Decrypt", &key_id, &outcome);
        outcome
    }

    /// Unwraps and wraps again under the current version (AWS `ReEncrypt`); the plaintext never
    /// leaves the store.
    pub fn rewrap(
        &mut self,
        now_ms: u64,
        principal: &str,
        wrapped: &WrappedKey,
        context: &str,
    ) -> Result<WrappedKey, KmsError> {
        let unwrapped = self.unwrap(now_ms, principal, wrapped, context)?;
        self.wrap(now_ms, principal, &wrapped.master_key_id, &unwrapped.plaintext, context)
    }

    /// What `unwrap` would give, without a caller, a grant or an audit record: for a harness
    /// that must judge what the service could still decrypt (never served by the API).
    pub fn peek_unwrap(&self, wrapped: &WrappedKey, context: &str) -> Option<Zeroizing<Vec<u8>>> {
        let key = self.records.keys.get(&wrapped.master_key_id)?;
        let version = key.versions.get((wrapped.version as usize).checked_sub(1)?)?;
        let nonce: [u8; 12] = wrapped.nonce.as_slice().try_into().ok()?;
        let mut buffer = Zeroizing::new(wrapped.ciphertext.clone());
        let aad = associated_data(&wrapped.master_key_id, wrapped.version, context);
        let length = cipher(&version.material)
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), buffer.as_mut_slice())
            .ok()?
            .len();
        buffer.truncate(length);
        Some(buffer)
    }

    /// Every version's material of every key, for a harness that must prove nothing of it
    /// reached a broker's disk (never served by the API).
    pub fn all_material(&self) -> Vec<(String, u32, [u8; KEY_BYTES])> {
        self.records
            .keys
            .values()
            .flat_map(|key| key.versions.iter().enumerate().map(|(i, v)| (key.id.clone(), i as u32 + 1, *v.material)))
            .collect()
    }
}

fn describe(key: &MasterKey) -> KeyDescription {
    KeyDescription {
        id: key.id.clone(),
        owner: key.owner.clone(),
        state: key.state,
        grants: key.grants.clone(),
        current_version: key.version_count,
        created_ms: key.created_ms,
    }
}

fn usable(key: &MasterKey) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::Disabled(key.id.clone())),
        KeyState::PendingDeletion { .. } => Err(KmsError::PendingDeletion(key.id.clone())),
        KeyState::Destroyed { .. } => Err(KmsError::Destroyed(key.id.clone())),
    }
}

fn may_use(key: &MasterKey, principal: &str, action: &'static str) -> Result<(), KmsError> {
    if !key.grants.contains(principal) {
        return Err(KmsError::AccessDenied { principal: principal.into(), action, key_id: key.id.clone() });
    }
    usable(key)
}

fn cipher(material: &[u8; KEY_BYTES]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, material).expect("a 32-byte AES key"))
}

fn associated_data(key_id: &str, version: u32, context: &str) -> Vec<u8> {
    format!("{key_id}\n{version}\n{context}").into_bytes()
}

mod material_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    use crate::encryption::KEY_BYTES;

    pub(super) fn serialize<S: Serializer>(
        material: &Zeroizing<[u8; KEY_BYTES]>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(material.as_ref()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Zeroizing<[u8; KEY_BYTES]>, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)?,
        );
        let material: [u8; KEY_BYTES] =
            bytes.as_slice().try_into().map_err(|_| serde::de::Error::custom("a 32-byte key"))?;
        Ok(Zeroizing::new(material))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OWNER: &str = "customer:org-1";
    const BROKER: &str = "service:broker/pkc-1";

    fn store_with_key() -> (KeyStore, String) {
        let mut store =
            KeyStore::new("region-1", KeyRecords::default(), crate::entropy::seeded_for_tests(7), PlantedBugs::none());
        let id = store.create_key(0, OWNER).id;
        store.grant(0, OWNER, &id, BROKER).unwrap();
        (store, id)
    }

    #[test]
    fn rotation_keeps_old_versions_unwrapping_and_wraps_under_the_new_one() {
        let (mut store, id) = store_with_key();
        let old = store.wrap(1, BROKER, &id, &[1; 32], "ctx").unwrap();
        assert_eq!(old.version, 1);
        store.rotate(2, OWNER, &id).unwrap();
        let new = store.wrap(3, BROKER, &id, &[2; 32], "ctx").unwrap();
        assert_eq!(new.version, 2);
        let unwrapped = store.unwrap(4, BROKER, &old, "ctx").unwrap();
        assert_eq!((unwrapped.plaintext.as_slice(), unwrapped.current_version), (&[1u8; 32][..], 2));
        let rewrapped = store.rewrap(5, BROKER, &old, "ctx").unwrap();
        assert_eq!(rewrapped.version, 2);
        assert_eq!(store.unwrap(6, BROKER, &rewrapped, "ctx").unwrap().plaintext.as_slice(), &[1u8; 32]);
        assert!(matches!(store.unwrap(7, BROKER, &old, "other"), Err(KmsError::InvalidCiphertext(_))));
    }

    #[test]
    fn a_planted_rotation_that_drops_the_old_version_leaves_old_wraps_unopenable() {
        let bugs = PlantedBugs::from_names(["rotation-drops-old-version"]).unwrap();
        let mut store = KeyStore::new("region-1", KeyRecords::default(), crate::entropy::seeded_for_tests(7), bugs);
        let id = store.create_key(0, OWNER).id;
        store.grant(0, OWNER, &id, BROKER).unwrap();
        let old = store.wrap(1, BROKER, &id, &[1; 32], "ctx").unwrap();
        store.rotate(2, OWNER, &id).unwrap();
        assert!(store.unwrap(3, BROKER, &old, "ctx").is_err());
        assert!(store.peek_unwrap(&old, "ctx").is_none());
    }

    #[test]
    fn only_the_service_asks_whether_a_key_grants_a_principal() {
        let (mut store, id) = store_with_key();
        assert_eq!(store.check_grant(1, "service:control-plane", &id, BROKER).unwrap().id, id);
        let other = "service:broker/pkc-2";
        assert!(matches!(
            store.check_grant(2, "service:control-plane", &id, other),
            Err(KmsError::AccessDenied { .. })
        ));
        assert!(matches!(store.check_grant(3, OWNER, &id, BROKER), Err(KmsError::AccessDenied { .. })));
        store.disable(4, OWNER, &id).unwrap();
        assert!(matches!(store.check_grant(5, "service:control-plane", &id, BROKER), Err(KmsError::Disabled(_))));
        assert!(store.take_audit().iter().filter(|r| r.action == "CheckGrant").count() == 4);
    }

    #[test]
    fn disabled_ungranted_and_deleted_keys_refuse_and_every_call_is_audited() {
        let (mut store, id) = store_with_key();
        let wrapped = store.wrap(1, BROKER, &id, &[1; 32], "ctx").unwrap();
        assert!(
            matches!(store.disable(2, BROKER, &id), Err(KmsError::AccessDenied { .. })),
            "only the owner administers"
        );
        store.disable(2, OWNER, &id).unwrap();
        assert_eq!(store.unwrap(3, BROKER, &wrapped, "ctx"), Err(KmsError::Disabled(id.clone())));
        store.enable(4, OWNER, &id).unwrap();
        assert!(store.unwrap(5, BROKER, &wrapped, "ctx").is_ok());
        store.revoke_grant(6, OWNER, &id, BROKER).unwrap();
        assert!(matches!(store.unwrap(7, BROKER, &wrapped, "ctx"), Err(KmsError::AccessDenied { .. })));
        assert!(
            matches!(store.unwrap(7, OWNER, &wrapped, "ctx"), Err(KmsError::AccessDenied { .. })),
            "owning is not using"
        );
        store.grant(8, OWNER, &id, BROKER).unwrap();
        assert!(matches!(store.schedule_deletion(9, OWNER, &id, 3), Err(KmsError::Invalid(_))));
        store.schedule_deletion(9, OWNER, &id, 7).unwrap();
        assert_eq!(store.unwrap(10, BROKER, &wrapped, "ctx"), Err(KmsError::PendingDeletion(id.clone())));
        assert!(store.tick(9 + 7 * DAY_MS - 1).is_empty());
        assert_eq!(store.tick(9 + 7 * DAY_MS), vec![id.clone()]);
        assert_eq!(store.unwrap(11, BROKER, &wrapped, "ctx"), Err(KmsError::Destroyed(id.clone())));
        assert!(store.all_material().is_empty(), "destroyed material is gone");
        let audit = store.take_audit();
        assert_eq!(audit.iter().filter(|r| r.action == "Decrypt").count(), 6);
        assert!(audit
            .iter()
            .any(|r| r.action == "DisableKey" && r.principal == BROKER && r.outcome.starts_with("refused")));
    }

    #[test]
    fn service_aliases_are_created_on_first_use_by_a_service_only() {
        let mut store =
            KeyStore::new("region-1", KeyRecords::default(), crate::entropy::seeded_for_tests(7), PlantedBugs::none());
        let alias = "alias/faultline/tenant/org-1";
        assert!(matches!(store.wrap(0, OWNER, alias, &[0; 32], ""), Err(KmsError::NotFound(_))));
        let wrapped = store.wrap(0, BROKER, alias, &[3; 32], "").unwrap();
        assert!(matches!(store.unwrap(0, "service:broker/pkc-2", &wrapped, ""), Err(KmsError::AccessDenied { .. })));
        assert_eq!(store.unwrap(0, BROKER, &wrapped, "").unwrap().plaintext.as_slice(), &[3; 32]);
    }

    #[test]
    fn records_survive_a_restart() {
        let (mut store, id) = store_with_key();
        let wrapped = store.wrap(1, BROKER, &id, &[9; 32], "ctx").unwrap();
        let bytes = serde_json::to_vec(store.records()).unwrap();
        let mut restarted = KeyStore::new(
            "region-1",
            serde_json::from_slice(&bytes).unwrap(),
            crate::entropy::seeded_for_tests(8),
            PlantedBugs::none(),
        );
        assert_eq!(restarted.unwrap(2, BROKER, &wrapped, "ctx").unwrap().plaintext.as_slice(), &[9; 32]);
    }

    proptest! {
        // Whatever sequence of rotations and re-wraps, every key ever wrapped unwraps to itself.
        #[test]
        fn every_wrapped_key_stays_unwrappable(steps in proptest::collection::vec(0u8..3, 1..30)) {
            let (mut store, id) = store_with_key();
            let mut wrapped: Vec<(WrappedKey, [u8; 32])> = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                match step {
                    0 => { store.rotate(i as u64, OWNER, &id).unwrap(); }
                    1 => {
                        let plaintext = [i as u8; 32];
                        wrapped.push((store.wrap(i as u64, BROKER, &id, &plaintext, "c").unwrap(), plaintext));
                    }
                    _ => {
                        if let Some((old, plaintext)) = wrapped.pop() {
                            let new = store.rewrap(i as u64, BROKER, &old, "c").unwrap();
                            prop_assert_eq!(new.version, store.describe(0, OWNER, &id).unwrap().current_version);
                            wrapped.push((new, plaintext));
                        }
                    }
                }
            }
            for (key, plaintext) in &wrapped {
                let unwrapped = store.unwrap(99, BROKER, key, "c").unwrap();
                prop_assert_eq!(unwrapped.plaintext.as_slice(), plaintext);
            }
        }
    }
}
