//! Keys and sealed frames: AES-256-GCM and HKDF-SHA256 from `ring` (already the TLS stack's
//! cryptography here; no cipher of our own).
//!
//! A frame on disk: `length u32 | key tag u64 | counter u64 | ciphertext | tag (16)`, big
//! endian, `length` counting what follows it. The nonce is `0u32 | counter`; the key tag names
//! the segment key (the first eight bytes of its salt) so that a scan of a disk can tell which
//! frames share a key.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::hkdf;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// AES-256: 32-byte keys everywhere (master, root, segment).
pub const KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 16;
const HEADER_BYTES: usize = 4 + 8 + 8;
/// Bytes a frame adds to what it seals.
pub const FRAME_OVERHEAD: usize = HEADER_BYTES + TAG_BYTES;
const SEGMENT_KEY_INFO: &[u8] = b"faultline segment key v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Fewer bytes than the frame says: a torn write.
    #[error("truncated frame: {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    /// The frame is not sealed under this segment's key.
    #[error("frame sealed under key {found:016x}, expected {expected:016x}")]
    WrongKey { found: u64, expected: u64 },
    /// Authentication failed: a flipped bit, a short tag, or another key's frame.
    #[error("frame {counter} failed authentication")]
    Unauthenticated { counter: u64 },
    /// A `.key` file that does not parse.
    #[error("unreadable key file: {0}")]
    KeyFile(String),
}

/// A key the KMS wrapped (its ciphertext blob): only the KMS can unwrap it, and only while the
/// master key is enabled and the caller holds a grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub master_key_id: String,
    pub version: u32,
    #[serde(with = "base64_bytes")]
    pub nonce: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({} v{}, {} bytes)", self.master_key_id, self.version, self.ciphertext.len())
    }
}

/// Unwrapped root key material, in memory only; wiped when dropped.
pub struct RootKey {
    pub id: u64,
    material: Zeroizing<[u8; KEY_BYTES]>,
}

impl RootKey {
    pub fn new(id: u64, material: [u8; KEY_BYTES]) -> RootKey {
        RootKey { id, material: Zeroizing::new(material) }
    }

    pub fn material(&self) -> &[u8; KEY_BYTES] {
        &self.material
    }
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootKey({:016x})", self.id)
    }
}

/// What a segment's `.key` file holds: which root (wrapped) and the salt. No key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentKeyFile {
    pub root_id: u64,
    pub root: WrappedKey,
    #[serde(with = "base64_bytes")]
    pub salt: Vec<u8>,
    /// When the segment was begun (wall clock, ms): its age for retention survives restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_ms: Option<u64>,
}

impl SegmentKeyFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a key file serializes")
    }

    pub fn parse(bytes: &[u8]) -> Result<SegmentKeyFile, EnvelopeError> {
        let file: SegmentKeyFile = serde_json::from_slice(bytes).map_err(|e| EnvelopeError::KeyFile(e.to_string()))?;
        if file.salt.len() != 16 {
            return Err(EnvelopeError::KeyFile(format!("salt of {} bytes", file.salt.len())));
        }
        Ok(file)
    }

    /// The key tag frames under this file's key carry.
    pub fn tag(&self) -> u64 {
        u64::from_be_bytes(self.salt[..8].try_into().expect("16-byte salt"))
    }
}

/// The key of one segment and the counter of its next frame.
pub struct SegmentKey {
    tag: u64,
    key: LessSafeKey,
    next_counter: u64,
}

impl SegmentKey {
    /// HKDF-SHA256(salt, root) bound to `context` (the segment's file name), so a frame moved
    /// to another segment does not authenticate.
    pub fn derive(root: &RootKey, salt: &[u8], context: &str) -> SegmentKey {
        assert_eq!(salt.len(), 16, "segment salts are 16 bytes");
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(root.material());
        let info = [SEGMENT_KEY_INFO, context.as_bytes()];
        let okm = prk.expand(&info, &AES_256_GCM).expect("HKDF output of one AES-256 key");
        SegmentKey {
            tag: u64::from_be_bytes(salt[..8].try_into().expect("16-byte salt")),
            key: LessSafeKey::new(UnboundKey::from(okm)),
            next_counter: 0,
        }
    }

    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The counter the next sealed frame will use.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// Continues counting at `counter`: only the planted bug `nonce-reuse` rewinds a key.
    pub(crate) fn rewind_to(&mut self, counter: u64) {
        self.next_counter = counter;
    }

