//! A replica's copy of the log: entries in `chain/<first position>.jsonl` segments (one JSON line
//! each), every entry committing to its predecessor's hash, and `checkpoints.jsonl`, where the
//! replica signs (Ed25519) the hash at a position now and then and wherever a purge cuts the
//! chain. `verify` walks a disk image and names the first thing that does not hold: an entry
//! whose content no longer matches its hash, a broken link, a gap no signed checkpoint covers,
//! a checkpoint the chain does not match, a signature that does not verify.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use super::{Event, EventId, SEGMENT_SPAN};
use crate::log::Disk;

const SEGMENTS: &str = "chain/";
const CHECKPOINTS: &str = "checkpoints.jsonl";
const SEGMENT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// A checkpoint at least every this many entries, and after any append an hour after the last.
const CHECKPOINT_ENTRIES: u64 = 1_000;
const CHECKPOINT_INTERVAL_MS: u64 = 3_600_000;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub position: u64,
    /// When this replica stored it.
    pub stored_ms: u64,
    pub event: Event,
    /// The previous entry's hash (hex SHA-256; zeros before the first).
    pub prev: String,
    pub hash: String,
}

impl Entry {
    fn new(position: u64, stored_ms: u64, event: Event, prev: String) -> Entry {
        let hash = digest(position, stored_ms, &event, &prev);
        Entry { position, stored_ms, event, prev, hash }
    }
}

