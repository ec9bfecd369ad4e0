//! Client-side field-level encryption (C26): the serializer the service offers its customers
//! for the fields it must never see. Unlike everything else in `encryption/`, this runs in the
//! customer's client: the key is the customer's and never reaches the service, which stores
//! and replicates the sealed field as opaque bytes.
//!
//! A sealed field is `version (1) || nonce (12) || AES-256-GCM ciphertext || tag (16)`, with
//! the field's name as associated data, so a sealed value moved into another field does not
//! open. Nonces are random 96-bit values from the caller's generator: fine for up to 2^32
//! fields per key (NIST SP 800-38D), far beyond one key's use here.

use std::sync::Mutex;

use rand_core::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

use super::KEY_BYTES;
use crate::entropy::Generator;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

const SEALED_V1: u8 = 1;
/// What the planted fail-open writes instead of a sealed field.
const IN_CLEAR: u8 = 0;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("sealed field too short ({0} bytes)")]
    Truncated(usize),
    #[error("sealed field version {0} is not known")]
    UnknownVersion(u8),
    /// Tampered, another field's value, or another key.
    #[error("the field does not authenticate under this key")]
    Unauthentic,
}

pub struct FieldCipher {
    key: LessSafeKey,
    nonces: Mutex<Generator>,
    bugs: PlantedBugs,
}

impl FieldCipher {
    /// A cipher under the customer's `key`; `nonces` draws the nonces ([`crate::entropy::os`] in
    /// a real client, the seed's generator in the simulation).
    pub fn new(key: &[u8; KEY_BYTES], nonces: Generator, bugs: PlantedBugs) -> FieldCipher {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key"));
        FieldCipher { key, nonces: Mutex::new(nonces), bugs }
    }

    pub fn seal(&self, field: &str, plaintext: &[u8]) -> Vec<u8> {
        // BUG (planted): an unset "encrypt" setting read as off: the field goes in clear, and
        // `open` reads it, so the application notices nothing (C26).
        if self.bugs.is_on(PlantedBug::ProtectedFieldInClear) {
            return [&[IN_CLEAR][..], plaintext].concat();
        }
        let mut nonce = [0u8; NONCE_BYTES];
        self.nonces.lock().unwrap().fill_bytes(&mut nonce);
        let mut sealed = Vec::with_capacity(1 + NONCE_BYTES + plaintext.len() + TAG_BYTES);
        sealed.push(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(field.as_bytes()), &mut body)
            .expect("AES-GCM seals any length a record holds");
        sealed.extend_from_slice(&body);
        sealed
    }

    pub fn open(&self, field: &str, sealed: &[u8]) -> Result<Vec<u8>, FieldError> {
        match sealed.first() {
            Some(&IN_CLEAR) if self.bugs.is_on(PlantedBug::ProtectedFieldInClear) => return Ok(sealed[1..].to_vec()),
            Some(&SEALED_V1) => {}
            Some(&version) => return Err(FieldError::UnknownVersion(version)),
            None => return Err(FieldError::Truncated(0)),
        }
        if sealed.len() < 1 + NONCE_BYTES + TAG_BYTES {
            return Err(FieldError::Truncated(sealed.len()));
        }
        let nonce: [u8; NONCE_BYTES] = sealed[1..1 + NONCE_BYTES].try_into().expect("checked length");
        let mut body = sealed[1 + NONCE_BYTES..].to_vec();
        let plaintext = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(field.as_bytes()), &mut body)
            .map_err(|_| FieldError::Unauthentic)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(key: u8) -> FieldCipher {
        FieldCipher::new(&[key; KEY_BYTES], crate::entropy::seeded_for_tests(7), PlantedBugs::none())
    }

    #[test]
    fn a_sealed_field_opens_only_under_its_key_and_name_and_never_shows_its_value() {
        let card = b"4111-1111-1111-1111";
        let sealed = cipher(1).seal("card", card);
        assert!(!sealed.windows(card.len()).any(|w| w == card), "the value is not in the sealed bytes");
        assert_eq!(cipher(1).open("card", &sealed).unwrap(), card);
        assert_eq!(cipher(2).open("card", &sealed), Err(FieldError::Unauthentic));
        assert_eq!(cipher(1).open("iban", &sealed), Err(FieldError::Unauthentic));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(cipher(1).open("card", &flipped), Err(FieldError::Unauthentic));
        assert_eq!(cipher(1).open("card", &sealed[..20]), Err(FieldError::Truncated(20)));
        assert_eq!(cipher(1).open("card", &[9, 1, 2]), Err(FieldError::UnknownVersion(9)));
        // A value in clear is refused unless the planted fail-open is on.
        assert_eq!(cipher(1).open("card", &[0, b'x']), Err(FieldError::UnknownVersion(0)));
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let cipher = cipher(1);
        assert_ne!(cipher.seal("card", b"same"), cipher.seal("card", b"same"));
    }
}