    /// Seals `plaintext` as the next frame.
    pub fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let counter = self.next_counter;
        self.next_counter = counter.checked_add(1).expect("2^64 frames under one key");
        let mut frame = Vec::with_capacity(plaintext.len() + FRAME_OVERHEAD);
        frame.extend_from_slice(&((plaintext.len() + FRAME_OVERHEAD - 4) as u32).to_be_bytes());
        frame.extend_from_slice(&self.tag.to_be_bytes());
        frame.extend_from_slice(&counter.to_be_bytes());
        frame.extend_from_slice(plaintext);
        let (header, body) = frame.split_at_mut(HEADER_BYTES);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(counter), Aad::from(&header[4..]), body)
            .expect("AES-GCM seals any length below its limit");
        frame.extend_from_slice(tag.as_ref());
        frame
    }

    /// Opens a frame sealed under this key: its plaintext, or why not.
    pub fn open(&self, frame: &Frame<'_>) -> Result<Vec<u8>, EnvelopeError> {
        if frame.key_tag != self.tag {
            return Err(EnvelopeError::WrongKey { found: frame.key_tag, expected: self.tag });
        }
        let mut buffer = frame.sealed.to_vec();
        let aad = [self.tag.to_be_bytes(), frame.counter.to_be_bytes()].concat();
        let opened = self
            .key
            .open_in_place(nonce(frame.counter), Aad::from(&aad), &mut buffer)
            .map_err(|_| EnvelopeError::Unauthenticated { counter: frame.counter })?;
        let length = opened.len();
        buffer.truncate(length);
        Ok(buffer)
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

/// A frame as it lies on disk, not yet authenticated.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub key_tag: u64,
    pub counter: u64,
    /// Ciphertext and tag.
    pub sealed: &'a [u8],
    /// Bytes the whole frame takes on disk.
    pub total_bytes: usize,
}

impl<'a> Frame<'a> {
    /// The frame at the start of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Frame<'a>, EnvelopeError> {
        if bytes.len() < HEADER_BYTES {
            return Err(EnvelopeError::Truncated { have: bytes.len(), need: HEADER_BYTES });
        }
        let length = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let total_bytes = 4 + length;
        if length < HEADER_BYTES - 4 + TAG_BYTES {
            return Err(EnvelopeError::Unauthenticated { counter: 0 });
        }
        if bytes.len() < total_bytes {
            return Err(EnvelopeError::Truncated { have: bytes.len(), need: total_bytes });
        }
        Ok(Frame {
            key_tag: u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes")),
            counter: u64::from_be_bytes(bytes[12..20].try_into().expect("8 bytes")),
            sealed: &bytes[HEADER_BYTES..total_bytes],
            total_bytes,
        })
    }
}

/// Every frame in `bytes` up to the first one that does not parse.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let mut position = 0;
    std::iter::from_fn(move || {
        let frame = Frame::parse(&bytes[position..]).ok()?;
        position += frame.total_bytes;
        Some(frame)
    })
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(salt: u8) -> SegmentKey {
        SegmentKey::derive(&RootKey::new(1, [7; KEY_BYTES]), &[salt; 16], "t-0/00000000000000000000.log")
    }

    #[test]
    fn a_sealed_frame_opens_and_hides_its_plaintext() {
        let mut sealing = key(1);
        let frame = sealing.seal(b"canary-1234 in a record");
        assert!(!frame.windows(11).any(|w| w == b"canary-1234"), "no plaintext in the frame");
        let parsed = Frame::parse(&frame).unwrap();
        assert_eq!((parsed.counter, parsed.total_bytes), (0, frame.len()));
        assert_eq!(key(1).open(&parsed).unwrap(), b"canary-1234 in a record");
        assert_eq!(sealing.next_counter(), 1);
    }

    #[test]
    fn tampering_is_detected() {
        let mut sealing = key(1);
        let frame = sealing.seal(b"some record batch");
        for at in 4..frame.len() {
            let mut flipped = frame.clone();
            flipped[at] ^= 0x20;
            let parsed = Frame::parse(&flipped).unwrap();
            assert!(key(1).open(&parsed).is_err(), "a flipped bit at {at} must not authenticate");
        }
        // A short tag: the length field says less than the frame holds.
        let mut short = frame.clone();
        short.truncate(frame.len() - 3);
        short[..4].copy_from_slice(&((frame.len() - 7) as u32).to_be_bytes());
        assert!(key(1).open(&Frame::parse(&short).unwrap()).is_err());
        // Another segment's key (another salt or another file) does not open it.
        assert!(matches!(key(2).open(&Frame::parse(&frame).unwrap()), Err(EnvelopeError::WrongKey { .. })));
        let other_file = SegmentKey::derive(&RootKey::new(1, [7; KEY_BYTES]), &[1; 16], "t-0/00000000000000000009.log");
        assert!(matches!(other_file.open(&Frame::parse(&frame).unwrap()), Err(EnvelopeError::Unauthenticated { .. })));
        assert!(matches!(Frame::parse(&frame[..frame.len() - 1]), Err(EnvelopeError::Truncated { .. })));
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_order(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
            let mut sealing = key(3);
            let disk: Vec<u8> = records.iter().flat_map(|r| sealing.seal(r)).collect();
            let opening = key(3);
            let opened: Vec<Vec<u8>> = frames(&disk).map(|f| opening.open(&f).unwrap()).collect();
            prop_assert_eq!(&opened, &records);
            let counters: Vec<u64> = frames(&disk).map(|f| f.counter).collect();
            prop_assert_eq!(counters, (0..records.len() as u64).collect::<Vec<_>>());
        }
    }
}