/// SHA-256 over the entry's fields and its predecessor's hash.
fn digest(position: u64, stored_ms: u64, event: &Event, prev: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(prev.as_bytes());
    context.update(&position.to_be_bytes());
    context.update(&stored_ms.to_be_bytes());
    context.update(&serde_json::to_vec(event).expect("JSON"));
    hex(context.finish().as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The replica's signature over the chain's hash at `position`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub position: u64,
    pub hash: String,
    pub at_ms: u64,
    pub signer: String,
    /// Hex Ed25519 signature over `signed_bytes`.
    pub signature: String,
}

impl Checkpoint {
    fn signed_bytes(&self) -> Vec<u8> {
        format!("faultline log-store checkpoint\n{}\n{}\n{}\n{}", self.signer, self.position, self.hash, self.at_ms)
            .into_bytes()
    }
}

/// A replica's signing key and name.
pub struct Signer {
    pub name: String,
    key: Ed25519KeyPair,
}

impl Signer {
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Signer {
        Signer { name: name.into(), key: Ed25519KeyPair::from_seed_unchecked(seed).expect("a 32-byte seed") }
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    fn sign(&self, position: u64, hash: &str, at_ms: u64) -> Checkpoint {
        let mut checkpoint =
            Checkpoint { position, hash: hash.into(), at_ms, signer: self.name.clone(), signature: String::new() };
        checkpoint.signature = hex(self.key.sign(&checkpoint.signed_bytes()).as_ref());
        checkpoint
    }
}

/// Signers' names to their Ed25519 public keys: whose checkpoints a verifier accepts.
pub type TrustedKeys = BTreeMap<String, Vec<u8>>;

/// The first thing in a disk image that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {what}")]
pub struct ChainError {
    pub file: String,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMeta {
    pub file: String,
    pub first: u64,
    pub last: u64,
    pub min_at_ms: u64,
    pub max_at_ms: u64,
    pub bytes: u64,
}

/// What a verified image holds.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    pub segments: Vec<SegmentMeta>,
    pub entries: u64,
    pub checkpoints: u64,
    /// The last entry's position and hash.
    pub last: Option<(u64, String)>,
    pub ids: BTreeSet<EventId>,
}

/// Every entry of a disk image, in position order, without judging them.
pub fn entries(disk: &dyn Disk) -> Result<Vec<Entry>, ChainError> {
    let mut all = Vec::new();
    for file in segment_files(disk)? {
        all.extend(read_segment(disk, &file)?);
    }
    Ok(all)
}

fn io_error(file: &str) -> impl Fn(std::io::Error) -> ChainError + '_ {
    move |error| ChainError { file: file.into(), what: format!("cannot read: {error}") }
}

fn segment_files(disk: &dyn Disk) -> Result<Vec<String>, ChainError> {
    disk.list(SEGMENTS).map_err(io_error(SEGMENTS))
}

fn read_segment(disk: &dyn Disk, file: &str) -> Result<Vec<Entry>, ChainError> {
    let bytes = disk.read(file).map_err(io_error(file))?.unwrap_or_default();
    parse_lines(file, &bytes)
}

fn parse_lines<T: serde::de::DeserializeOwned>(file: &str, bytes: &[u8]) -> Result<Vec<T>, ChainError> {
    let mut parsed = Vec::new();
    for (index, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let value = serde_json::from_slice(line).map_err(|error| ChainError {
            file: file.into(),
            what: format!("line {}: malformed: {error}", index + 1),
        })?;
        parsed.push(value);
    }
    Ok(parsed)
}

/// Checks every entry, link and checkpoint of a replica's disk image (see the module's doc).
pub fn verify(disk: &dyn Disk, trusted: &TrustedKeys) -> Result<Verified, ChainError> {
    let checkpoint_bytes = disk.read(CHECKPOINTS).map_err(io_error(CHECKPOINTS))?.unwrap_or_default();
    let checkpoints: Vec<Checkpoint> = parse_lines(CHECKPOINTS, &checkpoint_bytes)?;
    let mut signed: BTreeMap<u64, String> = BTreeMap::new();
    for checkpoint in &checkpoints {
        let broken = |what: String| ChainError { file: CHECKPOINTS.into(), what };
        let key = trusted.get(&checkpoint.signer).ok_or_else(|| {
            broken(format!("checkpoint at {}: unknown signer {:?}", checkpoint.position, checkpoint.signer))
        })?;
        let signature = unhex(&checkpoint.signature)
            .ok_or_else(|| broken(format!("checkpoint at {}: signature is not hex", checkpoint.position)))?;
        UnparsedPublicKey::new(&ED25519, key).verify(&checkpoint.signed_bytes(), &signature).map_err(|_| {
            broken(format!(
                "checkpoint at {}: signature does not verify with {}'s key (forged or altered)",
                checkpoint.position, checkpoint.signer
            ))
        })?;
        if let Some(other) = signed.insert(checkpoint.position, checkpoint.hash.clone()) {
            if other != checkpoint.hash {
                return Err(broken(format!("two checkpoints at {} sign different hashes", checkpoint.position)));
            }
        }
    }
    let mut verified = Verified { checkpoints: checkpoints.len() as u64, ..Verified::default() };
    for file in segment_files(disk)? {
        let entries = read_segment(disk, &file)?;
        let broken = |what: String| ChainError { file: file.clone(), what };
        let Some(first) = entries.first() else { continue };
        let mut meta = SegmentMeta {
            file: file.clone(),
            first: first.position,
            last: first.position,
            min_at_ms: u64::MAX,
            max_at_ms: 0,
            bytes: 0,
        };
        for entry in &entries {
            if entry.hash != digest(entry.position, entry.stored_ms, &entry.event, &entry.prev) {
                return Err(broken(format!("entry {}: its content does not match its hash (altered)", entry.position)));
            }
            match &verified.last {
                Some((position, hash)) if entry.position == position + 1 => {
                    if entry.prev != *hash {
                        return Err(broken(format!("entry {}: does not link to entry {position}", entry.position)));
                    }
                }
                Some((position, _)) if entry.position <= *position => {
                    return Err(broken(format!("entry {} follows entry {position}", entry.position)));
                }
                None if entry.position == 0 => {
                    if entry.prev != GENESIS {
                        return Err(broken("entry 0: does not start from the genesis hash".into()));
                    }
                }
                // A gap (a purge, or the start of a purged chain): a signed checkpoint must
                // vouch for the hash the entry links to.
                _ => {
                    if signed.get(&(entry.position - 1)) != Some(&entry.prev) {
                        return Err(broken(format!(
                            "entries before {} are missing and no signed checkpoint covers the gap (removed or truncated)",
                            entry.position
                        )));
                    }
                }
            }
            if let Some(hash) = signed.get(&entry.position) {
                if *hash != entry.hash {
                    return Err(broken(format!(
                        "entry {}: differs from the signed checkpoint at its position (rewritten)",
                        entry.position
                    )));
                }
            }
            verified.last = Some((entry.position, entry.hash.clone()));
            verified.ids.insert(entry.event.id());
            verified.entries += 1;
            meta.last = entry.position;
            meta.min_at_ms = meta.min_at_ms.min(entry.event.at_ms);
            meta.max_at_ms = meta.max_at_ms.max(entry.event.at_ms);
        }
        meta.bytes = disk.read(&file).map_err(io_error(&file))?.map_or(0, |b| b.len() as u64);
        verified.segments.push(meta);
    }
    let end = verified.last.as_ref().map(|(position, _)| *position);
    if let Some((&position, _)) = signed.iter().next_back().filter(|(p, _)| end.is_none_or(|end| **p > end)) {
        return Err(ChainError {
            file: CHECKPOINTS.into(),
            what: format!(
                "a checkpoint signs position {position} but the chain ends at {} (entries were cut off the end)",
                end.map_or("nothing".into(), |e| e.to_string())
            ),
        });
    }
    Ok(verified)
}

/// Bytes of a hex string (`None`: not hex).
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

/// What a purge removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub segments: usize,
    pub entries: u64,
    pub first: u64,
    pub last: u64,
    pub newest_at_ms: u64,
}

/// A replica's chain, open for appending.
pub struct Chain {
    disk: Arc<dyn Disk>,
    signer: Signer,
    segments: Vec<SegmentMeta>,
    next_position: u64,
    last_hash: String,
    ids: BTreeSet<EventId>,
    since_checkpoint: u64,
    last_checkpoint_ms: u64,
}

impl Chain {
    /// Opens `disk`'s chain, verifying all of it against `trusted` (which must hold `signer`'s
    /// key). A torn last line (a crash mid-append: never acknowledged) is cut off first.
    pub fn open(disk: Arc<dyn Disk>, signer: Signer, trusted: &TrustedKeys) -> Result<Chain, ChainError> {
        for file in segment_files(disk.as_ref())?.into_iter().rev().take(1).chain([CHECKPOINTS.to_string()]) {
            let bytes = disk.read(&file).map_err(io_error(&file))?.unwrap_or_default();
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                let kept = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                tracing::warn!(file, cut = bytes.len() - kept, "log store: cutting a torn last line");
                disk.truncate(&file, kept as u64).and_then(|()| disk.sync(&file)).map_err(io_error(&file))?;
            }
        }
        let verified = verify(disk.as_ref(), trusted)?;
        let (next_position, last_hash) = match &verified.last {
            Some((position, hash)) => (position + 1, hash.clone()),
            None => {
                // Everything purged: continue after the last signed checkpoint, if any.
                let bytes = disk.read(CHECKPOINTS).map_err(io_error(CHECKPOINTS))?.unwrap_or_default();
                let checkpoints: Vec<Checkpoint> = parse_lines(CHECKPOINTS, &bytes)?;
                checkpoints
                    .iter()
                    .max_by_key(|c| c.position)
                    .map_or((0, GENESIS.into()), |c| (c.position + 1, c.hash.clone()))
            }
        };
        Ok(Chain {
            disk,
            signer,
            segments: verified.segments,
            next_position,
            last_hash,
            ids: verified.ids,
            since_checkpoint: 0,
            last_checkpoint_ms: 0,
        })
    }

    pub fn contains(&self, id: &EventId) -> bool {
        self.ids.contains(id)
    }

    pub fn next_position(&self) -> u64 {
        self.next_position
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends the events not already held (in order), syncs, checkpoints when due; returns
    /// each event's position (`None`: already held).
    pub fn append(&mut self, events: Vec<Event>, now_ms: u64) -> std::io::Result<Vec<Option<u64>>> {
        let mut positions = Vec::with_capacity(events.len());
        let mut touched = BTreeSet::new();
        for event in events {
            if self.ids.contains(&event.id()) {
                positions.push(None);
                continue;
            }
            let at_ms = event.at_ms;
            let entry = Entry::new(self.next_position, now_ms, event, self.last_hash.clone());
            let mut line = serde_json::to_vec(&entry).expect("JSON");
            line.push(b'\n');
            let fits = self.segments.last().is_some_and(|s| {
                s.last + 1 == entry.position
                    && s.max_at_ms.max(at_ms) - s.min_at_ms.min(at_ms) < SEGMENT_SPAN.as_millis() as u64
                    && s.bytes + line.len() as u64 <= SEGMENT_BYTES_MAX
            });
            if !fits {
                self.segments.push(SegmentMeta {
                    file: format!("{SEGMENTS}{:020}.jsonl", entry.position),
                    first: entry.position,
                    last: entry.position,
                    min_at_ms: at_ms,
                    max_at_ms: at_ms,
                    bytes: 0,
                });
            }
            let segment = self.segments.last_mut().expect("a segment");
            self.disk.append(&segment.file, &line)?;
            touched.insert(segment.file.clone());
            segment.last = entry.position;
            segment.min_at_ms = segment.min_at_ms.min(at_ms);
            segment.max_at_ms = segment.max_at_ms.max(at_ms);
            segment.bytes += line.len() as u64;
            positions.push(Some(entry.position));
            self.ids.insert(entry.event.id());
            self.next_position += 1;
            self.last_hash = entry.hash;
            self.since_checkpoint += 1;
        }
        for file in &touched {
            self.disk.sync(file)?;
        }
        if self.since_checkpoint >= CHECKPOINT_ENTRIES
            || (self.since_checkpoint > 0 && now_ms >= self.last_checkpoint_ms + CHECKPOINT_INTERVAL_MS)
        {
            let hash = self.last_hash.clone();
            self.checkpoint(self.next_position - 1, &hash, now_ms)?;
        }
        Ok(positions)
    }

    fn checkpoint(&mut self, position: u64, hash: &str, now_ms: u64) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&self.signer.sign(position, hash, now_ms)).expect("JSON");
        line.push(b'\n');
        self.disk.append(CHECKPOINTS, &line)?;
        self.disk.sync(CHECKPOINTS)?;
        if position + 1 == self.next_position {
            self.since_checkpoint = 0;
            self.last_checkpoint_ms = now_ms;
        }
        Ok(())
    }

    /// Entries after `after` (all from the start with `None`), at most `limit`.
    pub fn read_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<Entry>, ChainError> {
        let mut found = Vec::new();
        for segment in self.segments.iter().filter(|s| after.is_none_or(|a| s.last > a)) {
            for entry in read_segment(self.disk.as_ref(), &segment.file)? {
                if after.is_none_or(|a| entry.position > a) {
                    found.push(entry);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Removes every segment whose newest event is older than `before_ms`: a signed checkpoint
    /// at each removed segment's end first (so the chain still verifies across the gap), then
    /// the files.
    pub fn purge(&mut self, before_ms: u64, now_ms: u64) -> Result<Option<Purged>, ChainError> {
        let expired: Vec<SegmentMeta> = self.segments.iter().filter(|s| s.max_at_ms < before_ms).cloned().collect();
        if expired.is_empty() {
            return Ok(None);
        }
        let mut purged = Purged { segments: expired.len(), entries: 0, first: u64::MAX, last: 0, newest_at_ms: 0 };
        let mut removed_ids = Vec::new();
        for segment in &expired {
            let entries = read_segment(self.disk.as_ref(), &segment.file)?;
            let last = entries.last().ok_or_else(|| ChainError { file: segment.file.clone(), what: "empty".into() })?;
            self.checkpoint(last.position, &last.hash.clone(), now_ms).map_err(io_error(&segment.file))?;
            purged.entries += entries.len() as u64;
            purged.first = purged.first.min(segment.first);
            purged.last = purged.last.max(segment.last);
            purged.newest_at_ms = purged.newest_at_ms.max(segment.max_at_ms);
            removed_ids.extend(entries.into_iter().map(|e| e.event.id()));
        }
        for segment in &expired {
            self.disk.remove_prefix(&segment.file).map_err(io_error(&segment.file))?;
        }
        self.segments.retain(|s| s.max_at_ms >= before_ms);
        for id in removed_ids {
            self.ids.remove(&id);
        }
        Ok(Some(purged))
    }

    /// Planted bug `log-entry-rewritable`: replaces an entry's detail, re-hashes the chain from
    /// there and re-signs the checkpoints, so that the replica's own verification still passes.
    pub fn rewrite(&mut self, position: u64, detail: &str) -> Result<bool, ChainError> {
        let mut prev: Option<String> = None;
        let mut found = false;
        for segment in &self.segments {
            let mut entries = read_segment(self.disk.as_ref(), &segment.file)?;
            if !found && segment.last < position {
                continue;
            }
            for entry in &mut entries {
                if entry.position == position {
                    entry.event.detail = detail.into();
                    found = true;
                }
                if found {
                    if let Some(prev) = &prev {
                        if entry.position > position {
                            entry.prev = prev.clone();
                        }
                    }
                    entry.hash = digest(entry.position, entry.stored_ms, &entry.event, &entry.prev);
                    prev = Some(entry.hash.clone());
                }
            }
            if found {
                let bytes: Vec<u8> = entries
                    .iter()
                    .flat_map(|e| serde_json::to_vec(e).expect("JSON").into_iter().chain([b'\n']))
                    .collect();
                self.disk.replace_durably(&segment.file, &bytes).map_err(io_error(&segment.file))?;
            }
        }
        if !found {
            return Ok(false);
        }
        let hashes: BTreeMap<u64, String> =
            entries(self.disk.as_ref())?.into_iter().map(|e| (e.position, e.hash)).collect();
        let bytes = self.disk.read(CHECKPOINTS).map_err(io_error(CHECKPOINTS))?.unwrap_or_default();
        let resigned: Vec<u8> = parse_lines::<Checkpoint>(CHECKPOINTS, &bytes)?
            .into_iter()
            .map(|c| match hashes.get(&c.position) {
                Some(hash) if c.position >= position => self.signer.sign(c.position, hash, c.at_ms),
                _ => c,
            })
            .flat_map(|c| serde_json::to_vec(&c).expect("JSON").into_iter().chain([b'\n']))
            .collect();
        self.disk.replace_durably(CHECKPOINTS, &resigned).map_err(io_error(CHECKPOINTS))?;
        self.last_hash = prev.unwrap_or_else(|| self.last_hash.clone());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryDisk;

    fn event(seq: u64, at_ms: u64) -> Event {
        Event {
            source: "broker-1@a".into(),
            seq,
            at_ms,
            category: "authentication".into(),
            action: "sasl-plain".into(),
            actor: "key-1".into(),
            outcome: "failure".into(),
            network: "10.0.0.1".into(),
            detail: "wrong secret".into(),
        }
    }

    fn open(disk: &Arc<MemoryDisk>) -> (Chain, TrustedKeys) {
        let signer = Signer::from_seed("log-store-1", &[7; 32]);
        let trusted = TrustedKeys::from([(signer.name.clone(), signer.public_key())]);
        let chain = Chain::open(disk.clone(), signer, &trusted).expect("opens");
        (chain, trusted)
    }

    const DAY: u64 = 24 * 3_600_000;

    #[test]
    fn a_chain_verifies_across_restarts_purges_and_refuses_duplicates() {
        let disk = Arc::new(MemoryDisk::new());
        let (mut chain, trusted) = open(&disk);
        let positions = chain.append((0..5).map(|i| event(i, i * DAY)).collect(), 5 * DAY).unwrap();
        assert_eq!(positions, (0..5).map(Some).collect::<Vec<_>>());
        assert_eq!(chain.append(vec![event(2, 2 * DAY)], 5 * DAY).unwrap(), vec![None]);
        let purged = chain.purge(2 * DAY, 6 * DAY).unwrap().expect("two segments expired");
        assert_eq!((purged.segments, purged.first, purged.last), (2, 0, 1));
        drop(chain);
        let (mut chain, _) = open(&disk);
        assert_eq!(chain.next_position(), 5);
        chain.append(vec![event(5, 6 * DAY)], 6 * DAY).unwrap();
        let verified = verify(disk.as_ref(), &trusted).unwrap();
        assert_eq!(verified.entries, 4);
        assert_eq!(verified.last.unwrap().0, 5);
    }

    #[test]
    fn one_changed_byte_a_removed_segment_or_a_forged_checkpoint_is_found() {
        let disk = Arc::new(MemoryDisk::new());
        let (mut chain, trusted) = open(&disk);
        chain.append((0..3).map(|i| event(i, i * DAY)).collect(), 3 * DAY).unwrap();
        chain.checkpoint(2, &chain.last_hash.clone(), 3 * DAY).unwrap();
        let files = disk.list(SEGMENTS).unwrap();
        // One byte of the detail of entry 1.
        let original = disk.read(&files[1]).unwrap().unwrap();
        let mut edited = original.clone();
        let at = edited.windows(5).position(|w| w == b"wrong").unwrap();
        edited[at] = b'W';
        disk.replace_durably(&files[1], &edited).unwrap();
        let error = verify(disk.as_ref(), &trusted).unwrap_err();
        assert!(error.what.contains("entry 1: its content does not match its hash"), "{error}");
        disk.replace_durably(&files[1], &original).unwrap();
        // The oldest segment removed by hand: no signed checkpoint covers the gap.
        disk.remove_prefix(&files[0]).unwrap();
        let error = verify(disk.as_ref(), &trusted).unwrap_err();
        assert!(error.what.contains("entries before 1 are missing"), "{error}");
        // A checkpoint signed by a key nobody trusts.
        let forger = Signer::from_seed("log-store-1", &[8; 32]);
        let mut line = serde_json::to_vec(&forger.sign(0, "00", 0)).unwrap();
        line.push(b'\n');
        disk.append(CHECKPOINTS, &line).unwrap();
        let error = verify(disk.as_ref(), &trusted).unwrap_err();
        assert!(error.what.contains("signature does not verify"), "{error}");
    }

    #[test]
    fn entries_cut_off_the_end_after_a_checkpoint_are_found() {
        let disk = Arc::new(MemoryDisk::new());
        let (mut chain, trusted) = open(&disk);
        chain.append((0..3).map(|i| event(i, 0)).collect(), 0).unwrap();
        chain.checkpoint(2, &chain.last_hash.clone(), 0).unwrap();
        let file = &disk.list(SEGMENTS).unwrap()[0];
        let bytes = disk.read(file).unwrap().unwrap();
        let cut = bytes[..bytes.len() - 1].iter().rposition(|b| *b == b'\n').unwrap() + 1;
        disk.truncate(file, cut as u64).unwrap();
        let error = verify(disk.as_ref(), &trusted).unwrap_err();
        assert!(error.what.contains("cut off the end"), "{error}");
    }

    #[test]
    fn a_rewrite_passes_the_replicas_own_verification() {
        // Why the harness compares entries with what their sources shipped (C12).
        let disk = Arc::new(MemoryDisk::new());
        let (mut chain, trusted) = open(&disk);
        chain.append((0..3).map(|i| event(i, 0)).collect(), 0).unwrap();
        chain.checkpoint(2, &chain.last_hash.clone(), 0).unwrap();
        assert!(chain.rewrite(1, "nothing happened").unwrap());
        verify(disk.as_ref(), &trusted).expect("re-hashed and re-signed");
        assert_eq!(entries(disk.as_ref()).unwrap()[1].event.detail, "nothing happened");
    }
}
